"""Units available to promise per product across its suppliers (product_stock), kept current inside each stock
write and each reservation.

The stock page lists one row per product, sorted and filtered by this total. Adding up every supplier's
row per request stops being fast long before 200,000 supplier rows; recomputing only the products a write
touched costs a few milliseconds for a delta and well under a second for a whole first feed.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Collection

from sqlalchemy import Integer, String, and_, any_, bindparam, case, func, insert, literal, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.dml import Insert

from app.extensions import db
from app.models import ProductStock, SupplierOffer, SupplierStock
from app.models.types import utcnow

SELLABLE = ("in_stock", "low_stock")
# Beyond this many SKUs a write recomputes every product of the supplier: one pass instead of a long id list.
LISTED_SKUS_LIMIT = 5_000


def listed_in(column, values: Collection, kind):
    """`column IN values` with the values bound as one parameter (an array on PostgreSQL, JSON on SQLite): one
    statement however many values, instead of one per thousand."""
    name = f"listed_{column.key}"
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(name, list(values), type_=ARRAY(kind)))
    listed = func.json_each(bindparam(name, json.dumps(list(values)))).table_valued("value")
    return column.in_(select(listed.c.value))


def refresh_product_totals(*, supplier_id: int | None = None, supplier_skus: Collection[str] | None = None,
                           product_ids: Collection[int] | None = None,
                           stock_keys: Collection[tuple[int, str]] | None = None) -> None:
    """Recompute product_stock for the products concerned, inside the caller's transaction.

    product_ids: those products; else stock_keys, (supplier id, supplier SKU) pairs of a few lines (a
    reservation's plan, across its suppliers in one query): the products they are offered as; else
    supplier_id (+ supplier_skus): the products those supplier SKUs are offered as, or every product of the
    supplier; else every product.
    """
    offered, at = select(SupplierOffer.product_id), {"totals_at": utcnow()}
    if product_ids is not None:
        if not product_ids:
            return
        wanted = listed_in(SupplierOffer.product_id, product_ids, Integer)
    elif stock_keys is not None:
        if stock_keys:
            db.session.execute(_upsert_for_stock_keys(), {**at, "stock_keys": sorted(stock_keys)})
        return
    elif supplier_id is not None:
        offered = offered.where(SupplierOffer.supplier_id == supplier_id)
        if supplier_skus is not None:
            if not supplier_skus:
                return
            if len(supplier_skus) <= LISTED_SKUS_LIMIT:
                offered = offered.where(listed_in(SupplierOffer.supplier_sku, supplier_skus, String))
        wanted = SupplierOffer.product_id.in_(offered)
    else:
        wanted = literal(True)
    db.session.execute(_upsert(wanted), at)


def _upsert(wanted) -> Insert:
    """The totals of the products `wanted` picks, inserted or updated; the time is bound as totals_at."""
    # Each supplier's available to promise (on hand less what orders hold), as domain.stock.available_to_promise.
    promisable = func.coalesce(SupplierStock.on_hand, 0) - SupplierStock.reserved
    available = func.coalesce(func.sum(case((and_(SupplierStock.status.in_(SELLABLE), promisable > 0), promisable),
                                            else_=0)), 0)
    totals = (select(SupplierOffer.product_id, available, bindparam("totals_at", type_=ProductStock.updated_at.type))
              .outerjoin(SupplierStock, and_(SupplierStock.supplier_id == SupplierOffer.supplier_id,
                                             SupplierStock.supplier_sku == SupplierOffer.supplier_sku))
              .where(wanted)
              .group_by(SupplierOffer.product_id))
    # The upsert's ON CONFLICT (the same words on PostgreSQL and SQLite) ends the SELECT: SQLAlchemy 2.0 caches no
    # dialect insert().on_conflict_do_update() and compiled that one anew on every call, milliseconds of CPU for
    # each reservation and stock write. This statement is compiled once.
    return insert(ProductStock.__table__).from_select(["product_id", "available", "updated_at"], totals.suffix_with(
        "ON CONFLICT (product_id) DO UPDATE SET available = excluded.available, updated_at = excluded.updated_at"))


@functools.cache
def _upsert_for_stock_keys() -> Insert:
    """Built once, values bound on each call: a reservation refreshes a few products, many times a second, and
    building and keying the statement cost more than running it."""
    keys = tuple_(SupplierOffer.supplier_id, SupplierOffer.supplier_sku).in_(bindparam("stock_keys", expanding=True))
    return _upsert(SupplierOffer.product_id.in_(select(SupplierOffer.product_id).where(keys)))
