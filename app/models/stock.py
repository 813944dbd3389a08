"""Supplier stock as last reported, and the log of every change to it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.supplier import Supplier
from app.models.types import UTCDateTime, utcnow

STOCK_STATUSES = ("in_stock", "low_stock", "out_of_stock", "discontinued", "unknown")
ALERT_KINDS = ("went_out_of_stock", "back_in_stock", "fell_below_threshold")
STOCK_SOURCES = ("full", "delta", "push", "upload", "realtime", "manual", "demo")


class SupplierStock(db.Model):
    """One supplier SKU's stock: on hand (None when the supplier reports status only)."""

    __tablename__ = "supplier_stock"
    __table_args__ = (
        UniqueConstraint("supplier_id", "supplier_sku"),
        Index("ix_supplier_stock_status", "status"),
        Index("ix_supplier_stock_supplier_sku_id", "supplier_sku", "id"),  # the By supplier list's default order
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    supplier_sku: Mapped[str] = mapped_column(String(64))
    on_hand: Mapped[int | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    missing_runs: Mapped[int] = mapped_column(default=0)  # completed full feeds in a row without this SKU
    # Units held by reservations the supplier's figure does not reflect yet (app/services/inventory.py keeps it);
    # available to promise = on_hand - reserved. A server default, so bulk writers need not name it.
    reserved: Mapped[int] = mapped_column(server_default="0")

    supplier: Mapped[Supplier] = relationship()


class ProductStock(db.Model):
    """Per product: units available across its suppliers, kept current by every stock write, so the stock page
    sorts and filters by it with an index instead of adding up 200,000 supplier rows per request."""

    __tablename__ = "product_stock"
    __table_args__ = (Index("ix_product_stock_available", "available", "product_id"),)

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    available: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StockChange(db.Model):
    """Append-only: every figure a supplier reported that changed (or was ignored as stale)."""

    __tablename__ = "stock_changes"
    __table_args__ = (Index("ix_stock_changes_supplier_sku_at", "supplier_id", "supplier_sku", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    supplier_sku: Mapped[str] = mapped_column(String(64))
    previous_on_hand: Mapped[int | None] = mapped_column()
    new_on_hand: Mapped[int | None] = mapped_column()
    previous_status: Mapped[str | None] = mapped_column(String(16))
    new_status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    applied: Mapped[bool] = mapped_column(default=True)  # False: older than the stored report, kept for the record
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StockAlert(db.Model):
    """In-app notification: a supplier SKU went out of stock, came back, or fell below the threshold."""

    __tablename__ = "stock_alerts"
    __table_args__ = (Index("ix_stock_alerts_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    supplier_sku: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    previous_on_hand: Mapped[int | None] = mapped_column()
    new_on_hand: Mapped[int | None] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
