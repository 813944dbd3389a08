"""The exception queue as ops work it: list, count, and act (retry a sync, close with a note)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Numeric, and_, case, cast, extract, func, literal, or_, select, type_coerce

from app.extensions import db
from app.models import ExceptionItem, Supplier, User
from app.models.exceptions import EXCEPTION_STATUSES
from app.models.types import Money, utcnow
from app.services import ServiceError, audit, exceptions, sync
from app.services.paging import Page, decode_cursor, encode_cursor, keyset_page

KIND_LABELS = {
    "intake_failed": "Order intake failed",
    "unroutable": "Order could not be routed",
    "stockout_reroute": "Stockout reroute",
    "supplier_rejected": "Supplier refused an order",
    "supplier_timeout": "Supplier did not answer",
    "reconciliation": "Reconciliation mismatch",
    "sync_failed": "Stock sync failed",
    "feed_held": "Feed held for review",
    "push_failed": "Stock push unreadable",
    "job_failed": "Background job failed",
}
# How long an item of each kind may wait before it is late: orders waiting on a person come first.
SLA_HOURS = {"intake_failed": 2, "unroutable": 2, "stockout_reroute": 2, "supplier_rejected": 4, "supplier_timeout": 4,
             "reconciliation": 24, "sync_failed": 8, "feed_held": 8, "push_failed": 8, "job_failed": 24}
DEFAULT_SLA_HOURS = 24
# Money at stake for an item that concerns no order value (a sync failure): what one waiting order is worth.
VALUE_PER_ORDER = Decimal("25")
BASE_VALUE = Decimal("5")
AGE_FILTERS = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
SORTS = ("impact", "-created", "created", "-value")
# Kinds that belong together in one view: what waits on an order, what a supplier answered, what sync held.
KIND_GROUPS = {
    "orders": ("intake_failed", "unroutable", "stockout_reroute", "supplier_rejected", "supplier_timeout",
               "reconciliation"),
    "supplier_answers": ("supplier_rejected", "supplier_timeout"),
    "sync": ("sync_failed", "feed_held", "push_failed"),
}


@dataclass(frozen=True)
class SavedView:
    """A named set of filters (and perhaps a sort); "me" stands for whoever is signed in."""

    key: str
    label: str
    filters: dict[str, str]


SAVED_VIEWS = {view.key: view for view in (
    SavedView("failed-intake", "Failed intake", {"kind": "intake_failed"}),
    SavedView("stockout-reroutes", "Stockout reroutes", {"kind": "stockout_reroute"}),
    SavedView("supplier-answers", "Supplier refusals & timeouts", {"group": "supplier_answers"}),
    SavedView("unroutable", "Unroutable", {"kind": "unroutable"}),
    SavedView("orders-waiting", "Orders waiting on a person", {"group": "orders"}),
    SavedView("sync-feeds", "Sync & feeds", {"group": "sync"}),
    SavedView("failed-jobs", "Failed jobs", {"kind": "job_failed"}),
    SavedView("late", "Past their SLA", {"late": "yes"}),
    SavedView("oldest", "Oldest first", {"sort": "created"}),
    SavedView("mine", "Mine", {"owner": "me"}),
)}
# Each role's views, in the order its people work them (ops: what holds orders up; support: the orders
# customers ask about; managers and admins: what is late and what keeps stock figures from arriving).
ROLE_VIEWS = {
    "ops": ("failed-intake", "stockout-reroutes", "supplier-answers", "unroutable", "mine"),
    "support": ("orders-waiting", "failed-intake", "mine"),
    "manager": ("late", "orders-waiting", "sync-feeds", "oldest"),
    "admin": ("sync-feeds", "failed-jobs", "late", "oldest", "mine"),
    "buyer": (),
}
BULK_ACTIONS = ("assign", "retry", "resolve")
MAX_BULK = 100


@dataclass(frozen=True)
class QueueFilter:
    kind: str = ""
    status: str = "open"
    supplier: str = ""
    channel: str = ""
    reason: str = ""
    owner: str = ""  # "me", "none", or a person's e-mail
    age: str = ""  # older than: 1h, 4h, 24h, 7d
    group: str = ""  # one of KIND_GROUPS
    late: str = ""  # "yes": past the SLA of its kind
    sort: str = "impact"
    after: str | None = None
    viewer_id: int | None = None


@dataclass(frozen=True)
class QueueRow:
    """One item as the queue shows it, with its impact and how it stands against its SLA."""

    ExceptionItem: ExceptionItem
    supplier_code: str | None
    impact: Decimal
    sla_hours: int
    overdue_by: timedelta | None  # None while within the SLA
    due_in: timedelta | None


def sla_hours(kind: str) -> int:
    return SLA_HOURS.get(kind, DEFAULT_SLA_HOURS)


def impact_of(item: ExceptionItem, now: datetime) -> Decimal:
    """Money at stake × how far past its SLA: (value + 25 per order waiting + 5) × (1 + age / SLA)."""
    stake = (item.order_value or Decimal(0)) + VALUE_PER_ORDER * (item.orders_affected or 0) + BASE_VALUE
    age_hours = Decimal(max(0.0, (now - item.created_at).total_seconds()) / 3600)
    return (stake * (1 + age_hours / sla_hours(item.kind))).quantize(Decimal("0.01"))


def saved_views(role: str) -> list[SavedView]:
    """The views a role sees beside "All open"."""
    return [SAVED_VIEWS[key] for key in ROLE_VIEWS.get(role, ())]


def saved_view_filters(view: str) -> dict[str, str]:
    """What a view sets (any view by its key, so a link shared across roles still works)."""
    return dict(SAVED_VIEWS[view].filters) if view in SAVED_VIEWS else {}


def list_items(filters: QueueFilter, per_page: int = 50, now: datetime | None = None) -> Page:
    """The queue, most costly first by default (or by age or value); every filter in the URL."""
    now = now or utcnow()
    if filters.status and filters.status not in (*EXCEPTION_STATUSES, "snoozed"):
        raise ServiceError(f"Unknown status {filters.status!r}.", field="status")
    if filters.sort not in SORTS:
        raise ServiceError(f"Sort by one of {', '.join(SORTS)}.", field="sort")
    if filters.age and filters.age not in AGE_FILTERS:
        raise ServiceError(f"Age is one of {', '.join(AGE_FILTERS)}.", field="age")
    if filters.group and filters.group not in KIND_GROUPS:
        raise ServiceError(f"Group is one of {', '.join(KIND_GROUPS)}.", field="group")
    if filters.late not in ("", "yes"):
        raise ServiceError("Late is yes (past the SLA of its kind) or left out.", field="late")
    query = select(ExceptionItem, Supplier.code.label("supplier_code")) \
        .outerjoin(Supplier, Supplier.id == ExceptionItem.supplier_id)
    if filters.sort == "impact":
        return _impact_page(query, filters, per_page, now)
    query = _filtered(query, filters, now)
    column = {"created": ExceptionItem.created_at, "value": func.coalesce(ExceptionItem.order_value, 0)}[filters.sort.lstrip("-")]
    page = keyset_page(query.add_columns(column.label("sort_value")), column, ExceptionItem.id,
                       descending=filters.sort.startswith("-"), after=filters.after, per_page=per_page,
                       row_key=lambda row: (row.sort_value, row.ExceptionItem.id))
    return Page(items=[_row(row, now) for row in page.items], total=page.total, per_page=page.per_page,
                next_cursor=page.next_cursor, first=page.first)


def _filtered(query, filters: QueueFilter, now: datetime):
    if filters.kind:
        query = query.where(ExceptionItem.kind == filters.kind)
    if filters.group:
        query = query.where(ExceptionItem.kind.in_(KIND_GROUPS[filters.group]))
    if filters.status == "snoozed":
        query = query.where(ExceptionItem.status == "open", ExceptionItem.snoozed_until > now)
    elif filters.status == "open":
        query = query.where(ExceptionItem.status == "open",
                            or_(ExceptionItem.snoozed_until.is_(None), ExceptionItem.snoozed_until <= now))
    elif filters.status:
        query = query.where(ExceptionItem.status == filters.status)
    if filters.supplier:
        query = query.where(Supplier.code == filters.supplier)
    if filters.channel:
        query = query.where(ExceptionItem.channel == filters.channel)
    if filters.reason:
        query = query.where(ExceptionItem.reason_code == filters.reason)
    if filters.owner == "me":
        query = query.where(ExceptionItem.owner_id == (filters.viewer_id or -1))
    elif filters.owner == "none":
        query = query.where(ExceptionItem.owner_id.is_(None))
    elif filters.owner:
        query = query.where(ExceptionItem.owner_id == select(User.id).where(User.email == filters.owner).scalar_subquery())
    if filters.age:
        query = query.where(ExceptionItem.created_at <= now - AGE_FILTERS[filters.age])
    if filters.late:
        query = query.where(_past_sla(now))
    return query


def _past_sla(now: datetime):
    """Opened longer ago than its kind's SLA: one cutoff per kind, so the index on created_at still serves."""
    return or_(*(and_(ExceptionItem.kind == kind, ExceptionItem.created_at <= now - timedelta(hours=hours))
                 for kind, hours in SLA_HOURS.items()),
               and_(ExceptionItem.kind.not_in(SLA_HOURS),
                    ExceptionItem.created_at <= now - timedelta(hours=DEFAULT_SLA_HOURS)))


def impact_sql(now: datetime):
    """impact_of as a SQL expression at a fixed `now`, rounded to cents like it (SQLite and PostgreSQL)."""
    stake = (func.coalesce(ExceptionItem.order_value, 0)
             + literal(VALUE_PER_ORDER, Money()) * func.coalesce(ExceptionItem.orders_affected, 0)
             + literal(BASE_VALUE, Money()))
    at = literal(now, ExceptionItem.created_at.type)
    if db.session.get_bind().dialect.name == "postgresql":
        age_seconds = extract("epoch", at - ExceptionItem.created_at)
    else:
        age_seconds = (func.julianday(at) - func.julianday(ExceptionItem.created_at)) * 86400
    age_hours = case((age_seconds > 0, age_seconds), else_=0) / 3600
    sla = case(SLA_HOURS, value=ExceptionItem.kind, else_=DEFAULT_SLA_HOURS)
    return type_coerce(func.round(cast(stake * (1 + age_hours / sla), Numeric), 2), Numeric(14, 2))


def _impact_page(query, filters: QueueFilter, per_page: int, now: datetime) -> Page:
    # Impact moves with the clock, so it is computed, not stored: in SQL at one `now` per listing. The cursor
    # carries that `now` with (impact, id), so the next page continues the same order instead of a later one.
    after = None
    if filters.after:
        value, row_id = decode_cursor(filters.after)
        try:
            now, after = datetime.fromisoformat(value["at"]), encode_cursor(Decimal(value["impact"]), row_id)
        except (TypeError, KeyError, ValueError, ArithmeticError):
            raise ServiceError("That page link is no longer valid; start again from the first page.",
                               field="after") from None
    impact = impact_sql(now)
    page = keyset_page(_filtered(query, filters, now).add_columns(impact.label("sort_value")), impact,
                       ExceptionItem.id, descending=True, after=after, per_page=per_page,
                       row_key=lambda row: ({"at": now.isoformat(), "impact": str(row.sort_value)},
                                            row.ExceptionItem.id))
    return Page(items=[_row(row, now) for row in page.items], total=page.total, per_page=page.per_page,
                next_cursor=page.next_cursor, first=page.first, total_is_at_least=page.total_is_at_least)


def _row(row, now: datetime) -> QueueRow:
    item = row.ExceptionItem
    due = item.created_at + timedelta(hours=sla_hours(item.kind))
    late = now - due if now > due and item.status == "open" else None
    return QueueRow(item, row.supplier_code, impact_of(item, now), sla_hours(item.kind), late,
                    due - now if late is None and item.status == "open" else None)


def queue_row(item_id: int, now: datetime | None = None) -> QueueRow:
    """One item as the list shows it (after an action swaps it in place)."""
    row = db.session.execute(select(ExceptionItem, Supplier.code.label("supplier_code"))
                             .outerjoin(Supplier, Supplier.id == ExceptionItem.supplier_id)
                             .where(ExceptionItem.id == item_id)).one_or_none()
    if row is None:
        raise ServiceError(f"No exception item {item_id}.")
    return _row(row, now or utcnow())


def view_counts(viewer_id: int | None, role: str, now: datetime | None = None) -> dict[str, int]:
    """Open (not snoozed) items per saved view of `role`, for the badges beside the view links."""
    now = now or utcnow()
    counts = {}
    for view in saved_views(role):
        filters = {name: value for name, value in view.filters.items() if name != "sort"}
        query = _filtered(select(func.count()).select_from(ExceptionItem),
                          QueueFilter(status="open", viewer_id=viewer_id, **filters), now)
        counts[view.key] = db.session.scalar(query)
    return counts


def reason_codes() -> list[str]:
    return list(db.session.scalars(select(ExceptionItem.reason_code).distinct().order_by(ExceptionItem.reason_code)))


def channel_codes() -> list[str]:
    return list(db.session.scalars(select(ExceptionItem.channel).where(ExceptionItem.channel.is_not(None))
                                   .distinct().order_by(ExceptionItem.channel)))


def open_count() -> int:
    """Open items not snoozed: what the navigation badge shows."""
    now = utcnow()
    return db.session.scalar(select(func.count()).select_from(ExceptionItem).where(
        ExceptionItem.status == "open", or_(ExceptionItem.snoozed_until.is_(None), ExceptionItem.snoozed_until <= now)))


def get_item(item_id: int) -> ExceptionItem:
    item = db.session.get(ExceptionItem, item_id)
    if item is None:
        raise ServiceError(f"No exception item {item_id}.")
    return item


def _get(item_id: int) -> ExceptionItem:
    item = db.session.get(ExceptionItem, item_id)
    if item is None:
        raise ServiceError(f"No exception item {item_id}.")
    if item.status != "open":
        raise ServiceError("This item is already closed.")
    return item


@dataclass(frozen=True)
class Retried:
    """What a retry did: a background run to follow (job_id), or a replay done at once (message, closed)."""

    message: str
    job_id: str | None = None
    ok: bool = True
    closed: bool = False


def retry(item_id: int, actor) -> Retried:
    """Retry what failed: a failed intake is replayed as it stands (the same checks, the channel's aliases and
    the fixes saved so far); a failed sync runs again in the background and the item closes when it succeeds."""
    from app.services import fulfilment, intake

    item = _get(item_id)
    if item.kind == "intake_failed":
        outcome = intake.replay(item.id, actor)
        if outcome.status == "accepted":
            return Retried(f"Replayed: order accepted ({outcome.order.label}).", closed=True)
        reasons = ", ".join(error.reason for error in outcome.errors) or outcome.status
        return Retried(f"Replayed: still held ({reasons}).", ok=False)
    if item.kind in fulfilment.MANUAL_REVIEW_KINDS and item.order_id:
        # An order waiting on a person: route its waiting lines again on today's figures (stock came back, a
        # supplier was resumed), the suppliers that already failed it left out. Still no plan: the item stays.
        placed = fulfilment.route_again(item.order_id, actor, exception_item_id=item.id)
        suppliers = ", ".join(sorted({supplier_order.supplier.code for supplier_order in placed}))
        return Retried(f"Routed again: {len(placed)} supplier order(s) to {suppliers}.", closed=True)
    if item.kind != "sync_failed" or item.supplier is None:
        raise ServiceError("Only a failed intake, an order waiting on a person or a failed sync can be replayed or "
                           "retried from here.")
    item.history = [*item.history, exceptions.history_entry(actor.email, "retry requested")]
    job_id = sync.start_sync_now(item.supplier.code, actor)  # commits the history line with its audit entry
    return Retried("Sync retry started.", job_id=job_id)


def close(item_id: int, note: str, actor, *, status: str = "resolved") -> ExceptionItem:
    if status not in ("resolved", "discarded", "cancelled"):
        raise ServiceError("Close as resolved, discarded or cancelled.")
    if not note.strip():
        raise ServiceError("Say what was done, so the next person knows.", field="note")
    item = _get(item_id)
    exceptions.close(item, actor, note.strip(), status=status)
    audit.record(actor, f"exception.{status}", "exception_item", item.id, {"status": ("open", status)})
    db.session.commit()
    return item


def assign(item_id: int, owner_email: str | None, actor: User) -> ExceptionItem:
    """Give an item to someone (None: to nobody); audited, on the item's history."""
    item = _get(item_id)
    owner = None
    if owner_email:
        owner = db.session.scalar(select(User).where(User.email == owner_email.strip().lower(), User.active.is_(True)))
        if owner is None:
            raise ServiceError(f"No active person {owner_email}.", field="owner")
    before = item.owner.email if item.owner else None
    item.owner_id = owner.id if owner else None
    item.history = [*item.history, exceptions.history_entry(actor.email, f"assigned to {owner.email}" if owner else "unassigned")]
    audit.record(actor, "exception.assigned", "exception_item", item.id, {"owner": (before, owner.email if owner else None)})
    db.session.commit()
    return item


def snooze(item_id: int, until: datetime | None, actor: User, now: datetime | None = None) -> ExceptionItem:
    """Hide an item from the open queue until a time (it comes back by itself); None wakes it now."""
    item = _get(item_id)
    now = now or utcnow()
    if until is not None and until <= now:
        raise ServiceError("Snooze until a time in the future.", field="until")
    if until is not None and until > now + timedelta(days=30):
        raise ServiceError("Snooze for 30 days at most; close the item if it needs nobody.", field="until")
    before = item.snoozed_until
    item.snoozed_until = until
    what = f"snoozed until {until:%Y-%m-%d %H:%M} UTC" if until else "woken up"
    item.history = [*item.history, exceptions.history_entry(actor.email, what)]
    audit.record(actor, "exception.snoozed", "exception_item", item.id,
                 {"snoozed_until": (before.isoformat() if before else None, until.isoformat() if until else None)})
    db.session.commit()
    return item


def parse_snooze(hours: str | None, until: str | None, now: datetime | None = None) -> datetime:
    """A snooze time from a number of hours or a `YYYY-MM-DDTHH:MM` (UTC) field."""
    now = now or utcnow()
    try:
        if until:
            moment = datetime.fromisoformat(until.strip())
            return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)
        return now + timedelta(hours=float(hours or ""))
    except ValueError:
        raise ServiceError("Snooze for a number of hours, or until a date and time.", field="until") from None


@dataclass(frozen=True)
class BulkResult:
    item_id: int
    ok: bool
    message: str


def bulk_items(ids: list[int]) -> list[ExceptionItem]:
    """The items a bulk action would touch, for the confirmation; refuses an empty or huge selection."""
    if not ids:
        raise ServiceError("Select at least one item.")
    if len(ids) > MAX_BULK:
        raise ServiceError(f"Select at most {MAX_BULK} items at once.")
    return list(db.session.scalars(select(ExceptionItem).where(ExceptionItem.id.in_(ids)).order_by(ExceptionItem.id)))


def bulk_act(action: str, ids: list[int], actor: User, note: str = "") -> list[BulkResult]:
    """Assign to me, retry or resolve each selected item; one result per item, a failure never stops the rest."""
    if action not in BULK_ACTIONS:
        raise ServiceError(f"Bulk actions are {', '.join(BULK_ACTIONS)}.")
    if action == "resolve" and not note.strip():
        raise ServiceError("Say what was done, so the next person knows.", field="note")
    results = []
    for item in bulk_items(ids):
        try:
            if action == "assign":
                assign(item.id, actor.email, actor)
                message = "assigned to you"
            elif action == "resolve":
                close(item.id, note, actor)
                message = "resolved"
            else:
                retried = retry(item.id, actor)
                message = retried.message[0].lower() + retried.message[1:].rstrip(".")
            results.append(BulkResult(item.id, True, message))
        except ServiceError as problem:
            db.session.rollback()
            results.append(BulkResult(item.id, False, problem.message))
    return results
