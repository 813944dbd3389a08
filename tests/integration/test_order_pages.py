"""The pages of an order's life: the order page (routing decision, shipments, reservation ledger, cancel with a
reason), the ops home's flow panel, and the reroute-by-hand form of an order waiting on a person."""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import (
    AuditEntry,
    ExceptionItem,
    Order,
    OrderEvent,
    Reservation,
    RoutingDecision,
    SupplierOrder,
    SupplierStock,
)
from app.models.types import utcnow
from app.services import fulfilment, inventory
from tests.helpers import csrf_token_from, login
from tests.integration.order_world import desk_suppliers, long_trace, sandbox_desks, shipment_plan
from tests.integration.routing_world import offer, order, product, supplier


def htmx(token: str, target: str | None = None) -> dict:
    return {"HX-Request": "true", "X-CSRFToken": token, **({"HX-Target": target} if target else {})}


def signed_in(client, make_user, role: str) -> str:
    make_user(role)
    login(client, f"{role}@example.com")
    return csrf_token_from(client.get("/orders").text if role != "buyer" else client.get("/overview").text)


@pytest.fixture
def split_order(app):
    """Order #3001 routed to ACME (mugs, shipped with tracking) and MAPLE (lamp, acknowledged) after PACIFIC refused
    the lamp; an earlier decision, a 30-step trace; its reservations held, confirmed and consumed by the service."""
    acme, maple, pacific = (supplier(code, "US", ["US"]) for code in ("ACME", "MAPLE", "PACIFIC"))
    mug, lamp = product("MUG-1", "12.00"), product("LAMP-1", "40.00")
    offer(acme, mug, "4.00", 50)
    offer(maple, lamp, "19.00", 10)
    offer(pacific, lamp, "17.00", 10)
    placed = order("#3001", "US", [("MUG-1", 2, "12.00"), ("LAMP-1", 1, "40.00")])
    placed.status = "partially_shipped"
    now = utcnow()
    earlier = RoutingDecision(order_id=placed.id, rule_set_version=3, input_hash="a" * 64, engine_input={},
                              plan={"status": "routed", "objective": "cheapest",
                                    "shipments": [shipment_plan("ACME", "MUG-1", 2, "8.00", "5.80", "0", 3),
                                                  shipment_plan("PACIFIC", "LAMP-1", 1, "17.00", "5.40", "0", 4)],
                                    "landed_cost": 36.2, "delivery_days": 4},
                              trace=long_trace(6), status="routed", objective="cheapest", landed_cost=Decimal("36.20"),
                              shipments=2, trigger="order flow", created_at=now - timedelta(minutes=30))
    latest = RoutingDecision(order_id=placed.id, rule_set_version=3, input_hash="b" * 64, engine_input={},
                             plan={"status": "routed", "objective": "cheapest",
                                   "shipments": [shipment_plan("ACME", "MUG-1", 2, "8.00", "5.80", "0", 3),
                                                 shipment_plan("MAPLE", "LAMP-1", 1, "19.00", "6.50", "2.00", 5)],
                                   "landed_cost": 41.3, "delivery_days": 5},
                             trace=long_trace(30), status="routed", objective="cheapest", landed_cost=Decimal("41.30"),
                             shipments=2, trigger="order flow", created_at=now - timedelta(minutes=20))
    db.session.add_all([earlier, latest])
    db.session.flush()
    mug_line, lamp_line = placed.lines
    made = {}
    for code, row, status, line in (("ACME", acme, "shipped", mug_line), ("PACIFIC", pacific, "refused", lamp_line),
                                    ("MAPLE", maple, "acknowledged", lamp_line)):
        shipment = SupplierOrder(order_id=placed.id, routing_decision_id=latest.id, supplier_id=row.id,
                                 idempotency_key=f"new-{code}", status=status, carrier="UPS", service="ground",
                                 landed_cost=Decimal("13.80"), lines=[], attempts=1, created_at=now - timedelta(minutes=25),
                                 sent_at=now - timedelta(minutes=24))
        db.session.add(shipment)
        db.session.flush()
        shipment.idempotency_key = f"DD-{placed.id}-{shipment.id}"
        shipment.lines = [{"order_line_id": line.id, "sku": line.sku, "supplier_sku": f"{code}-{line.sku}",
                           "qty": line.qty, "reservation_id": None}]
        made[code] = shipment
    made["ACME"].supplier_ref, made["MAPLE"].supplier_ref = "ACME-000001", "MAPLE-000007"
    made["ACME"].acknowledged_at = made["MAPLE"].acknowledged_at = now - timedelta(minutes=23)
    made["ACME"].shipped_at, made["ACME"].tracking_carrier = now - timedelta(minutes=5), "UPS"
    made["ACME"].tracking_number, made["ACME"].tracking_url = "1Z999AA10123456784", "https://track.example/1Z999AA10123456784"
    made["PACIFIC"].last_error, made["PACIFIC"].closed_at = "out_of_stock: no lamps left", now - timedelta(minutes=22)
    db.session.commit()
    mug_held, lamp_refused = inventory.reserve_plan(
        [inventory.Hold(acme.id, "ACME-MUG-1", 2, mug_line.id, made["ACME"].id),
         inventory.Hold(pacific.id, "PACIFIC-LAMP-1", 1, lamp_line.id, made["PACIFIC"].id)],
        order_id=placed.id, cause="order #3001 routed to ACME, PACIFIC")
    inventory.release([lamp_refused], cause="PACIFIC refused: out_of_stock")
    [lamp_held] = inventory.reserve_plan([inventory.Hold(maple.id, "MAPLE-LAMP-1", 1, lamp_line.id, made["MAPLE"].id)],
                                         order_id=placed.id, cause="order #3001 rerouted to MAPLE")
    inventory.confirm([mug_held, lamp_held], at=now - timedelta(minutes=23), cause="supplier acknowledged")
    inventory.consume([mug_held], cause="ACME shipped 1Z999AA10123456784")
    return {"order": placed, "shipments": made, "latest": latest}


def test_the_order_page_shows_the_routing_decision_each_shipment_and_the_reservation_ledger(client, make_user, split_order):
    signed_in(client, make_user, "support")
    placed = split_order["order"]
    html = client.get(f"/orders/{placed.id}").text
    routing = html[html.index('id="routing"'):html.index('id="shipments"')]
    assert "rule set v3" in routing and "cheapest" in routing and "2 shipments (split order)" in routing
    assert [cell for cell in re.findall(r'<td class="num">([\d.,]+)</td>', routing)][:12] == [
        "8.00", "5.80", "0.00", "0.00", "13.80", "3", "19.00", "6.50", "2.00", "0.00", "27.50", "5"]
    assert "<strong>41.30</strong>" in routing and "<strong>5</strong>" in routing
    assert "Routing trace (30 steps)" in routing and routing.count("<tr class=\"trace-") == 30 + 6
    assert "passed over: out_of_stock" in routing and "Earlier decisions (1)" in routing and "PACIFIC" in routing
    shipments = html[html.index('id="shipments"'):html.index('id="ledger"')]
    acme, maple, pacific = (split_order["shipments"][code] for code in ("ACME", "MAPLE", "PACIFIC"))
    assert shipments.index(f'id="shipment-{acme.id}"') < shipments.index(f'id="shipment-{pacific.id}"') < \
        shipments.index(f'id="shipment-{maple.id}"')
    assert 'href="https://track.example/1Z999AA10123456784"' in shipments and "ACME-000001" in shipments
    assert "MAPLE-000007" in shipments and "pill-so-acknowledged" in shipments
    assert "last error: out_of_stock: no lamps left" in shipments and "pill-so-refused" in shipments
    assert f"DD-{placed.id}-{acme.id}" in shipments and "MAPLE-LAMP-1" in shipments
    ledger = html[html.index('id="ledger"'):]
    rows = re.findall(r'<tr class="reservation"><th scope="row">#(\d+)</th><td>(\w+)</td><td><code>([\w-]+)</code>'
                      r'</td><td><code>([\w-]+)</code></td>\s*<td class="num">(\d+)</td><td><span class="pill pill-res-(\w+)">',
                      ledger)
    assert [row[1:] for row in rows] == [("ACME", "ACME-MUG-1", "MUG-1", "2", "consumed"),
                                         ("PACIFIC", "PACIFIC-LAMP-1", "LAMP-1", "1", "released"),
                                         ("MAPLE", "MAPLE-LAMP-1", "LAMP-1", "1", "confirmed")]
    for cause in ("order #3001 routed to ACME, PACIFIC", "PACIFIC refused: out_of_stock", "supplier acknowledged",
                  "ACME shipped 1Z999AA10123456784", "order #3001 rerouted to MAPLE"):
        assert cause in ledger
    assert ledger.count('class="ledger-event"') == 3 + 2 + 2
    assert f'href="#shipment-{maple.id}"' in ledger
    assert 'id="cancel-form"' in html  # partially shipped: what has not left can still be cancelled
    assert 'hx-trigger="every 20s"' in html  # parcels on their way: the page follows them
    fragment = client.get(f"/orders/{placed.id}", headers={"HX-Request": "true", "HX-Target": "order-progress"}).text
    assert fragment.lstrip().startswith('<div id="order-progress"') and 'id="ledger"' in fragment
    assert 'id="routing"' not in fragment


def test_an_order_waiting_on_a_person_says_why_it_has_no_shipment(client, make_user, app):
    waiting = order("#3002", "US", [("LAMP-1", 50, "40.00")])
    waiting.status = "manual_review"
    db.session.add(RoutingDecision(order_id=waiting.id, input_hash="c" * 64, engine_input={},
                                   plan={"status": "manual_review", "reason": "out_of_stock"}, trace=long_trace(4),
                                   status="manual_review", reason="out_of_stock", objective="cheapest", shipments=0,
                                   trigger="order flow"))
    db.session.commit()
    signed_in(client, make_user, "ops")
    html = client.get(f"/orders/{waiting.id}").text
    assert "Shipments <span class=\"muted\">(0)</span>" in html
    assert "No shipment: no supplier could take this order" in html and "No stock held for this order." in html
    assert "<code>out_of_stock</code>" in html and "rule set <span class=\"muted\">none (defaults)</span>" in html
    assert 'hx-trigger="every 20s"' not in html  # nothing is on its way: nothing to follow


@pytest.fixture
def held_order(app):
    """Order #3003, routed to ACME, its supplier order not yet sent and two mugs held for it."""
    acme = supplier("ACME", "US", ["US"])
    offer(acme, product("MUG-1", "12.00"), "4.00", 10)
    placed = order("#3003", "US", [("MUG-1", 2, "12.00")])
    placed.status = "routed"
    shipment = SupplierOrder(order_id=placed.id, supplier_id=acme.id, idempotency_key="new", status="pending", lines=[])
    db.session.add(shipment)
    db.session.flush()
    shipment.idempotency_key = f"DD-{placed.id}-{shipment.id}"
    db.session.commit()
    inventory.reserve_plan([inventory.Hold(acme.id, "ACME-MUG-1", 2, placed.lines[0].id, shipment.id)],
                           order_id=placed.id, cause="order #3003 routed to ACME")
    return placed, shipment


def test_support_cancels_an_order_with_a_reason_and_its_stock_is_given_back(client, make_user, held_order):
    placed, shipment = held_order
    token = signed_in(client, make_user, "support")
    page = client.get(f"/orders/{placed.id}").text
    assert 'id="cancel-form"' in page and "Cancel the order" in page
    blank = client.post(f"/orders/{placed.id}/cancel", data={"reason": "  "}, headers=htmx(token, "cancel-form"))
    assert blank.status_code == 422 and "Say why the order is cancelled" in blank.text and 'id="cancel-form"' in blank.text
    assert db.session.get(Order, placed.id).status == "routed"
    done = client.post(f"/orders/{placed.id}/cancel", data={"reason": "the customer changed their mind"},
                       headers=htmx(token, "cancel-form"))
    assert done.status_code == 200 and done.headers["HX-Redirect"] == f"/orders/{placed.id}"
    db.session.expire_all()
    cancelled = db.session.get(Order, placed.id)
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "the customer changed their mind")
    assert db.session.get(SupplierOrder, shipment.id).status == "cancelled"
    assert db.session.scalars(select(Reservation.state)).all() == ["released"]
    assert db.session.scalar(select(SupplierStock.reserved).where(SupplierStock.supplier_sku == "ACME-MUG-1")) == 0
    event = db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == placed.id,
                                                        OrderEvent.kind == "cancelled")).one()
    assert event.actor == "support@example.com" and "the customer changed their mind" in event.detail
    assert db.session.scalars(select(AuditEntry.action)).all()[-1] == "order.cancelled"
    after = client.get(f"/orders/{placed.id}").text
    assert "Order cancelled; 1 supplier order(s) cancelled." in after  # the toast
    assert 'id="cancel-form"' not in after and "pill-so-cancelled" in after and "pill-res-released" in after


def test_a_shipped_order_cannot_be_cancelled_and_a_manager_sees_no_cancel_form(client, make_user, held_order):
    placed, _ = held_order
    placed.status = "shipped"
    db.session.commit()
    token = signed_in(client, make_user, "ops")
    refused = client.post(f"/orders/{placed.id}/cancel", data={"reason": "too late"}, headers=htmx(token, "cancel-form"))
    assert refused.status_code == 422 and "nothing is left to cancel" in refused.text
    client.post("/logout", data={"csrf_token": token})
    placed.status = "routed"
    db.session.commit()
    signed_in(client, make_user, "manager")
    assert 'id="cancel-form"' not in client.get(f"/orders/{placed.id}").text


def card_values(html: str) -> dict[str, int]:
    return {key: int(value.replace(",", "")) for key, value in re.findall(
        r'id="flow-([\w-]+)">\s*<span class="card-value">([\d,]+)</span>', html)}


def test_the_flow_panel_counts_todays_orders_and_links_open_exceptions_by_kind(client, make_user, app):
    now = utcnow()
    acme = supplier("ACME", "US", ["US"])
    statuses = ("awaiting_supplier", "manual_review", "shipped", "accepted")
    orders = [order(f"#40{n}", "US", [("MUG-1", 1, "12.00")]) for n in range(len(statuses))]
    for row, status in zip(orders, statuses):
        row.status = status
    old = order("#4099", "US", [("MUG-1", 1, "12.00")])
    old.status, old.created_at = "awaiting_supplier", now - timedelta(days=2)
    for row in orders[:3]:
        db.session.add(OrderEvent(order_id=row.id, kind="routed", actor="job fulfil", detail="routed"))
    db.session.add(OrderEvent(order_id=old.id, kind="routed", actor="job fulfil", at=now - timedelta(days=2)))
    db.session.add_all([
        SupplierOrder(order_id=orders[2].id, supplier_id=acme.id, idempotency_key="k1", status="shipped", lines=[],
                      shipped_at=now),
        SupplierOrder(order_id=old.id, supplier_id=acme.id, idempotency_key="k2", status="shipped", lines=[],
                      shipped_at=now - timedelta(days=2))])
    for kind, status in (("unroutable", "open"), ("unroutable", "open"), ("supplier_timeout", "open"),
                         ("sync_failed", "open"), ("unroutable", "resolved")):
        db.session.add(ExceptionItem(kind=kind, reason_code="x", reason="x", status=status, payload={}, history=[]))
    db.session.commit()
    token = signed_in(client, make_user, "ops")
    fragment = client.get("/overview", headers=htmx(token, "order-flow"))
    assert fragment.text.lstrip().startswith('<section id="order-flow"') and "Supplier freshness" not in fragment.text
    assert 'hx-trigger="every 15s, exceptions-changed from:body"' in fragment.text
    assert card_values(fragment.text) == {"received-today": 4, "routed-today": 3, "awaiting-supplier": 2,
                                          "shipped-today": 1, "manual-review": 1}
    links = re.findall(r'<a href="/exceptions\?kind=(\w+)">[^<]+</a>\s*<span class="badge" data-kind="\w+">(\d+)</span>',
                       fragment.text)
    assert links == [("unroutable", "2"), ("supplier_timeout", "1"), ("sync_failed", "1")]
    assert 'href="/orders?status=manual_review"' in fragment.text
    page = client.get("/overview").text
    assert page.index('id="order-flow"') < page.index('id="supplier-freshness"')
    client.post("/logout", data={"csrf_token": token})
    signed_in(client, make_user, "buyer")
    assert 'id="order-flow"' not in client.get("/overview").text  # buyers do not follow orders


@pytest.fixture
def desks(app, sandbox_url, monkeypatch):
    """The sandbox suppliers' order desks, emptied and accepting; one quick try per dispatch."""
    with sandbox_desks(app, sandbox_url, monkeypatch, attempts=1) as http:
        yield http


@pytest.fixture
def waiting_order(desks, sandbox_url):
    """Fifty lamps no one has (MAPLE and PACIFIC hold ten each): the order waits on a person; then PACIFIC's
    stock comes in."""
    rows = desk_suppliers(sandbox_url)
    lamp = product("LAMP-1", "40.00")
    offer(rows["ACME"], product("MUG-1", "12.00"), "4.00", 50)
    offer(rows["MAPLE"], lamp, "19.00", 10)
    offer(rows["PACIFIC"], lamp, "25.00", 10)
    placed = order("#5001", "US", [("LAMP-1", 50, "40.00")])
    placed.status = "accepted"
    db.session.commit()
    assert fulfilment.fulfil_order(placed.id).status == "manual_review"
    db.session.execute(SupplierStock.__table__.update().where(SupplierStock.supplier_sku == "PACIFIC-LAMP-1")
                       .values(on_hand=60))
    db.session.commit()
    item = db.session.scalars(select(ExceptionItem).where(ExceptionItem.kind == "unroutable")).one()
    return placed, item


def test_the_reroute_form_shows_each_supplier_with_its_cost_and_reroutes_to_the_chosen_one(client, make_user,
                                                                                            waiting_order, desks):
    placed, item = waiting_order
    token = signed_in(client, make_user, "ops")
    queue = client.get("/exceptions?view=unroutable").text
    assert f'href="/exceptions/{item.id}#reroute" data-shortcut="fix">Reroute or cancel' in queue
    html = client.get(f"/exceptions/{item.id}").text
    form = html[html.index('id="reroute-form"'):html.index("</section>", html.index('id="reroute-form"'))]
    assert "Waiting for a supplier: <code>LAMP-1</code>×50" in form
    rows = re.findall(r'<tr class="(feasible|infeasible)" id="option-(\w+)">', form)
    assert rows == [("feasible", "PACIFIC"), ("infeasible", "MAPLE")]
    pacific = form[form.index('id="option-PACIFIC"'):form.index('id="option-MAPLE"')]
    # 50 × 25.00 + its 2.00 fee + UPS 5.00 + 0.40 × 25 kg; 3 days in transit after a day's lead time
    assert '<td class="num">1,267.00</td><td class="num">4</td>' in pacific
    assert 'value="PACIFIC" id="reroute-PACIFIC"  checked' in pacific and "Routing trace (" in pacific
    maple = form[form.index('id="option-MAPLE"'):]
    assert 'id="reroute-MAPLE" disabled' in maple and "<code>out_of_stock</code>" in maple
    none = client.post(f"/exceptions/{item.id}/reroute", data={}, headers=htmx(token, "reroute-form"))
    assert none.status_code == 422 and "Choose the supplier" in none.text
    wrong = client.post(f"/exceptions/{item.id}/reroute", data={"supplier": "MAPLE"}, headers=htmx(token, "reroute-form"))
    assert wrong.status_code == 422 and "MAPLE cannot take these lines" in wrong.text
    done = client.post(f"/exceptions/{item.id}/reroute", data={"supplier": "PACIFIC"}, headers=htmx(token, "reroute-form"))
    assert done.headers["HX-Redirect"] == f"/orders/{placed.id}"
    db.session.expire_all()
    assert db.session.get(ExceptionItem, item.id).status == "resolved"
    assert [(s.supplier.code, s.status) for s in fulfilment.shipments_of(placed.id)] == [("PACIFIC", "acknowledged")]
    page = client.get(f"/orders/{placed.id}").text
    assert "rerouted to PACIFIC" in page and "Earlier decisions (1)" in page and "PACIFIC-LAMP-1" in page
    assert 'id="reroute-form"' not in client.get(f"/exceptions/{item.id}").text  # closed: nothing left to choose


def test_support_sees_the_options_but_only_ops_reroute(client, make_user, waiting_order):
    _, item = waiting_order
    signed_in(client, make_user, "support")
    html = client.get(f"/exceptions/{item.id}").text
    assert 'id="option-PACIFIC"' in html and "Reroute to the chosen supplier" not in html
    assert 'id="reroute-PACIFIC" disabled' in html and "Or cancel the order, because" in html
    token = csrf_token_from(html)
    assert client.post(f"/exceptions/{item.id}/reroute", data={"supplier": "PACIFIC"},
                       headers=htmx(token, "reroute-form")).status_code == 403
