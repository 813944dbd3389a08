"""A supplier's shipping data: what routing prices its shipments with. Admins edit it; others read it."""
from __future__ import annotations

from flask import abort, flash, request
from flask_login import current_user

from app.htmx import render_fragment, render_page, trigger
from app.permissions import can, role_required
from app.services import ServiceError, shipping
from app.web.suppliers.routes import bp
from app.web.suppliers.shipping_forms import RateForm, RateImportForm, ServiceForm, SurchargeForm, TermsForm

TEMPLATE = "suppliers/shipping.html"
RATES_PER_PAGE = 50


def _page_or_404(code: str) -> shipping.ShippingPage:
    try:
        return shipping.shipping_page(code)
    except ServiceError:
        abort(404)


def _context(page: shipping.ShippingPage, **forms) -> dict:
    rates = [(service, rate) for service in page.services for rate in service.rates]
    pages = max(1, -(-len(rates) // RATES_PER_PAGE))
    number = min(max(request.args.get("rates_page", 1, type=int), 1), pages)
    context = {"page": page, "supplier": page.supplier, "rates": rates[(number - 1) * RATES_PER_PAGE:number * RATES_PER_PAGE],
               "rate_count": len(rates), "rates_page": number, "rates_pages": pages, "import_result": None,
               "editing": can(current_user, "suppliers.manage")}
    if context["editing"]:
        context.update(terms_form=TermsForm.for_supplier(page.supplier), service_form=ServiceForm(formdata=None),
                       surcharge_form=SurchargeForm(formdata=None), import_form=RateImportForm(formdata=None),
                       rate_form=RateForm(formdata=None).for_services(page.services))
    context.update(forms)
    if "rate_form" in context:
        context["rate_form"].for_services(page.services)
    return context


@bp.get("/<code>/shipping")
@role_required("suppliers.view")
def shipping_page(code: str):
    page = _page_or_404(code)
    return render_page(TEMPLATE, fragments=("shipping_rates",), **_context(page))


def _redraw(code: str, status: int = 200, **forms):
    """The whole shipping section again; a refused form comes back filled in, with its messages."""
    response = render_fragment(TEMPLATE, "shipping_editor", status=status, **_context(shipping.shipping_page(code), **forms))
    return trigger(response, "shipping-changed") if status == 200 else response


def _problem(form, problem: ServiceError) -> None:
    target = getattr(form, problem.field, None) if problem.field else None
    (target.errors if target is not None else form.form_errors).append(problem.message)


@bp.post("/<code>/shipping/terms")
@role_required("suppliers.manage")
def save_shipping_terms(code: str):
    _page_or_404(code)
    form = TermsForm()
    if form.validate_on_submit():
        try:
            changed = shipping.save_terms(code, form.terms(), actor=current_user)
        except ServiceError as problem:
            _problem(form, problem)
        else:
            flash(f"Shipping terms saved: {', '.join(changed).replace('_', ' ')}." if changed else "Nothing changed.",
                  "success" if changed else "info")
            return _redraw(code)
    return _redraw(code, 422, terms_form=form)


@bp.post("/<code>/shipping/services")
@role_required("suppliers.manage")
def add_shipping_service(code: str):
    _page_or_404(code)
    form = ServiceForm()
    if form.validate_on_submit():
        try:
            created = shipping.add_service(code, form.service_input(), actor=current_user)
        except ServiceError as problem:
            _problem(form, problem)
        else:
            flash(f"{created.carrier} {created.service} added; give it a rate per country.", "success")
            return _redraw(code)
    return _redraw(code, 422, service_form=form)


def _service_or_404(service_id: int):
    try:
        return shipping.get_service(service_id)
    except ServiceError:
        abort(404)


@bp.post("/shipping/services/<int:service_id>/delete")
@role_required("suppliers.manage")
def delete_shipping_service(service_id: int):
    service = _service_or_404(service_id)
    name = f"{service.carrier} {service.service}"
    supplier = shipping.delete_service(service.id, actor=current_user)
    flash(f"{name} and its rates removed.", "success")
    return _redraw(supplier.code)


@bp.post("/<code>/shipping/rates")
@role_required("suppliers.manage")
def set_shipping_rate(code: str):
    page = _page_or_404(code)
    form = RateForm().for_services(page.services)
    if form.validate_on_submit():
        try:
            rate = shipping.set_rate(int(form.service_id.data), form.rate_input(), actor=current_user)
        except ServiceError as problem:
            _problem(form, problem)
        else:
            service = rate.shipping_service
            flash(f"{service.carrier} {service.service} to {rate.country}: {rate.base} + {rate.per_kg}/kg, "
                  f"{rate.transit_days} days.", "success")
            return _redraw(code)
    return _redraw(code, 422, rate_form=form)


@bp.post("/shipping/rates/<int:rate_id>/delete")
@role_required("suppliers.manage")
def delete_shipping_rate(rate_id: int):
    try:
        service = shipping.delete_rate(rate_id, actor=current_user)
    except ServiceError:
        abort(404)
    flash("Rate removed.", "success")
    return _redraw(service.supplier.code)


@bp.post("/<code>/shipping/surcharges")
@role_required("suppliers.manage")
def add_shipping_surcharge(code: str):
    _page_or_404(code)
    form = SurchargeForm()
    if form.validate_on_submit():
        try:
            shipping.add_surcharge(code, form.surcharge_input(), actor=current_user)
        except ServiceError as problem:
            _problem(form, problem)
        else:
            flash("Surcharge added.", "success")
            return _redraw(code)
    return _redraw(code, 422, surcharge_form=form)


@bp.post("/shipping/surcharges/<int:surcharge_id>/delete")
@role_required("suppliers.manage")
def delete_shipping_surcharge(surcharge_id: int):
    try:
        supplier = shipping.delete_surcharge(surcharge_id, actor=current_user)
    except ServiceError:
        abort(404)
    flash("Surcharge removed.", "success")
    return _redraw(supplier.code)


@bp.post("/<code>/shipping/rates/import")
@role_required("suppliers.manage")
def import_shipping_rates(code: str):
    _page_or_404(code)
    form = RateImportForm()
    upload = form.rates_file.data if form.validate_on_submit() else None
    if upload is None or not getattr(upload, "filename", ""):
        form.rates_file.errors = ["Choose a CSV file to import."]
        return _redraw(code, 422, import_form=form)
    result = shipping.import_rates_csv(code, upload.read(shipping.CSV_MAX_BYTES + 1), actor=current_user,
                                       filename=upload.filename)
    if result.imported:
        flash(f"{result.rows} rate(s) imported: {result.created} new, {result.updated} changed, "
              f"{result.unchanged} unchanged.", "success")
    return _redraw(code, 200 if result.imported else 422, import_result=result)
