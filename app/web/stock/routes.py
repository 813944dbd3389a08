"""Consolidated supplier stock: filter, sort, page, export."""
from __future__ import annotations

import uuid

from flask import Blueprint, abort, send_file, url_for
from flask_login import current_user

from app import queues
from app.htmx import render_page
from app.models.stock import STOCK_STATUSES
from app.models.types import utcnow
from app.permissions import role_required
from app.services import ServiceError, exports, stock
from app.web.jobs.routes import job_progress_response
from app.web.listing import list_args, url_with

bp = Blueprint("stock", __name__, url_prefix="/stock")
FILTERS = ("q", "supplier", "status", "freshness")


def _filter_from(args: dict[str, str]) -> stock.StockFilter:
    sort = args["sort"]
    return stock.StockFilter(search=args["q"], supplier=args["supplier"], status=args["status"],
                             freshness=args["freshness"], sort=sort.lstrip("-"),
                             descending=sort.startswith("-"), after=args["after"] or None)


@bp.get("")
@role_required("stock.view")
def index():
    """One row per SKU: total available, each supplier's figure, freshness."""
    args = list_args(*FILTERS, default_sort="sku")
    error, page = None, None
    try:
        page = stock.list_skus(_filter_from(args))
    except ServiceError as problem:
        error = problem.message
    return render_page(
        "stock/index.html", fragments=("stock_table",), status=200 if error is None else 422,
        page=page, error=error, args=args, url_with=url_with, supplier_codes=stock.supplier_codes(),
    )


@bp.get("/by-supplier")
@role_required("stock.view")
def by_supplier():
    """One row per supplier SKU, mapped or not."""
    args = list_args(*FILTERS, default_sort="supplier_sku")
    error, page = None, None
    try:
        page = stock.list_stock(_filter_from(args))
    except ServiceError as problem:
        error = problem.message
    return render_page(
        "stock/by_supplier.html", fragments=("stock_table",), status=200 if error is None else 422,
        page=page, error=error, args=args, url_with=url_with,
        status_options=[(status, status.replace("_", " ")) for status in STOCK_STATUSES],
        supplier_codes=stock.supplier_codes(), stale_before=stock.stale_before(),
    )


@bp.get("/alerts")
@role_required("alerts.view")
def alerts():
    args = list_args("kind", "supplier", default_sort="-at")
    page, error = None, None
    try:
        page = stock.list_alerts(kind=args["kind"], supplier=args["supplier"], after=args["after"] or None)
    except ServiceError as problem:
        error = problem.message
    return render_page("stock/alerts.html", fragments=("alert_list",), status=200 if error is None else 422, page=page,
                       error=error, args=args, url_with=url_with, kinds=stock.ALERT_LABELS,
                       supplier_codes=stock.supplier_codes())


@bp.get("/sku/<sku>")
@role_required("stock.view")
def sku(sku: str):
    detail = stock.sku_detail(sku)
    if detail is None:
        abort(404)
    return render_page("stock/sku.html", detail=detail, now=utcnow(), stale_before=stock.stale_before())


@bp.post("/exports")
@role_required("stock.export")
def start_export():
    args = list_args(*FILTERS, default_sort="supplier_sku")
    try:
        filters = _filter_from({**args, "after": ""})
        filters.validated()
    except ServiceError as problem:
        abort(422, problem.message)
    export_id = uuid.uuid4().hex
    job_id = queues.enqueue("export_stock", export_id, filters.__dict__, queue=queues.LOW,
                            description=f"Stock export for {current_user.email}")
    return job_progress_response("stock/by_supplier.html", "export_progress", queues.job_status(job_id))


@bp.get("/exports/<name>")
@role_required("stock.export")
def download_export(name: str):
    try:
        path = exports.export_path(name)
    except ServiceError:
        abort(404)
    return send_file(path, mimetype="text/csv", as_attachment=True, download_name=name)


def export_url(name: str) -> str:
    return url_for("stock.download_export", name=name)
