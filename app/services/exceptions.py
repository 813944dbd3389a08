"""The exception queue's write side: open an item (or add to the open one), resolve it."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import ExceptionItem, Supplier, User
from app.models.types import utcnow

log = logging.getLogger(__name__)


def history_entry(who: str, what: str) -> dict:
    """One line of an item's history."""
    return {"at": utcnow().isoformat(), "who": who, "what": what}


def raise_item(kind: str, reason_code: str, reason: str, *, supplier: Supplier | None = None,
               sync_run_id: int | None = None, payload: dict[str, Any] | None = None) -> ExceptionItem:
    """Open an exception item in the caller's transaction; a supplier's repeated failure of one kind
    updates its open item instead of piling up new ones."""
    existing = None
    if supplier is not None:
        existing = db.session.scalar(select(ExceptionItem).where(
            ExceptionItem.kind == kind, ExceptionItem.supplier_id == supplier.id, ExceptionItem.status == "open"))
    if existing is not None and kind != "feed_held":
        existing.reason_code, existing.reason = reason_code, reason
        existing.payload = payload or {}
        existing.sync_run_id = sync_run_id
        existing.history = [*existing.history, history_entry("system", f"happened again: {reason}")]
        return existing
    item = ExceptionItem(kind=kind, reason_code=reason_code, reason=reason, supplier_id=supplier.id if supplier else None,
                         sync_run_id=sync_run_id, payload=payload or {}, history=[history_entry("system", reason)])
    db.session.add(item)
    log.info("exception_raised kind=%s reason=%s supplier=%s", kind, reason_code, supplier.code if supplier else "-")
    return item


def resolve_open(kind: str, supplier: Supplier, note: str) -> None:
    """Close a supplier's open item of `kind` once the failure has gone away by itself."""
    for item in db.session.scalars(select(ExceptionItem).where(
            ExceptionItem.kind == kind, ExceptionItem.supplier_id == supplier.id, ExceptionItem.status == "open")):
        close(item, "system", note, status="resolved")


def close(item: ExceptionItem, who: User | str, note: str, *, status: str = "resolved") -> None:
    item.status = status
    item.resolved_at = utcnow()
    item.history = [*item.history, history_entry(who.email if isinstance(who, User) else who, note)]


def record_failed_job(job_id: str, job_name: str, args: list, error_type: str, error_text: str) -> ExceptionItem:
    """A background job that raised: one open item per job and error kind, its history growing."""
    short_name = job_name.rsplit(".", 1)[-1]
    # The first line only, and short: tracebacks stay in RQ's failed-job registry for developers.
    summary = (error_text.strip().splitlines() or [""])[0][:300]
    reason = f"Background job {short_name} failed: {error_type}: {summary}"
    for item in db.session.scalars(select(ExceptionItem).where(ExceptionItem.kind == "job_failed",
                                                               ExceptionItem.status == "open",
                                                               ExceptionItem.reason_code == error_type)):
        if item.payload.get("job") == short_name:
            item.history = [*item.history, history_entry("system", f"failed again (job {job_id}): {summary}")]
            item.payload = {**item.payload, "job_id": job_id, "args": args}
            return item
    item = ExceptionItem(kind="job_failed", reason_code=error_type, reason=reason, history=[history_entry("system", reason)],
                         payload={"job": short_name, "job_id": job_id, "args": args})
    db.session.add(item)
    log.warning("job_failed job=%s id=%s error=%s", short_name, job_id, error_type)
    return item
