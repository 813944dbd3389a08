"""The supplier SKUs a simulated supplier carries: its offers in Dropdesk's own database."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Supplier, SupplierOffer


def supplier_skus(code: str) -> list[str]:
    """Every supplier SKU offered under this supplier code, sorted (empty when the supplier is not seeded)."""
    query = (
        select(SupplierOffer.supplier_sku)
        .join(Supplier, Supplier.id == SupplierOffer.supplier_id)
        .where(Supplier.code == code)
        .order_by(SupplierOffer.supplier_sku)
    )
    return list(db.session.scalars(query))
