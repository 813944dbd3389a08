"""Supplier health as a circuit breaker: stop calling a supplier that keeps failing, probe it again later.

Pure decisions on a state value; the service layer stores the state (Redis or the database, because
RQ forks a process per job and in-process state would be lost) and does the read-modify-write atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

BreakerPosition = Literal["closed", "open", "half_open"]
Health = Literal["up", "degraded", "down"]

CLOSED: BreakerPosition = "closed"
OPEN: BreakerPosition = "open"
HALF_OPEN: BreakerPosition = "half_open"
_POSITIONS = (CLOSED, OPEN, HALF_OPEN)


@dataclass(frozen=True)
class BreakerSettings:
    """When a supplier's breaker opens and how long it rests before a probe."""

    failure_threshold: int = 3
    cool_down: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {self.failure_threshold}")
        if self.cool_down < timedelta(0):
            raise ValueError(f"cool_down must not be negative, got {self.cool_down}")


@dataclass(frozen=True)
class BreakerState:
    """One supplier's breaker; the default value is a fresh, closed breaker."""

    state: BreakerPosition = CLOSED
    consecutive_failures: int = 0
    opened_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_success_at: datetime | None = None
    # When the half-open probe went out: a probe whose run died without a verdict must not
    # keep the breaker half-open (and the supplier uncalled) forever.
    probe_started_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.state not in _POSITIONS:
            raise ValueError(f"breaker state must be one of {', '.join(_POSITIONS)}, got {self.state!r}")
        if self.consecutive_failures < 0:
            raise ValueError(f"consecutive_failures must not be negative, got {self.consecutive_failures}")


def allow_call(state: BreakerState, now: datetime, settings: BreakerSettings) -> tuple[bool, BreakerState]:
    """May we call the supplier now? Returns the answer and the state to store (open → half_open for a probe)."""
    if state.state == CLOSED:
        return True, state
    if state.state == OPEN:
        if _cool_down_over(state.opened_at, now, settings):
            return True, replace(state, state=HALF_OPEN, probe_started_at=now)
        return False, state
    # Half-open: one probe is out. Another goes only when that one has been silent a whole cool-down.
    if _cool_down_over(state.probe_started_at, now, settings):
        return True, replace(state, probe_started_at=now)
    return False, state


def record_success(state: BreakerState, now: datetime) -> BreakerState:
    """A call succeeded: the breaker closes and the failure count starts again."""
    return replace(
        state,
        state=CLOSED,
        consecutive_failures=0,
        opened_at=None,
        probe_started_at=None,
        last_success_at=now,
    )


def record_failure(state: BreakerState, now: datetime, settings: BreakerSettings) -> BreakerState:
    """A call failed (after its retries): count it; open at the threshold; a failed probe re-opens."""
    failures = state.consecutive_failures + 1
    if state.state == HALF_OPEN:
        return replace(
            state,
            state=OPEN,
            consecutive_failures=failures,
            opened_at=now,
            probe_started_at=None,
            last_failure_at=now,
        )
    if state.state == OPEN:
        # A call that was already under way when the breaker opened: it must not stretch the cool-down.
        return replace(state, consecutive_failures=failures, last_failure_at=now)
    if failures >= settings.failure_threshold:
        return replace(state, state=OPEN, consecutive_failures=failures, opened_at=now, last_failure_at=now)
    return replace(state, consecutive_failures=failures, last_failure_at=now)


def health_of(state: BreakerState) -> Health:
    """The badge staff see: up, degraded (failing lately or being probed) or down (breaker open)."""
    if state.state == OPEN:
        return "down"
    if state.state == HALF_OPEN or state.consecutive_failures > 0:
        return "degraded"
    return "up"


def next_probe_at(state: BreakerState, settings: BreakerSettings) -> datetime | None:
    """When an open breaker lets the next probe through (for "next run" on the suppliers page)."""
    if state.state == OPEN and state.opened_at is not None:
        return state.opened_at + settings.cool_down
    return None


def to_dict(state: BreakerState) -> dict[str, Any]:
    """The state as JSON-ready values for storage (instants as ISO 8601 text)."""
    return {
        "state": state.state,
        "consecutive_failures": state.consecutive_failures,
        "opened_at": _instant_text(state.opened_at),
        "last_failure_at": _instant_text(state.last_failure_at),
        "last_success_at": _instant_text(state.last_success_at),
        "probe_started_at": _instant_text(state.probe_started_at),
    }


def from_dict(raw: dict[str, Any] | None) -> BreakerState:
    """A stored state back; nothing stored yet means a fresh, closed breaker."""
    if not raw:
        return BreakerState()
    return BreakerState(
        state=raw.get("state", CLOSED),
        consecutive_failures=int(raw.get("consecutive_failures", 0)),
        opened_at=_instant(raw.get("opened_at")),
        last_failure_at=_instant(raw.get("last_failure_at")),
        last_success_at=_instant(raw.get("last_success_at")),
        probe_started_at=_instant(raw.get("probe_started_at")),
    )


def _cool_down_over(since: datetime | None, now: datetime, settings: BreakerSettings) -> bool:
    """True once a whole cool-down has passed since `since` (no instant recorded counts as passed)."""
    return since is None or now - since >= settings.cool_down


def _instant_text(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
