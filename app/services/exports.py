"""Stock exports, built by a background job so a large list never blocks a page."""
from __future__ import annotations

import csv
import logging
import re
from pathlib import Path
from typing import Callable

from flask import current_app

from app.services import ServiceError
from app.services.stock import StockFilter, list_stock

log = logging.getLogger(__name__)
BATCH = 500
EXPORT_NAME = re.compile(r"^stock-[A-Za-z0-9-]{8,64}\.csv$")
COLUMNS = ("sku", "product", "supplier", "supplier_sku", "on_hand", "status", "reported_at", "cost")


def exports_dir() -> Path:
    path = Path(current_app.instance_path) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def export_path(name: str) -> Path:
    if not EXPORT_NAME.match(name):
        raise ServiceError("No such export.")
    path = exports_dir() / name
    if not path.exists():
        raise ServiceError("This export has expired or was never made; export again.")
    return path


def export_stock_csv(export_id: str, filters: StockFilter, progress: Callable[[int, str], None]) -> dict:
    """Write every stock row matching `filters` to a CSV; `progress(percent, message)` is told as it goes."""
    name = f"stock-{export_id}.csv"
    target = exports_dir() / name
    partial = target.with_suffix(".part")
    written, after, total = 0, None, None
    with partial.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        while True:
            page = list_stock(StockFilter(**{**filters.__dict__, "after": after}), per_page=BATCH)
            total = page.total
            for row in page.items:
                stock = row.SupplierStock
                writer.writerow((row.sku or "", row.product_name or "", row.supplier_code, stock.supplier_sku,
                                 "" if stock.on_hand is None else stock.on_hand, stock.status,
                                 stock.reported_at.isoformat() if stock.reported_at else "",
                                 "" if row.cost is None else f"{row.cost:.2f}"))
            written += len(page.items)
            progress(int(written * 100 / max(total, 1)), f"{written:,} of {total:,} rows written")
            if not page.has_next:
                break
            after = page.next_cursor
    partial.replace(target)  # readers never see a half-written file
    log.info("stock_export_done export=%s rows=%s", export_id, written)
    return {"message": f"{written:,} rows exported.", "download": name, "rows": written}
