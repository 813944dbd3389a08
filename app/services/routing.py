"""Routing on live data: the engine's input built from the database, decisions stored and re-run.

The engine (app/domain/routing.py) is pure and reads a ROUTING.md scenario. This module writes
that scenario from what Dropdesk knows now: supplier status and terms, health from the circuit
breaker, offers with their available-to-promise, shipping services, rates and surcharges, and the
active rule set. The scenario is stored with each decision, with its sha256, so any decision can
be replayed exactly and compared with what the engine says today.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.domain.routing import Decision, parse_scenario, route_order
from app.domain.stock import available_to_promise as stock_available_to_promise
from app.extensions import db
from app.models import (
    Order,
    Product,
    RoutingDecision,
    RuleSet,
    ShippingService,
    ShippingSurcharge,
    Supplier,
    SupplierOffer,
    SupplierStock,
)
from app.models.types import utcnow
from app.services import ServiceError, supplier_health
from app.services.stock import aware, confirmed_at, freshness_budget

log = logging.getLogger(__name__)

STALE_REASON = "stale_stock"


# --- available-to-promise ---------------------------------------------------------------------


def available_to_promise(keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """What each (supplier id, supplier SKU) can still promise.

    The last reported on-hand figure less the units orders hold that the figure does not reflect yet
    (invariant 2; app/services/inventory.py), 0 when the supplier reports the SKU as out, discontinued or unknown.
    """
    wanted = set(keys)
    if not wanted:
        return {}
    supplier_ids = {supplier_id for supplier_id, _ in wanted}
    skus = {sku for _, sku in wanted}
    rows = db.session.execute(
        select(SupplierStock.supplier_id, SupplierStock.supplier_sku, SupplierStock.on_hand, SupplierStock.reserved,
               SupplierStock.status)
        .where(SupplierStock.supplier_id.in_(supplier_ids), SupplierStock.supplier_sku.in_(skus)))
    available = {key: 0 for key in wanted}
    for supplier_id, supplier_sku, on_hand, reserved, status in rows:
        key = (supplier_id, supplier_sku)
        if key in wanted:
            available[key] = stock_available_to_promise(on_hand, reserved, status)
    return available


# --- the engine's input -----------------------------------------------------------------------


def _money(value: Decimal | None) -> str:
    return str(Decimal(value or 0))


def _number(value: Decimal | None) -> str:
    """A decimal as plain text without trailing zeros (3.500 kg -> 3.5), so equal inputs hash alike."""
    text = format(Decimal(value or 0).normalize(), "f")
    return text


@dataclass(frozen=True)
class StaleOffer:
    supplier: str
    sku: str
    confirmed_at: datetime | None


@dataclass(frozen=True)
class RoutingNetwork:
    """Every supplier as the engine reads it (offers limited to some SKUs), and which figures are stale."""

    suppliers: dict[str, dict[str, Any]]
    stale: dict[tuple[str, str], StaleOffer]
    taken_at: datetime
    # (supplier code, our SKU) -> (supplier id, supplier SKU) of the offer routed on: what a plan line reserves.
    offer_keys: dict[tuple[str, str], tuple[int, str]] = dataclasses.field(default_factory=dict)

    def scenario_suppliers(self, skus: Iterable[str]) -> list[dict[str, Any]]:
        """The suppliers offering any of these SKUs, with only those offers, sorted by code."""
        wanted = set(skus)
        chosen = []
        for code in sorted(self.suppliers):
            supplier = self.suppliers[code]
            offers = [offer for offer in supplier["offers"] if offer["sku"] in wanted]
            if offers:
                chosen.append({**supplier, "offers": offers})
        return chosen


def load_network(skus: Iterable[str], now: datetime | None = None) -> RoutingNetwork:
    """Read suppliers, shipping and the offers for `skus` from the database in a few queries."""
    now = now or utcnow()
    skus = sorted(set(skus))
    suppliers = list(db.session.scalars(select(Supplier).order_by(Supplier.code)))
    health = supplier_health.health_by_code([s.code for s in suppliers])
    services: dict[int, list[ShippingService]] = {}
    for service in db.session.scalars(select(ShippingService).options(selectinload(ShippingService.rates))
                                      .order_by(ShippingService.carrier, ShippingService.service)):
        services.setdefault(service.supplier_id, []).append(service)
    surcharges: dict[int, list[ShippingSurcharge]] = {}
    for surcharge in db.session.scalars(select(ShippingSurcharge).order_by(ShippingSurcharge.country,
                                                                          ShippingSurcharge.region,
                                                                          ShippingSurcharge.id)):
        surcharges.setdefault(surcharge.supplier_id, []).append(surcharge)

    offers: list[tuple[SupplierOffer, str]] = []
    if skus:
        offers = list(db.session.execute(
            select(SupplierOffer, Product.sku).join(Product, Product.id == SupplierOffer.product_id)
            .where(Product.sku.in_(skus), Product.active.is_(True), SupplierOffer.active.is_(True))).tuples())
    available = available_to_promise((offer.supplier_id, offer.supplier_sku) for offer, _ in offers)
    confirmed = dict(((row.supplier_id, row.supplier_sku), aware(row.confirmed_at)) for row in db.session.execute(
        select(SupplierStock.supplier_id, SupplierStock.supplier_sku, confirmed_at().label("confirmed_at"))
        .join(Supplier, Supplier.id == SupplierStock.supplier_id)
        .where(SupplierStock.supplier_id.in_({offer.supplier_id for offer, _ in offers} or {0}),
               SupplierStock.supplier_sku.in_({offer.supplier_sku for offer, _ in offers} or {""}))))

    by_supplier: dict[int, dict[str, dict[str, Any]]] = {}
    chosen_offer: dict[tuple[int, str], SupplierOffer] = {}
    for offer, sku in offers:
        entry = {"sku": sku, "cost": _money(offer.cost), "available": available[(offer.supplier_id, offer.supplier_sku)],
                 "moq": offer.moq, "weight_kg": _number(offer.weight_kg)}
        current = by_supplier.setdefault(offer.supplier_id, {}).get(sku)
        # Two supplier SKUs for one product: route on the one that can promise most, then the cheaper.
        if current is None or (entry["available"], -Decimal(entry["cost"])) > (current["available"], -Decimal(current["cost"])):
            by_supplier[offer.supplier_id][sku] = entry
            chosen_offer[(offer.supplier_id, sku)] = offer

    budget = freshness_budget()
    network: dict[str, dict[str, Any]] = {}
    stale: dict[tuple[str, str], StaleOffer] = {}
    offer_keys: dict[tuple[str, str], tuple[int, str]] = {}
    for supplier in suppliers:
        supplier_offers = [by_supplier.get(supplier.id, {})[sku] for sku in sorted(by_supplier.get(supplier.id, {}))]
        network[supplier.code] = {
            "code": supplier.code,
            "status": supplier.status,
            "health": health.get(supplier.code, "up"),
            "priority": supplier.priority,
            "warehouse_country": supplier.warehouse_country,
            "ships_to": sorted(supplier.ships_to or []),
            "lead_time_days": supplier.lead_time_days,
            "order_fee": _money(supplier.order_fee),
            "fee_pct": _number(supplier.fee_pct),
            "min_order_value": _money(supplier.min_order_value),
            "services": [_service(service) for service in services.get(supplier.id, [])],
            "surcharges": [_surcharge(surcharge) for surcharge in surcharges.get(supplier.id, [])],
            "offers": supplier_offers,
        }
        for offer in supplier_offers:
            chosen = chosen_offer[(supplier.id, offer["sku"])]
            offer_keys[(supplier.code, offer["sku"])] = (supplier.id, chosen.supplier_sku)
            at = confirmed.get((supplier.id, chosen.supplier_sku))
            if at is None or now - at > budget:
                stale[(supplier.code, offer["sku"])] = StaleOffer(supplier.code, offer["sku"], at)
    return RoutingNetwork(network, stale, now, offer_keys)


def _service(service: ShippingService) -> dict[str, Any]:
    described: dict[str, Any] = {
        "carrier": service.carrier, "service": service.service, "speed": service.speed,
        "rates": {rate.country: {"base": _money(rate.base), "per_kg": _money(rate.per_kg),
                                 "transit_days": rate.transit_days} for rate in service.rates},
    }
    if service.max_kg is not None:
        described["max_kg"] = _number(service.max_kg)
    return described


def _surcharge(surcharge: ShippingSurcharge) -> dict[str, Any]:
    described = {"country": surcharge.country, "amount": _money(surcharge.amount)}
    if surcharge.region:
        described["region"] = surcharge.region
    return described


def order_input(order: Order) -> dict[str, Any]:
    """The order as the engine reads it; a ServiceError says why an order cannot be routed yet."""
    if not order.ship_to_country:
        raise ServiceError(f"Order {order.label} has no ship-to country; fix its address before routing it.")
    lines: dict[str, dict[str, Any]] = {}
    for line in order.lines:
        if not line.sku:
            raise ServiceError(f"Order {order.label}, line {line.position + 1}, has no SKU.")
        if line.qty is None or line.qty < 1:
            raise ServiceError(f"Order {order.label}, line {line.position + 1}, has no positive quantity.")
        if line.sku in lines:  # intake merges such lines; an order typed in by hand may not have
            lines[line.sku]["qty"] += line.qty
        else:
            lines[line.sku] = {"sku": line.sku, "qty": line.qty, "price": _money(line.unit_price)}
    if not lines:
        raise ServiceError(f"Order {order.label} has no lines.")
    ship_to: dict[str, Any] = {"country": order.ship_to_country}
    if order.ship_to_region:
        ship_to["region"] = order.ship_to_region
    return {"id": str(order.id), "channel": order.channel, "service": order.service_level or "standard",
            "ship_to": ship_to, "lines": list(lines.values())}


def input_hash(scenario: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of an engine input: same input, same hash, on every machine."""
    canonical = json.dumps(scenario, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- deciding ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutedOrder:
    """One engine run: its exact input, the decision, and the trace to store (stale stock marked)."""

    scenario: dict[str, Any]
    input_hash: str
    decision: Decision
    trace: list[dict[str, Any]]

    @property
    def plan(self) -> dict[str, Any]:
        return self.decision.to_dict()


def trace_entries(decision: Decision) -> list[dict[str, Any]]:
    """The engine's structured trace as plain dicts."""
    return [{key: str(value) if key == "reason" and value is not None else value
             for key, value in dataclasses.asdict(entry).items()} for entry in decision.trace]


def _stale_entries(scenario: dict[str, Any], network: RoutingNetwork) -> list[dict[str, Any]]:
    minutes = int(freshness_budget().total_seconds() // 60)
    entries = []
    for supplier in scenario["suppliers"]:
        for offer in supplier["offers"]:
            stale = network.stale.get((supplier["code"], offer["sku"]))
            if stale is None:
                continue
            when = stale.confirmed_at.strftime("%Y-%m-%d %H:%M UTC") if stale.confirmed_at else "never"
            entries.append({
                "kind": "freshness", "line": None, "sku": stale.sku, "supplier": stale.supplier,
                "reason": STALE_REASON, "value": stale.confirmed_at.isoformat() if stale.confirmed_at else None,
                "message": (f"{stale.supplier} {stale.sku}: stock last confirmed {when}, older than the "
                            f"{minutes}-minute freshness budget; check it live before promising it"),
            })
    return entries


def decide(order: dict[str, Any], rules: list[dict[str, Any]], network: RoutingNetwork) -> RoutedOrder:
    """Route one order (engine shape) under `rules` on the live network; nothing is stored."""
    scenario = {"suppliers": network.scenario_suppliers(line["sku"] for line in order["lines"]),
                "rules": rules, "order": order}
    return _run(scenario, extra_trace=_stale_entries(scenario, network))


def _run(scenario: dict[str, Any], extra_trace: list[dict[str, Any]] | None = None) -> RoutedOrder:
    try:
        parsed = parse_scenario(scenario)
        decision = route_order(parsed.suppliers, parsed.rules, parsed.order)
    except ValueError as error:
        raise ServiceError(f"The routing input is not valid: {error}") from None
    return RoutedOrder(scenario, input_hash(scenario), decision, (extra_trace or []) + trace_entries(decision))


def active_rule_set() -> RuleSet | None:
    return db.session.scalar(select(RuleSet).where(RuleSet.status == "active").options(selectinload(RuleSet.rules)))


def get_order(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        raise ServiceError(f"No order with id {order_id}.")
    return order


def route_stored_order(order_id: int, trigger: str = "manual") -> RoutingDecision:
    """Route an order on live data under the active rule set and store the decision with its input."""
    order = get_order(order_id)
    rule_set = active_rule_set()
    engine_order = order_input(order)
    network = load_network(line["sku"] for line in engine_order["lines"])
    routed = decide(engine_order, rule_set.engine_rules() if rule_set else [], network)
    decision = store_decision(order, rule_set, routed, trigger)
    db.session.commit()
    log.info("order_routed order=%s decision=%s status=%s rule_set=%s hash=%s", order.id, decision.id,
             decision.status, decision.rule_set_version, decision.input_hash[:12])
    return decision


def store_decision(order: Order, rule_set: RuleSet | None, routed: RoutedOrder, trigger: str) -> RoutingDecision:
    """Add the decision to the session (the caller commits)."""
    plan = routed.decision.plan
    decision = RoutingDecision(
        order_id=order.id, rule_set_id=rule_set.id if rule_set else None,
        rule_set_version=rule_set.version if rule_set else None, input_hash=routed.input_hash,
        engine_input=routed.scenario, plan=routed.plan, trace=routed.trace, status=routed.decision.status,
        reason=str(routed.decision.reason) if routed.decision.reason else None, objective=routed.decision.objective,
        optimal=routed.decision.optimal, landed_cost=plan.landed_cost if plan else None,
        shipments=len(plan.shipments) if plan else 0, trigger=trigger,
    )
    db.session.add(decision)
    db.session.flush()
    return decision


@dataclass(frozen=True)
class Rerun:
    """A stored decision replayed on its own input, and whether today's live input still matches it."""

    decision: RoutingDecision
    replayed: dict[str, Any]
    same_plan: bool
    differences: tuple[str, ...]
    live_hash: str | None  # None when the order can no longer be routed (e.g. its address was removed)

    @property
    def same_input_today(self) -> bool:
        return self.live_hash == self.decision.input_hash


def rerun_decision(decision_id: int) -> Rerun:
    """Replay a stored decision's exact input through the engine and compare plans; nothing is stored."""
    decision = db.session.get(RoutingDecision, decision_id)
    if decision is None:
        raise ServiceError(f"No routing decision with id {decision_id}.")
    replayed = _run(decision.engine_input).plan
    differences = compare_plans(decision.plan, replayed)
    live_hash = None
    try:
        order = order_input(decision.order)
        network = load_network(line["sku"] for line in order["lines"])
        live_hash = input_hash({"suppliers": network.scenario_suppliers(line["sku"] for line in order["lines"]),
                                "rules": decision.engine_input.get("rules", []), "order": order})
    except ServiceError:
        pass
    return Rerun(decision, replayed, not differences, tuple(differences), live_hash)


def compare_plans(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between two printed plans, in words (the trace's wording is not compared)."""
    differences = []
    for key in ("status", "reason", "objective", "landed_cost", "delivery_days"):
        if before.get(key) != after.get(key):
            differences.append(f"{key}: {before.get(key)} → {after.get(key)}")
    if before.get("shipments") != after.get("shipments"):
        differences.append(f"shipments: {suppliers_of(before) or '—'} → {suppliers_of(after) or '—'}")
    return differences


def suppliers_of(plan: dict[str, Any]) -> str:
    return ", ".join(shipment["supplier"] for shipment in plan.get("shipments") or [])


def line_suppliers(plan: dict[str, Any]) -> dict[str, str]:
    """SKU -> the supplier that ships it, for a routed plan."""
    return {line["sku"]: shipment["supplier"] for shipment in plan.get("shipments") or [] for line in shipment["lines"]}
