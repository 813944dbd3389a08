"""Routing decisions as the order pages show them, written straight into the database: plans and traces."""
from __future__ import annotations

from decimal import Decimal


def shipment_plan(code: str, sku: str, qty: int, goods: str, shipping: str, fees: str, days: int) -> dict:
    """One shipment of a stored plan, as Decision.to_dict prints it."""
    landed = Decimal(goods) + Decimal(shipping) + Decimal(fees)
    return {"supplier": code, "carrier": "UPS", "service": "ground", "lines": [{"sku": sku, "qty": qty}],
            "goods": float(goods), "shipping": float(shipping), "fees": float(fees), "surcharges": 0.0,
            "landed_cost": float(landed), "delivery_days": days}


def long_trace(count: int, skus: tuple[str, str] = ("MUG-1", "LAMP-1"),
               suppliers: tuple[str, ...] = ("ACME", "MAPLE", "PACIFIC")) -> list[dict]:
    """A structured trace of `count` steps: a rule, candidates chosen or passed over (and why), the plan."""
    trace = [{"kind": "rule", "message": "Rule 'Prefer ACME for mugs' fired", "line": None, "sku": None,
              "supplier": None, "reason": None, "value": None}]
    for n in range(count - 2):
        code = suppliers[n % 3]
        reason = None if code == "ACME" and n % 2 == 0 else ("out_of_stock" if n % 3 else "ships_to")
        trace.append({"kind": "candidate", "line": n % 2 + 1, "sku": skus[n % 2], "supplier": code,
                      "reason": reason, "value": "0 on hand" if reason == "out_of_stock" else None,
                      "message": f"step {n}: {code} {'chosen' if reason is None else 'passed over: ' + reason}"})
    trace.append({"kind": "plan", "message": "Plan: ACME + MAPLE, landed cost 41.30", "line": None, "sku": None,
                  "supplier": None, "reason": None, "value": None})
    return trace
