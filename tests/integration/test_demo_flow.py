"""The demo seed's shop orders go through intake to fulfilment: `make run` shows orders in every state of the flow."""
from __future__ import annotations

import dataclasses
from collections import Counter

import httpx
from sqlalchemy import func, select

from app.connectors import RetryPolicy
from app.extensions import db
from app.models import ExceptionItem, Order, OrderEvent, SupplierOrder
from app.sandbox import supplier_orders
from app.services import demo, fulfilment


def test_the_demo_seeds_shop_orders_reach_the_sandbox_suppliers_and_one_refuses(app, sandbox_url, monkeypatch):
    monkeypatch.setitem(app.config, "DROPDESK", dataclasses.replace(app.config["DROPDESK"], sandbox_url=sandbox_url,
                                                                    dispatch_backoff_seconds=(0,)))
    monkeypatch.setitem(app.config, "FULFIL_ON_ACCEPT", True)  # as under `make run` (the test queue runs it here)
    monkeypatch.setitem(app.config, "SYNC_RETRY_POLICY", RetryPolicy(attempts=1, base_seconds=0, cap_seconds=0))
    try:
        demo.seed()
        by_status = Counter(dict(db.session.execute(select(SupplierOrder.status, func.count())
                                                    .group_by(SupplierOrder.status)).all()))
        orders = Counter(dict(db.session.execute(select(Order.status, func.count()).group_by(Order.status)).all()))
        assert by_status["acknowledged"] >= 10 and by_status["refused"] >= 1  # EUROHUB refuses in the demo
        assert orders["confirmed"] >= 5
        kinds = Counter(db.session.scalars(select(ExceptionItem.kind)))
        assert kinds["job_failed"] == 0 and kinds["stockout_reroute"] + kinds["supplier_rejected"] >= 1
        assert fulfilment.order_flow_counts().by_status == dict(orders)
        acknowledged = db.session.scalars(select(SupplierOrder).where(SupplierOrder.status == "acknowledged")).all()
        with httpx.Client(base_url=f"{sandbox_url}/sandbox/suppliers", timeout=30) as http:
            for shipment in acknowledged:
                http.post(f"/{shipment.supplier.code}/orders/{shipment.supplier_ref}/ship").raise_for_status()
        assert fulfilment.poll_supplier_orders() == len(acknowledged)
        pushed = db.session.scalar(select(func.count()).select_from(OrderEvent).where(OrderEvent.kind == "tracking_pushed"))
        assert pushed == len(acknowledged)  # the shops know the orders they sent: every tracking number went back
        assert Counter(db.session.scalars(select(ExceptionItem.kind)))["job_failed"] == 0
        assert demo.seed().changed is False  # seeded once: nothing flows again
    finally:
        for code in demo.DEMO_ORDER_MODES:
            supplier_orders.set_order_mode(code, supplier_orders.OrderMode())
