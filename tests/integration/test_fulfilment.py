"""An order's life after intake, against the sandbox suppliers over real HTTP: routed and reserved, one supplier
order per shipment, acknowledged, shipped with tracking; refusals and silences rerouted, the unservable held for
a person with its trace, duplicates placed once, cancellations, reconciliation."""
from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ExceptionItem, Order, Reservation, SupplierOrder, SupplierStock
from app.services import ServiceError, fulfilment
from tests.helpers import csrf_token_from, login
from tests.integration.order_world import desk_suppliers, sandbox_desks
from tests.integration.routing_world import offer, order, product, rule_set


@pytest.fixture
def desks(app, sandbox_url, monkeypatch):
    """The sandbox suppliers' order desks, emptied and accepting; resends without waiting, one quick try each."""
    with sandbox_desks(app, sandbox_url, monkeypatch, attempts=3) as http:
        yield http


@pytest.fixture
def world(desks, sandbox_url):
    """ACME (mugs), MAPLE (lamps), PACIFIC (both, dearer: the next choice), all shipping in the US, each
    connected to its sandbox desk; stock confirmed a minute ago (fresh); the active rules pick the cheapest plan."""
    rows = desk_suppliers(sandbox_url)
    mug, lamp = product("MUG-1", "12.00"), product("LAMP-1", "40.00")
    offer(rows["ACME"], mug, "4.00", 50)
    offer(rows["MAPLE"], lamp, "19.00", 10)
    offer(rows["PACIFIC"], mug, "9.00", 80)
    offer(rows["PACIFIC"], lamp, "30.00", 10)
    rule_set(1, "active", [{"name": "Cheapest", "priority": 10, "then": {"objective": "lowest_cost"}}])
    db.session.commit()
    yield rows
    # The test queue runs each job here at once; one that raised would only show as an item.
    assert [item.reason for item in items("job_failed")] == []


def mode(desks, code: str, name: str, **options) -> None:
    desks.post(f"/{code}/order-mode", json={"mode": name, **options}).raise_for_status()


def taken(desks, code: str) -> dict:
    return desks.get(f"/{code}/orders").json()


def supplier_orders(order_id: int) -> list[SupplierOrder]:
    db.session.expire_all()
    return fulfilment.shipments_of(order_id)


def reserved(code: str, sku: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(SupplierStock.reserved).where(SupplierStock.supplier_sku == f"{code}-{sku}"))


def states(order_id: int) -> list[tuple[str, str]]:
    return [(s.supplier.code, s.status) for s in supplier_orders(order_id)]


def items(kind: str) -> list[ExceptionItem]:
    db.session.expire_all()
    return list(db.session.scalars(select(ExceptionItem).where(ExceptionItem.kind == kind).order_by(ExceptionItem.id)))


def accepted(number: str, lines) -> Order:
    row = order(number, "US", lines)
    row.status = "accepted"
    db.session.commit()
    return row


def test_a_two_supplier_order_is_reserved_and_placed_as_two_acknowledged_supplier_orders(world, desks):
    placed = accepted("#2001", [("MUG-1", 2, "12.00"), ("LAMP-1", 1, "40.00")])
    outcome = fulfilment.fulfil_order(placed.id)
    assert outcome.status == "routed" and len(outcome.supplier_order_ids) == 2
    shipments = supplier_orders(placed.id)
    assert [(s.supplier.code, s.status) for s in shipments] == [("ACME", "acknowledged"), ("MAPLE", "acknowledged")]
    for shipment in shipments:
        assert shipment.idempotency_key == f"DD-{placed.id}-{shipment.id}" and shipment.supplier_ref.startswith(
            shipment.supplier.code)
        assert shipment.attempts == 1 and taken(desks, shipment.supplier.code)["posts_by_key"] == {shipment.idempotency_key: 1}
    assert [(line["sku"], line["supplier_sku"], line["qty"]) for s in shipments for line in s.lines] == [
        ("MUG-1", "ACME-MUG-1", 2), ("LAMP-1", "MAPLE-LAMP-1", 1)]
    assert (reserved("ACME", "MUG-1"), reserved("MAPLE", "LAMP-1"), reserved("PACIFIC", "MUG-1")) == (2, 1, 0)
    ledger = fulfilment.ledger_of(placed.id)
    assert [(r.state, [e.kind for e in events]) for r, events in ledger] == [("confirmed", ["created", "confirmed"])] * 2
    assert all(r.supplier_order_id in outcome.supplier_order_ids for r, _ in ledger)
    db.session.expire_all()
    again = db.session.get(Order, placed.id)
    assert again.status == "confirmed"
    assert [e.kind for e in again.events] == ["routed", "reserved", "sent_to_supplier", "acknowledged",
                                              "sent_to_supplier", "acknowledged"]
    assert fulfilment.fulfil_order(placed.id).status == "skipped"  # a repeated job changes nothing
    assert len(supplier_orders(placed.id)) == 2


def test_a_refusal_reroutes_the_lines_to_the_next_supplier_and_moves_the_reservations(world, desks):
    mode(desks, "ACME", "reject")
    placed = accepted("#2002", [("MUG-1", 3, "12.00")])
    fulfilment.fulfil_order(placed.id)
    assert states(placed.id) == [("ACME", "refused"), ("PACIFIC", "acknowledged")]
    assert (reserved("ACME", "MUG-1"), reserved("PACIFIC", "MUG-1")) == (0, 3)
    ledger = fulfilment.ledger_of(placed.id)
    assert [(r.supplier_sku, r.state) for r, _ in ledger] == [("ACME-MUG-1", "released"), ("PACIFIC-MUG-1", "confirmed")]
    assert "ACME refused" in ledger[0][1][-1].cause
    [info] = items("stockout_reroute")
    assert (info.order_id, info.order_ref, info.reason_code, info.orders_affected) == (placed.id, "#2002", "refused", 1)
    assert "rerouted to PACIFIC" in info.reason
    events = [e.kind for e in db.session.get(Order, placed.id).events]
    assert events.index("refused") < events.index("rerouted")
    assert db.session.get(Order, placed.id).status == "confirmed"
    assert taken(desks, "ACME")["orders"] == []


def test_a_supplier_that_never_answers_is_retried_then_its_lines_go_to_the_next(world, desks):
    mode(desks, "ACME", "timeout", hold_seconds=0)
    placed = accepted("#2003", [("MUG-1", 1, "12.00")])
    fulfilment.fulfil_order(placed.id)
    failed, rerouted = supplier_orders(placed.id)
    assert (failed.supplier.code, failed.status, failed.attempts) == ("ACME", "timed_out", 3)
    assert taken(desks, "ACME")["posts_by_key"] == {failed.idempotency_key: 3}  # the same key every time
    assert (rerouted.supplier.code, rerouted.status) == ("PACIFIC", "acknowledged")
    assert (reserved("ACME", "MUG-1"), reserved("PACIFIC", "MUG-1")) == (0, 1)
    kinds = [e.kind for e in db.session.get(Order, placed.id).events]
    assert kinds.count("sent_to_supplier") == 4 and "timed_out" in kinds and "rerouted" in kinds


def test_an_order_no_one_can_serve_waits_for_a_person_with_its_routing_trace(world, desks):
    placed = accepted("#2004", [("LAMP-1", 50, "40.00")])  # 10 + 10 in stock
    assert fulfilment.fulfil_order(placed.id).status == "manual_review"
    db.session.expire_all()
    assert db.session.get(Order, placed.id).status == "manual_review" and supplier_orders(placed.id) == []
    [item] = items("unroutable")
    assert (item.order_id, item.channel, item.order_value, item.reason_code) == (placed.id, "shopify", 2000, "out_of_stock")
    assert {entry["supplier"] for entry in item.payload["trace"]
            if entry.get("reason") == "out_of_stock" and entry.get("supplier")} == {"MAPLE", "PACIFIC"}
    assert db.session.scalar(select(func.count()).select_from(Reservation)) == 0
    with pytest.raises(ServiceError, match="MAPLE cannot take these lines"):
        fulfilment.reroute_by_hand(placed.id, "MAPLE", "ops@example.com")
    # Lamps come in: a person picks the supplier from the item, seeing what each would cost.
    db.session.execute(SupplierStock.__table__.update().where(SupplierStock.supplier_sku == "PACIFIC-LAMP-1")
                       .values(on_hand=60))
    db.session.commit()
    options = fulfilment.reroute_options(placed.id)
    assert [(o.supplier_code, o.feasible) for o in options] == [("PACIFIC", True), ("MAPLE", False)]
    assert options[0].landed_cost > 0 and options[0].trace and options[1].reason == "out_of_stock"
    [made] = fulfilment.reroute_by_hand(placed.id, "PACIFIC", "ops@example.com", exception_item_id=item.id)
    assert states(placed.id) == [("PACIFIC", "acknowledged")] and made.lines[0]["qty"] == 50
    assert items("unroutable")[0].status == "resolved"
    assert db.session.get(Order, placed.id).status == "confirmed"


def test_ops_route_an_order_again_when_stock_came_back_leaving_out_the_supplier_that_refused(world, desks):
    mode(desks, "ACME", "reject")
    db.session.execute(SupplierStock.__table__.update().where(SupplierStock.supplier_sku == "ACME-MUG-1")
                       .values(on_hand=100))
    db.session.commit()
    placed = accepted("#2015", [("MUG-1", 90, "12.00")])  # ACME says it has 100, PACIFIC has 80
    fulfilment.fulfil_order(placed.id)  # ACME is chosen and refuses; PACIFIC has too few
    assert states(placed.id) == [("ACME", "refused")]
    [item] = items("supplier_rejected")
    assert item.reason_code == "out_of_stock" and item.payload["failed"][0]["supplier"] == "ACME"
    with pytest.raises(ServiceError, match="Still no supplier"):
        fulfilment.route_again(placed.id, "ops@example.com")
    db.session.execute(SupplierStock.__table__.update().where(SupplierStock.supplier_sku == "PACIFIC-MUG-1")
                       .values(on_hand=200))
    db.session.commit()
    fulfilment.route_again(placed.id, "ops@example.com", exception_item_id=item.id)
    assert states(placed.id) == [("ACME", "refused"), ("PACIFIC", "acknowledged")]
    assert items("supplier_rejected")[0].status == "resolved"
    assert db.session.get(Order, placed.id).status == "confirmed"


def test_a_second_unroutable_check_adds_to_the_same_item(world, desks):
    first = accepted("#2005", [("LAMP-1", 50, "40.00")])
    fulfilment.fulfil_order(first.id)
    db.session.get(Order, first.id).status = "accepted"
    db.session.commit()
    fulfilment.fulfil_order(first.id)
    [item] = items("unroutable")
    assert len(item.history) == 2


def test_duplicate_dispatch_jobs_place_one_order_at_the_supplier(world, desks, monkeypatch):
    monkeypatch.setattr(fulfilment, "_dispatch_soon", lambda ids: None)  # made, not sent: the jobs below send it
    placed = accepted("#2006", [("MUG-1", 1, "12.00")])
    [supplier_order_id] = fulfilment.fulfil_order(placed.id).supplier_order_ids
    outcomes = [fulfilment.dispatch_supplier_order(supplier_order_id) for _ in range(3)]
    assert outcomes == ["acknowledged", "acknowledged", "acknowledged"]
    [shipment] = supplier_orders(placed.id)
    desk = taken(desks, "ACME")
    assert len(desk["orders"]) == 1 and desk["posts_by_key"] == {shipment.idempotency_key: 1}
    assert shipment.attempts == 1
    # A resend after the answer was lost gets the same order back, never a second one.
    db.session.execute(SupplierOrder.__table__.update().where(SupplierOrder.id == shipment.id)
                       .values(status="sent", supplier_ref=None))
    db.session.commit()
    assert fulfilment.dispatch_supplier_order(shipment.id) == "acknowledged"
    desk = taken(desks, "ACME")
    assert len(desk["orders"]) == 1 and desk["posts_by_key"] == {shipment.idempotency_key: 2}
    assert supplier_orders(placed.id)[0].supplier_ref == desk["orders"][0]["id"]


def test_a_supplier_that_took_the_order_but_answered_too_late_is_asked_again_and_gives_the_same_order(world, desks):
    acme = world["ACME"]
    acme.connection_options = {**acme.connection_options,
                               "orders": {**acme.connection_options["orders"], "timeout_seconds": 1}}
    db.session.commit()
    mode(desks, "ACME", "accept_slowly", hold_seconds=3)  # takes it, then answers after our 1 s timeout
    placed = accepted("#2013", [("MUG-1", 1, "12.00")])
    fulfilment.fulfil_order(placed.id)
    [shipment] = supplier_orders(placed.id)
    desk = taken(desks, "ACME")
    assert (shipment.status, shipment.attempts) == ("acknowledged", 2)
    assert len(desk["orders"]) == 1 and desk["posts_by_key"] == {shipment.idempotency_key: 2}
    assert shipment.supplier_ref == desk["orders"][0]["id"]


def test_polling_brings_tracking_consumes_the_reservations_and_marks_the_order_shipped(world, desks):
    placed = accepted("#2007", [("MUG-1", 2, "12.00"), ("LAMP-1", 1, "40.00")])
    fulfilment.fulfil_order(placed.id)
    acme, maple = supplier_orders(placed.id)
    assert fulfilment.poll_supplier_orders() == 0  # nothing shipped yet
    desks.post(f"/ACME/orders/{acme.supplier_ref}/ship").raise_for_status()
    assert fulfilment.poll_supplier_orders() == 1
    acme, maple = supplier_orders(placed.id)
    assert (acme.status, maple.status) == ("shipped", "acknowledged")
    assert acme.tracking_number and acme.tracking_carrier == "UPS" and acme.tracking_url
    assert db.session.get(Order, placed.id).status == "partially_shipped"
    assert reserved("ACME", "MUG-1") == 0 and reserved("MAPLE", "LAMP-1") == 1
    desks.post(f"/MAPLE/orders/{maple.supplier_ref}/ship").raise_for_status()
    assert fulfilment.enqueue_supplier_order_polls() == 2  # fan-out: ACME (to delivery) and MAPLE, run here at once
    assert fulfilment.poll_supplier_orders() == 0  # already known: nothing happens twice
    assert db.session.get(Order, placed.id).status == "shipped"
    assert [(r.state, [e.kind for e in events]) for r, events in fulfilment.ledger_of(placed.id)] == [
        ("consumed", ["created", "confirmed", "consumed"])] * 2
    kinds = [e.kind for e in db.session.get(Order, placed.id).events]
    assert kinds.count("shipped") == 2


def test_a_delivered_parcel_completes_the_order_and_the_flow_panel_counts_it(world, desks):
    from app.sandbox import clock

    clock.freeze_clock(fulfilment.utcnow() - timedelta(minutes=5))  # the desk's clock, moved on by hand below
    try:
        mode(desks, "ACME", "accept", ship_after_seconds=60, deliver_after_seconds=120)
        placed = accepted("#2014", [("MUG-1", 1, "12.00")])
        fulfilment.fulfil_order(placed.id)
        clock.advance_clock(90)
        assert fulfilment.poll_supplier_orders() == 1 and states(placed.id) == [("ACME", "shipped")]
        clock.advance_clock(150)
        assert fulfilment.poll_supplier_orders() == 1 and states(placed.id) == [("ACME", "delivered")]
    finally:
        clock.unfreeze_clock()
    db.session.expire_all()
    assert db.session.get(Order, placed.id).status == "delivered"
    kinds = [e.kind for e in db.session.get(Order, placed.id).events]
    assert kinds[-1] == "delivered" and "shipped" in kinds
    assert "tracking_not_pushed" in kinds  # no channel of that name here: said on the timeline, not an error
    counts = fulfilment.order_flow_counts()
    assert (counts.received_today, counts.routed_today, counts.shipped_today) == (1, 1, 1)
    assert counts.by_status == {"delivered": 1} and counts.awaiting_supplier == counts.manual_review == 0


def test_cancelling_before_shipping_cancels_at_the_supplier_and_releases_everything(world, desks):
    placed = accepted("#2008", [("MUG-1", 2, "12.00"), ("LAMP-1", 1, "40.00")])
    fulfilment.fulfil_order(placed.id)
    outcome = fulfilment.cancel_order(placed.id, "support@example.com", "customer changed their mind")
    assert outcome.status == "cancelled" and len(outcome.cancelled) == 2 and outcome.kept == ()
    assert states(placed.id) == [("ACME", "cancelled"), ("MAPLE", "cancelled")]
    assert [o["status"] for o in taken(desks, "ACME")["orders"]] == ["cancelled"]
    assert (reserved("ACME", "MUG-1"), reserved("MAPLE", "LAMP-1")) == (0, 0)
    assert {r.state for r, _ in fulfilment.ledger_of(placed.id)} == {"released"}
    order_row = db.session.get(Order, placed.id)
    assert order_row.status == "cancelled" and order_row.cancel_reason == "customer changed their mind"
    assert [e.kind for e in order_row.events][-3:] == ["cancelled", "cancel_at_supplier", "cancel_at_supplier"]
    assert fulfilment.cancel_order(placed.id, "support@example.com", "again").status == "already_cancelled"


def test_cancelling_after_one_shipment_left_keeps_that_parcel_and_cancels_the_rest(world, desks):
    placed = accepted("#2009", [("MUG-1", 2, "12.00"), ("LAMP-1", 1, "40.00")])
    fulfilment.fulfil_order(placed.id)
    acme, _ = supplier_orders(placed.id)
    desks.post(f"/ACME/orders/{acme.supplier_ref}/ship").raise_for_status()  # shipped, and we have not polled yet
    outcome = fulfilment.cancel_order(placed.id, "support@example.com", "too slow")
    assert (len(outcome.cancelled), len(outcome.kept)) == (1, 1)
    assert states(placed.id) == [("ACME", "acknowledged"), ("MAPLE", "cancelled")]
    assert reserved("ACME", "MUG-1") == 2  # still held: the parcel is on its way
    fulfilment.poll_supplier_orders()
    assert states(placed.id) == [("ACME", "shipped"), ("MAPLE", "cancelled")]
    assert reserved("ACME", "MUG-1") == 0 and db.session.get(Order, placed.id).status == "cancelled"
    details = [e.detail for e in db.session.get(Order, placed.id).events if e.kind == "cancel_at_supplier"]
    assert any("already shipped" in detail for detail in details)


def test_unacknowledged_and_mismatched_supplier_orders_become_reconciliation_items_once(world, desks, monkeypatch):
    monkeypatch.setattr(fulfilment, "_dispatch_soon", lambda ids: None)
    late = accepted("#2010", [("MUG-1", 1, "12.00")])
    fulfilment.fulfil_order(late.id)
    off = accepted("#2011", [("LAMP-1", 2, "40.00")])
    [off_id] = fulfilment.fulfil_order(off.id).supplier_order_ids
    assert fulfilment.dispatch_supplier_order(off_id) == "acknowledged"
    db.session.execute(SupplierOrder.__table__.update().where(SupplierOrder.id == off_id)
                       .values(acknowledged_lines=[{"sku": "MAPLE-LAMP-1", "qty": 1}]))
    db.session.commit()
    assert fulfilment.reconcile_supplier_orders() == 1  # the mismatch; the other is not late yet
    later = fulfilment.reconcile_supplier_orders(now=fulfilment.utcnow() + timedelta(hours=25))
    assert later == 1
    assert fulfilment.reconcile_supplier_orders(now=fulfilment.utcnow() + timedelta(hours=26)) == 0
    reasons = sorted((item.order_id, item.reason_code) for item in items("reconciliation"))
    assert reasons == [(late.id, "no_acknowledgement"), (off.id, "lines_differ")]


@pytest.fixture
def shop(world, sandbox_url, monkeypatch, app):
    """The sandbox Shopify store as a channel, with intake handing accepted orders on (as in production)."""
    from app.models import Channel
    from app.sandbox import storefront

    monkeypatch.setitem(app.config, "FULFIL_ON_ACCEPT", True)
    channel = Channel(code="shopify", kind="shopify", name="Shop", sku_aliases={}, allowed_countries=[],
                      required_fields=[], express_required_fields=[],
                      base_url=f"{sandbox_url}/sandbox/storefront/shopify")
    channel.credentials = storefront.storefront_credentials("shopify")
    db.session.add(channel)
    db.session.commit()
    storefront.reset("shopify")
    return storefront


def shop_order_for_a_mug_and_a_lamp(storefront, number: int) -> dict:
    """A customer's order at the sandbox shop: two mugs (only ACME has them) and a lamp (MAPLE's) to New York."""
    shop_order = storefront.build_order("shopify", number, ["MUG-1"], fulfilment.utcnow())
    shop_order["shipping_address"].update(country_code="US", province_code="NY", city="New York", zip="10001")
    shop_order["shipping_lines"] = [{"code": "standard", "title": "Standard shipping"}]
    shop_order["line_items"] = [
        {"id": number * 100 + 1, "sku": "MUG-1", "title": "Mug", "quantity": 2, "price": "12.00"},
        {"id": number * 100 + 2, "sku": "LAMP-1", "title": "Lamp", "quantity": 1, "price": "40.00"}]
    storefront.save_order("shopify", shop_order)
    return shop_order


def test_a_signed_shopify_webhook_becomes_two_supplier_orders_and_two_tracking_numbers_at_the_shop(
        shop, desks, sandbox_url):
    shop_order = shop_order_for_a_mug_and_a_lamp(shop, 77)
    assert shop.send_webhook("shopify", shop_order, "created", sandbox_url, "shopify") == 200

    db.session.expire_all()
    [placed] = db.session.scalars(select(Order)).all()
    assert placed.external_id == str(shop_order["id"]) and placed.status == "confirmed"
    acme, maple = supplier_orders(placed.id)
    assert [(s.supplier.code, s.status) for s in (acme, maple)] == [("ACME", "acknowledged"), ("MAPLE", "acknowledged")]
    for shipment in (acme, maple):
        desks.post(f"/{shipment.supplier.code}/orders/{shipment.supplier_ref}/ship").raise_for_status()
    assert fulfilment.poll_supplier_orders() == 2  # each shipment queues its tracking push (run here at once)

    pushed = shop.fulfilments("shopify", str(shop_order["id"]))
    shipped = supplier_orders(placed.id)
    assert sorted(f["tracking_number"] for f in pushed) == sorted(s.tracking_number for s in shipped)
    assert sorted((f["line_items"][0]["id"], f["line_items"][0]["quantity"]) for f in pushed) == [
        (7701, 2), (7702, 1)]
    db.session.expire_all()
    assert db.session.get(Order, placed.id).status == "shipped"
    assert [e.kind for e in db.session.get(Order, placed.id).events].count("tracking_pushed") == 2


def test_a_cancellation_webhook_from_the_shop_cancels_the_supplier_orders_and_releases_the_stock(
        shop, desks, sandbox_url):
    shop_order = shop_order_for_a_mug_and_a_lamp(shop, 78)
    shop.send_webhook("shopify", shop_order, "created", sandbox_url, "shopify")
    [placed] = db.session.scalars(select(Order)).all()
    assert [s.status for s in supplier_orders(placed.id)] == ["acknowledged", "acknowledged"]
    with httpx.Client(timeout=30) as http:
        http.post(f"{sandbox_url}/sandbox/storefront/shopify/orders/{shop_order['id']}/cancel",
                  json={"console_url": sandbox_url}).raise_for_status()
    assert states(placed.id) == [("ACME", "cancelled"), ("MAPLE", "cancelled")]
    assert [o["status"] for code in ("ACME", "MAPLE") for o in taken(desks, code)["orders"]] == ["cancelled"] * 2
    assert (reserved("ACME", "MUG-1"), reserved("MAPLE", "LAMP-1")) == (0, 0)
    events = db.session.get(Order, placed.id).events
    assert [e.kind for e in events][-3:] == ["cancelled", "cancel_at_supplier", "cancel_at_supplier"]
    assert events[-3].actor == "channel shopify"


def test_a_stale_figure_is_checked_live_before_reserving_and_the_order_routed_on_what_the_supplier_says(
        world, desks):
    from app.models import SyncRun
    from app.sandbox import catalog, clock

    clock.freeze_clock(fulfilment.utcnow() - timedelta(minutes=1))  # the live figure holds still while we look
    try:
        item = catalog.item_at("ACME", "ACME-MUG-1", clock.sandbox_now())
        live, before = item.quantity, item.updated_at - timedelta(hours=3)  # older than the supplier's figure
        db.session.execute(SupplierStock.__table__.update().where(SupplierStock.supplier_sku == "ACME-MUG-1")
                           .values(on_hand=live + 500, reported_at=before, received_at=before))
        db.session.execute(SupplierStock.__table__.update().where(SupplierStock.supplier_sku == "PACIFIC-MUG-1")
                           .values(on_hand=live + 500))
        db.session.commit()
        placed = accepted("#2020", [("MUG-1", live + 1, "12.00")])  # the stored figure covers it; the live one not
        fulfilment.fulfil_order(placed.id)
    finally:
        clock.unfreeze_clock()
    [run] = db.session.scalars(select(SyncRun).where(SyncRun.kind == "realtime")).all()
    assert (run.trigger, run.outcome) == ("order", "succeeded")
    db.session.expire_all()
    assert db.session.scalar(select(SupplierStock.on_hand).where(SupplierStock.supplier_sku == "ACME-MUG-1")) == live
    assert states(placed.id) == [("PACIFIC", "acknowledged")]
    assert taken(desks, "ACME")["posts_by_key"] == {}


def _in_threads(app, work, *args_per_thread) -> list:
    """Run `work(*args)` in one thread per args tuple, released together, each in its own app context."""
    import threading

    barrier, results = threading.Barrier(len(args_per_thread)), []

    def run(args):
        with app.app_context():
            barrier.wait()
            try:
                results.append(work(*args))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(args,)) for args in args_per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_two_fulfilment_jobs_for_one_order_at_once_make_one_set_of_supplier_orders(world, desks, app, monkeypatch):
    monkeypatch.setattr(fulfilment, "_dispatch_soon", lambda ids: None)
    placed = accepted("#2030", [("MUG-1", 2, "12.00"), ("LAMP-1", 1, "40.00")])
    outcomes = _in_threads(app, lambda order_id: fulfilment.fulfil_order(order_id).status, (placed.id,), (placed.id,))
    assert sorted(outcomes) == ["routed", "skipped"]
    assert len(supplier_orders(placed.id)) == 2
    assert db.session.scalar(select(func.count()).select_from(Reservation)) == 2
    assert (reserved("ACME", "MUG-1"), reserved("MAPLE", "LAMP-1")) == (2, 1)


def test_both_shipments_acknowledged_at_once_leave_the_order_confirmed(world, desks, app, monkeypatch):
    monkeypatch.setattr(fulfilment, "_dispatch_soon", lambda ids: None)
    placed = accepted("#2031", [("MUG-1", 2, "12.00"), ("LAMP-1", 1, "40.00")])
    first, second = fulfilment.fulfil_order(placed.id).supplier_order_ids
    outcomes = _in_threads(app, fulfilment.dispatch_supplier_order, (first,), (second,), (first,), (second,))
    assert sorted(outcomes).count("acknowledged") >= 2 and set(outcomes) <= {"acknowledged", "in_flight"}
    assert states(placed.id) == [("ACME", "acknowledged"), ("MAPLE", "acknowledged")]
    assert db.session.get(Order, placed.id).status == "confirmed"
    assert [len(taken(desks, code)["orders"]) for code in ("ACME", "MAPLE")] == [1, 1]


def test_units_taken_by_another_order_between_routing_and_reserving_send_the_order_elsewhere(
        world, desks, monkeypatch):
    from app.services import inventory

    checked_live = fulfilment._checked_live

    def another_order_takes_the_mugs(routed, network):
        monkeypatch.setattr(fulfilment, "_checked_live", checked_live)  # only this once
        acme_id, sku = network.offer_keys[("ACME", "MUG-1")]
        inventory.reserve_plan([inventory.Hold(acme_id, sku, 49)], order_id=None, cause="another order")
        return checked_live(routed, network)

    monkeypatch.setattr(fulfilment, "_checked_live", another_order_takes_the_mugs)
    placed = accepted("#2032", [("MUG-1", 3, "12.00")])
    assert fulfilment.fulfil_order(placed.id).status == "routed"
    assert states(placed.id) == [("PACIFIC", "acknowledged")]
    [retry] = [e for e in db.session.get(Order, placed.id).events if e.kind == "reserve_retry"]
    assert retry.data["available"] == 1 and retry.data["wanted"] == 3


def test_lines_a_cut_short_fall_back_left_without_a_supplier_are_rerouted_by_the_sweeper(world, desks, monkeypatch):
    dispatch_soon = fulfilment._dispatch_soon
    monkeypatch.setattr(fulfilment, "_dispatch_soon", lambda ids: None)
    placed = accepted("#2040", [("MUG-1", 2, "12.00")])
    [acme_order] = fulfilment.fulfil_order(placed.id).supplier_order_ids
    monkeypatch.setattr(fulfilment, "_dispatch_soon", dispatch_soon)
    # The first half of a fall back (shipment closed, its units released), then the worker died.
    db.session.execute(SupplierOrder.__table__.update().where(SupplierOrder.id == acme_order)
                       .values(status="refused", closed_at=fulfilment.utcnow() - timedelta(minutes=15),
                               last_error="out_of_stock"))
    fulfilment.inventory.release(fulfilment._reservation_ids(acme_order), cause="ACME refused")
    assert fulfilment.requeue_stuck_dispatches() == 1  # the reroute job, run here at once
    assert states(placed.id) == [("ACME", "refused"), ("PACIFIC", "acknowledged")]
    assert (reserved("ACME", "MUG-1"), reserved("PACIFIC", "MUG-1")) == (0, 2)
    assert fulfilment.requeue_stuck_dispatches() == 0


def test_an_order_cancelled_while_the_supplier_is_taking_it_is_cancelled_there_when_it_answers(
        world, desks, app, monkeypatch):
    import threading

    from tests.integration.test_sync_worker_killed import wait_for

    monkeypatch.setattr(fulfilment, "_dispatch_soon", lambda ids: None)
    placed = accepted("#2050", [("MUG-1", 1, "12.00")])
    [supplier_order_id] = fulfilment.fulfil_order(placed.id).supplier_order_ids
    mode(desks, "ACME", "accept_slowly", hold_seconds=2)
    outcome = []

    def dispatch():
        with app.app_context():
            outcome.append(fulfilment.dispatch_supplier_order(supplier_order_id))
            db.session.remove()

    sending = threading.Thread(target=dispatch)
    sending.start()
    wait_for(lambda: len(taken(desks, "ACME")["orders"]) == 1, what="the supplier to take the order")
    cancelled = fulfilment.cancel_order(placed.id, "support@example.com", "changed their mind")  # no answer yet
    sending.join(timeout=60)
    assert cancelled.cancelled == (supplier_order_id,) and outcome == ["cancelled"]
    assert [o["status"] for o in taken(desks, "ACME")["orders"]] == ["cancelled"]
    [shipment] = supplier_orders(placed.id)
    assert shipment.status == "cancelled" and shipment.supplier_ref == taken(desks, "ACME")["orders"][0]["id"]
    assert reserved("ACME", "MUG-1") == 0


def test_r_in_the_queue_routes_an_order_waiting_on_a_person_again_once_stock_came_back(world, desks, client, make_user):
    make_user("ops")
    login(client, "ops@example.com")
    token = csrf_token_from(client.get("/exceptions").text)
    placed = accepted("#2030", [("LAMP-1", 50, "40.00")])  # 10 + 10 in stock: waits for a person
    fulfilment.fulfil_order(placed.id)
    [item] = items("unroutable")
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    still = client.post(f"/exceptions/{item.id}/retry", headers=headers)
    assert still.status_code == 422 and "Still no supplier" in still.text
    assert items("unroutable")[0].status == "open" and supplier_orders(placed.id) == []
    db.session.execute(SupplierStock.__table__.update().where(SupplierStock.supplier_sku == "PACIFIC-LAMP-1")
                       .values(on_hand=60))
    db.session.commit()
    routed = client.post(f"/exceptions/{item.id}/retry", headers=headers)
    assert routed.status_code == 200 and "exceptions-changed" in routed.headers["HX-Trigger"]
    assert states(placed.id) == [("PACIFIC", "acknowledged")]
    assert items("unroutable")[0].status == "resolved"


def test_the_command_line_fulfils_shows_and_cancels_an_order(world, desks, app):
    placed = accepted("#2031", [("MUG-1", 2, "12.00"), ("LAMP-1", 1, "40.00")])
    runner = app.test_cli_runner()
    fulfilled = runner.invoke(args=["orders", "fulfil", str(placed.id)])
    assert fulfilled.exit_code == 0, fulfilled.output
    assert f"Order {placed.id}: routed." in fulfilled.output
    assert "ACME" in fulfilled.output and "MAPLE" in fulfilled.output and "2 × MUG-1" in fulfilled.output
    shown = runner.invoke(args=["orders", "show", str(placed.id)])
    assert "ACME acknowledged" in shown.output and "MAPLE acknowledged" in shown.output
    assert "2 × ACME-MUG-1: confirmed (created, confirmed)" in shown.output
    assert runner.invoke(args=["orders", "cancel", str(placed.id), "--reason", " "]).exit_code == 1
    cancelled = runner.invoke(args=["orders", "cancel", str(placed.id), "--reason", "customer changed their mind"])
    assert cancelled.exit_code == 0 and "2 supplier order(s) cancelled" in cancelled.output
    assert states(placed.id) == [("ACME", "cancelled"), ("MAPLE", "cancelled")]
    assert reserved("ACME", "MUG-1") == 0 and reserved("MAPLE", "LAMP-1") == 0
    missing = runner.invoke(args=["orders", "show", "999999"])
    assert missing.exit_code == 1 and "No order with id 999999" in missing.output
    assert "No channel nope" in runner.invoke(args=["channels", "publish", "nope"]).output


def test_a_supplier_without_an_order_api_gets_its_order_placed_by_a_person_once(world, desks, monkeypatch):
    options = dict(world["ACME"].connection_options)
    options.pop("orders")
    world["ACME"].connection_options = options
    db.session.commit()
    placed = accepted("#2032", [("MUG-1", 1, "12.00")])
    [supplier_order_id] = fulfilment.fulfil_order(placed.id).supplier_order_ids
    assert states(placed.id) == [("ACME", "pending")]
    [item] = items("reconciliation")
    assert item.reason_code == "no_order_api" and item.order_id == placed.id
    assert "by hand" in item.reason and supplier_orders(placed.id)[0].idempotency_key in item.reason
    # Sent again (a duplicate job, the sweeper): still one item, and the sweeper leaves it to the person.
    assert fulfilment.dispatch_supplier_order(supplier_order_id) == "manual"
    assert len(items("reconciliation")) == 1
    resent = []
    monkeypatch.setattr(fulfilment, "_dispatch_soon", resent.extend)
    assert fulfilment.requeue_stuck_dispatches(older_than=timedelta(0)) == 0 and resent == []
    assert taken(desks, "ACME")["posts_by_key"] == {}
    assert reserved("ACME", "MUG-1") == 1  # the units stay held for the order a person places
