"""The consolidated stock picture across suppliers: listing, freshness, summaries."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, func, literal, select

from app.extensions import db
from app.models import Product, Supplier, SupplierOffer, SupplierStock
from app.models.stock import STOCK_STATUSES
from app.models.types import UTCDateTime, utcnow
from app.services import ServiceError
from app.services.paging import EPOCH, Page, keyset_page

SORTS = ("sku", "supplier", "on_hand", "reported_at")
PER_PAGE = 50


@dataclass(frozen=True)
class StockFilter:
    search: str = ""
    supplier: str = ""
    status: str = ""
    freshness: str = ""  # "", "fresh", "stale"
    sort: str = "sku"
    descending: bool = False
    after: str | None = None

    def validated(self) -> "StockFilter":
        if self.status and self.status not in STOCK_STATUSES:
            raise ServiceError(f"Unknown stock status {self.status!r}.", field="status")
        if self.sort not in SORTS:
            raise ServiceError(f"Cannot sort by {self.sort!r}; choose one of {', '.join(SORTS)}.", field="sort")
        if self.freshness not in ("", "fresh", "stale"):
            raise ServiceError("Freshness must be fresh or stale.", field="freshness")
        return self


def freshness_budget() -> timedelta:
    return timedelta(minutes=current_app.config["DROPDESK"].freshness_budget_minutes)


def is_stale(reported_at: datetime | None, now: datetime | None = None) -> bool:
    return reported_at is None or (now or utcnow()) - reported_at > freshness_budget()


def _sort_expressions():
    return {
        "sku": func.coalesce(Product.sku, SupplierStock.supplier_sku),
        "supplier": Supplier.code,
        "on_hand": func.coalesce(SupplierStock.on_hand, -1),
        "reported_at": func.coalesce(SupplierStock.reported_at, literal(EPOCH)),
    }


def list_stock(filters: StockFilter, per_page: int = PER_PAGE) -> Page:
    """One page of supplier stock rows with our SKU and product where the offer maps it."""
    filters = filters.validated()
    sort_expr = _sort_expressions()[filters.sort]
    query = (
        select(
            SupplierStock,
            Supplier.code.label("supplier_code"),
            Product.sku.label("sku"),
            Product.name.label("product_name"),
            SupplierOffer.cost.label("cost"),
            sort_expr.label("sort_value"),
        )
        .join(Supplier, Supplier.id == SupplierStock.supplier_id)
        .outerjoin(SupplierOffer, and_(SupplierOffer.supplier_id == SupplierStock.supplier_id,
                                       SupplierOffer.supplier_sku == SupplierStock.supplier_sku))
        .outerjoin(Product, Product.id == SupplierOffer.product_id)
    )
    if filters.search:
        like = f"%{filters.search.strip().lower()}%"
        query = query.where(
            func.lower(Product.sku).like(like) | func.lower(Product.name).like(like)
            | func.lower(SupplierStock.supplier_sku).like(like)
        )
    if filters.supplier:
        query = query.where(Supplier.code == filters.supplier)
    if filters.status:
        query = query.where(SupplierStock.status == filters.status)
    if filters.freshness:
        cutoff = utcnow() - freshness_budget()
        stale = (SupplierStock.reported_at.is_(None)) | (SupplierStock.reported_at < cutoff)
        query = query.where(stale if filters.freshness == "stale" else ~stale)
    return keyset_page(
        query, sort_expr, SupplierStock.id, descending=filters.descending, after=filters.after,
        per_page=per_page, row_key=lambda row: (row.sort_value, row.SupplierStock.id),
    )


@dataclass(frozen=True)
class SupplierFreshness:
    code: str
    name: str
    status: str
    skus: int
    out_of_stock: int
    low_stock: int
    last_report: datetime | None
    stale: bool


def supplier_freshness(code: str | None = None) -> list[SupplierFreshness]:
    """Per supplier (or just `code`): SKU counts and how old its newest stock report is."""
    query = (
        select(
            Supplier.code, Supplier.name, Supplier.status,
            func.count(SupplierStock.id),
            func.sum(case((SupplierStock.status == "out_of_stock", 1), else_=0)),
            func.sum(case((SupplierStock.status == "low_stock", 1), else_=0)),
            func.max(SupplierStock.reported_at),
        )
        .outerjoin(SupplierStock, SupplierStock.supplier_id == Supplier.id)
        .group_by(Supplier.id, Supplier.code, Supplier.name, Supplier.status)
        .order_by(Supplier.code)
    )
    if code is not None:
        query = query.where(Supplier.code == code)
    rows = db.session.execute(query)

    now = utcnow()
    result = []
    for code, name, status, skus, out, low, last in rows:
        # MAX() over SQLite hands back text; read it through the column type.
        if isinstance(last, str):
            last = UTCDateTime().process_result_value(datetime.fromisoformat(last), db.engine.dialect)
        elif last is not None and last.tzinfo is None:
            last = UTCDateTime().process_result_value(last, db.engine.dialect)
        result.append(SupplierFreshness(code, name, status, skus, out or 0, low or 0, last, is_stale(last, now)))
    return result


def status_counts() -> dict[str, int]:
    counts = dict(db.session.execute(select(SupplierStock.status, func.count()).group_by(SupplierStock.status)).all())
    return {status: counts.get(status, 0) for status in STOCK_STATUSES}


def supplier_codes() -> list[str]:
    return list(db.session.scalars(select(Supplier.code).order_by(Supplier.code)))
