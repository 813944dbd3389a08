"""A real worker SIGKILLed while the supplier is taking its order: resent by the sweeper under the same key,
the supplier still has exactly one order, and ours carries its reference."""
from __future__ import annotations

from datetime import timedelta

from rq.job import Job

from app import create_app, queues
from app.extensions import db
from app.services import fulfilment
from tests.helpers import make_config
from tests.integration.test_fulfilment import accepted, desks, mode, supplier_orders, taken, world  # noqa: F401
from tests.integration.test_sync_worker_killed import LEASE_SECONDS, kill_with_children, start_worker, wait_for


def test_a_worker_killed_mid_dispatch_leaves_the_supplier_with_one_order_for_the_key(
        world, desks, database_url, redis_url, monkeypatch):  # noqa: F811
    dispatch_soon = fulfilment._dispatch_soon
    monkeypatch.setattr(fulfilment, "_dispatch_soon", lambda ids: None)  # made here, sent by the worker below
    placed = accepted("#3001", [("MUG-1", 2, "12.00")])
    [supplier_order_id] = fulfilment.fulfil_order(placed.id).supplier_order_ids
    monkeypatch.setattr(fulfilment, "_dispatch_soon", dispatch_soon)
    mode(desks, "ACME", "accept_slowly", hold_seconds=60)  # takes the order, then answers a minute later

    web = create_app(make_config(database_url, redis_url), RQ_ASYNC=True)
    with web.app_context():
        job_id = queues.enqueue("dispatch_supplier_order", supplier_order_id)
    worker = start_worker(database_url, redis_url)
    try:
        wait_for(lambda: len(taken(desks, "ACME")["orders"]) == 1, what="the supplier to take the worker's order")
    except AssertionError:
        kill_with_children(worker)
        raise AssertionError("the worker never sent the order: " + worker.stderr.read().decode()[-3000:]) from None
    kill_with_children(worker)  # the supplier has the order; we never heard its answer
    Job.fetch(job_id, connection=queues.connection()).delete()  # the next worker would report it abandoned

    [shipment] = supplier_orders(placed.id)
    assert (shipment.status, shipment.attempts, shipment.supplier_ref) == ("sent", 1, None)
    mode(desks, "ACME", "accept")
    # The killed dispatch's lease lapses within its worker's lease time; until then the sweeper leaves it be.
    wait_for(lambda: not queues.connection().exists(fulfilment.LEASE_KEY.format(supplier_order_id)),
             seconds=LEASE_SECONDS * 5, what="the killed dispatch's lease to lapse")
    with web.app_context():
        assert fulfilment.requeue_stuck_dispatches(older_than=timedelta(0)) == 1
        db.session.remove()
    again = start_worker(database_url, redis_url)
    assert again.wait(timeout=120) == 0, again.stderr.read().decode()[-3000:]

    desk = taken(desks, "ACME")
    assert len(desk["orders"]) == 1 and desk["posts_by_key"] == {shipment.idempotency_key: 2}
    [shipment] = supplier_orders(placed.id)
    assert (shipment.status, shipment.attempts, shipment.supplier_ref) == ("acknowledged", 2, desk["orders"][0]["id"])
    assert [e.kind for e in db.session.get(type(placed), placed.id).events].count("acknowledged") == 1
