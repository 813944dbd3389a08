"""Routing search paths: the branch-and-bound and the one-by-one pricing both meet the brute-force oracle.

Small orders are priced assignment by assignment, so test_routing.py's oracle runs mostly
exercise that path; here the same oracle also checks the branch-and-bound on those orders (with
one-by-one pricing switched off), fastest orders whose quick services stop at a weight, the
trace's account of every candidate, and determinism on orders big enough to be searched.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_routing import _random_catalogue, _shuffled, oracle_route, plan_mismatch, scenarios

from app.domain import routing
from app.domain.routing import parse_scenario, route_order, simulate_scenario


@pytest.fixture
def branch_and_bound_only(monkeypatch):
    """Every order goes through the branch-and-bound, however few its assignments."""
    monkeypatch.setattr(routing, "_ENUMERATION_LIMIT", 0)


def _assert_matches_oracle(scenario: dict[str, Any]) -> dict[str, Any]:
    expected = oracle_route(scenario)
    got = simulate_scenario(scenario)
    assert plan_mismatch(expected, got) is None, (plan_mismatch(expected, got), expected, got)
    assert got["optimal"] is True
    if expected["status"] == "routed":
        assert got["objective"] == expected["objective"]
    return got


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(scenarios(max_suppliers=5, max_lines=4))
def test_branch_and_bound_matches_brute_force_on_small_orders(branch_and_bound_only, scenario):
    _assert_matches_oracle(scenario)


@st.composite
def capped_quick_services(draw: Any) -> dict[str, Any]:
    """Orders where the quickest service stops at a few kilos, so the fastest price steps down past it."""
    n_suppliers = draw(st.integers(2, 4))
    skus = ["A", "B", "C", "D"][:draw(st.integers(2, 4))]
    money = st.sampled_from([1, 2.5, 4, 6.75, 9, 14, 22])
    suppliers = []
    for i in range(n_suppliers):
        services = [{"carrier": "FAST", "service": "express", "speed": "express",
                     "max_kg": draw(st.sampled_from([0, 1, 2, 3.5, 5])),
                     "rates": {"US": {"base": draw(money), "per_kg": draw(st.sampled_from([0.5, 1, 2])),
                                      "transit_days": 1}}},
                    {"carrier": "SLOW", "service": "ground", "speed": "standard",
                     "max_kg": draw(st.sampled_from([None, 8, 20])),
                     "rates": {"US": {"base": draw(money), "per_kg": draw(st.sampled_from([0, 0.25, 0.5])),
                                      "transit_days": draw(st.integers(2, 5))}}}]
        if draw(st.booleans()):
            services.append({"carrier": "BIG", "service": "freight", "speed": "standard",
                             "rates": {"US": {"base": draw(money), "per_kg": 0.1, "transit_days": 6}}})
        offered = [sku for sku in skus if draw(st.integers(0, 4))] or [skus[i % len(skus)]]
        suppliers.append({
            "code": f"Q{i}", "warehouse_country": "US", "ships_to": ["US"],
            "lead_time_days": draw(st.integers(0, 2)), "priority": draw(st.sampled_from([1, 50, 100])),
            "order_fee": draw(st.sampled_from([0, 1.5])), "fee_pct": draw(st.sampled_from([0, 3])),
            "min_order_value": draw(st.sampled_from([0, 0, 0, 15])),
            "services": services,
            "offers": [{"sku": sku, "cost": draw(money), "available": 50,
                        "weight_kg": draw(st.sampled_from([0, 0.4, 1, 2.5]))} for sku in offered],
        })
    then: dict[str, Any] = {"objective": "fastest"}
    if draw(st.booleans()):
        then["max_delivery_days"] = draw(st.integers(2, 7))
    if draw(st.booleans()):
        then.update(prefer=[f"Q{draw(st.integers(0, n_suppliers - 1))}"], prefer_tolerance_pct=10)
    return {
        "name": "capped", "suppliers": suppliers, "rules": [{"name": "speed", "when": {}, "then": then}],
        "order": {"id": "q", "channel": "shopify", "ship_to": {"country": "US"},
                  "service": draw(st.sampled_from(["standard", "standard", "express"])),
                  "lines": [{"sku": sku, "qty": draw(st.integers(1, 3)), "price": 20} for sku in skus]},
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(capped_quick_services())
def test_fastest_matches_brute_force_when_the_quick_service_stops_at_a_weight(branch_and_bound_only, scenario):
    _assert_matches_oracle(scenario)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(capped_quick_services())
def test_fastest_orders_priced_one_by_one_match_brute_force(scenario):
    _assert_matches_oracle(scenario)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(max_suppliers=5, max_lines=3))
def test_trace_accounts_for_every_supplier_offering_every_line(scenario):
    parsed = parse_scenario(scenario)
    decision = route_order(parsed.suppliers, parsed.rules, parsed.order)
    for number, line in enumerate(parsed.order.lines, start=1):
        offering = {s.code for s in parsed.suppliers if s.offer_for(line.sku)}
        entries = [e for e in decision.trace if e.kind == "candidate" and e.line == number and e.supplier]
        passed = [e.supplier for e in entries if e.reason]
        assert len(passed) == len(set(passed)), passed  # each supplier passed over once, with one reason
        assert all(e.value for e in entries if e.reason), entries  # and the failing value behind it
        if decision.status == "routed":
            winners = [e.supplier for e in entries if not e.reason]
            assert len(winners) == 1 and winners[0] not in passed
            assert set(passed) | set(winners) == offering
        else:
            assert set(passed) <= offering


@pytest.mark.parametrize("objective", ["fewest_shipments", "lowest_cost", "fastest"])
def test_a_searched_twenty_line_decision_is_the_same_whatever_the_input_order(objective):
    scenario = _random_catalogue(1, n_lines=20, n_suppliers=30, objective=objective)
    first = simulate_scenario(scenario)
    assert first["status"] == "routed" and first["optimal"] is True
    rng = random.Random(objective)
    for _ in range(2):
        assert simulate_scenario(_shuffled(scenario, rng)) == first


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(capped_quick_services(), st.randoms(use_true_random=False))
def test_shuffling_the_input_never_changes_a_searched_decision(branch_and_bound_only, scenario, rng):
    assert simulate_scenario(_shuffled(scenario, rng)) == simulate_scenario(scenario)


def test_branch_and_bound_and_one_by_one_pricing_give_the_same_decision(monkeypatch):
    scenario = _random_catalogue(4, n_lines=3, n_suppliers=5, objective="lowest_cost")
    priced = simulate_scenario(scenario)
    assert any(m.startswith("priced all") for m in priced["trace"])
    monkeypatch.setattr(routing, "_ENUMERATION_LIMIT", 0)
    searched = simulate_scenario(scenario)
    assert not any(m.startswith("priced all") for m in searched["trace"])
    assert {k: v for k, v in searched.items() if k != "trace"} == {k: v for k, v in priced.items() if k != "trace"}


# --- the runner-up the trace names: the exact second-best plan, whatever the pruning ---

_KEY_NAMES = {
    "fewest_shipments": ("shipments", "effective cost", "delivery days", "priority sum", "supplier codes",
                         "supplier per line"),
    "lowest_cost": ("effective cost", "shipments", "delivery days", "priority sum", "supplier codes",
                    "supplier per line"),
    "fastest": ("delivery days", "shipments", "effective cost", "priority sum", "supplier codes",
                "supplier per line"),
}
# How many leading key components a searched level fixes: its runner-up is sought among plans
# sharing them (fewest_shipments searches k shipments at a time, fastest D days then k).
_LEVEL_COMPONENTS = {"lowest_cost": 0, "fewest_shipments": 1, "fastest": 2}
_RUNNER_UP = re.compile(r"chosen plan beat the runner-up \(.*\) on (?P<name>[a-z ]+): (?P<ours>.+) vs (?P<theirs>.+)$")


def _shown(value: Any) -> Any:
    return "[" + ", ".join(value) + "]" if isinstance(value, tuple) else value


def _parsed(name: str, text: str) -> Any:
    if name == "effective cost":
        return Decimal(text)
    if name in ("supplier codes", "supplier per line"):
        return text
    return int(text)


def _assert_runner_up_is_the_second_best(scenario: dict[str, Any]) -> None:
    keys: list[tuple[Any, ...]] = []
    expected = oracle_route(scenario, keys)
    got = simulate_scenario(scenario)
    assert plan_mismatch(expected, got) is None, (plan_mismatch(expected, got), expected, got)
    if expected["status"] != "routed":
        return
    objective = expected["objective"]
    keys.sort()
    searched = not any(m.startswith("priced all") for m in got["trace"])
    fixed = _LEVEL_COMPONENTS[objective] if searched else 0
    rivals = [key for key in keys[1:] if key[:fixed] == keys[0][:fixed]]
    message = next(m for m in got["trace"] if m.startswith(("chosen plan beat", "no runner-up")))
    if not rivals:
        if fixed == 0:
            assert message.startswith("no runner-up"), message
        return  # the level's only plan: the trace may name a plan from outside it, or none
    best, other = keys[0], rivals[0]
    index = next(i for i in range(len(best)) if best[i] != other[i])
    name = _KEY_NAMES[objective][index]
    match = _RUNNER_UP.match(message)
    assert match, message
    assert match["name"] == name, (message, best, other)
    assert _parsed(name, match["ours"]) == _shown(best[index]), (message, best, other)
    assert _parsed(name, match["theirs"]) == _shown(other[index]), (message, best, other)


@st.composite
def rival_plans(draw: Any) -> dict[str, Any]:
    """Routable orders with many feasible plans, close in cost, so the runner-up is a real rival."""
    n_suppliers = draw(st.integers(2, 5))
    skus = ["A", "B", "C", "D"][:draw(st.integers(1, 4))]
    money = st.sampled_from([1, 2.5, 4, 4.01, 6.75, 9, 14])
    suppliers = []
    for i in range(n_suppliers):
        offered = [sku for sku in skus if draw(st.integers(0, 3))] or [skus[i % len(skus)]]
        suppliers.append({
            "code": f"R{i}", "warehouse_country": "US", "ships_to": ["US"],
            "lead_time_days": draw(st.integers(0, 2)), "priority": draw(st.sampled_from([1, 50, 100])),
            "order_fee": draw(st.sampled_from([0, 0.5, 1.5])), "fee_pct": draw(st.sampled_from([0, 3])),
            "min_order_value": draw(st.sampled_from([0, 0, 0, 8])),
            "services": [{"carrier": "UPS", "service": "ground", "speed": "standard",
                          "max_kg": draw(st.sampled_from([None, 3, 6])),
                          "rates": {"US": {"base": draw(money), "per_kg": draw(st.sampled_from([0, 0.5])),
                                           "transit_days": draw(st.integers(1, 4))}}},
                         {"carrier": "XPO", "service": "freight", "speed": "standard",
                          "rates": {"US": {"base": draw(money) + 6, "per_kg": 0.1, "transit_days": 5}}}],
            "offers": [{"sku": sku, "cost": draw(money), "available": 20,
                        "weight_kg": draw(st.sampled_from([0, 0.5, 1, 2.5]))} for sku in offered],
        })
    then: dict[str, Any] = {"objective": draw(st.sampled_from(["fewest_shipments", "lowest_cost", "fastest"]))}
    if draw(st.booleans()):
        then.update(prefer=[f"R{draw(st.integers(0, n_suppliers - 1))}"], prefer_tolerance_pct=draw(
            st.sampled_from([5, 10])))
    if draw(st.integers(0, 3)) == 0:
        then["max_shipments"] = draw(st.integers(1, 3))
    return {
        "name": "rivals", "suppliers": suppliers, "rules": [{"name": "policy", "when": {}, "then": then}],
        "order": {"id": "r", "channel": "shopify", "ship_to": {"country": "US"},
                  "lines": [{"sku": sku, "qty": draw(st.integers(1, 3)), "price": 20} for sku in skus]},
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(rival_plans(), scenarios(max_suppliers=5, max_lines=3)))
def test_the_runner_up_the_trace_names_is_the_second_best_plan(scenario):
    _assert_runner_up_is_the_second_best(scenario)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.one_of(rival_plans(), scenarios(max_suppliers=5, max_lines=4)))
def test_the_runner_up_of_the_branch_and_bound_is_the_second_best_plan_of_its_level(branch_and_bound_only, scenario):
    _assert_runner_up_is_the_second_best(scenario)


@pytest.mark.parametrize("objective", ["fewest_shipments", "fastest"])
@pytest.mark.parametrize("seed", range(12))
def test_levels_searched_by_shipments_and_days_match_brute_force(branch_and_bound_only, objective, seed):
    # A level's bound starts from its exact shipment count (and delivery days under fastest):
    # the plan and its runner-up must still be the oracle's, with and without a cap or deadline.
    scenario = _random_catalogue(100 + seed, n_lines=7, n_suppliers=6, objective=objective)
    extra: dict[str, Any] = {}
    if seed % 3 == 1:
        extra["max_delivery_days"] = 6
    elif seed % 3 == 2:
        extra["max_shipments"] = 3
    if extra:
        scenario["rules"].append({"name": "limits", "priority": 3, "when": {}, "then": extra})
    assert simulate_scenario(scenario)["optimal"] is True
    _assert_runner_up_is_the_second_best(scenario)
