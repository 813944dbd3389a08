"""Stock and freshness at a glance; background machinery health."""
from flask import Blueprint

from app.htmx import render_page
from app.permissions import role_required
from app.services import stock, system

bp = Blueprint("overview", __name__, url_prefix="/overview")


@bp.get("")
@role_required("overview.view")
def index():
    return render_page(
        "overview/index.html",
        fragments=("supplier_freshness", "background"),
        counts=stock.status_counts(),
        suppliers=stock.supplier_freshness(),
        background=system.background_status(),
    )
