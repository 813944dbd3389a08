"""Job functions: they take ids and plain values, and call one service."""
from __future__ import annotations

import logging

from app import queues
from app.services import exports, system
from app.services.stock import StockFilter

log = logging.getLogger(__name__)


def export_stock(export_id: str, filters: dict) -> dict:
    """Write the stock CSV for the export page, reporting progress to the job."""
    return exports.export_stock_csv(export_id, StockFilter(**filters), progress=queues.report_progress)


def record_cron_tick() -> str:
    """Periodic heartbeat: the overview shows when the schedule last ticked."""
    return system.record_cron_tick().isoformat()
