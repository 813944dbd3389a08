"""Reservations: stock held at the supplier chosen for each order line, so the same units are never sold twice.

Invariants 1 and 2 of DESIGN.md. A plan is reserved all or nothing in one transaction; each line is one
conditional UPDATE of the supplier's stock row that re-checks availability in the database (on_hand - reserved
covers the quantity), so concurrent reservations for the last units can never reserve more than exist, on
SQLite and on PostgreSQL alike. Every step is one row of the append-only ledger. A release, consume or reflect
happens once: it moves the reservation out of a counting state with a conditional UPDATE, and only the call
that moved it gives the units back, whatever retries or duplicate jobs follow.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update

from app.domain.stock import SELLABLE_STATUSES, available_to_promise, report_reflects_confirmation
from app.extensions import db
from app.models import Reservation, ReservationEvent, SupplierStock
from app.models.reservation import COUNTING_STATES
from app.models.types import utcnow
from app.services import ServiceError
from app.services.stock_totals import refresh_product_totals

log = logging.getLogger(__name__)
SELLABLE = tuple(str(status) for status in SELLABLE_STATUSES)


@dataclass(frozen=True)
class Hold:
    """One line of a routing plan to reserve: this quantity of this supplier SKU."""

    supplier_id: int
    supplier_sku: str
    qty: int
    order_line_id: int | None = None
    supplier_order_id: int | None = None  # the shipment carrying the line, once dispatch has made it


class ReservationRefused(ServiceError):
    """A line of the plan is no longer covered: nothing of the plan was held."""

    def __init__(self, hold: Hold, available: int):
        super().__init__(f"{hold.supplier_sku} at supplier {hold.supplier_id}: {hold.qty} wanted, "
                         f"{available} available to promise.", field="qty")
        self.hold, self.available = hold, available


def reserve_plan(holds: Iterable[Hold], *, order_id: int | None, cause: str) -> list[int]:
    """Hold every line of a plan, or none; commits. Returns the reservation ids in the order given."""
    try:
        ids = hold_plan(holds, order_id=order_id, cause=cause)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    log.info("stock_reserved order=%s lines=%s cause=%s", order_id, len(ids), cause)
    return ids


def hold_plan(holds: Iterable[Hold], *, order_id: int | None, cause: str) -> list[int]:
    """reserve_plan inside the caller's transaction (dispatch writes its supplier orders in the same one).

    On ReservationRefused some lines may already be held in this transaction: the caller must roll it back.
    Rows are locked in (supplier, SKU) order, so two plans sharing SKUs never wait on each other in a circle.
    """
    holds = list(holds)
    for hold in holds:
        if hold.qty <= 0:
            raise ServiceError(f"A reservation needs a positive quantity (got {hold.qty}).", field="qty")
    if not holds:
        return []
    # The plan's reservations and ledger rows first, one INSERT each, before any stock row is locked; then each
    # stock row by its conditional UPDATE; then the products' totals in one query. A stock row stays locked for
    # a few round trips, and a refused line takes the reservations back with the rollback.
    now = utcnow()
    ids = list(db.session.scalars(_HOLD, [
        {"supplier_id": hold.supplier_id, "supplier_sku": hold.supplier_sku, "qty": hold.qty, "order_id": order_id,
         "order_line_id": hold.order_line_id, "supplier_order_id": hold.supplier_order_id, "state": "held",
         "created_at": now} for hold in holds]))
    db.session.execute(_LEDGER, [{"reservation_id": reservation_id, "kind": "created", "qty": hold.qty, "cause": cause,
                                  "at": now} for reservation_id, hold in zip(ids, holds)])
    for hold in sorted(holds, key=lambda hold: (hold.supplier_id, hold.supplier_sku)):
        taken = db.session.execute(_TAKE, {"b_supplier_id": hold.supplier_id, "b_supplier_sku": hold.supplier_sku,
                                           "b_qty": hold.qty})
        if taken.rowcount != 1:
            available = _available(hold.supplier_id, hold.supplier_sku)
            raise ReservationRefused(hold, available)
    _refresh_totals(holds)
    return ids


# Built once, values bound on each call (Core, no ORM unit of work): building and keying a statement cost more than
# running it, and a reservation runs a few of them many times a second.
_STOCK = SupplierStock.__table__
_TAKE = (update(_STOCK)  # a line's units, only if the row still covers them
         .where(_STOCK.c.supplier_id == bindparam("b_supplier_id"), _STOCK.c.supplier_sku == bindparam("b_supplier_sku"),
                _STOCK.c.status.in_(SELLABLE), _STOCK.c.on_hand - _STOCK.c.reserved >= bindparam("b_qty"))
         .values(reserved=_STOCK.c.reserved + bindparam("b_qty")))
_HOLD = insert(Reservation.__table__).returning(Reservation.__table__.c.id, sort_by_parameter_order=True)
_LEDGER = insert(ReservationEvent.__table__)


def _available(supplier_id: int, supplier_sku: str) -> int:
    row = db.session.execute(select(SupplierStock.on_hand, SupplierStock.reserved, SupplierStock.status).where(
        SupplierStock.supplier_id == supplier_id, SupplierStock.supplier_sku == supplier_sku)).first()
    return 0 if row is None else available_to_promise(row.on_hand, row.reserved, row.status)


def confirm(reservation_ids: Iterable[int], *, at: datetime, cause: str, commit: bool = True) -> int:
    """The supplier accepted the order: its held units count until a newer stock report reflects them.
    Commits, unless the caller owns the transaction (commit=False)."""
    confirmed = 0
    for reservation_id in reservation_ids:
        moved = db.session.execute(update(Reservation).where(Reservation.id == reservation_id, Reservation.state == "held")
                                   .values(state="confirmed", confirmed_at=at).execution_options(synchronize_session=False))
        if moved.rowcount == 1:
            qty = db.session.scalar(select(Reservation.qty).where(Reservation.id == reservation_id))
            db.session.add(ReservationEvent(reservation_id=reservation_id, kind="confirmed", qty=qty, cause=cause, at=at))
            confirmed += 1
    if commit:
        db.session.commit()
    return confirmed


def release(reservation_ids: Iterable[int], *, cause: str, commit: bool = True) -> int:
    """The order was cancelled, rerouted or refused: give the units back, once. Commits unless commit=False."""
    closed = _close(reservation_ids, "released", cause)
    if commit:
        db.session.commit()
    return closed


def consume(reservation_ids: Iterable[int], *, cause: str, commit: bool = True) -> int:
    """The line shipped: the supplier's own figure carries it from here, once. Commits unless commit=False."""
    closed = _close(reservation_ids, "consumed", cause)
    if commit:
        db.session.commit()
    return closed


def _close(reservation_ids: Iterable[int], state: str, cause: str, at: datetime | None = None) -> int:
    """Move counting reservations to `state` and give their units back, inside the caller's transaction."""
    at, closed = at or utcnow(), 0
    for reservation_id in reservation_ids:
        found = db.session.execute(select(Reservation.supplier_id, Reservation.supplier_sku, Reservation.qty)
                                   .where(Reservation.id == reservation_id)).first()
        if found is None:
            continue
        moved = db.session.execute(update(Reservation)
                                   .where(Reservation.id == reservation_id, Reservation.state.in_(COUNTING_STATES))
                                   .values(state=state, closed_at=at).execution_options(synchronize_session=False))
        if moved.rowcount != 1:  # already closed by an earlier call: nothing more to give back
            continue
        db.session.execute(update(SupplierStock)
                           .where(SupplierStock.supplier_id == found.supplier_id,
                                  SupplierStock.supplier_sku == found.supplier_sku)
                           .values(reserved=SupplierStock.reserved - found.qty)
                           .execution_options(synchronize_session=False))
        db.session.add(ReservationEvent(reservation_id=reservation_id, kind=state, qty=found.qty, cause=cause, at=at))
        _refresh_totals([Hold(found.supplier_id, found.supplier_sku, found.qty)])
        closed += 1
    return closed


def _refresh_totals(holds: Iterable[Hold]) -> None:
    """The stock page's per-product totals are what can be promised: they move with every reservation."""
    refresh_product_totals(stock_keys={(hold.supplier_id, hold.supplier_sku) for hold in holds})


def reflect_reports(supplier_id: int, reported_at_by_sku: Mapping[str, datetime], *, cause: str) -> int:
    """Inside a stock write: confirmed reservations that a report made after their confirmation now accounts
    for stop counting (the supplier's figure carries them). Returns how many."""
    confirmed = db.session.execute(
        select(Reservation.id, Reservation.supplier_sku, Reservation.confirmed_at)
        .where(Reservation.supplier_id == supplier_id, Reservation.state == "confirmed")).all()
    reflected = [row.id for row in confirmed if row.supplier_sku in reported_at_by_sku
                 and report_reflects_confirmation(reported_at_by_sku[row.supplier_sku], row.confirmed_at)]
    return _close(reflected, "reflected", cause) if reflected else 0


def has_confirmed_reservations(supplier_id: int) -> bool:
    return db.session.scalar(select(Reservation.id).where(Reservation.supplier_id == supplier_id,
                                                          Reservation.state == "confirmed").limit(1)) is not None
