"""Apply what a supplier reports to the stored stock: in bulk, only real changes, stale never over fresh."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Iterable, Sequence

from flask import current_app
from sqlalchemy import and_, bindparam, or_, select, update

from app.domain.stock import ReportedStock, StockPlan, StoredStock, plan_stock_changes
from app.extensions import db
from app.models import StockAlert, StockChange, Supplier, SupplierStock
from app.models.stock import STOCK_SOURCES

log = logging.getLogger(__name__)
CHUNK = 1000


@dataclass(frozen=True)
class ApplyResult:
    changed: int
    unchanged: int
    stale_ignored: int
    marked_unknown: int
    alerts: int


def threshold_for(supplier: Supplier) -> int:
    return supplier.low_stock_threshold or current_app.config["DROPDESK"].low_stock_threshold


def _chunks(items: Sequence, size: int = CHUNK) -> Iterable[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def lock_supplier_stock(supplier_id: int) -> None:
    """Serialize writers of one supplier's stock: a no-op UPDATE takes the row lock (PostgreSQL)
    or the write lock (SQLite) before anything is read."""
    db.session.execute(update(Supplier).where(Supplier.id == supplier_id).values(last_run_at=Supplier.last_run_at))


def stored_stock(supplier_id: int) -> tuple[dict[str, StoredStock], dict[str, int]]:
    rows = db.session.execute(
        select(SupplierStock.id, SupplierStock.supplier_sku, SupplierStock.on_hand, SupplierStock.status,
               SupplierStock.reported_at, SupplierStock.missing_runs).where(SupplierStock.supplier_id == supplier_id))
    stored, ids = {}, {}
    for row in rows:
        stored[row.supplier_sku] = StoredStock(row.supplier_sku, row.on_hand, row.status, row.reported_at, row.missing_runs)
        ids[row.supplier_sku] = row.id
    return stored, ids


def plan_report(supplier: Supplier, reports: list[ReportedStock], *, full_feed: bool) -> tuple[StockPlan, dict, dict]:
    stored, ids = stored_stock(supplier.id)
    plan = plan_stock_changes(stored, reports, full_feed=full_feed,
                              missing_runs_before_unknown=supplier.missing_runs_before_unknown)
    return plan, stored, ids


def write_plan(supplier: Supplier, plan: StockPlan, ids: dict[str, int], reports: list[ReportedStock], *,
               source: str, received_at: datetime) -> ApplyResult:
    """Write a plan in bulk inside the caller's transaction (the caller has locked the supplier)."""
    if source not in STOCK_SOURCES:
        raise ValueError(f"unknown stock source {source!r}")
    table = SupplierStock.__table__
    inserts, updates = [], []
    for change in plan.applied:
        values = {"on_hand": change.new_on_hand, "status": change.new_status, "reported_at": change.reported_at,
                  "received_at": received_at}
        if change.supplier_sku in ids:
            updates.append({"b_id": ids[change.supplier_sku], "b_reported_at": change.reported_at, **values,
                            "missing_runs": plan.missing_runs.get(change.supplier_sku, 0)})
        else:
            inserts.append({"supplier_id": supplier.id, "supplier_sku": change.supplier_sku, "missing_runs": 0, **values})
    if inserts:
        db.session.execute(table.insert(), inserts)
    if updates:
        # The reported_at condition keeps invariant 4 even if another writer slipped in between read and write.
        reported = bindparam("b_reported_at", type_=table.c.reported_at.type)
        db.session.execute(
            table.update().where(and_(table.c.id == bindparam("b_id"), or_(
                table.c.reported_at.is_(None), reported.is_(None), table.c.reported_at <= reported))),
            updates)
    changed_skus = {change.supplier_sku for change in plan.changes}  # applied, or stale and left alone
    counts_only = [{"b_id": ids[sku], "missing_runs": runs} for sku, runs in plan.missing_runs.items()
                   if sku in ids and sku not in changed_skus]
    if counts_only:
        db.session.execute(table.update().where(table.c.id == bindparam("b_id")).values(missing_runs=bindparam("missing_runs")),
                           counts_only)
    # SKUs reported again with the same figure: confirm them (freshness) without rewriting their figure.
    confirmed = [r.supplier_sku for r in reports if r.supplier_sku in ids and r.supplier_sku not in changed_skus]
    for chunk in _chunks(confirmed):
        db.session.execute(table.update().where(
            table.c.supplier_id == supplier.id, table.c.supplier_sku.in_(chunk),
            or_(table.c.received_at.is_(None), table.c.received_at < received_at)).values(received_at=received_at))
    log_rows = [{"supplier_id": supplier.id, "supplier_sku": c.supplier_sku, "previous_on_hand": c.previous_on_hand,
                 "new_on_hand": c.new_on_hand, "previous_status": c.previous_status, "new_status": c.new_status,
                 "source": source, "applied": c.applied, "reported_at": c.reported_at, "received_at": received_at,
                 "at": received_at} for c in plan.changes]
    if log_rows:
        db.session.execute(StockChange.__table__.insert(), log_rows)
    if plan.alerts:
        db.session.execute(StockAlert.__table__.insert(), [
            {"supplier_id": supplier.id, "supplier_sku": a.supplier_sku, "kind": a.kind,
             "previous_on_hand": a.previous_on_hand, "new_on_hand": a.new_on_hand, "at": received_at}
            for a in plan.alerts])
    result = ApplyResult(changed=len(plan.applied), unchanged=plan.unchanged, stale_ignored=len(plan.stale),
                         marked_unknown=sum(1 for c in plan.applied if c.new_status == "unknown"),
                         alerts=len(plan.alerts))
    log.info("stock_applied supplier=%s source=%s changed=%s unchanged=%s stale=%s unknown=%s alerts=%s",
             supplier.code, source, result.changed, result.unchanged, result.stale_ignored, result.marked_unknown,
             result.alerts)
    return result


def apply_stock_report(supplier: Supplier, reports: list[ReportedStock], *, source: str, received_at: datetime,
                       full_feed: bool = False) -> ApplyResult:
    """Lock, plan and write one report in one transaction, and commit it."""
    lock_supplier_stock(supplier.id)
    plan, _stored, ids = plan_report(supplier, reports, full_feed=full_feed)
    result = write_plan(supplier, plan, ids, reports, source=source, received_at=received_at)
    db.session.commit()
    return result


def set_manually(supplier_code: str, supplier_sku: str, quantity: int, actor) -> ApplyResult:
    """A person sets one supplier SKU's figure (a phone call, a spreadsheet): logged as manual, audited."""
    from app.domain.stock import unified_stock_level
    from app.models.types import utcnow
    from app.services import ServiceError, audit

    supplier = db.session.scalar(select(Supplier).where(Supplier.code == supplier_code))
    if supplier is None:
        raise ServiceError(f"No supplier {supplier_code}.", field="supplier")
    if not supplier_sku.strip():
        raise ServiceError("Give the supplier's SKU.", field="sku")
    if quantity < 0:
        raise ServiceError("The quantity cannot be negative.", field="quantity")
    now = utcnow()
    level = unified_stock_level(quantity, None, threshold=threshold_for(supplier))
    before = db.session.scalar(select(SupplierStock.on_hand).where(SupplierStock.supplier_id == supplier.id,
                                                                   SupplierStock.supplier_sku == supplier_sku.strip()))
    lock_supplier_stock(supplier.id)
    reports = [ReportedStock(supplier_sku.strip(), level.quantity, str(level.status), now)]
    plan, _stored, ids = plan_report(supplier, reports, full_feed=False)
    result = write_plan(supplier, plan, ids, reports, source="manual", received_at=now)
    audit.record(actor, "stock.set_manually", "supplier_stock", f"{supplier.code}/{supplier_sku.strip()}",
                 {"on_hand": (before, level.quantity)})
    db.session.commit()
    return result
