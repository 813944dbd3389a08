"""Orders for support and ops: the list, one order end to end, and a CSV upload of orders from anywhere else."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from app.htmx import is_htmx_request, redirect_browser, render_fragment, render_page
from app.permissions import role_required
from app.services import ServiceError, channel_settings, orders
from app.web.listing import list_args, url_with

bp = Blueprint("orders", __name__, url_prefix="/orders")


@bp.get("")
@role_required("orders.view")
def index():
    args = list_args("channel", "status", "q", default_sort="-id")
    page, error = None, None
    try:
        page = orders.list_orders(orders.OrderFilter(channel=args["channel"], status=args["status"], q=args["q"],
                                                     after=args["after"] or None))
    except ServiceError as problem:
        error = problem.message
    return render_page("orders/index.html", fragments=("order_list",), status=200 if error is None else 422, page=page,
                       error=error, args=args, url_with=url_with, statuses=orders.ORDER_STATUSES,
                       channel_codes=orders.channel_codes())


@bp.get("/<int:order_id>")
@role_required("orders.view")
def show(order_id: int):
    try:
        detail = orders.order_detail(order_id)
    except ServiceError:
        abort(404)
    return render_page("orders/show.html", fragments=("order_progress",), detail=detail, order=detail.order,
                       error=None, reason="", following=orders.FOLLOWED_STATUSES)


@bp.post("/<int:order_id>/cancel")
@role_required("orders.cancel")
def cancel(order_id: int):
    """Cancel with a reason: the service cancels at each supplier not yet shipped and gives the stock back."""
    reason = request.form.get("reason", "")
    try:
        outcome = orders.cancel(order_id, current_user, reason)
    except ServiceError as problem:
        try:
            detail = orders.order_detail(order_id)
        except ServiceError:
            abort(404)
        return render_fragment("orders/show.html", "cancel_form", status=422, detail=detail, order=detail.order,
                               error=problem.message, reason=reason, following=orders.FOLLOWED_STATUSES)
    flash(orders.cancel_summary(outcome), "success" if not outcome.failed else "warning")
    target = url_for("orders.show", order_id=order_id)
    if is_htmx_request():
        # No HX-Trigger with a redirect: a refresh it set off on the old page would take the toast meant for the new one.
        return redirect_browser(target)
    return redirect(target)


@bp.get("/upload")
@role_required("orders.upload")
def upload_form():
    return render_page("orders/upload.html", report=None, error=None, channels=channel_settings.list_channels(),
                       columns=orders.CSV_COLUMNS, chosen="")


@bp.post("/upload")
@role_required("orders.upload")
def upload():
    upload = request.files.get("file")
    chosen = request.form.get("channel", "")
    report, error = None, None
    try:
        if upload is None or not upload.filename:
            raise ServiceError("Choose a CSV file to upload.", field="file")
        report = orders.upload_orders_csv(chosen, upload.read(), current_user)
    except ServiceError as problem:
        error = problem.message
    return render_page("orders/upload.html", fragments=("upload_report",), status=200 if error is None else 422,
                       report=report, error=error, channels=channel_settings.list_channels(), columns=orders.CSV_COLUMNS,
                       chosen=chosen)
