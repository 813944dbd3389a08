"""Supplier adapters, one module per API style; parsing is delegated to app.domain.feeds.

The entry points below (and the order API's, in app.connectors.orders) are what the service layer calls. They build nothing from the database:
the caller hands in a ConnectionSettings (credentials already decrypted) and stores what comes back.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import httpx

from app.connectors import csv_http, push, rest_json, upload, xml_http
from app.connectors.base import (
    ConnectionSettings,
    Connector,
    ConnectorError,
    FeedPull,
    HttpExchange,
    MemoryTokenCache,
    RetryPolicy,
    TokenCache,
)
from app.connectors.http import DEFAULT_RETRY_POLICY, open_supplier_http
from app.connectors.orders import (
    Shipment,
    SupplierOrderAnswer,
    SupplierOrderRequest,
    SupplierOrderStatus,
    cancel_supplier_order,
    place_supplier_order,
    supplier_order_status,
    supports_orders,
)
from app.connectors.push import (
    parse_push,
    push_secret,
    push_signature_header,
    sign_push,
    verify_push,
)
from app.connectors.upload import normalize_upload

__all__ = [
    "CONNECTORS",
    "ConnectionSettings",
    "ConnectorError",
    "FeedPull",
    "HttpExchange",
    "MemoryTokenCache",
    "RetryPolicy",
    "Shipment",
    "SupplierOrderAnswer",
    "SupplierOrderRequest",
    "SupplierOrderStatus",
    "TokenCache",
    "cancel_supplier_order",
    "check_stock",
    "connector_for",
    "normalize_upload",
    "parse_push",
    "place_supplier_order",
    "pull_stock",
    "push_secret",
    "push_signature_header",
    "sign_push",
    "supplier_order_status",
    "supports_delta",
    "supports_orders",
    "supports_realtime",
    "verify_push",
]

logger = logging.getLogger("app.connectors")

CONNECTORS: dict[str, Connector] = {
    connector.connection_type: connector
    for connector in (rest_json.CONNECTOR, csv_http.CONNECTOR, xml_http.CONNECTOR, upload.CONNECTOR, push.CONNECTOR)
}

def connector_for(settings: ConnectionSettings) -> Connector:
    """The connector registered for the settings' connection type; ConnectorError("unsupported") if none."""
    connector = CONNECTORS.get(settings.connection_type)
    if connector is None:
        raise ConnectorError(
            "unsupported",
            f"{settings.supplier_code}: no connector for type {settings.connection_type!r}"
            f" (known: {', '.join(sorted(CONNECTORS))})",
        )
    return connector


def supports_delta(settings: ConnectionSettings) -> bool:
    """True when this supplier can send only what changed since a given time."""
    connector = CONNECTORS.get(settings.connection_type)
    return connector is not None and connector.supports_delta(settings)


def supports_realtime(settings: ConnectionSettings) -> bool:
    """True when this supplier can be asked about a few SKUs right now."""
    connector = CONNECTORS.get(settings.connection_type)
    return connector is not None and connector.supports_realtime(settings)


def pull_stock(
    settings: ConnectionSettings,
    *,
    since: datetime | None,
    received_at: datetime,
    client: httpx.Client | None = None,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    sleep: Callable[[float], Any] = time.sleep,
    token_cache: TokenCache | None = None,
    rng: random.Random | None = None,
) -> FeedPull:
    """Pull the supplier's stock feed, every page: a full pull, or a delta when `since` is given and supported."""
    _require_aware(received_at, "received_at")
    if since is not None:
        _require_aware(since, "since")
    connector = connector_for(settings)
    started = time.monotonic()
    with open_supplier_http(settings, client, policy, sleep, token_cache, rng) as http:
        pull = connector.pull_stock(settings, http, since=since, received_at=received_at)
    logger.info(
        "supplier_pull supplier=%s kind=%s pages=%s records=%s rejects=%s http_errors=%s ms=%s",
        settings.supplier_code,
        pull.kind,
        pull.pages,
        len(pull.records),
        len(pull.rejects),
        pull.http_errors,
        round((time.monotonic() - started) * 1000),
    )
    return pull


def check_stock(
    settings: ConnectionSettings,
    skus: Sequence[str],
    *,
    received_at: datetime,
    client: httpx.Client | None = None,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    sleep: Callable[[float], Any] = time.sleep,
    token_cache: TokenCache | None = None,
    rng: random.Random | None = None,
) -> FeedPull:
    """Ask the supplier about a few SKUs right now; ConnectorError("unsupported") if it has no realtime check."""
    _require_aware(received_at, "received_at")
    if isinstance(skus, str):
        raise TypeError("skus must be a sequence of SKUs, not one string")
    connector = connector_for(settings)
    if not connector.supports_realtime(settings):
        raise ConnectorError("unsupported", f"{settings.supplier_code}: this connection has no realtime stock check")
    wanted = tuple(dict.fromkeys(sku for sku in skus if sku))
    if not wanted:
        return FeedPull("realtime", (), (), 0)
    with open_supplier_http(settings, client, policy, sleep, token_cache, rng) as http:
        pull = connector.check_stock(settings, http, wanted, received_at=received_at)
    logger.info(
        "supplier_check supplier=%s skus=%s records=%s rejects=%s http_errors=%s",
        settings.supplier_code,
        len(wanted),
        len(pull.records),
        len(pull.rejects),
        pull.http_errors,
    )
    return pull


def _require_aware(instant: datetime, name: str) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")
