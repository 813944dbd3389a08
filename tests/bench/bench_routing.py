"""Benchmark the routing engine on a 20-line order over 50 suppliers, one run per objective.

usage: PYTHONPATH=. .venv/bin/python tests/bench/bench_routing.py [--lines 20] [--suppliers 50] [--seeds 5]

Prints the median time of route_order per objective, and that median as a ratio of a baseline
measured in the same run (a json.dumps + json.loads round trip of the same scenario), so the
figures compare across machines. No assertions: `make bench` is for reading, not gating.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from typing import Any

from app.domain.routing import parse_scenario, route_order

COUNTRIES = ("US", "CA")


def build_scenario(seed: int, n_lines: int = 20, n_suppliers: int = 50, objective: str | None = None) -> dict[str, Any]:
    """A realistic random catalogue: suppliers stock ~60% of SKUs at ±25% of a list cost."""
    rng = random.Random(seed)
    skus = [f"SKU-{i:03d}" for i in range(n_lines)]
    list_cost = {sku: round(rng.uniform(2, 80), 2) for sku in skus}
    unit_weight = {sku: round(rng.uniform(0.1, 4.0), 3) for sku in skus}
    suppliers = []
    for i in range(n_suppliers):
        stocked = [sku for sku in skus if rng.random() < 0.6] or [rng.choice(skus)]
        services = [{
            "carrier": "UPS", "service": "ground", "speed": "standard", "max_kg": 30,
            "rates": {c: {"base": round(rng.uniform(4, 9), 2), "per_kg": round(rng.uniform(0.2, 0.9), 2),
                          "transit_days": rng.randint(3, 6)} for c in COUNTRIES},
        }, {
            "carrier": "XPO", "service": "freight", "speed": "standard", "max_kg": 1000,
            "rates": {"US": {"base": round(rng.uniform(40, 70), 2), "per_kg": 0.25, "transit_days": 7}},
        }]
        if rng.random() < 0.5:
            services.append({
                "carrier": "FedEx", "service": "overnight", "speed": "express",
                "rates": {"US": {"base": round(rng.uniform(18, 30), 2), "per_kg": round(rng.uniform(1, 2), 2),
                                 "transit_days": 1}},
            })
        suppliers.append({
            "code": f"SUP{i:02d}",
            "warehouse_country": "US" if rng.random() < 0.8 else "CA",
            "ships_to": ["US", "CA"] if rng.random() < 0.7 else ["US"],
            "priority": rng.randint(1, 100),
            "lead_time_days": rng.randint(0, 3),
            "order_fee": round(rng.choice([0, 0, 0.5, 1, 2.5]), 2),
            "fee_pct": rng.choice([0, 0, 1.5, 3]),
            "min_order_value": rng.choice([0, 0, 0, 25, 100]),
            "health": rng.choice(["up"] * 8 + ["degraded", "down"]),
            "status": "active" if rng.random() < 0.95 else "paused",
            "services": services,
            "surcharges": [{"country": "US", "region": "AK", "amount": 15.0}] if rng.random() < 0.3 else [],
            "offers": [{
                "sku": sku, "cost": round(list_cost[sku] * rng.uniform(0.75, 1.25), 2),
                "available": rng.choice([0, 3, 50, 500]), "weight_kg": unit_weight[sku],
            } for sku in stocked],
        })
    rules: list[dict[str, Any]] = [
        {"name": "partners first", "priority": 5, "when": {},
         "then": {"prefer": ["SUP03", "SUP07"], "prefer_tolerance_pct": 5}},
    ]
    if objective:
        rules.append({"name": "objective", "priority": 1, "when": {}, "then": {"objective": objective}})
    order = {
        "id": f"bench-{seed}", "channel": "shopify", "service": "standard",
        "ship_to": {"country": "US", "region": "NY"},
        "lines": [{"sku": sku, "qty": rng.randint(1, 3), "price": round(list_cost[sku] * 2, 2)} for sku in skus],
    }
    return {"name": f"bench-{seed}", "suppliers": suppliers, "rules": rules, "order": order}


def _median_seconds(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--suppliers", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    print(f"routing bench: {args.lines} lines × {args.suppliers} suppliers, {args.seeds} seeds, "
          f"median of {args.repeats} runs each")
    for objective in ("fewest_shipments", "lowest_cost", "fastest"):
        ratios, millis, shipments = [], [], []
        optimal = True
        for seed in range(args.seeds):
            scenario = build_scenario(seed, args.lines, args.suppliers, objective)
            parsed = parse_scenario(scenario)
            baseline = _median_seconds(lambda s=scenario: json.loads(json.dumps(s)), args.repeats)
            decision = route_order(parsed.suppliers, parsed.rules, parsed.order)
            optimal = optimal and decision.optimal
            shipments.append(len(decision.plan.shipments) if decision.plan else 0)
            routed = _median_seconds(lambda p=parsed: route_order(p.suppliers, p.rules, p.order), args.repeats)
            millis.append(routed * 1000)
            ratios.append(routed / baseline)
        print(f"  {objective:17s} median {statistics.median(millis):7.1f} ms (max {max(millis):7.1f} ms)  "
              f"= {statistics.median(ratios):6.1f}× json round trip (max {max(ratios):6.1f}×)  "
              f"shipments {shipments}  optimal {optimal}")


if __name__ == "__main__":
    main()
