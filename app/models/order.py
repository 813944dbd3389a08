"""Orders in the canonical shape of CHANNELS.md, whatever channel they came from."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import Money, UTCDateTime, utcnow

SERVICE_LEVELS = ("standard", "express")


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("channel", "external_id"), Index("ix_orders_placed_at", "placed_at"),
                      Index("ix_orders_status", "status"))  # the flow panel and the order list count by status

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str | None] = mapped_column(String(64))
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    currency: Mapped[str | None] = mapped_column(String(3))
    email: Mapped[str | None] = mapped_column(String(254))
    test: Mapped[bool] = mapped_column(default=False)
    total: Mapped[Decimal | None] = mapped_column(Money())
    # ship_to.*: all None when the channel sent no shipping address
    ship_to_name: Mapped[str | None] = mapped_column(String(200))
    ship_to_company: Mapped[str | None] = mapped_column(String(200))
    ship_to_address1: Mapped[str | None] = mapped_column(String(200))
    ship_to_address2: Mapped[str | None] = mapped_column(String(200))
    ship_to_city: Mapped[str | None] = mapped_column(String(120))
    ship_to_region: Mapped[str | None] = mapped_column(String(40))
    ship_to_postal_code: Mapped[str | None] = mapped_column(String(20))
    ship_to_country: Mapped[str | None] = mapped_column(String(2))
    ship_to_phone: Mapped[str | None] = mapped_column(String(40))
    service_level: Mapped[str] = mapped_column(String(16), default="standard")
    status: Mapped[str] = mapped_column(String(24), default="received")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Intake: the channel row and the stored payload this order was taken from (None for seeded orders).
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"), index=True)
    inbound_payload_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_payloads.id"))
    channel_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the channel's own modification time
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    lines: Mapped[list["OrderLine"]] = relationship(back_populates="order", cascade="all, delete-orphan",
                                                    order_by="OrderLine.position")
    events: Mapped[list["OrderEvent"]] = relationship(back_populates="order", cascade="all, delete-orphan",
                                                      order_by="OrderEvent.id")

    @property
    def label(self) -> str:
        return self.number or f"{self.channel} {self.external_id}"


class OrderLine(db.Model):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()  # 0-based, as the channel listed the lines
    external_id: Mapped[str | None] = mapped_column(String(64))
    sku: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(300))
    qty: Mapped[int] = mapped_column()
    unit_price: Mapped[Decimal | None] = mapped_column(Money())

    order: Mapped[Order] = relationship(back_populates="lines")
    # The SKU as the channel sent it, when an alias mapped it to ours (`sku`).
    channel_sku: Mapped[str | None] = mapped_column(String(64))


class OrderEvent(db.Model):
    """One step of an order's timeline: received, validated, accepted, updated, cancelled, (issue 6) routed, ..."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(254), default="system")  # a person's e-mail, "system", a job or channel
    detail: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)

    order: Mapped[Order] = relationship(back_populates="events")
