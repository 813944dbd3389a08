"""What the supplier pages show: terms, connection, health, runs, rejects, unmapped SKUs."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from app.extensions import db
from app.models import Supplier, SupplierOffer, SupplierStock, SyncRun
from app.models.types import utcnow
from app.services import stock, supplier_health, sync

UNMAPPED_SHOWN = 50


@dataclass(frozen=True)
class SupplierPage:
    supplier: Supplier
    freshness: stock.SupplierFreshness
    health: str
    next_run_at: datetime | None
    runs: list[SyncRun]
    held: list[SyncRun]
    unmapped: list[SupplierStock]
    unmapped_count: int
    success_rate_24h: float | None
    success_rate_7d: float | None


def success_rate(supplier_id: int, since: datetime) -> float | None:
    """Share of finished runs since `since` that succeeded (None when there were none)."""
    finished, succeeded = db.session.execute(
        select(func.count(), func.sum(case((SyncRun.outcome == "succeeded", 1), else_=0)))
        .where(SyncRun.supplier_id == supplier_id, SyncRun.started_at >= since,
               SyncRun.outcome.in_(("succeeded", "failed", "held")))).one()
    return None if not finished else (succeeded or 0) / finished


def supplier_page(code: str) -> SupplierPage | None:
    supplier = db.session.scalar(select(Supplier).where(Supplier.code == code))
    if supplier is None:
        return None
    runs = list(db.session.scalars(select(SyncRun).where(SyncRun.supplier_id == supplier.id)
                                   .order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(20)))
    held = list(db.session.scalars(select(SyncRun).where(SyncRun.supplier_id == supplier.id, SyncRun.outcome == "held")
                                   .order_by(SyncRun.id.desc())))
    unmapped_query = (select(SupplierStock)
                      .outerjoin(SupplierOffer, and_(SupplierOffer.supplier_id == SupplierStock.supplier_id,
                                                     SupplierOffer.supplier_sku == SupplierStock.supplier_sku))
                      .where(SupplierStock.supplier_id == supplier.id, SupplierOffer.id.is_(None)))
    unmapped_count = db.session.scalar(select(func.count()).select_from(unmapped_query.subquery()))
    unmapped = list(db.session.scalars(unmapped_query.order_by(SupplierStock.supplier_sku).limit(UNMAPPED_SHOWN)))
    now = utcnow()
    return SupplierPage(
        supplier=supplier, freshness=stock.supplier_freshness(code)[0], health=supplier_health.health_of(code),
        next_run_at=sync.next_run_at(supplier), runs=runs, held=held, unmapped=unmapped, unmapped_count=unmapped_count,
        success_rate_24h=success_rate(supplier.id, now - timedelta(hours=24)),
        success_rate_7d=success_rate(supplier.id, now - timedelta(days=7)),
    )
