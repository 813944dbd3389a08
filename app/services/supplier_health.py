"""Supplier health: each supplier's circuit breaker, kept in Redis so every worker process shares it."""
from __future__ import annotations

import json

from redis.exceptions import RedisError

from app import queues
from app.domain import health
from app.domain.health import BreakerSettings, BreakerState
from app.models.types import utcnow

SETTINGS = BreakerSettings()
KEY = "dropdesk:breaker:{}"


def load(code: str) -> BreakerState:
    try:
        raw = queues.connection().get(KEY.format(code))
    except RedisError:
        return BreakerState()
    return health.from_dict(json.loads(raw)) if raw else BreakerState()


def save(code: str, state: BreakerState) -> None:
    queues.connection().set(KEY.format(code), json.dumps(health.to_dict(state)))


def _update(code: str, change) -> object:
    """Read-modify-write one breaker atomically (WATCH/MULTI): two workers never overwrite each
    other's verdict, and only one of them gets the half-open probe."""
    key = KEY.format(code)
    outcome: list = []

    def apply(pipe) -> None:
        raw = pipe.get(key)
        state = health.from_dict(json.loads(raw)) if raw else BreakerState()
        result, new_state = change(state)
        pipe.multi()
        pipe.set(key, json.dumps(health.to_dict(new_state)))
        outcome[:] = [result]

    queues.connection().transaction(apply, key)
    return outcome[0]


def allow_call(code: str) -> bool:
    """May we call this supplier now? Moves an open breaker to half-open once its cool-down is over."""
    return _update(code, lambda state: health.allow_call(state, utcnow(), SETTINGS))


def record_success(code: str) -> None:
    _update(code, lambda state: (None, health.record_success(state, utcnow())))


def record_failure(code: str) -> None:
    _update(code, lambda state: (None, health.record_failure(state, utcnow(), SETTINGS)))


def health_of(code: str) -> str:
    """up, degraded or down: what routing and the supplier pages show."""
    return health.health_of(load(code))


def health_by_code(codes: list[str]) -> dict[str, str]:
    """Every supplier's health in one round trip."""
    if not codes:
        return {}
    try:
        raws = queues.connection().mget([KEY.format(code) for code in codes])
    except RedisError:
        return {code: "up" for code in codes}
    return {code: health.health_of(health.from_dict(json.loads(raw)) if raw else BreakerState())
            for code, raw in zip(codes, raws)}


def reset(code: str) -> None:
    queues.connection().delete(KEY.format(code))
