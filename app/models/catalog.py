"""What the retailer sells (its own SKUs) and what each supplier offers for them."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.supplier import Supplier
from app.models.types import Money, UTCDateTime, utcnow


class Product(db.Model):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(80), index=True)
    price: Mapped[Decimal] = mapped_column(Money())
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    offers: Mapped[list["SupplierOffer"]] = relationship(back_populates="product")


class SupplierOffer(db.Model):
    """A supplier's terms for one of our products, under the supplier's own SKU."""

    __tablename__ = "supplier_offers"
    __table_args__ = (UniqueConstraint("supplier_id", "supplier_sku"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    supplier_sku: Mapped[str] = mapped_column(String(64))
    cost: Mapped[Decimal] = mapped_column(Money())
    moq: Mapped[int] = mapped_column(default=1)
    lead_time_days: Mapped[int | None] = mapped_column()
    weight_kg: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    active: Mapped[bool] = mapped_column(default=True)

    supplier: Mapped[Supplier] = relationship()
    product: Mapped[Product] = relationship(back_populates="offers")
