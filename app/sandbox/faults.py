"""Switchable faults and request counters per simulated supplier, kept in Redis so every web worker sees them.

Faults: latency_ms, down (every call 503, optionally with Retry-After), error_rate (0..1 of calls
get a random 500/502/503), rate_limit (every Nth call 429 with Retry-After), malformed_page
(that page's body is cut short), schema_drift (the quantity field is renamed) and revoke_tokens
(OAuth tokens issued so far are refused). Setting faults replaces the previous set; `{}` clears them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from app import queues

KEY = "dropdesk:sandbox:{code}:{part}"
RECENT_REQUESTS_KEPT = 20
MAX_LATENCY_MS = 60_000
FAULT_NAMES = ("latency_ms", "down", "down_retry_after", "error_rate", "rate_limit", "malformed_page",
               "schema_drift", "revoke_tokens")


class FaultsError(ValueError):
    """A faults request that cannot be used; the message says which switch and why."""


@dataclass(frozen=True)
class RateLimit:
    every: int  # every Nth call (counted from when the faults were set) gets a 429
    retry_after_seconds: int


@dataclass(frozen=True)
class SupplierFaults:
    """The faults switched on for one simulated supplier; the default is a healthy supplier."""

    latency_ms: int = 0
    down: bool = False
    down_retry_after: int | None = None
    error_rate: float = 0.0
    rate_limit: RateLimit | None = None
    malformed_page: int | None = None
    schema_drift: bool = False
    tokens_revoked_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """Only the switches that are on, as the control endpoint shows and stores them."""
        shown: dict[str, Any] = {}
        if self.latency_ms:
            shown["latency_ms"] = self.latency_ms
        if self.down:
            shown["down"] = True
        if self.down_retry_after is not None:
            shown["down_retry_after"] = self.down_retry_after
        if self.error_rate:
            shown["error_rate"] = self.error_rate
        if self.rate_limit:
            shown["rate_limit"] = {"every": self.rate_limit.every, "retry_after": self.rate_limit.retry_after_seconds}
        if self.malformed_page is not None:
            shown["malformed_page"] = self.malformed_page
        if self.schema_drift:
            shown["schema_drift"] = True
        if self.tokens_revoked_at is not None:
            shown["tokens_revoked_at"] = self.tokens_revoked_at.isoformat()
        return shown


def parse_faults(raw: Any, now: datetime) -> SupplierFaults:
    """Read a faults request body; FaultsError names the first switch that is wrong."""
    if not isinstance(raw, dict):
        raise FaultsError("send a JSON object of faults, e.g. {\"down\": true}; {} clears them")
    unknown = sorted(set(raw) - set(FAULT_NAMES))
    if unknown:
        raise FaultsError(f"unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULT_NAMES)}")
    rate_limit = raw.get("rate_limit")
    if rate_limit is not None:
        if not isinstance(rate_limit, dict) or set(rate_limit) - {"every", "retry_after"} or "every" not in rate_limit:
            raise FaultsError("rate_limit must be {\"every\": N, \"retry_after\": seconds}")
        rate_limit = RateLimit(_whole(rate_limit, "every", 1, 1_000_000, within="rate_limit"),
                               _whole(rate_limit, "retry_after", 0, 3600, default=1, within="rate_limit"))
    error_rate = raw.get("error_rate", 0)
    if isinstance(error_rate, bool) or not isinstance(error_rate, (int, float)) or not 0 <= error_rate <= 1:
        raise FaultsError("error_rate must be a number from 0 to 1")
    return SupplierFaults(
        latency_ms=_whole(raw, "latency_ms", 0, MAX_LATENCY_MS, default=0),
        down=_switch(raw, "down"),
        down_retry_after=_whole(raw, "down_retry_after", 0, 3600, default=None),
        error_rate=float(error_rate),
        rate_limit=rate_limit,
        malformed_page=_whole(raw, "malformed_page", 1, 1_000_000, default=None),
        schema_drift=_switch(raw, "schema_drift"),
        tokens_revoked_at=now.astimezone(UTC) if _switch(raw, "revoke_tokens") else None,
    )


def set_faults(code: str, faults: SupplierFaults) -> None:
    """Replace the supplier's faults; the rate-limit count starts again from here."""
    redis = queues.connection()
    pipe = redis.pipeline()
    pipe.set(KEY.format(code=code, part="faults"), json.dumps(faults.to_json()))
    pipe.delete(KEY.format(code=code, part="rate_count"))
    pipe.execute()


def current_faults(code: str) -> SupplierFaults:
    stored = queues.connection().get(KEY.format(code=code, part="faults"))
    if not stored:
        return SupplierFaults()
    shown = json.loads(stored)
    revoked = shown.pop("tokens_revoked_at", None)
    faults = parse_faults(shown, datetime.now(UTC))
    if revoked:
        faults = replace(faults, tokens_revoked_at=datetime.fromisoformat(revoked))
    return faults


def count_request(code: str) -> int:
    """Count one call to the supplier's side (the number tests read to see how hard it is hit)."""
    return int(queues.connection().incr(KEY.format(code=code, part="requests")))


def next_rate_limit_count(code: str) -> int:
    return int(queues.connection().incr(KEY.format(code=code, part="rate_count")))


def record_request(code: str, entry: dict[str, Any]) -> None:
    """Keep the latest calls (newest first) for the stats endpoint; never holds credentials."""
    key = KEY.format(code=code, part="recent")
    pipe = queues.connection().pipeline()
    pipe.lpush(key, json.dumps(entry))
    pipe.ltrim(key, 0, RECENT_REQUESTS_KEPT - 1)
    pipe.execute()


def supplier_stats(code: str) -> dict[str, Any]:
    redis = queues.connection()
    requests = redis.get(KEY.format(code=code, part="requests"))
    recent = redis.lrange(KEY.format(code=code, part="recent"), 0, RECENT_REQUESTS_KEPT - 1)
    return {"supplier": code, "requests": int(requests or 0), "recent": [json.loads(entry) for entry in recent],
            "faults": current_faults(code).to_json()}


def reset_stats(code: str) -> None:
    queues.connection().delete(KEY.format(code=code, part="requests"), KEY.format(code=code, part="recent"))


def reset_supplier(code: str) -> None:
    """Healthy again with nothing counted: faults, counters and recent calls all cleared."""
    queues.connection().delete(*(KEY.format(code=code, part=part)
                                 for part in ("faults", "rate_count", "requests", "recent")))


def _switch(raw: dict, name: str) -> bool:
    value = raw.get(name, False)
    if not isinstance(value, bool):
        raise FaultsError(f"{name} must be true or false")
    return value


def _whole(raw: dict, name: str, low: int, high: int, default: int | None = 0, within: str = "") -> int | None:
    value = raw.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        where = f"{within}.{name}" if within else name
        raise FaultsError(f"{where} must be a whole number from {low} to {high}")
    return value
