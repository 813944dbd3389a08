"""Apply what a supplier reports to the stored stock: in bulk, only real changes, stale never over fresh."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, islice
from operator import itemgetter
from typing import Any, Callable, Iterable

from flask import current_app
from sqlalchemy import Integer, and_, bindparam, or_, select, update

from app.domain.batching import collector_paused
from app.domain.stock import ReportedStock, StockPlan, StoredStock, plan_stock_changes
from app.extensions import db
from app.models import StockAlert, StockChange, Supplier, SupplierStock
from app.models.stock import STOCK_SOURCES
from app.services.inventory import has_confirmed_reservations, reflect_reports
from app.services.stock_totals import listed_in, refresh_product_totals

log = logging.getLogger(__name__)
CHUNK = 1000
WRITE_CHUNK = 10_000


@dataclass(frozen=True)
class ApplyResult:
    changed: int
    unchanged: int
    stale_ignored: int
    marked_unknown: int
    alerts: int


def threshold_for(supplier: Supplier) -> int:
    return supplier.low_stock_threshold or current_app.config["DROPDESK"].low_stock_threshold


def _chunks(items: Iterable, size: int = CHUNK) -> Iterable[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def lock_supplier_stock(supplier_id: int) -> None:
    """Serialize writers of one supplier's stock: a no-op UPDATE takes the row lock (PostgreSQL)
    or the write lock (SQLite) before anything is read."""
    db.session.execute(update(Supplier).where(Supplier.id == supplier_id).values(last_run_at=Supplier.last_run_at))


def _driver_form(column) -> Callable[[Any], Any]:
    """Convert a value for `column` the way its type does for the driver (aware UTC, SQLite's text form ...),
    memoized: a feed repeats its timestamps, and every row a run writes carries the same received_at."""
    dialect = db.session.get_bind().dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return lambda value: value
    memo: dict = {}

    def convert(value):
        if value is None:
            return None
        try:
            return memo[value]
        except KeyError:
            memo[value] = converted = process(value)
            return converted

    return convert


def _execute_rows(statement, rows: Iterable[dict]) -> None:
    """Run a Core statement once per row, at the driver level (sqlite3's executemany loop, psycopg's pipeline),
    WRITE_CHUNK rows at a time so a 200,000-row write never holds all its parameters at once.

    The rows' values must already be in the driver's form (see _driver_form) and name every column the
    statement writes: SQLAlchemy's per-row parameter processing was most of the cost of a 200,000-row write.
    """
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return
    connection = db.session.connection()
    compiled = statement.compile(dialect=connection.dialect, column_keys=list(first))
    missing = set(compiled.binds) - first.keys()
    if missing:  # e.g. a column with a Python-side default: SQLAlchemy would fill it in, the driver cannot
        raise ValueError(f"rows for {statement.table.name} lack {sorted(missing)}")
    if not compiled.positional:
        pick = None
    elif len(compiled.positiontup) > 1:
        pick = itemgetter(*compiled.positiontup)
    else:
        only = compiled.positiontup[0]
        pick = lambda row: (row[only],)  # noqa: E731
    for chunk in _chunks(chain((first,), iterator), WRITE_CHUNK):
        connection.exec_driver_sql(compiled.string, [pick(row) for row in chunk] if pick else chunk)


def _insert_rows(table, rows: Iterable[dict]) -> None:
    """Insert rows (driver values, every row naming the same columns): by COPY on PostgreSQL, where a first
    load of 200,000 SKUs and their log rows is otherwise most of the run; by _execute_rows elsewhere."""
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        _execute_rows(table.insert(), chain((first,), iterator))
        return
    columns = list(first)
    pick = itemgetter(*columns)
    quoted = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in columns)
    cursor = connection.connection.driver_connection.cursor()  # the session's own connection: same transaction
    try:
        with cursor.copy(f"COPY {table.name} ({quoted}) FROM STDIN") as copy:
            for row in chain((first,), iterator):
                copy.write_row(pick(row))
    finally:
        cursor.close()


def _driver_rows(statement) -> list[tuple]:
    """Fetch a Core select's rows as plain tuples of driver values (no per-row result processing)."""
    connection = db.session.connection()
    compiled = statement.compile(dialect=connection.dialect)
    params = (tuple(compiled.params[name] for name in compiled.positiontup) if compiled.positional
              else compiled.params)
    cursor = connection.connection.cursor()  # the session's own DBAPI connection: same transaction
    try:
        cursor.execute(compiled.string, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def stored_stock(supplier_id: int) -> tuple[dict[str, StoredStock], dict[str, int]]:
    table = SupplierStock.__table__
    rows = _driver_rows(select(table.c.supplier_sku, table.c.on_hand, table.c.status, table.c.reported_at,
                               table.c.missing_runs, table.c.id).where(table.c.supplier_id == supplier_id))
    # A full feed reads every stored row of the supplier, as plain tuples. PostgreSQL's driver hands back aware
    # times, used as they come (the plan only compares them, and aware times compare across zones); SQLite's
    # text is read through the column type once per distinct value (a feed's rows share their timestamps).
    dialect = db.session.get_bind().dialect
    make = StoredStock._make
    if dialect.name == "postgresql":
        stored = {row[0]: make(row[:5]) for row in rows}
    else:
        process = table.c.reported_at.type.dialect_impl(dialect).result_processor(dialect, None) or (lambda v: v)
        memo: dict = {None: None}

        def to_time(value):
            found = memo.get(value, memo)
            if found is memo:
                found = memo[value] = process(value)
            return found

        stored = {sku: StoredStock(sku, on_hand, status, to_time(reported_at), missing_runs)
                  for sku, on_hand, status, reported_at, missing_runs, _ in rows}
    return stored, {row[0]: row[5] for row in rows}


def plan_report(supplier: Supplier, reports: list[ReportedStock], *, full_feed: bool) -> tuple[StockPlan, dict, dict]:
    stored, ids = stored_stock(supplier.id)
    plan = plan_stock_changes(stored, reports, full_feed=full_feed,
                              missing_runs_before_unknown=supplier.missing_runs_before_unknown)
    return plan, stored, ids


def confirm_received(row_ids: list[int], received_at: datetime) -> None:
    """Mark stock rows as confirmed at received_at (their figure unchanged), in one statement.

    A delta, push or live check confirms the unchanged SKUs it repeated this way; a full feed confirms through
    the supplier instead (see write_plan).
    """
    table = SupplierStock.__table__
    fresher = or_(table.c.received_at.is_(None), table.c.received_at < received_at)
    db.session.execute(table.update().where(listed_in(table.c.id, row_ids, Integer), fresher)
                       .values(received_at=received_at))


def write_plan(supplier: Supplier, plan: StockPlan, ids: dict[str, int], reports: list[ReportedStock], *,
               source: str, received_at: datetime, full_feed: bool = False) -> ApplyResult:
    """Write a plan in bulk inside the caller's transaction (the caller has locked the supplier).

    `full_feed`: the plan is a completed full feed's, which confirms every SKU it listed.
    """
    if source not in STOCK_SOURCES:
        raise ValueError(f"unknown stock source {source!r}")
    table, changes_table = SupplierStock.__table__, StockChange.__table__
    time_form = _driver_form(table.c.reported_at)
    flag_form = _driver_form(changes_table.c.applied)
    received = time_form(received_at)
    applied = plan.applied
    _insert_rows(table, (
        {"supplier_id": supplier.id, "supplier_sku": c.supplier_sku, "on_hand": c.new_on_hand, "status": c.new_status,
         "reported_at": time_form(c.reported_at), "received_at": received, "missing_runs": 0}
        for c in applied if c.supplier_sku not in ids))
    # The reported_at condition keeps invariant 4 even if another writer slipped in between read and write.
    reported = bindparam("b_reported_at", type_=table.c.reported_at.type)
    _execute_rows(table.update().where(and_(table.c.id == bindparam("b_id"), or_(
        table.c.reported_at.is_(None), reported.is_(None), table.c.reported_at <= reported))), (
        {"b_id": ids[c.supplier_sku], "b_reported_at": time_form(c.reported_at), "on_hand": c.new_on_hand,
         "status": c.new_status, "reported_at": time_form(c.reported_at), "received_at": received,
         "missing_runs": plan.missing_runs.get(c.supplier_sku, 0)}
        for c in applied if c.supplier_sku in ids))
    changed_skus = {change.supplier_sku for change in plan.changes}  # applied, or stale and left alone
    counts_only = [{"b_id": ids[sku], "missing_runs": runs} for sku, runs in plan.missing_runs.items()
                   if sku in ids and sku not in changed_skus]
    _execute_rows(table.update().where(table.c.id == bindparam("b_id")).values(missing_runs=bindparam("missing_runs")),
                  counts_only)
    # SKUs reported again with the same figure are confirmed (freshness) without rewriting their figure. A full
    # feed lists nearly every SKU: it confirms them all at once through the supplier (see stock.confirmed_at),
    # where a row per SKU would be the most expensive write of the run.
    if full_feed:
        if supplier.stock_confirmed_at is None or supplier.stock_confirmed_at < received_at:
            supplier.stock_confirmed_at = received_at
    else:
        confirmed = [ids[r.supplier_sku] for r in reports if r.supplier_sku in ids and r.supplier_sku not in changed_skus]
        if confirmed:
            confirm_received(confirmed, received_at)
    _insert_rows(changes_table, (
        {"supplier_id": supplier.id, "supplier_sku": c.supplier_sku, "previous_on_hand": c.previous_on_hand,
         "new_on_hand": c.new_on_hand, "previous_status": c.previous_status, "new_status": c.new_status,
         "source": source, "applied": flag_form(c.applied), "reported_at": time_form(c.reported_at),
         "received_at": received, "at": received} for c in plan.changes))
    _insert_rows(StockAlert.__table__, (
        {"supplier_id": supplier.id, "supplier_sku": a.supplier_sku, "kind": a.kind,
         "previous_on_hand": a.previous_on_hand, "new_on_hand": a.new_on_hand, "at": received}
        for a in plan.alerts))
    if has_confirmed_reservations(supplier.id):  # a report made after the supplier confirmed an order accounts for it
        reflect_reports(supplier.id, {r.supplier_sku: r.reported_at for r in reports}, cause=f"{source} stock report")
    if applied:
        refresh_product_totals(supplier_id=supplier.id, supplier_skus=[c.supplier_sku for c in applied])
    result = ApplyResult(changed=len(applied), unchanged=plan.unchanged, stale_ignored=len(plan.changes) - len(applied),
                         marked_unknown=sum(1 for c in applied if c.new_status == "unknown"),
                         alerts=len(plan.alerts))
    log.info("stock_applied supplier=%s source=%s changed=%s unchanged=%s stale=%s unknown=%s alerts=%s",
             supplier.code, source, result.changed, result.unchanged, result.stale_ignored, result.marked_unknown,
             result.alerts)
    return result


def apply_stock_report(supplier: Supplier, reports: list[ReportedStock], *, source: str, received_at: datetime,
                       full_feed: bool = False) -> ApplyResult:
    """Lock, plan and write one report in one transaction, and commit it."""
    lock_supplier_stock(supplier.id)
    with collector_paused():
        plan, _stored, ids = plan_report(supplier, reports, full_feed=full_feed)
        result = write_plan(supplier, plan, ids, reports, source=source, received_at=received_at, full_feed=full_feed)
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
