"""Every inbound payload, stored before it is processed (invariant 3: nothing is lost)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow

PAYLOAD_STATUSES = ("pending", "processed", "failed", "rejected")


class InboundPayload(db.Model):
    __tablename__ = "inbound_payloads"
    __table_args__ = (UniqueConstraint("source", "delivery_id"), Index("ix_inbound_payloads_status", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # supplier_push, later shopify, woocommerce, api, upload
    delivery_id: Mapped[str | None] = mapped_column(String(128))  # the sender's id for this delivery: duplicates share it
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    headers: Mapped[dict] = mapped_column(JSON, default=dict)  # a safe subset: never signatures or auth
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    # Sales-channel payloads: the channel, the topic (orders/create, order.updated, api, poll, csv),
    # and for the order API the Idempotency-Key's body hash and the answer a repeat gets back.
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"), index=True)
    topic: Mapped[str | None] = mapped_column(String(48))
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column()
    response_body: Mapped[dict | None] = mapped_column(JSON)
