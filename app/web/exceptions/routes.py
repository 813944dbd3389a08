"""The exception queue: every failure in front of a person, with what is needed to fix it."""
from __future__ import annotations

from flask import Blueprint, abort, flash, request
from flask_login import current_user

from app import queues
from app.htmx import render_fragment, render_page, trigger
from app.models.exceptions import EXCEPTION_STATUSES
from app.permissions import role_required
from app.services import ServiceError, exception_queue, stock
from app.web.jobs.routes import job_progress_response
from app.web.listing import list_args, url_with

bp = Blueprint("exceptions", __name__, url_prefix="/exceptions")


@bp.get("")
@role_required("exceptions.view")
def index():
    args = list_args("kind", "status", "supplier", default_sort="-created")
    if "status" not in request.args:
        args["status"] = "open"
    page, error = None, None
    try:
        page = exception_queue.list_items(exception_queue.QueueFilter(
            kind=args["kind"], status=args["status"], supplier=args["supplier"], after=args["after"] or None))
    except ServiceError as problem:
        error = problem.message
    return render_page("exceptions/index.html", fragments=("exception_list",), status=200 if error is None else 422,
                       page=page, error=error, args=args, url_with=url_with, kinds=exception_queue.KIND_LABELS,
                       statuses=EXCEPTION_STATUSES, supplier_codes=stock.supplier_codes())


@bp.get("/count")
@role_required("exceptions.view")
def count():
    return render_fragment("exceptions/index.html", "exception_badge", open_count=exception_queue.open_count())


@bp.post("/<int:item_id>/retry")
@role_required("exceptions.work")
def retry(item_id: int):
    try:
        job_id = exception_queue.retry(item_id, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    return job_progress_response("exceptions/index.html", "retry_progress", queues.job_status(job_id), item_id=item_id)


@bp.post("/<int:item_id>/close")
@role_required("exceptions.work")
def close(item_id: int):
    try:
        item = exception_queue.close(item_id, request.form.get("note", ""), actor=current_user,
                                     status=request.form.get("status", "resolved"))
    except ServiceError as problem:
        abort(422, problem.message)
    flash(f"Item {item.id} {item.status}.", "success")
    return trigger(render_fragment("exceptions/index.html", "closed_item", item=item), "exceptions-changed")
