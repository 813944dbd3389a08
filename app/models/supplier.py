"""Suppliers and their connection (credentials encrypted at rest)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app import vault
from app.extensions import db
from app.models.types import EncryptedCredentials, Money, UTCDateTime, utcnow

SUPPLIER_STATUSES = ("active", "paused")


class Supplier(EncryptedCredentials, db.Model):
    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), default="active")
    warehouse_country: Mapped[str] = mapped_column(String(2))
    ships_to: Mapped[list[str]] = mapped_column(JSON, default=list)
    lead_time_days: Mapped[int] = mapped_column(default=0)
    priority: Mapped[int] = mapped_column(default=100)
    order_fee: Mapped[Any] = mapped_column(Money(), default=0)
    fee_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=0)  # percent of goods value per shipment
    min_order_value: Mapped[Decimal] = mapped_column(Money(), default=0)  # goods value a shipment must reach
    contact_email: Mapped[str | None] = mapped_column(String(254))
    # How Dropdesk reaches the supplier: a connector type string plus its non-secret options.
    connection_type: Mapped[str] = mapped_column(String(32), default="upload")
    connection_options: Mapped[dict] = mapped_column(JSON, default=dict)
    credentials_ciphertext: Mapped[str | None] = mapped_column(Text)
    feed_mapping: Mapped[dict] = mapped_column(JSON, default=dict)  # FEEDS.md mapping
    poll_interval_minutes: Mapped[int | None] = mapped_column()  # None: POLL_INTERVAL_MINUTES
    low_stock_threshold: Mapped[int | None] = mapped_column()  # None: LOW_STOCK_THRESHOLD
    # A completed full feed that lacks a SKU this many times in a row marks it unknown.
    missing_runs_before_unknown: Mapped[int] = mapped_column(default=2)
    # Feed sanity guard: hold a full feed that cuts total stock or flips SKUs to out by more than this.
    guard_max_drop_pct: Mapped[int] = mapped_column(default=50)
    guard_max_out_flip_pct: Mapped[int] = mapped_column(default=25)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_full_pull_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delta_since: Mapped[datetime | None] = mapped_column(UTCDateTime())  # newest report seen: the next delta asks from here
    # When the last completed full feed was received: every SKU it listed (missing_runs 0) is confirmed as of
    # then, without rewriting the row of each SKU whose figure did not change.
    stock_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def masked_credentials(self) -> dict[str, str]:
        """Credential names with their values hidden, for pages."""
        return {name: vault.mask(secret) for name, secret in self.credentials.items()}

    def __repr__(self) -> str:  # never includes credentials
        return f"<Supplier {self.code}>"
