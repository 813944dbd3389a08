"""The exception queue: every failure in front of a person, with what is needed to fix it."""
from __future__ import annotations

from flask import Blueprint, abort, flash, request, url_for
from flask_login import current_user

from app import queues
from app.htmx import redirect_browser, render_fragment, render_page, trigger
from app.models.exceptions import EXCEPTION_STATUSES
from app.permissions import role_required
from app.services import ServiceError, exception_queue, fulfilment, intake, stock, users
from app.web.jobs.routes import job_progress_response
from app.web.listing import list_args, url_with

bp = Blueprint("exceptions", __name__, url_prefix="/exceptions")
FILTERS = ("kind", "status", "supplier", "channel", "reason", "owner", "age", "group", "late", "view")
SHIP_TO_FIELDS = ("name", "company", "address1", "address2", "city", "region", "postal_code", "country", "phone")


def _queue_args() -> dict[str, str]:
    args = list_args(*FILTERS, default_sort="impact")
    if "status" not in request.args:
        args["status"] = "open"
    for name, value in exception_queue.saved_view_filters(args["view"]).items():
        if not request.args.get(name):  # what the URL says wins over the view (a view's sort too)
            args[name] = value
    return args


def _queue_context(args: dict[str, str]) -> dict:
    page, error = None, None
    try:
        page = exception_queue.list_items(exception_queue.QueueFilter(
            kind=args["kind"], status=args["status"], supplier=args["supplier"], channel=args["channel"],
            reason=args["reason"], owner=args["owner"], age=args["age"], group=args["group"], late=args["late"],
            sort=args["sort"],
            after=args["after"] or None, viewer_id=current_user.id))
    except ServiceError as problem:
        error = problem.message
    return dict(page=page, error=error, args=args, url_with=url_with, kinds=exception_queue.KIND_LABELS,
                statuses=(*EXCEPTION_STATUSES, "snoozed"), supplier_codes=stock.supplier_codes(),
                channel_codes=exception_queue.channel_codes(), reason_codes=exception_queue.reason_codes(),
                saved_views=exception_queue.saved_views(current_user.role),
                view_counts=exception_queue.view_counts(current_user.id, current_user.role),
                age_filters=exception_queue.AGE_FILTERS, people=users.active_emails(),
                kind_groups=exception_queue.KIND_GROUPS)


@bp.get("")
@role_required("exceptions.view")
def index():
    context = _queue_context(_queue_args())
    return render_page("exceptions/index.html", fragments=("exception_list",),
                       status=200 if context["error"] is None else 422, **context)


@bp.get("/count")
@role_required("exceptions.view")
def count():
    return render_fragment("exceptions/index.html", "exception_badge", open_count=exception_queue.open_count())


@bp.get("/<int:item_id>")
@role_required("exceptions.view")
def show(item_id: int):
    try:
        item = exception_queue.get_item(item_id)
    except ServiceError:
        abort(404)
    return render_page("exceptions/show.html", fragments=("replay_form", "reroute_form"), item=item,
                       kinds=exception_queue.KIND_LABELS, ship_to_fields=SHIP_TO_FIELDS, outcome=None, error=None,
                       people=users.active_emails(), **_reroute_context(item))


def _reroute_context(item, error: str | None = None, chosen: str = "") -> dict:
    """For an order waiting on a person: every supplier that could take its lines, or why not."""
    waiting = item.status == "open" and item.order_id is not None and item.kind in fulfilment.MANUAL_REVIEW_KINDS
    options = fulfilment.reroute_options(item.order_id) if waiting else []
    return dict(reroute=waiting, options=options, reroute_error=error, chosen=chosen)


@bp.post("/<int:item_id>/reroute")
@role_required("exceptions.work")
def reroute(item_id: int):
    """Reroute by hand: the chosen supplier takes the waiting lines (held there, then sent); the item closes."""
    try:
        item = exception_queue.get_item(item_id)
    except ServiceError:
        abort(404)
    chosen = request.form.get("supplier", "")
    try:
        if not chosen:
            raise ServiceError("Choose the supplier that should take these lines.", field="supplier")
        if item.order_id is None or item.kind not in fulfilment.MANUAL_REVIEW_KINDS or item.status != "open":
            raise ServiceError("Only an open item holding an order for a person can be rerouted.")
        placed = fulfilment.reroute_by_hand(item.order_id, chosen, current_user, exception_item_id=item.id)
    except ServiceError as problem:
        return render_fragment("exceptions/show.html", "reroute_form", status=422, item=item,
                               **_reroute_context(item, problem.message, chosen))
    flash(f"Order {item.order_ref or item.order_id} rerouted to {chosen}: {len(placed)} supplier order(s) on their way.",
          "success")
    return redirect_browser(url_for("orders.show", order_id=item.order_id))  # the new page counts afresh


@bp.post("/<int:item_id>/retry")
@role_required("exceptions.work")
def retry(item_id: int):
    """`r` in the queue: a failed intake replayed as it stands (answered at once, the item swapped in place),
    a failed sync run again (its progress shown under the item)."""
    try:
        retried = exception_queue.retry(item_id, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    if retried.job_id:
        return job_progress_response("exceptions/index.html", "retry_progress", queues.job_status(retried.job_id),
                                     item_id=item_id)
    flash(retried.message, "success" if retried.ok else "warning")
    item = exception_queue.get_item(item_id)
    if retried.closed:
        return trigger(render_fragment("exceptions/index.html", "closed_item", item=item), "exceptions-changed")
    return trigger(_item_fragment(item), "exceptions-changed")


@bp.post("/<int:item_id>/replay")
@role_required("exceptions.work")
def replay(item_id: int):
    """Edit and replay: the SKU aliases and address fixes of the form, then the same checks as on arrival."""
    aliases = {key.removeprefix("alias-"): value for key, value in request.form.items() if key.startswith("alias-")}
    ship_to = {name: request.form[f"ship_to-{name}"] for name in SHIP_TO_FIELDS if f"ship_to-{name}" in request.form}
    try:
        outcome = intake.replay(item_id, current_user, aliases=aliases, ship_to=ship_to)
    except ServiceError as problem:
        try:
            item = exception_queue.get_item(item_id)
        except ServiceError:
            abort(404)
        if item.kind != "intake_failed" or item.status != "open":
            abort(422, problem.message)
        return render_fragment("exceptions/show.html", "replay_form", status=422, item=item, outcome=None,
                               error=problem.message, ship_to_fields=SHIP_TO_FIELDS)
    if outcome.status == "accepted":
        flash(f"Order {outcome.order.label} accepted.", "success")
        return redirect_browser(url_for("orders.show", order_id=outcome.order.id))  # the new page counts afresh
    item = exception_queue.get_item(item_id)
    return trigger(render_fragment("exceptions/show.html", "replay_form", status=422, item=item, outcome=outcome,
                                   error="Still not accepted: fix what is listed and replay again.",
                                   ship_to_fields=SHIP_TO_FIELDS), "exceptions-changed")


@bp.post("/<int:item_id>/assign")
@role_required("exceptions.work")
def assign(item_id: int):
    owner = request.form.get("owner", "")
    try:
        item = exception_queue.assign(item_id, current_user.email if owner == "me" else owner, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    flash(f"Item {item.id} assigned to {item.owner.email}." if item.owner else f"Item {item.id} unassigned.", "success")
    return trigger(_item_fragment(item), "exceptions-changed")


@bp.post("/<int:item_id>/snooze")
@role_required("exceptions.work")
def snooze(item_id: int):
    try:
        until = exception_queue.parse_snooze(request.form.get("hours"), request.form.get("until"))
        item = exception_queue.snooze(item_id, until, actor=current_user)
    except ServiceError as problem:
        abort(422, problem.message)
    flash(f"Item {item.id} snoozed until {item.snoozed_until:%Y-%m-%d %H:%M} UTC.", "success")
    return trigger(_item_fragment(item), "exceptions-changed")


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


@bp.post("/bulk")
@role_required("exceptions.work")
def bulk():
    """First the confirmation listing the selected items, then (confirm=yes) the action and a result per item."""
    action = request.form.get("action", "")
    try:
        ids = [int(value) for value in request.form.getlist("ids")]
        if request.form.get("confirm") != "yes":
            items = exception_queue.bulk_items(ids)
            if action not in exception_queue.BULK_ACTIONS:
                raise ServiceError("Choose assign, retry or resolve.")
            return render_fragment("exceptions/index.html", "bulk_panel", action=action, items=items, results=None,
                                   kinds=exception_queue.KIND_LABELS, note=request.form.get("note", ""))
        results = exception_queue.bulk_act(action, ids, current_user, note=request.form.get("note", ""))
    except ValueError as problem:  # ServiceError too; a forged id that is not a number
        message = getattr(problem, "message", "Select items from the list.")
        return render_fragment("exceptions/index.html", "bulk_panel", status=422, action=action, items=[], results=None,
                               error=message, kinds=exception_queue.KIND_LABELS, note="")
    return trigger(render_fragment("exceptions/index.html", "bulk_panel", action=action, items=[], results=results,
                                   kinds=exception_queue.KIND_LABELS, note=""), "exceptions-changed")


def _item_fragment(item):
    row = exception_queue.queue_row(item.id)
    return render_fragment("exceptions/index.html", "one_item", row=row, kinds=exception_queue.KIND_LABELS,
                           people=users.active_emails())
