"""The order flow's test world: the sandbox suppliers' order desks, three suppliers connected to them, and routing
decisions as the order pages show them (plans and traces) written straight into the database."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import httpx

from app.connectors import RetryPolicy
from app.sandbox import sandbox_connection, sandbox_credentials
from tests.integration.routing_world import service, supplier

DESK_CODES = ("ACME", "MAPLE", "PACIFIC")


@contextmanager
def sandbox_desks(app, sandbox_url: str, monkeypatch, *, attempts: int) -> Iterator[httpx.Client]:
    """The sandbox suppliers' order desks, emptied and accepting (again afterwards); `attempts` sends per supplier
    order, resent without waiting, one quick try each."""
    monkeypatch.setitem(app.config, "DROPDESK", dataclasses.replace(
        app.config["DROPDESK"], dispatch_attempts=attempts, dispatch_backoff_seconds=(0,)))
    monkeypatch.setitem(app.config, "SYNC_RETRY_POLICY", RetryPolicy(attempts=1, base_seconds=0, cap_seconds=0))
    with httpx.Client(base_url=f"{sandbox_url}/sandbox/suppliers", timeout=30) as http:
        for code in DESK_CODES:
            http.delete(f"/{code}/orders").raise_for_status()
            http.post(f"/{code}/order-mode", json={"mode": "accept"}).raise_for_status()
        yield http
        for code in DESK_CODES:
            http.post(f"/{code}/order-mode", json={"mode": "accept"})


def desk_suppliers(sandbox_url: str) -> dict:
    """ACME, MAPLE and PACIFIC (order fee 0, 1.00, 2.00), shipping in the US by UPS ground, each connected to its
    sandbox desk; the caller adds offers and commits."""
    rows = {}
    for code, fee in (("ACME", "0"), ("MAPLE", "1.00"), ("PACIFIC", "2.00")):
        row = supplier(code, "US", ["US"], fee=fee)
        row.connection_type, row.connection_options, row.feed_mapping = sandbox_connection(code, sandbox_url)
        row.credentials = sandbox_credentials(code)
        service(row, "UPS", "ground", {"US": ("5.00", "0.40", 3)})
        rows[code] = row
    return rows


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
