"""The exception queue as ops work it: list, count, and act (retry a sync, close with a note)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from app.extensions import db
from app.models import ExceptionItem, Supplier
from app.models.exceptions import EXCEPTION_STATUSES
from app.services import ServiceError, audit, exceptions, sync
from app.services.paging import Page, keyset_page

KIND_LABELS = {
    "sync_failed": "Stock sync failed",
    "feed_held": "Feed held for review",
    "push_failed": "Stock push unreadable",
    "job_failed": "Background job failed",
}


@dataclass(frozen=True)
class QueueFilter:
    kind: str = ""
    status: str = "open"
    supplier: str = ""
    after: str | None = None


def list_items(filters: QueueFilter, per_page: int = 50) -> Page:
    """Newest first (prioritising by impact comes with order intake, when items carry order values)."""
    if filters.status and filters.status not in EXCEPTION_STATUSES:
        raise ServiceError(f"Unknown status {filters.status!r}.", field="status")
    query = select(ExceptionItem, Supplier.code.label("supplier_code"), ExceptionItem.created_at.label("sort_value")) \
        .outerjoin(Supplier, Supplier.id == ExceptionItem.supplier_id)
    if filters.kind:
        query = query.where(ExceptionItem.kind == filters.kind)
    if filters.status:
        query = query.where(ExceptionItem.status == filters.status)
    if filters.supplier:
        query = query.where(Supplier.code == filters.supplier)
    return keyset_page(query, ExceptionItem.created_at, ExceptionItem.id, descending=True, after=filters.after,
                       per_page=per_page, row_key=lambda row: (row.sort_value, row.ExceptionItem.id))


def open_count() -> int:
    return db.session.scalar(select(func.count()).select_from(ExceptionItem).where(ExceptionItem.status == "open"))


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
    if status not in ("resolved", "discarded"):
        raise ServiceError("Close as resolved or discarded.")
    if not note.strip():
        raise ServiceError("Say what was done, so the next person knows.", field="note")
    item = _get(item_id)
    exceptions.close(item, actor, note.strip(), status=status)
    audit.record(actor, f"exception.{status}", "exception_item", item.id, {"status": ("open", status)})
    db.session.commit()
    return item
