"""Suppliers: who they are, how we reach them (credentials masked), their health, runs and stock."""
from flask import Blueprint, abort, flash, request
from flask_login import current_user

from app import queues
from app.htmx import render_fragment, render_page, trigger
from app.permissions import can, role_required
from app.services import (
    ServiceError,
    stock,
    stock_updates,
    supplier_health,
    supplier_settings,
    suppliers,
    sync,
)
from app.services.supplier_settings import MappingPreview, UnknownSupplier
from app.web.jobs.routes import job_progress_response
from app.web.suppliers.forms import ConnectionForm, MappingForm

bp = Blueprint("suppliers", __name__, url_prefix="/suppliers")


@bp.get("")
@role_required("suppliers.view")
def index():
    rows = stock.supplier_freshness()
    return render_page("suppliers/index.html", suppliers=rows, summaries=suppliers.summaries(),
                       health=supplier_health.health_by_code([row.code for row in rows]))


@bp.get("/<code>")
@role_required("suppliers.view")
def show(code: str):
    page = suppliers.supplier_page(code)
    if page is None:
        abort(404)
    editors = {}
    if can(current_user, "suppliers.manage"):
        editors = {"connection_form": ConnectionForm.for_supplier(page.supplier),
                   "mapping_form": MappingForm.for_supplier(page.supplier), "preview": None}
    return render_page("suppliers/show.html", fragments=("sync_runs", "connection_facts", "unmapped_skus"), page=page,
                       supplier=page.supplier, freshness=page.freshness, **editors)


def _supplier_or_404(code: str):
    try:
        return supplier_settings.get_supplier(code)
    except UnknownSupplier:
        abort(404)


@bp.post("/<code>/connection")
@role_required("suppliers.manage")
def save_connection(code: str):
    supplier = _supplier_or_404(code)
    form = ConnectionForm().describe(supplier)
    if form.validate_on_submit():
        try:
            saved = supplier_settings.save_connection(code, form.connection_change(), actor=current_user)
        except ServiceError as problem:
            form.add_problem(problem.message, problem.field)
        else:
            flash(f"Connection saved: {len(saved.changed)} change(s)." if saved.changed else "Nothing changed.",
                  "success" if saved.changed else "info")
            if saved.warning:
                flash(saved.warning, "warning")
            response = render_fragment("suppliers/show.html", "connection_form", supplier=saved.supplier,
                                       connection_form=ConnectionForm.for_supplier(saved.supplier))
            return trigger(response, "connection-saved")
    return render_fragment("suppliers/show.html", "connection_form", status=422, supplier=supplier,
                           connection_form=form)


@bp.post("/<code>/connection/credentials")
@role_required("suppliers.manage")
def connection_credentials(code: str):
    """The connection form redrawn for the type and sign-in just chosen; nothing is saved."""
    supplier = _supplier_or_404(code)
    return render_fragment("suppliers/show.html", "connection_form", supplier=supplier,
                           connection_form=ConnectionForm().describe(supplier))


def _mapping_editor(supplier, form: MappingForm, preview: MappingPreview | None, status: int = 200):
    return render_fragment("suppliers/show.html", "mapping_editor", status=status, supplier=supplier,
                           mapping_form=form, preview=preview)


@bp.post("/<code>/mapping/preview")
@role_required("suppliers.manage")
def preview_mapping(code: str):
    supplier = _supplier_or_404(code)
    form = MappingForm()
    if not form.validate_on_submit():
        preview = MappingPreview(mapping_problem=form.first_problem())
    else:
        preview = supplier_settings.preview_mapping(code, form.mapping(),
                                                    form.sample(supplier_settings.SAMPLE_MAX_BYTES))
    status = 422 if preview.mapping_problem or preview.sample_problem else 200
    return render_fragment("suppliers/show.html", "mapping_preview", status=status, supplier=supplier, preview=preview)


@bp.post("/<code>/mapping/sample")
@role_required("suppliers.manage")
def fetch_sample(code: str):
    supplier = _supplier_or_404(code)
    form = MappingForm()
    if not form.validate_on_submit():
        return _mapping_editor(supplier, form, MappingPreview(mapping_problem=form.first_problem()), 422)
    fetched = supplier_settings.fetch_sample_page(code, form.mapping())
    if fetched.text is None:
        return _mapping_editor(supplier, form, fetched.preview, 422)
    form.sample_text.data = fetched.text
    return _mapping_editor(supplier, form, fetched.preview)


@bp.post("/<code>/mapping")
@role_required("suppliers.manage")
def save_mapping(code: str):
    supplier = _supplier_or_404(code)
    form = MappingForm()
    if not form.validate_on_submit():
        return _mapping_editor(supplier, form, MappingPreview(mapping_problem=form.first_problem()), 422)
    try:
        saved = supplier_settings.save_mapping(code, form.mapping(), actor=current_user,
                                               sample=form.sample(supplier_settings.SAMPLE_MAX_BYTES))
    except ServiceError as problem:
        form.add_problem(problem.message, problem.field)
        return _mapping_editor(supplier, form, MappingPreview(mapping_problem=problem.message), 422)
    flash("Feed mapping saved." if saved.changed else "Nothing changed in the feed mapping.",
          "success" if saved.changed else "info")
    return trigger(_mapping_editor(saved.supplier, form, saved.preview), "mapping-saved")


@bp.post("/<code>/sync")
@role_required("suppliers.sync")
def sync_now(code: str):
    try:
        job_id = sync.start_sync_now(code, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    return job_progress_response("suppliers/show.html", "sync_progress", queues.job_status(job_id), code=code)


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


def _unmapped_block(code: str):
    page = suppliers.supplier_page(code)
    return trigger(render_fragment("suppliers/show.html", "unmapped_skus", page=page, supplier=page.supplier),
                   "stock-changed")


@bp.post("/<code>/unmapped/link")
@role_required("suppliers.manage")
def link_sku(code: str):
    try:
        offer = suppliers.link_supplier_sku(code, request.form.get("supplier_sku", ""), request.form.get("product_sku", ""),
                                            request.form.get("cost", ""), actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    flash(f"{offer.supplier_sku} now supplies {offer.product.sku}.", "success")
    return _unmapped_block(code)


@bp.post("/<code>/stock")
@role_required("stock.adjust")
def set_stock(code: str):
    try:
        quantity = int(request.form.get("quantity", ""))
    except ValueError:
        abort(422, "The quantity must be a whole number of units.")
    try:
        stock_updates.set_manually(code, request.form.get("supplier_sku", ""), quantity, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    flash(f"{code} {request.form.get('supplier_sku', '').strip()}: {quantity} on hand, set by hand.", "success")
    return _unmapped_block(code)


from app.web.suppliers import shipping_routes  # noqa: E402,F401  (registers the shipping pages on this blueprint)
