"""Stock files uploaded in the console: the supplier's mapping decides the format (JSON, CSV or XML)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.connectors.base import (
    ConnectionSettings,
    ConnectorError,
    FeedPull,
    read_mapping,
)
from app.connectors.xml import parse_supplier_xml
from app.domain.feeds import FeedParseError, normalize_feed


def normalize_upload(body: bytes, settings: ConnectionSettings, received_at: datetime) -> FeedPull:
    """An uploaded stock file as one feed; works for any supplier, whatever its usual connection."""
    return normalize_body(body, settings, received_at, kind="upload", what="the uploaded file")


def normalize_body(body: bytes, settings: ConnectionSettings, received_at: datetime, *, kind: Any, what: str) -> FeedPull:
    """A whole feed body normalized with the supplier's mapping; ConnectorError("malformed") when unreadable."""
    mapping = read_mapping(settings)
    try:
        feed = normalize_feed(
            body, mapping, received_at, threshold=settings.low_stock_threshold, parse_xml=parse_supplier_xml
        )
    except (FeedParseError, RecursionError) as error:
        # Body text is never quoted back: it may hold anything, and the message is stored and shown.
        raise ConnectorError("malformed", f"{settings.supplier_code}: {what} cannot be read: {error}") from None
    return FeedPull(kind, feed.records, feed.rejects, pages=1)


class UploadConnector:
    """Suppliers whose stock arrives only as files staff upload: nothing to pull or check."""

    connection_type = "upload"

    def supports_delta(self, settings: ConnectionSettings) -> bool:
        return False

    def supports_realtime(self, settings: ConnectionSettings) -> bool:
        return False

    def pull_stock(self, settings: ConnectionSettings, http: Any, *, since: datetime | None, received_at: datetime) -> FeedPull:
        raise ConnectorError("unsupported", f"{settings.supplier_code}: stock for this supplier is uploaded, not pulled")

    def check_stock(self, settings: ConnectionSettings, http: Any, skus: Any, *, received_at: datetime) -> FeedPull:
        raise ConnectorError("unsupported", f"{settings.supplier_code}: this connection has no realtime stock check")


CONNECTOR = UploadConnector()
