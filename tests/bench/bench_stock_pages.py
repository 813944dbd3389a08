"""Benchmark the stock list: a page deep in a 100k-row list costs about what the first page costs.

usage: PYTHONPATH=. .venv/bin/python tests/bench/bench_stock_pages.py [--rows 100000]

Builds a throwaway SQLite database with that many supplier stock rows, then prints the median
time of the first page, of a page near the end reached by its keyset cursor, and (the
baseline, measured in the same run) of the same deep page reached with OFFSET. Ratios, not
seconds, are the figures to compare across machines. No assertions: this is for reading.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import Supplier, SupplierStock
from app.services.paging import encode_cursor
from app.services.stock import StockFilter, list_stock
from tests.helpers import make_config


def median_seconds(action, repeat: int = 15) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="dropdesk-bench-"))
    app = create_app(make_config(f"sqlite:///{folder / 'bench.sqlite3'}", "redis://127.0.0.1:1/0"))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        suppliers = [Supplier(code=f"S{i:02d}", name=f"Supplier {i}", warehouse_country="US", ships_to=["US"]) for i in range(20)]
        db.session.add_all(suppliers)
        db.session.flush()
        now = datetime.now(timezone.utc)
        rows = [{"supplier_id": suppliers[i % 20].id, "supplier_sku": f"SKU{i:07d}", "on_hand": i % 500,
                 "status": "in_stock", "reported_at": now - timedelta(seconds=i), "received_at": now}
                for i in range(options.rows)]
        db.session.execute(SupplierStock.__table__.insert(), rows)
        db.session.commit()

        first = median_seconds(lambda: list_stock(StockFilter(sort="sku")))
        near_end = db.session.execute(
            select(SupplierStock.supplier_sku, SupplierStock.id).order_by(SupplierStock.supplier_sku, SupplierStock.id)
            .offset(options.rows - 60).limit(1)).one()
        cursor = encode_cursor(near_end.supplier_sku, near_end.id)
        deep_keyset = median_seconds(lambda: list_stock(StockFilter(sort="sku", after=cursor)))
        deep_offset = median_seconds(lambda: db.session.execute(
            select(SupplierStock).order_by(SupplierStock.supplier_sku, SupplierStock.id)
            .offset(options.rows - 60).limit(51)).all())
    print(f"stock list, {options.rows:,} rows (SQLite)")
    print(f"  first page            {first * 1000:8.2f} ms")
    print(f"  deep page, keyset     {deep_keyset * 1000:8.2f} ms   ratio to first page {deep_keyset / first:5.2f}")
    print(f"  deep page, OFFSET     {deep_offset * 1000:8.2f} ms   (baseline; keyset/offset {deep_keyset / deep_offset:5.2f})")


if __name__ == "__main__":
    main()
