"""Routing on live data: the engine's input comes from the database, decisions are stored and re-run."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app.extensions import db
from app.models import RoutingDecision, SupplierStock
from app.services import ServiceError, routing, supplier_health
from tests.integration import routing_world as world


@pytest.fixture
def placed(app):
    for code in ("ACME", "MAPLE", "PACIFIC"):
        supplier_health.reset(code)  # breakers live in Redis, which outlives each test's database
    return world.small_world()


def test_the_engine_input_holds_terms_shipping_surcharges_and_available_stock_from_the_database(placed):
    network = routing.load_network(["MUG-1", "LAMP-1"])
    acme, maple = network.suppliers["ACME"], network.suppliers["MAPLE"]
    assert acme["order_fee"] == "1.50" and maple["fee_pct"] == "2"
    assert acme["services"] == [{"carrier": "UPS", "service": "ground", "speed": "standard", "max_kg": "20",
                                 "rates": {"CA": {"base": "9.00", "per_kg": "1.00", "transit_days": 5},
                                           "US": {"base": "5.00", "per_kg": "0.40", "transit_days": 3}}}]
    assert acme["surcharges"] == [{"country": "US", "region": "HI", "amount": "14.00"}]
    assert {o["sku"]: o["available"] for o in acme["offers"]} == {"LAMP-1": 3, "MUG-1": 50}
    assert network.suppliers["PACIFIC"]["status"] == "paused"
    assert set(network.stale) == {("MAPLE", "MUG-1"), ("MAPLE", "LAMP-1")}


def test_stock_reported_out_or_without_a_figure_is_not_available_to_promise(placed):
    acme = placed["acme"]
    rows = {row.supplier_sku: row for row in db.session.query(SupplierStock).filter_by(supplier_id=acme.id)}
    rows["ACME-LAMP-1"].status = "out_of_stock"
    rows["ACME-MUG-1"].on_hand = None
    db.session.commit()
    assert routing.available_to_promise([(acme.id, "ACME-LAMP-1"), (acme.id, "ACME-MUG-1"), (acme.id, "NONE")]) == {
        (acme.id, "ACME-LAMP-1"): 0, (acme.id, "ACME-MUG-1"): 0, (acme.id, "NONE"): 0}


def test_a_supplier_whose_breaker_is_open_is_routed_around_as_down(placed):
    for _ in range(10):
        supplier_health.record_failure("MAPLE")
    decision = routing.route_stored_order(placed["order"].id)
    assert decision.plan["shipments"][0]["supplier"] == "ACME"
    assert any(entry["supplier"] == "MAPLE" and entry["reason"] == "health" for entry in decision.trace)


def test_a_routed_order_is_stored_with_its_input_hash_rule_set_version_plan_and_structured_trace(placed):
    active = world.rule_set(1, "active", [{"name": "Prefer ACME", "priority": 10,
                                           "then": {"prefer": ["ACME"], "prefer_tolerance_pct": "5"}}])
    db.session.commit()
    decision = routing.route_stored_order(placed["order"].id)
    db.session.expire_all()
    stored = db.session.get(RoutingDecision, decision.id)
    assert (stored.status, stored.rule_set_id, stored.rule_set_version) == ("routed", active.id, 1)
    assert stored.plan["shipments"][0]["supplier"] == "ACME"  # 36.10 counts as 34.38 against MAPLE's 35.31
    assert stored.landed_cost == Decimal("36.10") and stored.shipments == 1
    assert stored.input_hash == routing.input_hash(stored.engine_input) and len(stored.input_hash) == 64
    assert stored.engine_input["rules"][0]["name"] == "Prefer ACME"
    paused = [e for e in stored.trace if e["supplier"] == "PACIFIC"]
    assert paused[0]["reason"] == "status" and paused[0]["value"] == "status paused"
    assert any(e["kind"] == "rule" and "Prefer ACME" in e["message"] for e in stored.trace)


def test_stock_older_than_the_freshness_budget_is_marked_stale_in_the_trace(placed):
    decision = routing.route_stored_order(placed["order"].id)
    stale = [e for e in decision.trace if e["kind"] == "freshness"]
    assert {(e["supplier"], e["sku"], e["reason"]) for e in stale} == {("MAPLE", "MUG-1", "stale_stock"),
                                                                       ("MAPLE", "LAMP-1", "stale_stock")}
    assert "5-minute freshness budget" in stale[0]["message"]


def test_without_an_active_rule_set_the_cheapest_single_shipment_wins(placed):
    decision = routing.route_stored_order(placed["order"].id)
    assert (decision.rule_set_id, decision.plan["landed_cost"]) == (None, 35.31)
    assert decision.plan["shipments"][0]["supplier"] == "MAPLE"


def test_a_stored_decision_replays_to_the_same_plan_and_says_when_live_data_has_moved_on(placed):
    decision = routing.route_stored_order(placed["order"].id)
    again = routing.rerun_decision(decision.id)
    assert again.same_plan and again.differences == () and again.same_input_today
    maple = placed["maple"]
    row = db.session.query(SupplierStock).filter_by(supplier_id=maple.id, supplier_sku="MAPLE-LAMP-1").one()
    row.on_hand = 0
    row.status = "out_of_stock"
    db.session.commit()
    later = routing.rerun_decision(decision.id)
    assert later.same_plan  # the stored input still decides the same
    assert not later.same_input_today  # but today's stock is different
    assert routing.route_stored_order(placed["order"].id).plan["shipments"][0]["supplier"] == "ACME"


def test_an_order_without_a_ship_to_country_is_refused_with_a_reason(placed):
    bad = world.order("#1002", "US", [("MUG-1", 1, "12.00")])
    bad.ship_to_country = None
    db.session.commit()
    with pytest.raises(ServiceError, match="no ship-to country"):
        routing.route_stored_order(bad.id)


def test_an_order_nobody_can_serve_is_stored_as_manual_review_with_the_reason(placed):
    far = world.order("#1003", "DE", [("MUG-1", 1, "12.00")], age=timedelta(minutes=5))
    db.session.commit()
    decision = routing.route_stored_order(far.id)
    assert (decision.status, decision.reason, decision.landed_cost) == ("manual_review", "no_eligible_supplier", None)
