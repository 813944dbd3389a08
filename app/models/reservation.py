"""Stock held for orders at the supplier chosen for each line, and the append-only ledger of what became of it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

# held: counts against the supplier's figure; confirmed: the supplier took the order, still counts until a
# stock report newer than the confirmation arrives (reflected) or the line ships (consumed); released: the
# order was cancelled, rerouted or refused. Only held and confirmed count.
RESERVATION_STATES = ("held", "confirmed", "reflected", "consumed", "released")
COUNTING_STATES = ("held", "confirmed")
LEDGER_KINDS = ("created", "confirmed", "reflected", "consumed", "released")


class Reservation(db.Model):
    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_supplier_sku_state", "supplier_id", "supplier_sku", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    supplier_sku: Mapped[str] = mapped_column(String(64))
    qty: Mapped[int] = mapped_column()
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"))
    # The shipment that carries the line: released with it when the supplier refuses or does not answer.
    supplier_order_id: Mapped[int | None] = mapped_column(ForeignKey("supplier_orders.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="held")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # reflected, consumed or released

    events: Mapped[list["ReservationEvent"]] = relationship(order_by="ReservationEvent.id")


class ReservationEvent(db.Model):
    """Append-only: each step of a reservation with its cause (an order, a stock report, a person)."""

    __tablename__ = "reservation_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    qty: Mapped[int] = mapped_column()
    cause: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
