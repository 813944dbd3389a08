"""Benchmark the routing engine on a generated catalogue: 50 suppliers, 5,000 SKUs, orders of 1–20 lines.

usage: PYTHONPATH=. .venv/bin/python tests/bench/bench_routing.py [--orders 300] [--seed 7] [--sizes 1,3,5,10,20]

The catalogue is seeded, so every run routes the same orders: each SKU is offered by 3–8 suppliers
(a few big distributors carry much of the range, specialists their categories), with several
carrier services per supplier, rates per destination country, weight-based prices and capacity
limits, regional surcharges, order fees and fee percentages, some MOQs and minimum order values,
and a rule set like a merchant's. Each order is routed under each objective; route_order's own time
(in process, inputs already parsed) is measured per decision.

Prints p50/p99 in ms per order size and objective (wall clock, and the deciding thread's CPU time, which
a shared machine's other load does not inflate), the share of decisions proven optimal, and
every figure as a ratio to a baseline measured in the same run (a json.dumps + json.loads round
trip of a 20-line scenario over the same 50 suppliers), because these machines are noisy. No
assertions: `make bench` is for reading, not gating.
"""
from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
from typing import Any

from app.domain.routing import OBJECTIVES, parse_scenario, route_order

N_SUPPLIERS = 50
N_SKUS = 5_000
CATEGORIES = ("kitchen", "garden", "toys", "office", "pets", "sports", "beauty", "tools", "lighting", "textiles")
# Destination mix of orders, and what shipping there costs relative to home.
DESTINATIONS = (("US", 60), ("CA", 15), ("GB", 10), ("DE", 10), ("AU", 5))
REGIONS = {"US": ("NY", "CA", "TX", "WA", "AK", "HI"), "CA": ("ON", "QC", "BC", "NU"), "GB": ("ENG", "SCT", "NIR"),
           "DE": ("BY", "BE", "HH"), "AU": ("NSW", "VIC", "TAS")}
WAREHOUSES = (("US", 30), ("CA", 6), ("GB", 6), ("DE", 6), ("AU", 2))
# SKUs only certified suppliers may ship (a line-scoped rule), and those suppliers.
HAZMAT = frozenset(range(0, N_SKUS, 97))
CERTIFIED = frozenset({0, 2, 4, 11, 20})
NEAR = {"US": {"CA"}, "CA": {"US"}, "GB": {"DE"}, "DE": {"GB"}, "AU": set()}


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _services(rng: random.Random, home: str, ships_to: list[str]) -> list[dict[str, Any]]:
    """A supplier's carrier services: parcel ground, a two-day, sometimes express and freight."""

    def rate(country: str, base: float, per_kg: float, days: int) -> dict[str, Any]:
        far = 0 if country == home else 1 if country in NEAR[home] else 2
        return {"base": round(base * (1, 1.6, 3.2)[far] * rng.uniform(0.85, 1.15), 2),
                "per_kg": round(per_kg * (1, 1.4, 2.5)[far] * rng.uniform(0.8, 1.2), 2),
                "transit_days": days + (0, 2, 5)[far] + rng.randint(0, 1)}

    carrier = rng.choice(("UPS", "FedEx", "DHL", "USPS", "Royal Mail", "DPD"))
    services = [
        {"carrier": carrier, "service": "ground", "speed": "standard", "max_kg": rng.choice((20, 30, 30, 70)),
         "rates": {c: rate(c, rng.uniform(3.5, 8), rng.uniform(0.3, 0.9), rng.randint(3, 5)) for c in ships_to}},
        {"carrier": carrier, "service": "2day", "speed": "standard", "max_kg": 30,
         "rates": {c: rate(c, rng.uniform(8, 14), rng.uniform(0.6, 1.4), 2) for c in ships_to if c == home
                   or rng.random() < 0.5}},
    ]
    if rng.random() < 0.85:
        services.append({"carrier": rng.choice(("FedEx", "DHL")), "service": "express", "speed": "express",
                         "max_kg": 30, "rates": {c: rate(c, rng.uniform(15, 28), rng.uniform(1, 2.2), 1)
                                                 for c in ships_to}})
    if rng.random() < 0.4:
        services.append({"carrier": "XPO", "service": "freight", "speed": "standard",
                         "rates": {c: rate(c, rng.uniform(45, 80), rng.uniform(0.15, 0.3), 6)
                                   for c in ships_to if c == home or c in NEAR[home]}})
    return [s for s in services if s["rates"]]


def build_catalogue(seed: int) -> dict[str, Any]:
    """50 suppliers over 5,000 SKUs, each SKU offered by 3–8 of them, as scenario-file suppliers."""
    rng = random.Random(seed)
    suppliers = []
    for i in range(N_SUPPLIERS):
        home = _weighted(rng, WAREHOUSES)
        abroad = [c for c, _ in DESTINATIONS if c != home and (i < 4 or c in NEAR[home] or rng.random() < 0.5)]
        ships_to = [home, *abroad]
        # A few distributors carry much of the range; most suppliers are specialists.
        reach = 12.0 if i < 4 else 4.0 if i < 12 else 1.0
        suppliers.append({
            "code": f"SUP{i:02d}", "warehouse_country": home, "ships_to": ships_to,
            "priority": rng.choice((10, 50, 100, 100, 100)),
            "lead_time_days": rng.choice((0, 1, 1, 2, 3)),
            "order_fee": rng.choice((0, 0, 0, 0.5, 1.5, 2.5)),
            "fee_pct": rng.choice((0, 0, 1.5, 2.9)),
            "min_order_value": rng.choice((0,) * 8 + (10, 20)),
            "status": "paused" if i == 17 else "active",
            "health": "down" if i == 23 else "degraded" if i in (5, 31) else "up",
            "services": _services(rng, home, ships_to),
            "surcharges": ([{"country": "US", "region": "AK", "amount": 12.5},
                            {"country": "US", "region": "HI", "amount": 12.5}] if rng.random() < 0.4 else [])
                          + ([{"country": "CA", "region": "NU", "amount": 20}] if rng.random() < 0.2 else [])
                          + ([{"country": "AU", "amount": 4.0}] if rng.random() < 0.3 else []),
            "categories": set(rng.sample(CATEGORIES, rng.randint(1, 3))),
            "reach": reach,
            "offers": [],
        })
    for n in range(N_SKUS):
        sku = f"SKU{n:05d}"
        category = CATEGORIES[n % len(CATEGORIES)]
        cost = round(rng.lognormvariate(2.4, 0.8), 2)
        weight = round(rng.lognormvariate(-0.5, 0.9), 3)
        weights = [s["reach"] * (6 if category in s["categories"] else 1) for s in suppliers]
        chosen: set[int] = set()
        while len(chosen) < rng.randint(3, 8):
            chosen.add(rng.choices(range(N_SUPPLIERS), weights=weights)[0])
        if n in HAZMAT and not chosen & CERTIFIED:
            chosen.add(rng.choice(sorted(CERTIFIED)))
        for i in sorted(chosen):
            offer = {"sku": sku, "cost": round(cost * rng.uniform(0.8, 1.25), 2), "weight_kg": weight,
                     "available": rng.choice((0, 6, 12, 40, 40, 250, 1000, 1000))}
            if rng.random() < 0.05:
                offer["moq"] = rng.choice((2, 3, 6))
            suppliers[i]["offers"].append(offer)
    for supplier in suppliers:
        del supplier["categories"], supplier["reach"]
    return {"suppliers": suppliers, "rules": merchant_rules()}


def merchant_rules() -> list[dict[str, Any]]:
    """A rule set like a merchant's: bans, partners, speed promises, domestic-only regions."""
    return [
        {"name": "objective", "priority": 0, "when": {}, "then": {}},  # set per run
        {"name": "no SUP09 to Europe", "priority": 10, "when": {"country": ["GB", "DE"]},
         "then": {"exclude": ["SUP09"]}},
        {"name": "marketplace express promise", "priority": 20, "when": {"channel": ["amazon"], "service": ["express"]},
         "then": {"max_delivery_days": 4}},
        {"name": "partners first", "priority": 30, "when": {}, "then": {"prefer": ["SUP01", "SUP06"],
                                                                         "prefer_tolerance_pct": 5}},
        {"name": "small orders ship together", "priority": 40, "when": {"max_order_value": 60},
         "then": {"max_shipments": 2}},
        {"name": "B2B ships domestic", "priority": 50, "when": {"channel": ["erp"], "country": ["US"]},
         "then": {"require_domestic": True}},
        {"name": "hazmat: certified shippers", "priority": 60, "when": {"sku": [f"SKU{n:05d}" for n in sorted(HAZMAT)]},
         "then": {"only": [f"SUP{i:02d}" for i in sorted(CERTIFIED)]}},
        {"name": "old B2B rule", "priority": 70, "enabled": False, "when": {"channel": ["erp"]},
         "then": {"objective": "lowest_cost"}},
        {"name": "never late", "priority": 80, "when": {}, "then": {"max_delivery_days": 21}},
    ]


def build_order(rng: random.Random, catalogue: dict[str, Any], n_lines: int, number: int) -> dict[str, Any]:
    """An order of n distinct SKUs to a destination drawn from the usual mix."""
    country = _weighted(rng, DESTINATIONS)
    skus = rng.sample(range(N_SKUS), n_lines)
    return {
        "id": f"bench-{n_lines}-{number}", "channel": rng.choice(("shopify", "shopify", "woocommerce", "amazon", "erp")),
        "service": "express" if rng.random() < 0.12 else "standard",
        "ship_to": {"country": country, "region": rng.choice(REGIONS[country])},
        "lines": [{"sku": f"SKU{n:05d}", "qty": rng.choice((1, 1, 1, 1, 2, 2, 3, 6)),
                   "price": round(rng.uniform(8, 120), 2)} for n in skus],
    }


def scenario_for(catalogue: dict[str, Any], order: dict[str, Any], objective: str) -> dict[str, Any]:
    """The scenario file a decision would be reproduced from: only the offers the order needs."""
    skus = {line["sku"] for line in order["lines"]}
    rules = json.loads(json.dumps(catalogue["rules"]))
    rules[0]["then"] = {"objective": objective}
    suppliers = [{**s, "offers": [o for o in s["offers"] if o["sku"] in skus]} for s in catalogue["suppliers"]]
    return {"name": order["id"], "suppliers": suppliers, "rules": rules, "order": order}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300, help="orders per size (each routed under each objective)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sizes", default="1,3,5,10,20")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]

    started = time.perf_counter()
    catalogue = build_catalogue(args.seed)
    # The whole catalogue parsed once, as the live service would hold it; each rule set per objective.
    any_order = build_order(random.Random(0), catalogue, 1, 0)
    suppliers = parse_scenario({"suppliers": catalogue["suppliers"], "rules": [], "order": any_order}).suppliers
    rng = random.Random(args.seed + 1)
    orders = {n: [build_order(rng, catalogue, n, k) for k in range(args.orders)] for n in sizes}

    gc.collect()
    gc.freeze()  # the catalogue lives for the whole run: keep collections from walking it mid-decision
    reference = scenario_for(catalogue, orders[max(sizes)][0], "fewest_shipments")
    baseline_times = []
    for _ in range(200):
        t0 = time.perf_counter()
        json.loads(json.dumps(reference))
        baseline_times.append(time.perf_counter() - t0)
    baseline_ms = statistics.median(baseline_times) * 1000

    print(f"routing bench: {N_SUPPLIERS} suppliers, {N_SKUS:,} SKUs ({sum(len(s['offers']) for s in catalogue['suppliers']):,}"
          f" offers), {args.orders} orders per size, each under every objective (seed {args.seed})")
    print(f"baseline: json round trip of a {max(sizes)}-line scenario = {baseline_ms:.3f} ms (median of 200)")
    print()
    header = f"{'lines':>5} {'objective':17} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p50 ×bl':>8} {'p99 ×bl':>8}" \
             f" {'cpu p50':>8} {'cpu p99':>8} {'optimal':>8} {'routed':>7} {'avg ship':>8}"
    print(header)
    print("-" * len(header))
    rules = {objective: scenario_for(catalogue, any_order, objective)["rules"] for objective in OBJECTIVES}
    reasons: dict[str, int] = {}
    slowest: list[tuple[float, str, str]] = []
    not_optimal: list[str] = []
    for n in sizes:
        for objective in OBJECTIVES:
            times, cpu_times, optimal, routed, shipments = [], [], 0, 0, 0
            for order in orders[n]:
                parsed = parse_scenario({"suppliers": [], "rules": rules[objective], "order": order})
                t0, c0 = time.perf_counter(), time.thread_time()
                decision = route_order(suppliers, parsed.rules, parsed.order)
                elapsed = (time.perf_counter() - t0) * 1000
                cpu_times.append((time.thread_time() - c0) * 1000)  # this thread's CPU: not the time others took the core
                times.append(elapsed)
                slowest.append((elapsed, order["id"], objective))
                optimal += decision.optimal
                if not decision.optimal:
                    not_optimal.append(f"{order['id']}/{objective}")
                if decision.reason is not None:
                    reasons[decision.reason] = reasons.get(decision.reason, 0) + 1
                if decision.plan is not None:
                    routed += 1
                    shipments += len(decision.plan.shipments)
            p50, p99 = _percentile(times, 0.5), _percentile(times, 0.99)
            print(f"{n:>5} {objective:17} {p50:8.2f} {p99:8.2f} {max(times):8.2f} {p50 / baseline_ms:8.2f}"
                  f" {p99 / baseline_ms:8.2f} {_percentile(cpu_times, 0.5):8.2f} {_percentile(cpu_times, 0.99):8.2f}"
                  f" {optimal / len(times):8.1%} {routed / len(times):7.0%}"
                  f" {shipments / max(routed, 1):8.2f}")
    print()
    slowest.sort(reverse=True)
    print("slowest decisions: " + ", ".join(f"{order}/{objective} {ms:.1f} ms" for ms, order, objective in slowest[:5]))
    print("manual reviews: " + ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items())))
    print(f"not proven optimal: {len(not_optimal)}" + (f" ({', '.join(not_optimal[:10])})" if not_optimal else ""))
    print(f"bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
