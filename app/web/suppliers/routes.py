"""Suppliers: who they are, how we reach them (credentials masked), what they hold."""
from flask import Blueprint, abort

from app.htmx import render_page
from app.permissions import role_required
from app.services import stock, suppliers

bp = Blueprint("suppliers", __name__, url_prefix="/suppliers")


@bp.get("")
@role_required("suppliers.view")
def index():
    return render_page("suppliers/index.html", suppliers=stock.supplier_freshness())


@bp.get("/<code>")
@role_required("suppliers.view")
def show(code: str):
    found = suppliers.supplier_with_freshness(code)
    if found is None:
        abort(404)
    supplier, freshness = found
    return render_page("suppliers/show.html", supplier=supplier, freshness=freshness)
