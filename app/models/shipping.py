"""How a supplier ships: carrier services, their rates per destination country, and surcharges."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.supplier import Supplier
from app.models.types import Money, UTCDateTime, utcnow

SPEEDS = ("standard", "express")


class ShippingService(db.Model):
    """A carrier service a supplier ships with (ROUTING.md `services[]`)."""

    __tablename__ = "shipping_services"
    __table_args__ = (UniqueConstraint("supplier_id", "carrier", "service"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(40))
    service: Mapped[str] = mapped_column(String(60))
    speed: Mapped[str] = mapped_column(String(16), default="standard")
    max_kg: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))  # None: no weight limit
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    supplier: Mapped[Supplier] = relationship()
    rates: Mapped[list["ShippingRate"]] = relationship(back_populates="shipping_service", cascade="all, delete-orphan",
                                                       order_by="ShippingRate.country")


class ShippingRate(db.Model):
    """What a service charges to one destination country, and how long it takes."""

    __tablename__ = "shipping_rates"
    __table_args__ = (UniqueConstraint("service_id", "country"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("shipping_services.id", ondelete="CASCADE"))
    country: Mapped[str] = mapped_column(String(2))
    base: Mapped[Decimal] = mapped_column(Money())
    per_kg: Mapped[Decimal] = mapped_column(Money(), default=0)
    transit_days: Mapped[int] = mapped_column()

    shipping_service: Mapped[ShippingService] = relationship(back_populates="rates")


class ShippingSurcharge(db.Model):
    """A per-shipment charge for shipping to a country, or to one region of it."""

    __tablename__ = "shipping_surcharges"

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(40))  # None: the whole country
    amount: Mapped[Decimal] = mapped_column(Money())

    supplier: Mapped[Supplier] = relationship()
