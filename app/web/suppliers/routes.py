"""Suppliers: who they are, how we reach them (credentials masked), their health, runs and stock."""
from flask import Blueprint, abort, flash
from flask_login import current_user

from app import queues
from app.htmx import render_fragment, render_page, trigger
from app.permissions import role_required
from app.services import ServiceError, stock, suppliers, supplier_health, sync

bp = Blueprint("suppliers", __name__, url_prefix="/suppliers")


@bp.get("")
@role_required("suppliers.view")
def index():
    rows = stock.supplier_freshness()
    return render_page("suppliers/index.html", suppliers=rows,
                       health=supplier_health.health_by_code([row.code for row in rows]))


@bp.get("/<code>")
@role_required("suppliers.view")
def show(code: str):
    page = suppliers.supplier_page(code)
    if page is None:
        abort(404)
    return render_page("suppliers/show.html", fragments=("sync_runs",), page=page, supplier=page.supplier,
                       freshness=page.freshness)


@bp.post("/<code>/sync")
@role_required("suppliers.sync")
def sync_now(code: str):
    try:
        job_id = sync.start_sync_now(code, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    response = render_fragment("suppliers/show.html", "sync_progress", job=queues.job_status(job_id), code=code)
    return trigger(response, "sync-started")


@bp.post("/runs/<int:run_id>/apply")
@role_required("suppliers.sync")
def apply_held(run_id: int):
    try:
        run = sync.apply_held_feed(run_id, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    flash(f"Held feed applied: {run.changed:,} changes.", "success")
    return trigger(render_fragment("suppliers/show.html", "held_feeds", page=suppliers.supplier_page(run.supplier.code)),
                   "sync-finished")


@bp.post("/runs/<int:run_id>/discard")
@role_required("suppliers.sync")
def discard_held(run_id: int):
    try:
        run = sync.discard_held_feed(run_id, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    flash("Held feed discarded; the stored stock is unchanged.", "info")
    return trigger(render_fragment("suppliers/show.html", "held_feeds", page=suppliers.supplier_page(run.supplier.code)),
                   "sync-finished")
