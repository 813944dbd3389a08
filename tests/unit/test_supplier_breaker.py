"""Supplier health circuit breaker: opening, cool-down, the half-open probe, closing, storage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.health import (
    BreakerSettings,
    BreakerState,
    allow_call,
    from_dict,
    health_of,
    next_probe_at,
    record_failure,
    record_success,
    to_dict,
)

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
SETTINGS = BreakerSettings(failure_threshold=3, cool_down=timedelta(minutes=5))


def failed(times: int, state: BreakerState | None = None, start: datetime = T0) -> BreakerState:
    """The breaker after `times` failed calls, one a minute from `start`."""
    state = state or BreakerState()
    for minute in range(times):
        state = record_failure(state, start + timedelta(minutes=minute), SETTINGS)
    return state


def test_a_fresh_breaker_is_closed_up_and_allows_calls():
    state = BreakerState()
    assert (state.state, state.consecutive_failures, health_of(state)) == ("closed", 0, "up")
    assert allow_call(state, T0, SETTINGS) == (True, state)


def test_failures_below_the_threshold_keep_it_closed_but_degraded():
    state = failed(2)
    assert (state.state, state.consecutive_failures, health_of(state)) == ("closed", 2, "degraded")
    assert state.last_failure_at == T0 + timedelta(minutes=1)
    assert allow_call(state, T0 + timedelta(minutes=2), SETTINGS)[0]


def test_the_threshold_failure_opens_the_breaker_and_the_supplier_is_down():
    state = failed(3)
    assert (state.state, state.opened_at, health_of(state)) == ("open", T0 + timedelta(minutes=2), "down")


def test_an_open_breaker_refuses_calls_until_the_cool_down_has_passed():
    state = failed(3)
    opened = state.opened_at
    allowed, unchanged = allow_call(state, opened + timedelta(minutes=4, seconds=59), SETTINGS)
    assert (allowed, unchanged) == (False, state)


def test_after_the_cool_down_one_probe_is_allowed_and_the_breaker_is_half_open():
    state = failed(3)
    probe_time = state.opened_at + SETTINGS.cool_down
    allowed, probing = allow_call(state, probe_time, SETTINGS)
    assert allowed
    assert (probing.state, probing.probe_started_at, health_of(probing)) == ("half_open", probe_time, "degraded")
    second_allowed, still_probing = allow_call(probing, probe_time + timedelta(seconds=30), SETTINGS)
    assert (second_allowed, still_probing) == (False, probing)


def test_a_successful_probe_closes_the_breaker_and_clears_the_failures():
    state = failed(3)
    _, probing = allow_call(state, state.opened_at + SETTINGS.cool_down, SETTINGS)
    success_time = state.opened_at + timedelta(minutes=6)
    closed = record_success(probing, success_time)
    assert (closed.state, closed.consecutive_failures, closed.opened_at, closed.probe_started_at) == ("closed", 0, None, None)
    assert (closed.last_success_at, closed.last_failure_at, health_of(closed)) == (success_time, state.last_failure_at, "up")


def test_a_failed_probe_reopens_the_breaker_with_a_fresh_opened_at():
    state = failed(3)
    probe_time = state.opened_at + SETTINGS.cool_down
    _, probing = allow_call(state, probe_time, SETTINGS)
    reopened = record_failure(probing, probe_time + timedelta(seconds=8), SETTINGS)
    assert (reopened.state, reopened.opened_at, reopened.consecutive_failures) == ("open", probe_time + timedelta(seconds=8), 4)
    assert not allow_call(reopened, probe_time + timedelta(minutes=1), SETTINGS)[0]
    assert allow_call(reopened, reopened.opened_at + SETTINGS.cool_down, SETTINGS)[0]


def test_a_probe_lost_without_a_verdict_lets_another_probe_through_after_a_cool_down():
    state = failed(3)
    probe_time = state.opened_at + SETTINGS.cool_down
    _, probing = allow_call(state, probe_time, SETTINGS)
    allowed, probing_again = allow_call(probing, probe_time + SETTINGS.cool_down, SETTINGS)
    assert allowed
    assert (probing_again.state, probing_again.probe_started_at) == ("half_open", probe_time + SETTINGS.cool_down)


def test_a_success_between_failures_starts_the_count_again():
    state = record_success(failed(2), T0 + timedelta(minutes=3))
    state = failed(2, state, start=T0 + timedelta(minutes=4))
    assert (state.state, state.consecutive_failures) == ("closed", 2)


def test_a_failure_reported_while_open_does_not_stretch_the_cool_down():
    state = failed(3)
    later = record_failure(state, state.opened_at + timedelta(minutes=3), SETTINGS)
    assert (later.state, later.opened_at, later.consecutive_failures) == ("open", state.opened_at, 4)
    assert later.last_failure_at == state.opened_at + timedelta(minutes=3)


def test_a_threshold_of_one_opens_on_the_first_failure():
    state = record_failure(BreakerState(), T0, BreakerSettings(failure_threshold=1))
    assert state.state == "open"


def test_next_probe_is_due_one_cool_down_after_opening():
    state = failed(3)
    assert next_probe_at(state, SETTINGS) == state.opened_at + SETTINGS.cool_down
    assert next_probe_at(BreakerState(), SETTINGS) is None


def test_state_survives_a_round_trip_through_json_storage():
    _, probing = allow_call(failed(3), T0 + timedelta(hours=1), SETTINGS)
    for state in (BreakerState(), failed(2), failed(3), probing, record_success(probing, T0 + timedelta(hours=2))):
        stored = json.loads(json.dumps(to_dict(state)))
        assert from_dict(stored) == state


def test_nothing_stored_yet_reads_as_a_fresh_closed_breaker():
    assert from_dict(None) == BreakerState()
    assert from_dict({}) == BreakerState()


def test_stored_instants_stay_timezone_aware():
    restored = from_dict(to_dict(failed(3)))
    assert restored.opened_at.tzinfo is not None and restored.opened_at == T0 + timedelta(minutes=2)


@pytest.mark.parametrize("raw", [{"state": "ajar"}, {"state": "closed", "consecutive_failures": -1}])
def test_a_corrupt_stored_state_is_refused(raw):
    with pytest.raises(ValueError):
        from_dict(raw)


def test_settings_refuse_a_threshold_below_one():
    with pytest.raises(ValueError):
        BreakerSettings(failure_threshold=0)


EVENTS = st.lists(
    st.tuples(st.sampled_from(["call", "success", "failure"]), st.integers(min_value=0, max_value=600)),
    max_size=40,
)


@given(events=EVENTS, threshold=st.integers(min_value=1, max_value=5))
def test_any_history_keeps_the_breaker_consistent_and_never_calls_an_open_supplier_early(events, threshold):
    settings = BreakerSettings(failure_threshold=threshold, cool_down=timedelta(minutes=5))
    state, now = BreakerState(), T0
    for event, seconds_later in events:
        now += timedelta(seconds=seconds_later)
        if event == "call":
            before = state
            allowed, state = allow_call(state, now, settings)
            if before.state == "open" and now - before.opened_at < settings.cool_down:
                assert not allowed
        elif event == "success":
            state = record_success(state, now)
        else:
            state = record_failure(state, now, settings)
        assert (state.state == "closed") == (state.opened_at is None)
        assert (state.state == "half_open") == (state.probe_started_at is not None)
        assert state.state != "closed" or state.consecutive_failures < threshold
        assert health_of(state) == {"open": "down", "half_open": "degraded"}.get(
            state.state, "degraded" if state.consecutive_failures else "up"
        )
        assert from_dict(to_dict(state)) == state
