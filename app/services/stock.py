"""The consolidated stock picture across suppliers: listing, freshness, summaries."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, exists, func, literal, or_, select

from app.domain.stock import available_to_promise
from app.extensions import db
from app.models import Product, ProductStock, Supplier, SupplierOffer, SupplierStock
from app.models.stock import STOCK_STATUSES
from app.models.types import UTCDateTime, utcnow
from app.services import ServiceError
from app.services.paging import EPOCH, Page, keyset_page

SORTS = ("supplier_sku", "sku", "supplier", "on_hand", "received_at")
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
    """Older than FRESHNESS_BUDGET_MINUTES: too old to promise from without a live check."""
    return reported_at is None or (now or utcnow()) - reported_at > freshness_budget()


def stale_before(now: datetime | None = None) -> dict[str, datetime]:
    """Per supplier code: a figure last confirmed before this is stale on the pages (twice the
    supplier's polling interval, so one late run does not paint everything red)."""
    now = now or utcnow()
    default = current_app.config["DROPDESK"].poll_interval_minutes
    return {code: now - 2 * timedelta(minutes=minutes or default)
            for code, minutes in db.session.execute(select(Supplier.code, Supplier.poll_interval_minutes))}


def confirmed_at():
    """When a supplier SKU's figure was last confirmed (a SQL expression; Supplier must be joined): its row's own
    received_at, or the supplier's last completed full feed when that listed the SKU (missing_runs 0) and came later.

    A full feed confirms its unchanged SKUs through Supplier.stock_confirmed_at instead of rewriting every row.
    """
    listed_later = and_(SupplierStock.missing_runs == 0, Supplier.stock_confirmed_at.is_not(None),
                        or_(SupplierStock.received_at.is_(None), Supplier.stock_confirmed_at > SupplierStock.received_at))
    return case((listed_later, Supplier.stock_confirmed_at), else_=SupplierStock.received_at)


def confirmed_times(supplier_id: int, skus) -> dict[str, datetime | None]:
    """Per supplier SKU (of those stored): when its figure was last confirmed."""
    rows = db.session.execute(select(SupplierStock.supplier_sku, confirmed_at().label("confirmed_at"))
                              .join(Supplier, Supplier.id == SupplierStock.supplier_id)
                              .where(SupplierStock.supplier_id == supplier_id, SupplierStock.supplier_sku.in_(list(skus))))
    return {sku: aware(confirmed) for sku, confirmed in rows}


def aware(value) -> datetime | None:
    """A time from an expression over UTCDateTime columns, which SQLite hands back as naive text."""
    if value is None:
        return None
    return UTCDateTime().process_result_value(_as_datetime(value), db.engine.dialect)


def _stale_condition(cutoffs: dict[str, datetime]):
    """A supplier stock row (Supplier joined) whose figure was last confirmed before its supplier's cutoff."""
    ids = dict(db.session.execute(select(Supplier.code, Supplier.id)).all())
    # One CASE picks the row's cutoff by its supplier: the confirmation time is computed once per row, not once per
    # supplier (which made the stale filter on 200,000 rows several times slower).
    cutoff = case({ids[code]: literal(moment, UTCDateTime()) for code, moment in cutoffs.items()},
                  value=SupplierStock.supplier_id)
    confirmed = confirmed_at()
    return or_(confirmed.is_(None), confirmed < cutoff)


def _sort_expressions():
    return {
        "supplier_sku": SupplierStock.supplier_sku,  # indexed: the default, fast at any size
        "sku": func.coalesce(Product.sku, SupplierStock.supplier_sku),  # ours: sorts every row it lists
        "supplier": Supplier.code,
        "on_hand": func.coalesce(SupplierStock.on_hand, -1),
        "received_at": func.coalesce(confirmed_at(), literal(EPOCH)),
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
            confirmed_at().label("confirmed_at"),
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
        stale = _stale_condition(stale_before())
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
            func.max(confirmed_at()),
        )
        .outerjoin(SupplierStock, SupplierStock.supplier_id == Supplier.id)
        .group_by(Supplier.id, Supplier.code, Supplier.name, Supplier.status)
        .order_by(Supplier.code)
    )
    if code is not None:
        query = query.where(Supplier.code == code)
    rows = db.session.execute(query)

    now = utcnow()
    cutoffs = stale_before(now)
    result = []
    for code, name, status, skus, out, low, last in rows:
        last = aware(last)
        result.append(SupplierFreshness(code, name, status, skus, out or 0, low or 0, last,
                                        last is None or last < cutoffs[code]))
    return result


def status_counts() -> dict[str, int]:
    counts = dict(db.session.execute(select(SupplierStock.status, func.count()).group_by(SupplierStock.status)).all())
    return {status: counts.get(status, 0) for status in STOCK_STATUSES}


def supplier_codes() -> list[str]:
    return list(db.session.scalars(select(Supplier.code).order_by(Supplier.code)))


@dataclass(frozen=True)
class SupplierFigure:
    supplier_code: str
    supplier_name: str
    supplier_sku: str
    on_hand: int | None
    reserved: int  # held by orders the supplier's figure does not reflect yet
    status: str
    reported_at: datetime | None
    confirmed_at: datetime | None
    cost: object
    moq: int


@dataclass(frozen=True)
class HistoryPoint:
    at: datetime
    on_hand: int


@dataclass(frozen=True)
class SkuDetail:
    product: Product
    figures: list[SupplierFigure]
    total_available: int
    changes: list  # StockChange rows with the supplier code, newest first
    history: dict[str, list[HistoryPoint]]  # supplier code -> points, oldest first
    since: datetime


HISTORY_DAYS = 7


def sku_detail(sku: str) -> SkuDetail | None:
    """One of our SKUs across every supplier: figures now, the last week's history, the change log."""
    from app.models import StockChange

    product = db.session.scalar(select(Product).where(Product.sku == sku))
    if product is None:
        return None
    rows = db.session.execute(
        select(Supplier.code, Supplier.name, SupplierOffer.supplier_sku, SupplierOffer.cost, SupplierOffer.moq,
               SupplierOffer.supplier_id, SupplierStock.on_hand, SupplierStock.reserved, SupplierStock.status,
               SupplierStock.reported_at,
               confirmed_at().label("confirmed_at"))
        .join(Supplier, Supplier.id == SupplierOffer.supplier_id)
        .outerjoin(SupplierStock, and_(SupplierStock.supplier_id == SupplierOffer.supplier_id,
                                       SupplierStock.supplier_sku == SupplierOffer.supplier_sku))
        .where(SupplierOffer.product_id == product.id).order_by(Supplier.code)).all()
    figures = [SupplierFigure(r.code, r.name, r.supplier_sku, r.on_hand, r.reserved or 0, r.status or "unknown",
                              r.reported_at,
                              aware(r.confirmed_at), r.cost, r.moq) for r in rows]
    keys = [(r.supplier_id, r.supplier_sku) for r in rows]
    codes = {r.supplier_id: r.code for r in rows}
    since = utcnow() - timedelta(days=HISTORY_DAYS)
    changes = []
    if keys:
        from sqlalchemy import tuple_

        changes = db.session.execute(
            select(StockChange).where(tuple_(StockChange.supplier_id, StockChange.supplier_sku).in_(keys))
            .order_by(StockChange.at.desc(), StockChange.id.desc()).limit(200)).scalars().all()
    history: dict[str, list[HistoryPoint]] = {f.supplier_code: [] for f in figures}
    for change in reversed(changes):
        if change.applied and change.at >= since and change.new_on_hand is not None:
            history[codes[change.supplier_id]].append(HistoryPoint(change.at, change.new_on_hand))
    for figure in figures:  # the line ends at today's figure
        if figure.on_hand is not None:
            history[figure.supplier_code].append(HistoryPoint(utcnow(), figure.on_hand))
    return SkuDetail(product, figures, sum(available_to_promise(f.on_hand, f.reserved, f.status) for f in figures),
                     [(codes[c.supplier_id], c) for c in changes[:50]], history, since)


ALERT_LABELS = {"went_out_of_stock": "Went out of stock", "back_in_stock": "Back in stock",
                "fell_below_threshold": "Fell below the low-stock level"}


def list_alerts(kind: str = "", supplier: str = "", after: str | None = None, per_page: int = PER_PAGE) -> Page:
    """Stock alerts, newest first, with the product they concern where the SKU is mapped."""
    from app.models import StockAlert

    if kind and kind not in ALERT_LABELS:
        raise ServiceError(f"Unknown alert kind {kind!r}.", field="kind")
    query = (select(StockAlert, Supplier.code.label("supplier_code"), Product.sku.label("sku"),
                    Product.name.label("product_name"), StockAlert.at.label("sort_value"))
             .join(Supplier, Supplier.id == StockAlert.supplier_id)
             .outerjoin(SupplierOffer, and_(SupplierOffer.supplier_id == StockAlert.supplier_id,
                                            SupplierOffer.supplier_sku == StockAlert.supplier_sku))
             .outerjoin(Product, Product.id == SupplierOffer.product_id))
    if kind:
        query = query.where(StockAlert.kind == kind)
    if supplier:
        query = query.where(Supplier.code == supplier)
    return keyset_page(query, StockAlert.at, StockAlert.id, descending=True, after=after, per_page=per_page,
                       row_key=lambda row: (row.sort_value, row.StockAlert.id))


# --- One row per SKU ---------------------------------------------------------------------------

SKU_SORTS = ("sku", "available", "confirmed")
SELLABLE = ("in_stock", "low_stock")


@dataclass(frozen=True)
class SkuRow:
    product_id: int
    sku: str
    name: str
    available: int
    status: str  # the unified level of the total: in_stock, low_stock or out_of_stock
    oldest_confirmed: datetime | None
    stale: bool
    figures: list  # (supplier code, on hand, status) per supplier, by code


def unified_status(available: int, threshold: int) -> str:
    return "out_of_stock" if available <= 0 else "low_stock" if available < threshold else "in_stock"


def list_skus(filters: StockFilter, per_page: int = PER_PAGE) -> Page:
    """One page of our SKUs with their total available across suppliers and each supplier's figure.

    The totals come from product_stock (kept by every stock write), so sorting and filtering by them is an
    index walk; the freshness figures are added up for the page's products only. Sorting by the oldest
    confirmation is the exception: it needs every product's, so it adds them all up (slower, on purpose).
    """
    if filters.sort not in SKU_SORTS:
        raise ServiceError(f"Cannot sort by {filters.sort!r}; choose one of {', '.join(SKU_SORTS)}.", field="sort")
    if filters.status and filters.status not in ("in_stock", "low_stock", "out_of_stock"):
        raise ServiceError(f"Unknown stock status {filters.status!r}.", field="status")
    if filters.freshness not in ("", "fresh", "stale"):
        raise ServiceError("Freshness must be fresh or stale.", field="freshness")
    threshold = current_app.config["DROPDESK"].low_stock_threshold
    cutoffs = stale_before()
    query = (select(Product.id.label("product_id"), Product.sku.label("sku"), Product.name.label("name"),
                    ProductStock.available.label("available"))
             .join(ProductStock, ProductStock.product_id == Product.id))
    if filters.search:
        like = f"%{filters.search.strip().lower()}%"
        query = query.where(func.lower(Product.sku).like(like) | func.lower(Product.name).like(like))
    if filters.supplier:
        query = query.where(Product.id.in_(
            select(SupplierOffer.product_id).join(Supplier, Supplier.id == SupplierOffer.supplier_id)
            .where(Supplier.code == filters.supplier)))
    if filters.status == "out_of_stock":
        query = query.where(ProductStock.available <= 0)
    elif filters.status == "low_stock":
        query = query.where(ProductStock.available > 0, ProductStock.available < threshold)
    elif filters.status == "in_stock":
        query = query.where(ProductStock.available >= threshold)
    if filters.freshness:
        stale = exists(_offer_rows().where(SupplierOffer.product_id == Product.id, _stale_condition(cutoffs)))
        query = query.where(stale if filters.freshness == "stale" else ~stale)
    if filters.sort == "confirmed":
        oldest = (_offer_rows(SupplierOffer.product_id, func.min(confirmed_at()).label("oldest_confirmed"))
                  .group_by(SupplierOffer.product_id).subquery())
        sort_expr = func.coalesce(oldest.c.oldest_confirmed, literal(EPOCH))
        query = query.outerjoin(oldest, oldest.c.product_id == Product.id)
    else:
        sort_expr = {"sku": Product.sku, "available": ProductStock.available}[filters.sort]
    query = query.add_columns(sort_expr.label("sort_value"))
    page = keyset_page(query, sort_expr, Product.id, descending=filters.descending, after=filters.after,
                       per_page=per_page, row_key=lambda row: (row.sort_value, row.product_id))
    figures: dict[int, list] = {row.product_id: [] for row in page.items}
    freshness: dict[int, tuple] = {}
    if figures:
        for product_id, code, on_hand, status in db.session.execute(
                _offer_rows(SupplierOffer.product_id, Supplier.code, SupplierStock.on_hand, SupplierStock.status)
                .where(SupplierOffer.product_id.in_(figures)).order_by(Supplier.code)):
            figures[product_id].append((code, on_hand, status or "unknown"))
        stale_row = case((_stale_condition(cutoffs), 1), else_=0)
        freshness = {product_id: (oldest, any_stale) for product_id, oldest, any_stale in db.session.execute(
            _offer_rows(SupplierOffer.product_id, func.min(confirmed_at()), func.max(stale_row))
            .where(SupplierOffer.product_id.in_(figures)).group_by(SupplierOffer.product_id))}
    rows = [SkuRow(row.product_id, row.sku, row.name, int(row.available or 0),
                   unified_status(int(row.available or 0), threshold),
                   aware(freshness.get(row.product_id, (None, 1))[0]),
                   bool(freshness.get(row.product_id, (None, 1))[1]), figures[row.product_id]) for row in page.items]
    return Page(items=rows, total=page.total, per_page=page.per_page, next_cursor=page.next_cursor, first=page.first,
                total_is_at_least=page.total_is_at_least)


def _offer_rows(*columns):
    """Each supplier offer with its supplier and (outer) stock row: what a product's figures are made of."""
    return (select(*columns or (literal(1),))
            .select_from(SupplierOffer)
            .join(Supplier, Supplier.id == SupplierOffer.supplier_id)
            .outerjoin(SupplierStock, and_(SupplierStock.supplier_id == SupplierOffer.supplier_id,
                                           SupplierStock.supplier_sku == SupplierOffer.supplier_sku)))


def _as_datetime(value):
    """MIN() over a timestamp comes back as text from SQLite."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value
