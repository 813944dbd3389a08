"""Supplier orders (one per shipment of a routing plan) and what each channel was last told it may sell."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.order import Order
from app.models.supplier import Supplier
from app.models.types import Money, UTCDateTime, utcnow

# pending: created with its reservations, not yet sent; sent: the supplier's API was called and has not
# answered for good (a retry may follow); acknowledged: the supplier took it and gave its reference;
# shipped: carrier and tracking number known; delivered. refused / timed_out: the supplier will not or did
# not take it (its lines were rerouted or put in front of a person); cancelled: by the channel or support.
SUPPLIER_ORDER_STATES = ("pending", "sent", "acknowledged", "shipped", "delivered", "refused", "timed_out",
                         "cancelled")
OPEN_SUPPLIER_ORDER_STATES = ("pending", "sent", "acknowledged")
FAILED_SUPPLIER_ORDER_STATES = ("refused", "timed_out")


class SupplierOrder(db.Model):
    """One shipment of an order's plan, placed at one supplier under one idempotency key."""

    __tablename__ = "supplier_orders"
    __table_args__ = (Index("ix_supplier_orders_status_sent", "status", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    routing_decision_id: Mapped[int | None] = mapped_column(ForeignKey("routing_decisions.id"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    # Sent with every attempt: the supplier answers a repeated key with the order it already has.
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # [{order_line_id, sku, supplier_sku, qty, reservation_id}]
    lines: Mapped[list] = mapped_column(JSON, default=list)
    carrier: Mapped[str | None] = mapped_column(String(40))
    service: Mapped[str | None] = mapped_column(String(40))
    landed_cost: Mapped[Decimal | None] = mapped_column(Money())
    supplier_ref: Mapped[str | None] = mapped_column(String(80))  # the supplier's own order number
    acknowledged_lines: Mapped[list | None] = mapped_column(JSON)  # what the supplier said it took
    tracking_carrier: Mapped[str | None] = mapped_column(String(40))
    tracking_number: Mapped[str | None] = mapped_column(String(80))
    tracking_url: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # refused, timed out or cancelled
    tracking_pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # told the channel

    order: Mapped[Order] = relationship()
    supplier: Mapped[Supplier] = relationship()


class ChannelListing(db.Model):
    """What a channel was last told it may sell of one product, so only changes are published."""

    __tablename__ = "channel_listings"
    __table_args__ = (UniqueConstraint("channel_id", "sku"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(64))
    published_qty: Mapped[int | None] = mapped_column()  # None until published once
    listed: Mapped[bool] = mapped_column(default=True)  # False: delisted because nothing can be promised
    wanted_qty: Mapped[int] = mapped_column(default=0)  # what the last computation said to publish
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)  # the last failed publish, shown on the channel page
