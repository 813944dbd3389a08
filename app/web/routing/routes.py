"""Routing rules for managers and admins: rule sets, the rule editor, tests and preview impact."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from app import queues
from app.htmx import redirect_browser, render_fragment, render_page, trigger
from app.permissions import role_required
from app.services import ServiceError, routing, routing_preview, rule_sets
from app.web.jobs.routes import job_progress_response
from app.web.listing import list_args, url_with
from app.web.routing.forms import OBJECTIVE_LABELS, PreviewForm, RuleForm, TrialForm

bp = Blueprint("routing", __name__, url_prefix="/routing")
TEMPLATE = "routing/show.html"


def _rule_set_or_404(rule_set_id: int):
    try:
        return rule_sets.get_rule_set(rule_set_id)
    except ServiceError:
        abort(404)


def _rule_or_404(rule_id: int):
    try:
        return rule_sets.get_rule(rule_id)
    except ServiceError:
        abort(404)


@bp.get("")
@role_required("routing.manage")
def index():
    args = list_args(default_sort="-version")
    page, error = None, None
    try:
        page = rule_sets.list_rule_sets(after=args["after"] or None)
    except ServiceError as problem:
        error = problem.message
    return render_page("routing/index.html", fragments=("rule_sets_table",), status=200 if error is None else 422,
                       page=page, error=error, args=args, url_with=url_with, draft=rule_sets.current_draft(),
                       active=routing.active_rule_set())


@bp.post("/drafts")
@role_required("routing.manage")
def start_draft():
    draft = rule_sets.start_draft(actor=current_user)
    return redirect(url_for("routing.show", rule_set_id=draft.id))


def _show_context(rule_set, trial_form=None, preview_form=None) -> dict:
    active = routing.active_rule_set()
    preview = routing_preview.latest_preview(rule_set.id) if rule_set.status == "draft" else None
    return {
        "rule_set": rule_set, "active": active, "objectives": OBJECTIVE_LABELS,
        "changes": rule_sets.diff(active, rule_set) if rule_set.status == "draft" else {},
        "trial_form": trial_form or TrialForm(orders=rule_sets.recent_orders()),
        "preview_form": preview_form or PreviewForm(formdata=None), "preview": preview,
        "preview_rows": routing_preview.preview_rows(preview) if preview else ([], 1), "preview_page": 1,
        "job": None, "describe": rule_sets.describe_rule,
    }


@bp.get("/rule-sets/<int:rule_set_id>")
@role_required("routing.manage")
def show(rule_set_id: int):
    rule_set = _rule_set_or_404(rule_set_id)
    return render_page(TEMPLATE, fragments=("rules_table", "preview_results"), **_show_context(rule_set))


def _rules_table(rule_set, status: int = 200):
    rule_set = rule_sets.get_rule_set(rule_set.id)
    response = render_fragment(TEMPLATE, "rules_table", status=status, **_show_context(rule_set))
    return trigger(response, "rules-changed")


def _editor(rule_set, form: RuleForm, rule=None, status: int = 200):
    return render_page("routing/rule_form.html", status=status, rule_set=rule_set, form=form, rule=rule)


@bp.get("/rule-sets/<int:rule_set_id>/rules/new")
@role_required("routing.manage")
def new_rule(rule_set_id: int):
    rule_set = _rule_set_or_404(rule_set_id)
    next_priority = max((rule.priority for rule in rule_set.rules), default=0) + 10
    return _editor(rule_set, RuleForm.blank(next_priority))


@bp.post("/rule-sets/<int:rule_set_id>/rules")
@role_required("routing.manage")
def create_rule(rule_set_id: int):
    rule_set = _rule_set_or_404(rule_set_id)
    form = RuleForm()
    if form.validate_on_submit():
        try:
            rule = rule_sets.add_rule(rule_set.id, form.rule_input(), actor=current_user)
        except ServiceError as problem:
            form.add_problems(getattr(problem, "problems", [rule_sets.RuleProblem(problem.field or "", problem.message)]))
        else:
            flash(f"Rule “{rule.name}” added to version {rule_set.version}.", "success")
            return redirect(url_for("routing.show", rule_set_id=rule_set.id))
    return _editor(rule_set, form, status=422)


@bp.get("/rules/<int:rule_id>")
@role_required("routing.manage")
def edit_rule(rule_id: int):
    rule = _rule_or_404(rule_id)
    return _editor(rule.rule_set, RuleForm.for_rule(rule), rule=rule)


@bp.post("/rules/<int:rule_id>")
@role_required("routing.manage")
def update_rule(rule_id: int):
    rule = _rule_or_404(rule_id)
    form = RuleForm()
    if form.validate_on_submit():
        try:
            rule = rule_sets.update_rule(rule.id, form.rule_input(), actor=current_user)
        except ServiceError as problem:
            form.add_problems(getattr(problem, "problems", [rule_sets.RuleProblem(problem.field or "", problem.message)]))
        else:
            flash(f"Rule “{rule.name}” saved.", "success")
            return redirect(url_for("routing.show", rule_set_id=rule.rule_set_id))
    return _editor(rule.rule_set, form, rule=rule, status=422)


@bp.post("/rule-sets/<int:rule_set_id>/check")
@role_required("routing.manage")
def check_rule(rule_set_id: int):
    """Inline validation as the manager types: a summary, and each field's message swapped beside it."""
    rule_set = _rule_set_or_404(rule_set_id)
    form = RuleForm()
    rule_id = request.form.get("rule_id", type=int)
    if form.validate():
        form.add_problems(rule_sets.check_rule(rule_set, form.rule_input(), rule_id=rule_id))
    return render_fragment("routing/rule_form.html", "rule_check", form=form, rule_set=rule_set)


@bp.post("/rules/<int:rule_id>/enabled")
@role_required("routing.manage")
def set_enabled(rule_id: int):
    rule = _rule_or_404(rule_id)
    try:
        rule = rule_sets.set_enabled(rule.id, request.form.get("enabled") == "1", actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    flash(f"“{rule.name}” {'enabled' if rule.enabled else 'disabled'}.", "success")
    return _rules_table(rule.rule_set)


@bp.post("/rules/<int:rule_id>/move")
@role_required("routing.manage")
def move_rule(rule_id: int):
    rule = _rule_or_404(rule_id)
    try:
        rule_set = rule_sets.move_rule(rule.id, request.form.get("direction", ""), actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    return _rules_table(rule_set)


@bp.post("/rules/<int:rule_id>/delete")
@role_required("routing.manage")
def delete_rule(rule_id: int):
    rule = _rule_or_404(rule_id)
    name = rule.name
    try:
        rule_set = rule_sets.delete_rule(rule.id, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    flash(f"Rule “{name}” removed.", "success")
    return _rules_table(rule_set)


@bp.post("/rule-sets/<int:rule_set_id>/trial")
@role_required("routing.manage")
def trial(rule_set_id: int):
    """Test against an order: the decision and its trace as a table; nothing is stored."""
    rule_set = _rule_set_or_404(rule_set_id)
    form = TrialForm(orders=rule_sets.recent_orders())
    result, problem_text = None, None
    if not form.validate_on_submit():
        problem_text = "Choose one of the listed orders, or paste a scenario."
    else:
        try:
            result = rule_sets.try_rule_set(rule_set.id, order_id=int(form.order_id.data) if form.order_id.data else None,
                                            scenario_text=form.scenario.data)
        except ServiceError as problem:
            problem_text = problem.message
    return render_fragment(TEMPLATE, "trial_result", status=200 if result else 422, result=result,
                           problem=problem_text, rule_set=rule_set)


@bp.post("/rule-sets/<int:rule_set_id>/preview")
@role_required("routing.manage")
def start_preview(rule_set_id: int):
    rule_set = _rule_set_or_404(rule_set_id)
    form = PreviewForm()
    if not form.validate_on_submit():
        abort(422, " ".join(form.days.errors) or "Enter a number of days.")
    try:
        preview = routing_preview.start_preview(rule_set.id, form.days.data, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    return job_progress_response(TEMPLATE, "preview_progress", queues.job_status(preview.job_id), rule_set=rule_set)


@bp.get("/previews/<int:preview_id>")
@role_required("routing.manage")
def preview_results(preview_id: int):
    try:
        preview = routing_preview.get_preview(preview_id)
    except ServiceError:
        abort(404)
    page = request.args.get("page", 1, type=int)
    return render_fragment(TEMPLATE, "preview_results", preview=preview, rule_set=preview.rule_set,
                           preview_rows=routing_preview.preview_rows(preview, page), preview_page=page)


@bp.post("/rule-sets/<int:rule_set_id>/activate")
@role_required("routing.manage")
def activate(rule_set_id: int):
    rule_set = _rule_set_or_404(rule_set_id)
    try:
        rule_set = rule_sets.activate(rule_set.id, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    flash(f"Version {rule_set.version} is now active; every new order is routed by it.", "success")
    return redirect_browser(url_for("routing.show", rule_set_id=rule_set.id))


@bp.post("/rule-sets/<int:rule_set_id>/discard")
@role_required("routing.manage")
def discard(rule_set_id: int):
    version = _rule_set_or_404(rule_set_id).version
    try:
        rule_sets.discard_draft(rule_set_id, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    flash(f"Draft version {version} discarded.", "info")
    return redirect_browser(url_for("routing.index"))
