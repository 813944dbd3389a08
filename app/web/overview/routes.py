"""Stock and freshness at a glance; the order flow today; background machinery health."""
from flask import Blueprint
from flask_login import current_user

from app.htmx import render_page
from app.permissions import can, role_required
from app.services import exception_queue, fulfilment, stock, system

bp = Blueprint("overview", __name__, url_prefix="/overview")


@bp.get("")
@role_required("overview.view")
def index():
    return render_page(
        "overview/index.html",
        fragments=("supplier_freshness", "background", "order_flow"),
        counts=stock.status_counts(),
        suppliers=stock.supplier_freshness(),
        background=system.background_status(),
        flow=fulfilment.order_flow_counts() if can(current_user, "orders.view") else None,
        kinds=exception_queue.KIND_LABELS,
    )
