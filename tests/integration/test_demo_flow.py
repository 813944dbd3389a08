"""The demo seed hands its newest orders to fulfilment: `make run` shows orders in every state of the flow."""
from __future__ import annotations

import dataclasses
from collections import Counter

from sqlalchemy import func, select

from app.connectors import RetryPolicy
from app.extensions import db
from app.models import ExceptionItem, Order, SupplierOrder
from app.sandbox import supplier_orders
from app.services import demo, fulfilment


def test_the_demo_seed_sends_its_newest_orders_to_the_sandbox_suppliers(app, sandbox_url, monkeypatch):
    monkeypatch.setitem(app.config, "DROPDESK", dataclasses.replace(app.config["DROPDESK"], sandbox_url=sandbox_url,
                                                                    dispatch_backoff_seconds=(0,)))
    monkeypatch.setitem(app.config, "FULFIL_ON_ACCEPT", True)  # as under `make run` (the test queue runs it here)
    monkeypatch.setitem(app.config, "SYNC_RETRY_POLICY", RetryPolicy(attempts=1, base_seconds=0, cap_seconds=0))
    try:
        demo.seed()
        by_status = Counter(dict(db.session.execute(select(SupplierOrder.status, func.count())
                                                    .group_by(SupplierOrder.status)).all()))
        orders = Counter(dict(db.session.execute(select(Order.status, func.count()).group_by(Order.status)).all()))
        assert by_status["acknowledged"] >= 10 and by_status["refused"] >= 1  # MAPLE refuses in the demo
        assert orders["confirmed"] >= 5
        kinds = Counter(db.session.scalars(select(ExceptionItem.kind)))
        assert kinds["job_failed"] == 0 and kinds["stockout_reroute"] >= 1
        assert fulfilment.order_flow_counts().by_status == dict(orders)
        assert demo.seed().changed is False  # seeded once: nothing flows again
    finally:
        for code in demo.DEMO_ORDER_MODES:
            supplier_orders.set_order_mode(code, supplier_orders.OrderMode())
