"""What the supplier pages show: terms, connection, health, runs, rejects, unmapped SKUs."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from app.extensions import db
from app.models import Supplier, SupplierOffer, SupplierStock, SyncRun
from app.models.types import utcnow
from app.services import stock, supplier_health, sync
from app.services.stock_totals import refresh_product_totals

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
        success_rate_24h=success_rates(now - timedelta(hours=24)).get(supplier.id),
        success_rate_7d=success_rates(now - timedelta(days=7)).get(supplier.id),
    )


def link_supplier_sku(code: str, supplier_sku: str, product_sku: str, cost: str, actor) -> SupplierOffer:
    """Link a SKU the supplier reports to one of our products (a new offer), audited."""
    from decimal import Decimal, InvalidOperation

    from app.models import Product
    from app.services import ServiceError, audit

    supplier = db.session.scalar(select(Supplier).where(Supplier.code == code))
    if supplier is None:
        raise ServiceError(f"No supplier {code}.")
    product = db.session.scalar(select(Product).where(Product.sku == product_sku.strip()))
    if product is None:
        raise ServiceError(f"We have no product with the SKU {product_sku.strip()!r}.", field="product_sku")
    try:
        amount = Decimal(cost.strip())
    except (InvalidOperation, AttributeError):
        raise ServiceError(f"{cost!r} is not an amount; write it like 12.50.", field="cost") from None
    if not amount.is_finite() or amount < 0:
        raise ServiceError("The cost must be zero or more.", field="cost")
    if db.session.scalar(select(SupplierOffer.id).where(SupplierOffer.supplier_id == supplier.id,
                                                        SupplierOffer.supplier_sku == supplier_sku)) is not None:
        raise ServiceError(f"{supplier_sku} is already linked to a product.", field="supplier_sku")
    offer = SupplierOffer(supplier_id=supplier.id, product_id=product.id, supplier_sku=supplier_sku, cost=amount)
    db.session.add(offer)
    db.session.flush()
    refresh_product_totals(product_ids=[product.id])
    audit.record(actor, "offer.linked", "supplier_offer", offer.id,
                 {"supplier_sku": (None, supplier_sku), "product": (None, product.sku), "cost": (None, str(amount))})
    db.session.commit()
    return offer


@dataclass(frozen=True)
class SupplierSummary:
    last_success_at: datetime | None
    next_run_at: datetime | None
    success_rate_24h: float | None
    success_rate_7d: float | None


def success_rates(since: datetime) -> dict[int, float]:
    """Every supplier's share of finished runs since `since` that succeeded, in one query."""
    rows = db.session.execute(
        select(SyncRun.supplier_id, func.count(), func.sum(case((SyncRun.outcome == "succeeded", 1), else_=0)))
        .where(SyncRun.started_at >= since, SyncRun.outcome.in_(("succeeded", "failed", "held")))
        .group_by(SyncRun.supplier_id))
    return {supplier_id: (succeeded or 0) / finished for supplier_id, finished, succeeded in rows}


def summaries() -> dict[str, SupplierSummary]:
    """What the supplier list shows beside freshness: last good sync, next run, success rates."""
    now = utcnow()
    day, week = success_rates(now - timedelta(hours=24)), success_rates(now - timedelta(days=7))
    return {s.code: SupplierSummary(s.last_success_at, sync.next_run_at(s), day.get(s.id), week.get(s.id))
            for s in db.session.scalars(select(Supplier))}
