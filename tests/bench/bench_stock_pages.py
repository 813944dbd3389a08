"""Benchmark the stock pages at 200,000 SKU x supplier rows: a deep page costs about what the first one costs.

usage: PYTHONPATH=. .venv/bin/python tests/bench/bench_stock_pages.py [--rows 200000] [--only sqlite|postgresql]

Builds the data on SQLite (a temp file) and on PostgreSQL (BENCH_DATABASE_URL, default the ingest bench's
database, created anew): 40,000 products each offered by 5 of 20 suppliers (--rows supplier stock rows).
Prints median times of

  Stock by supplier (one row per supplier SKU, by supplier SKU): the first page, a page near the end reached by
    its keyset cursor, and the baseline measured in the same run: the same deep page reached with OFFSET; and
    the first page sorted by our SKU (unindexed: it sorts every row);
  Stock (one row per SKU, totals from product_stock): the first page by SKU, a deep page by keyset, sorted by
    total, filtered to low stock, filtered to stale figures; and the baseline measured in the same run:
    the first page by SKU computed the way the page used to, by adding up every supplier row per request.

Ratios, not seconds, are the figures to compare across machines. No assertions: this is for reading.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from app import create_app
from app.extensions import db
from app.models import Product, Supplier, SupplierOffer, SupplierStock
from app.services.paging import encode_cursor
from app.services.stock import StockFilter, list_skus, list_stock
from app.services.stock_totals import refresh_product_totals
from tests.bench.bench_ingest import DEFAULT_PG_URL
from tests.helpers import ensure_postgres_database, make_config

SUPPLIERS = 20
OFFERS_PER_PRODUCT = 5


def median_seconds(action, repeat: int = 9) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def build(app, rows: int) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        rng, now = random.Random(20261201), datetime.now(timezone.utc)
        suppliers = [Supplier(code=f"S{i:02d}", name=f"Supplier {i}", warehouse_country="US", ships_to=["US"],
                              stock_confirmed_at=now - timedelta(minutes=rng.choice((5, 5, 5, 90))))
                     for i in range(SUPPLIERS)]
        db.session.add_all(suppliers)
        db.session.flush()
        products = rows // OFFERS_PER_PRODUCT
        db.session.execute(Product.__table__.insert(), [
            {"sku": f"P{i:06d}", "name": f"Product {i}", "price": Decimal("19.90"), "active": True, "created_at": now}
            for i in range(products)])
        ids = [pid for (pid,) in db.session.execute(sa.select(Product.id).order_by(Product.id))]
        offers, stock = [], []
        for index, product_id in enumerate(ids):
            for supplier in rng.sample(suppliers, OFFERS_PER_PRODUCT):
                sku = f"{supplier.code}-{index:06d}"
                on_hand = 0 if rng.random() < 0.08 else rng.randint(1, 400)
                offers.append({"supplier_id": supplier.id, "product_id": product_id, "supplier_sku": sku,
                               "cost": Decimal("7.50"), "moq": 1, "active": True})
                stock.append({"supplier_id": supplier.id, "supplier_sku": sku, "on_hand": on_hand,
                              "status": "out_of_stock" if on_hand == 0 else "low_stock" if on_hand < 10 else "in_stock",
                              "reported_at": now - timedelta(minutes=30), "received_at": now - timedelta(minutes=30),
                              "missing_runs": 0})
        db.session.execute(SupplierOffer.__table__.insert(), offers)
        db.session.execute(SupplierStock.__table__.insert(), stock)
        refresh_product_totals()
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE" if db.engine.dialect.name == "postgresql" else "ANALYZE"))


def first_page_by_adding_up() -> None:
    """The baseline: one row per SKU for the first page, totals added up from every supplier row."""
    sellable = sa.case((SupplierStock.status.in_(("in_stock", "low_stock")), sa.func.coalesce(SupplierStock.on_hand, 0)),
                       else_=0)
    totals = (sa.select(Product.id, Product.sku, sa.func.sum(sellable).label("available"))
              .join(SupplierOffer, SupplierOffer.product_id == Product.id)
              .outerjoin(SupplierStock, sa.and_(SupplierStock.supplier_id == SupplierOffer.supplier_id,
                                                SupplierStock.supplier_sku == SupplierOffer.supplier_sku))
              .group_by(Product.id, Product.sku).subquery())
    db.session.execute(sa.select(totals).where(totals.c.available < 10).order_by(totals.c.sku).limit(51)).all()


def bench(label: str, url: str, rows: int) -> None:
    app = create_app(make_config(url, "redis://127.0.0.1:1/0"))
    build(app, rows)
    with app.app_context():
        supplier_first = median_seconds(lambda: list_stock(StockFilter(sort="supplier_sku")))
        by_our_sku = median_seconds(lambda: list_stock(StockFilter(sort="sku")), repeat=3)
        near_end = db.session.execute(
            sa.select(SupplierStock.supplier_sku, SupplierStock.id).order_by(SupplierStock.supplier_sku, SupplierStock.id)
            .offset(rows - 60).limit(1)).one()
        cursor = encode_cursor(near_end.supplier_sku, near_end.id)
        supplier_deep = median_seconds(lambda: list_stock(StockFilter(sort="supplier_sku", after=cursor)))
        supplier_offset = median_seconds(lambda: db.session.execute(
            sa.select(SupplierStock).order_by(SupplierStock.supplier_sku, SupplierStock.id).offset(rows - 60).limit(51)).all())

        sku_first = median_seconds(lambda: list_skus(StockFilter(sort="sku")))
        products = rows // OFFERS_PER_PRODUCT
        last = db.session.execute(sa.select(Product.sku, Product.id).order_by(Product.sku, Product.id)
                                  .offset(products - 60).limit(1)).one()
        sku_deep = median_seconds(lambda: list_skus(StockFilter(sort="sku", after=encode_cursor(last.sku, last.id))))
        by_total = median_seconds(lambda: list_skus(StockFilter(sort="available", descending=True)))
        low = median_seconds(lambda: list_skus(StockFilter(status="low_stock")))
        stale = median_seconds(lambda: list_skus(StockFilter(freshness="stale")))
        adding_up = median_seconds(first_page_by_adding_up, repeat=3)
        db.session.remove()
        db.engine.dispose()

    def line(name: str, seconds: float, against: float, baseline: str) -> None:
        print(f"  {name:<34} {seconds * 1000:9.2f} ms   {seconds / against:6.3f}x {baseline}")

    print(f"\n{label}: {rows:,} supplier stock rows, {rows // OFFERS_PER_PRODUCT:,} products")
    print("  Stock by supplier")
    line("first page", supplier_first, supplier_offset, "the OFFSET baseline")
    line("deep page, keyset", supplier_deep, supplier_offset, "the OFFSET baseline")
    line("deep page, OFFSET (baseline)", supplier_offset, supplier_offset, "")
    line("first page sorted by our SKU", by_our_sku, supplier_offset, "the OFFSET baseline")
    print("  Stock (one row per SKU)")
    for name, seconds in (("first page by SKU", sku_first), ("deep page by SKU, keyset", sku_deep),
                          ("first page by total, descending", by_total), ("low stock filter", low),
                          ("stale filter", stale)):
        line(name, seconds, adding_up, "adding up every supplier row")
    line("adding up every row (baseline)", adding_up, adding_up, "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--only", choices=("postgresql", "sqlite"))
    options = parser.parse_args()
    if options.only != "sqlite":
        url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL).replace("postgresql://", "postgresql+psycopg://", 1)
        ensure_postgres_database(url)
        bench("PostgreSQL", url, options.rows)
    if options.only != "postgresql":
        folder = Path(tempfile.mkdtemp(prefix="dropdesk-bench-"))
        bench("SQLite", f"sqlite:///{folder / 'bench.sqlite3'}", options.rows)


if __name__ == "__main__":
    main()
