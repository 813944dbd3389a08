"""The exception queue: every failure that needs a person, with what is needed to fix it."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.supplier import Supplier
from app.models.types import Money, UTCDateTime, utcnow
from app.models.user import User

EXCEPTION_STATUSES = ("open", "resolved", "discarded", "cancelled")


class ExceptionItem(db.Model):
    __tablename__ = "exception_items"
    __table_args__ = (Index("ix_exception_items_status_kind", "status", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # sync_failed, feed_held, intake_invalid, unroutable, ...
    reason_code: Mapped[str] = mapped_column(String(48))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"), index=True)
    order_ref: Mapped[str | None] = mapped_column(String(64))
    sync_run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id"))
    order_value: Mapped[Decimal | None] = mapped_column(Money())
    payload: Mapped[dict] = mapped_column(JSON, default=dict)  # what is needed to fix it; secrets masked
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    history: Mapped[list] = mapped_column(JSON, default=list)  # [{at, who, what}]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Intake and the order flow: which channel and order an item concerns, how many orders wait on it.
    channel: Mapped[str | None] = mapped_column(String(32), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    inbound_payload_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_payloads.id"))
    orders_affected: Mapped[int] = mapped_column(default=0)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())

    supplier: Mapped[Supplier | None] = relationship()
    owner: Mapped[User | None] = relationship()
