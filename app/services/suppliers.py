"""Supplier look-ups for pages (connections and sync come with the sync issue)."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Supplier
from app.services import stock


def supplier_with_freshness(code: str) -> tuple[Supplier, stock.SupplierFreshness] | None:
    supplier = db.session.scalar(select(Supplier).where(Supplier.code == code))
    if supplier is None:
        return None
    return supplier, stock.supplier_freshness(code)[0]
