"""Supplier adapters, one module per API style; parsing is delegated to app.domain.feeds.

The entry points below are what the service layer calls. They build nothing from the database:
the caller hands in a ConnectionSettings (credentials already decrypted) and stores what comes back.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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
from app.connectors.http import SupplierHttp, timeout_seconds
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
    "TokenCache",
    "check_stock",
    "connector_for",
    "normalize_upload",
    "parse_push",
    "pull_stock",
    "push_secret",
    "push_signature_header",
    "sign_push",
    "supports_delta",
    "supports_realtime",
    "verify_push",
]

logger = logging.getLogger("app.connectors")

CONNECTORS: dict[str, Connector] = {
    connector.connection_type: connector
    for connector in (rest_json.CONNECTOR, csv_http.CONNECTOR, xml_http.CONNECTOR, upload.CONNECTOR, push.CONNECTOR)
}

DEFAULT_RETRY_POLICY = RetryPolicy()
# Tokens outlive one pull but not the process; workers should pass a Redis-backed TokenCache.
_PROCESS_TOKEN_CACHE = MemoryTokenCache()


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
    with _supplier_http(settings, client, policy, sleep, token_cache, rng) as http:
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
    with _supplier_http(settings, client, policy, sleep, token_cache, rng) as http:
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


@contextmanager
def _supplier_http(
    settings: ConnectionSettings,
    client: httpx.Client | None,
    policy: RetryPolicy,
    sleep: Callable[[float], Any],
    token_cache: TokenCache | None,
    rng: random.Random | None,
) -> Iterator[SupplierHttp]:
    """The HTTP layer for one pull, on the caller's client or on one opened (and closed) here."""
    owned = client is None
    if client is None:
        # Redirects are not followed: a custom API-key header would travel to wherever they point.
        client = httpx.Client(timeout=timeout_seconds(settings), follow_redirects=False)
    try:
        yield SupplierHttp(
            settings,
            client=client,
            policy=policy,
            sleep=sleep,
            rng=rng or random.Random(),
            token_cache=token_cache if token_cache is not None else _PROCESS_TOKEN_CACHE,
        )
    finally:
        if owned:
            client.close()


def _require_aware(instant: datetime, name: str) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")
