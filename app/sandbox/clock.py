"""The sandbox's clock: real time, or frozen at a past instant (in Redis, so every web worker agrees).

Freezing lets a test see the same stock on every call, then move it forward to watch it drift,
without waiting five minutes. It may never run ahead of real time: suppliers' figures are
never dated in the future.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app import queues

FROZEN_AT_KEY = "dropdesk:sandbox:clock:frozen_at"


class ClockError(ValueError):
    """A clock setting that cannot be used; the message says why."""


def sandbox_now() -> datetime:
    """The moment the simulated suppliers report stock at."""
    frozen = queues.connection().get(FROZEN_AT_KEY)
    return datetime.fromisoformat(frozen.decode()) if frozen else datetime.now(UTC)


def frozen_at() -> datetime | None:
    frozen = queues.connection().get(FROZEN_AT_KEY)
    return datetime.fromisoformat(frozen.decode()) if frozen else None


def freeze_clock(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ClockError("frozen_at needs a UTC offset, e.g. 2026-01-05T10:00:00Z")
    if at > datetime.now(UTC):
        raise ClockError("the sandbox clock cannot run ahead of real time")
    at = at.astimezone(UTC)
    queues.connection().set(FROZEN_AT_KEY, at.isoformat())
    return at


def advance_clock(seconds: int) -> datetime:
    """Move a frozen clock forward (it stays frozen)."""
    current = frozen_at()
    if current is None:
        raise ClockError("freeze the clock first (frozen_at), then advance it")
    return freeze_clock(current + timedelta(seconds=seconds))


def unfreeze_clock() -> None:
    queues.connection().delete(FROZEN_AT_KEY)
