"""The exception queue as ops work it: list, count, and act (retry a sync, close with a note)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import ExceptionItem, Supplier, User
from app.models.exceptions import EXCEPTION_STATUSES
from app.models.types import utcnow
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
# Saved views: a name and the filters it sets; "me" stands for whoever is signed in.
SAVED_VIEWS = (
    ("failed-intake", "Failed intake", {"kind": "intake_failed"}),
    ("stockout-reroutes", "Stockout reroutes", {"kind": "stockout_reroute"}),
    ("mine", "Mine", {"owner": "me"}),
)
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


def saved_view_filters(view: str) -> dict[str, str]:
    return next((dict(filters) for key, _, filters in SAVED_VIEWS if key == view), {})


def list_items(filters: QueueFilter, per_page: int = 50, now: datetime | None = None) -> Page:
    """The queue, most costly first by default (or by age or value); every filter in the URL."""
    now = now or utcnow()
    if filters.status and filters.status not in (*EXCEPTION_STATUSES, "snoozed"):
        raise ServiceError(f"Unknown status {filters.status!r}.", field="status")
    if filters.sort not in SORTS:
        raise ServiceError(f"Sort by one of {', '.join(SORTS)}.", field="sort")
    if filters.age and filters.age not in AGE_FILTERS:
        raise ServiceError(f"Age is one of {', '.join(AGE_FILTERS)}.", field="age")
    query = select(ExceptionItem, Supplier.code.label("supplier_code")) \
        .outerjoin(Supplier, Supplier.id == ExceptionItem.supplier_id)
    query = _filtered(query, filters, now)
    if filters.sort == "impact":
        return _impact_page(query, filters, per_page, now)
    column = {"created": ExceptionItem.created_at, "value": func.coalesce(ExceptionItem.order_value, 0)}[filters.sort.lstrip("-")]
    page = keyset_page(query.add_columns(column.label("sort_value")), column, ExceptionItem.id,
                       descending=filters.sort.startswith("-"), after=filters.after, per_page=per_page,
                       row_key=lambda row: (row.sort_value, row.ExceptionItem.id))
    return Page(items=[_row(row, now) for row in page.items], total=page.total, per_page=page.per_page,
                next_cursor=page.next_cursor, first=page.first)


def _filtered(query, filters: QueueFilter, now: datetime):
    if filters.kind:
        query = query.where(ExceptionItem.kind == filters.kind)
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
    return query


def _impact_page(query, filters: QueueFilter, per_page: int, now: datetime) -> Page:
    # Impact moves with the clock, so it is computed here, not stored; an open queue is hundreds of
    # items, not millions. The cursor is (impact, id) like every keyset page.
    rows = sorted((_row(row, now) for row in db.session.execute(query)),
                  key=lambda row: (row.impact, row.ExceptionItem.id), reverse=True)
    total = len(rows)
    if filters.after:
        value, row_id = decode_cursor(filters.after)
        value = Decimal(str(value))
        rows = [row for row in rows if (row.impact, row.ExceptionItem.id) < (value, row_id)]
    page, more = rows[:per_page], len(rows) > per_page
    cursor = encode_cursor(page[-1].impact, page[-1].ExceptionItem.id) if more else None
    return Page(items=page, total=total, per_page=per_page, next_cursor=cursor, first=not filters.after)


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


def view_counts(viewer_id: int | None, now: datetime | None = None) -> dict[str, int]:
    """Open (not snoozed) items per saved view, for the badges beside the view links."""
    now = now or utcnow()
    counts = {}
    for key, _, view in SAVED_VIEWS:
        query = _filtered(select(func.count()).select_from(ExceptionItem),
                          QueueFilter(status="open", viewer_id=viewer_id, **view), now)
        counts[key] = db.session.scalar(query)
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


def retry(item_id: int, actor) -> str:
    """Retry what failed (a supplier sync) in the background; the item closes when the run succeeds."""
    item = _get(item_id)
    if item.kind != "sync_failed" or item.supplier is None:
        raise ServiceError("Only a failed sync can be retried from here.")
    item.history = [*item.history, exceptions.history_entry(actor.email, "retry requested")]
    return sync.start_sync_now(item.supplier.code, actor)  # commits the history line with its audit entry


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
                message = _retry_one(item.id, actor)
            results.append(BulkResult(item.id, True, message))
        except ServiceError as problem:
            db.session.rollback()
            results.append(BulkResult(item.id, False, problem.message))
    return results


def _retry_one(item_id: int, actor: User) -> str:
    from app.services import intake

    item = _get(item_id)
    if item.kind == "intake_failed":
        outcome = intake.replay(item.id, actor)
        return "replayed: order accepted" if outcome.status == "accepted" else \
            f"replayed: still held ({', '.join(e.reason for e in outcome.errors) or outcome.status})"
    retry(item_id, actor)
    return "sync retry started"


