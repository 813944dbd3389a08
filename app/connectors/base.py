"""What every supplier connector takes and gives back: settings in, a feed pull (or a ConnectorError) out."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from app.domain.feeds import (
    FeedFormat,
    FeedMapping,
    FeedMappingError,
    FeedReject,
    StockRecord,
)
from app.domain.stock import DEFAULT_LOW_STOCK_THRESHOLD

PullKind = Literal["full", "delta", "realtime", "upload", "push"]
ErrorReason = Literal["timeout", "connection", "http_status", "auth", "malformed", "unsupported"]

# How many exchanges a ConnectorError keeps: enough to see what went wrong, few enough to store.
ERROR_EXCHANGES_KEPT = 20


@dataclass(frozen=True)
class ConnectionSettings:
    """One supplier's connection as the service layer builds it from the database row."""

    supplier_code: str
    connection_type: str  # a key of CONNECTORS: rest_json, csv_http, xml_http, upload, push
    options: dict[str, Any]  # non-secret: base_url, stock_path, pagination, delta, realtime, auth, timeout_seconds
    credentials: dict[str, str] = field(repr=False)  # decrypted secrets: never logged, never in messages
    mapping: dict[str, Any]  # the FEEDS.md mapping
    low_stock_threshold: int = DEFAULT_LOW_STOCK_THRESHOLD

    def secret_values(self) -> tuple[str, ...]:
        """Every credential value, for scrubbing text that leaves the connector."""
        return tuple(str(value) for value in self.credentials.values() if value)


@dataclass(frozen=True)
class HttpExchange:
    """One request as shown to staff: method, secret-free URL, outcome. Never headers or bodies."""

    method: str
    url: str
    status: int | None
    elapsed_ms: int
    attempt: int  # 1 for the first try of a request, 2 for its first retry, …
    error: str | None  # why the attempt failed (timeout, connection, HTTP 503, …); None when it succeeded

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for run records and exception items."""
        return {
            "method": self.method,
            "url": self.url,
            "status": self.status,
            "elapsed_ms": self.elapsed_ms,
            "attempt": self.attempt,
            "error": self.error,
        }


@dataclass(frozen=True)
class FeedPull:
    """What one pull, upload or push said, normalized across all its pages."""

    kind: PullKind
    records: tuple[StockRecord, ...]
    rejects: tuple[FeedReject, ...]  # index: 0-based position across the whole pull
    pages: int
    exchanges: tuple[HttpExchange, ...] = ()
    http_errors: int = 0  # failed attempts that a retry then got past

    @property
    def records_seen(self) -> int:
        """Records the supplier sent: every one became a stock record or a reject."""
        return len(self.records) + len(self.rejects)


class ConnectorError(Exception):
    """A pull that could not be completed; the message is safe to show and store (no secrets)."""

    def __init__(
        self,
        reason: ErrorReason,
        message: str,
        *,
        exchanges: tuple[HttpExchange, ...] = (),
        retry_after: float | None = None,
        page: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.exchanges = tuple(exchanges)[-ERROR_EXCHANGES_KEPT:]
        self.retry_after = retry_after  # seconds the supplier asked us to wait (last 429/503), if it said
        self.page = page  # the page being fetched when the pull failed, when there was one

    def __repr__(self) -> str:
        return f"ConnectorError({self.reason!r}, {self.message!r})"


class TokenCache(Protocol):
    """Where OAuth2 access tokens live between pulls (Redis in workers: RQ forks a process per job)."""

    def get(self, key: str) -> tuple[str, float] | None: ...

    def set(self, key: str, token: str, expires_at: float) -> None: ...


class MemoryTokenCache:
    """A token cache for one process: the default, and what tests use."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[str, float] | None:
        with self._lock:
            return self._tokens.get(key)

    def set(self, key: str, token: str, expires_at: float) -> None:
        with self._lock:
            self._tokens[key] = (token, expires_at)

    def __repr__(self) -> str:  # tokens are secrets
        return f"<MemoryTokenCache {len(self._tokens)} token(s)>"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request: attempts in all, and the backoff between them."""

    attempts: int = 4
    base_seconds: float = 0.5
    cap_seconds: float = 30.0
    retry_after_cap_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.base_seconds < 0 or self.cap_seconds < 0 or self.retry_after_cap_seconds < 0:
            raise ValueError("retry delays must not be negative")

    def backoff_seconds(self, retry: int, rng: random.Random) -> float:
        """Full-jitter backoff before retry number `retry` (0 for the first retry)."""
        # Full jitter spreads the retries of many workers hitting one recovering supplier.
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** min(retry, 64))
        return min(max(rng.uniform(0, ceiling), 0.0), ceiling)

    def retry_after_seconds(self, asked: float) -> float:
        """The supplier's Retry-After, held to our cap so one answer cannot stall a worker for hours."""
        return min(max(asked, 0.0), self.retry_after_cap_seconds)


class Connector(Protocol):
    """One API style, registered in CONNECTORS by its type string; `http` is the pull's SupplierHttp."""

    connection_type: str

    def supports_delta(self, settings: ConnectionSettings) -> bool: ...

    def supports_realtime(self, settings: ConnectionSettings) -> bool: ...

    def pull_stock(
        self, settings: ConnectionSettings, http: Any, *, since: datetime | None, received_at: datetime
    ) -> FeedPull: ...

    def check_stock(
        self, settings: ConnectionSettings, http: Any, skus: Sequence[str], *, received_at: datetime
    ) -> FeedPull: ...

def read_mapping(settings: ConnectionSettings, expected_format: FeedFormat | None = None) -> FeedMapping:
    """The supplier's FEEDS.md mapping, checked before any call; ConnectorError("unsupported") when unusable."""
    try:
        mapping = FeedMapping.from_dict(settings.mapping)
    except FeedMappingError as error:
        raise ConnectorError("unsupported", f"{settings.supplier_code}: the feed mapping is unusable: {error}") from None
    if expected_format is not None and mapping.format is not expected_format:
        raise ConnectorError(
            "unsupported",
            f"{settings.supplier_code}: a {settings.connection_type} connection needs a {expected_format} mapping,"
            f" not {mapping.format}",
        )
    return mapping
