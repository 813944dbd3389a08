"""An order's life in Chromium: support opens a split order (its decision, shipments with tracking links, the
reservation ledger), unfolds the trace, and cancels another order with a reason; the ops home's flow panel
refreshes itself when exceptions change; each role's saved views in the queue.

Screenshots go to $SCREENSHOTS (default /tmp/dropdesk-screenshots), outside the repository."""
from __future__ import annotations

import os
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.services.demo import DEMO_PASSWORD
from tests.integration.order_world import long_trace, shipment_plan

SHOTS = Path(os.environ.get("SCREENSHOTS", "/tmp/dropdesk-screenshots"))


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, caret="initial")


def sign_in(page, role: str) -> None:
    page.goto("/login")
    page.get_by_label("E-mail").fill(f"{role}@example.com")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.wait_for_load_state("load")


def stocked(code: str, count: int):
    """Demo offers of a supplier with stock to hold: (supplier id, supplier SKU, our SKU)."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Product, Supplier, SupplierOffer, SupplierStock

    return db.session.execute(
        select(Supplier.id, SupplierOffer.supplier_sku, Product.sku)
        .join(SupplierOffer, SupplierOffer.supplier_id == Supplier.id).join(Product, Product.id == SupplierOffer.product_id)
        .join(SupplierStock, (SupplierStock.supplier_id == Supplier.id) & (SupplierStock.supplier_sku == SupplierOffer.supplier_sku))
        .where(Supplier.code == code, SupplierStock.status == "in_stock", SupplierStock.on_hand - SupplierStock.reserved >= 5)
        .order_by(SupplierOffer.supplier_sku).limit(count)).all()


def new_order(number: str, skus: list[str], status: str):
    from app.extensions import db
    from app.models import Order, OrderLine
    from app.models.types import utcnow

    row = Order(channel="shopify", external_id=f"browser-{number}", number=number, placed_at=utcnow() - timedelta(hours=2),
                currency="USD", email="ada@example.com", ship_to_name="Ada Moreno", ship_to_address1="1 Main St",
                ship_to_city="Albany", ship_to_region="NY", ship_to_postal_code="12207", ship_to_country="US",
                status=status, total=Decimal("0"))
    for position, sku in enumerate(skus):
        row.lines.append(OrderLine(position=position, sku=sku, title=f"Demo item {sku}", qty=position + 1,
                                   unit_price=Decimal("19.90")))
    row.total = sum((line.unit_price * line.qty for line in row.lines), Decimal(0))
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture(scope="module")
def orders(live_server):
    """Three orders written into the live console's database: a split order three shipments long (one shipped
    with tracking, one refused, one acknowledged) with a 60-step trace; one waiting on a person; one routed, its
    supplier order not yet sent, to cancel."""
    from app.extensions import db
    from app.models import ExceptionItem, OrderEvent, RoutingDecision, SupplierOrder
    from app.models.types import utcnow
    from app.services import inventory

    with live_server["app"].app_context():
        (acme_id, acme_sku, mug), = stocked("ACME", 1)
        (maple_id, maple_sku, lamp), (_, maple_sku_2, vase) = stocked("MAPLE", 2)
        (pacific_id, pacific_sku, _), = stocked("PACIFIC", 1)
        now = utcnow()
        split = new_order("#B-7001", [mug, lamp, vase], "partially_shipped")
        first = RoutingDecision(
            order_id=split.id, rule_set_version=2, input_hash="d" * 64, engine_input={}, trace=long_trace(60, skus=(mug, lamp)),
            plan={"status": "routed", "objective": "cheapest", "landed_cost": 63.2, "delivery_days": 5,
                  "shipments": [shipment_plan("ACME", mug, 1, "9.10", "5.80", "1.50", 3),
                                shipment_plan("PACIFIC", lamp, 2, "19.40", "6.20", "2.00", 4),
                                shipment_plan("MAPLE", vase, 3, "15.20", "4.00", "0", 5)]},
            status="routed", objective="cheapest", landed_cost=Decimal("63.20"), shipments=3, trigger="order flow",
            created_at=now - timedelta(minutes=40))
        reroute = RoutingDecision(
            order_id=split.id, rule_set_version=2, input_hash="f" * 64, engine_input={}, trace=long_trace(12, skus=(lamp, lamp)),
            plan={"status": "routed", "objective": "cheapest", "landed_cost": 29.6, "delivery_days": 5,
                  "shipments": [shipment_plan("MAPLE", lamp, 2, "21.40", "8.20", "0", 5)]},
            status="routed", objective="cheapest", landed_cost=Decimal("29.60"), shipments=1, trigger="order flow",
            created_at=now - timedelta(minutes=36))
        db.session.add_all([first, reroute])
        db.session.flush()
        made = []
        for supplier_id, status, decision, line, sku in ((acme_id, "shipped", first, split.lines[0], acme_sku),
                                                         (pacific_id, "refused", first, split.lines[1], pacific_sku),
                                                         (maple_id, "acknowledged", first, split.lines[2], maple_sku_2),
                                                         (maple_id, "acknowledged", reroute, split.lines[1], maple_sku)):
            shipment = SupplierOrder(order_id=split.id, routing_decision_id=decision.id, supplier_id=supplier_id,
                                     idempotency_key=f"new-{len(made)}", status=status, carrier="UPS", service="ground",
                                     landed_cost=Decimal("16.40"), attempts=1 if status != "refused" else 3,
                                     created_at=decision.created_at, sent_at=decision.created_at + timedelta(seconds=2),
                                     lines=[{"order_line_id": line.id, "sku": line.sku, "supplier_sku": sku, "qty": line.qty,
                                             "reservation_id": None}])
            db.session.add(shipment)
            db.session.flush()
            shipment.idempotency_key = f"DD-{split.id}-{shipment.id}"
            made.append(shipment)
        shipped, refused, vases, lamps = made
        shipped.supplier_ref, vases.supplier_ref, lamps.supplier_ref = "ACME-000042", "MAPLE-000107", "MAPLE-000108"
        for shipment in (shipped, vases, lamps):
            shipment.acknowledged_at = shipment.sent_at + timedelta(seconds=1)
        shipped.shipped_at, shipped.tracking_carrier, shipped.tracking_number = now - timedelta(minutes=3), "UPS", "1Z4242AA0000000042"
        shipped.tracking_url = "https://track.example/1Z4242AA0000000042"
        shipped.tracking_pushed_at = now - timedelta(minutes=2)
        refused.last_error, refused.closed_at = "out_of_stock: the supplier has none left", now - timedelta(minutes=36)
        db.session.add_all([OrderEvent(order_id=split.id, kind=kind, actor=actor, detail=detail, at=now - timedelta(minutes=age))
                            for kind, actor, detail, age in (
                                ("routed", "job fulfil", "Routed to ACME, PACIFIC, MAPLE: 3 shipments", 40),
                                ("refused", "supplier PACIFIC", "PACIFIC refused: out_of_stock", 36),
                                ("rerouted", "job dispatch", "Rerouted to MAPLE", 36),
                                ("shipped", "supplier ACME", "ACME shipped 1Z4242AA0000000042", 3))])
        db.session.commit()
        held = inventory.reserve_plan([inventory.Hold(acme_id, acme_sku, 1, split.lines[0].id, shipped.id),
                                       inventory.Hold(pacific_id, pacific_sku, 2, split.lines[1].id, refused.id),
                                       inventory.Hold(maple_id, maple_sku_2, 3, split.lines[2].id, vases.id)],
                                      order_id=split.id, cause=f"order {split.label} routed to ACME, PACIFIC, MAPLE")
        inventory.release([held[1]], cause="PACIFIC refused: out_of_stock")
        moved = inventory.reserve_plan([inventory.Hold(maple_id, maple_sku, 2, split.lines[1].id, lamps.id)],
                                       order_id=split.id, cause=f"order {split.label} rerouted to MAPLE")
        inventory.confirm([held[0], held[2], *moved], at=now - timedelta(minutes=35), cause="supplier acknowledged")
        inventory.consume([held[0]], cause="ACME shipped 1Z4242AA0000000042")

        waiting = new_order("#B-7002", [lamp], "manual_review")
        db.session.add(RoutingDecision(order_id=waiting.id, input_hash="e" * 64, engine_input={}, trace=long_trace(8, skus=(lamp, lamp)),
                                       plan={"status": "manual_review", "reason": "out_of_stock"}, status="manual_review",
                                       reason="out_of_stock", objective="cheapest", shipments=0, trigger="order flow"))
        item = ExceptionItem(kind="unroutable", reason_code="out_of_stock", reason=f"Order {waiting.label}: no supplier can take it.",
                             order_id=waiting.id, order_ref=waiting.label, channel="shopify", order_value=waiting.total,
                             orders_affected=1, payload={"lines": [{"sku": lamp, "qty": 1}]}, history=[])
        db.session.add(item)
        to_cancel = new_order("#B-7003", [mug], "routed")
        pending = SupplierOrder(order_id=to_cancel.id, supplier_id=acme_id, idempotency_key="new-pending", status="pending", lines=[])
        db.session.add(pending)
        db.session.flush()
        pending.idempotency_key = f"DD-{to_cancel.id}-{pending.id}"
        db.session.commit()
        inventory.reserve_plan([inventory.Hold(acme_id, acme_sku, 1, to_cancel.lines[0].id, pending.id)],
                               order_id=to_cancel.id, cause=f"order {to_cancel.label} routed to ACME")
        return {"split": split.id, "waiting": waiting.id, "item": item.id, "cancel": to_cancel.id, "shipped": shipped.id,
                "lamps": lamps.id}


def test_support_reads_a_split_order_end_to_end_and_unfolds_its_trace(page, orders):
    sign_in(page, "support")
    expect(page).to_have_url(re.compile(r"/orders$"))
    page.goto(f"/orders/{orders['split']}")
    expect(page.locator("h1")).to_contain_text("partially shipped")
    routing = page.locator("#routing")
    expect(routing.locator(".decision").first.locator("table.plan caption")).to_have_text("1 shipment")
    routing.get_by_text("Earlier decisions (1)").click()
    earlier = routing.locator(".earlier-decision")
    expect(earlier.locator("table.plan caption")).to_have_text("3 shipments (split order)")
    expect(earlier.locator("table.plan tfoot")).to_contain_text("63.20")
    trace = earlier.locator(".trace-details")
    expect(trace.locator("table")).to_be_hidden()  # folded until asked for
    trace.locator("summary").click()
    expect(trace.locator("tbody tr")).to_have_count(60)
    shipments = page.locator("#shipments .shipment")
    expect(shipments).to_have_count(4)
    link = page.locator(f"#shipment-{orders['shipped']} a.tracking-link")
    expect(link).to_have_text("1Z4242AA0000000042")
    expect(link).to_have_attribute("href", "https://track.example/1Z4242AA0000000042")
    expect(page.locator(f"#shipment-{orders['lamps']}")).to_contain_text("MAPLE-000108")
    expect(page.locator("#shipments")).to_contain_text("last error: out_of_stock")
    ledger = page.locator("#ledger tr.reservation")
    expect(ledger).to_have_count(4)
    expect(ledger.locator(".pill")).to_have_text(["consumed", "released", "confirmed", "confirmed"])
    expect(page.locator("#ledger")).to_contain_text("ACME shipped 1Z4242AA0000000042")
    shoot(page, "order-split-long-trace")
    page.goto(f"/orders/{orders['waiting']}")
    expect(page.locator("#shipments")).to_contain_text("No shipment: no supplier could take this order")
    shoot(page, "order-empty-shipments")
    assert page.js_errors == []


def test_support_cancels_an_order_with_a_reason(page, orders, live_server):
    from app.extensions import db
    from app.models import Order, Reservation

    sign_in(page, "support")
    page.goto(f"/orders/{orders['cancel']}")
    page.get_by_text("Cancel this order…").click()
    page.get_by_label("Why").fill("the customer ordered twice")
    shoot(page, "order-cancel-form")
    page.get_by_role("button", name="Cancel the order").click()
    expect(page.locator("h1")).to_contain_text("cancelled")
    expect(page.locator(".toast")).to_contain_text("Order cancelled; 1 supplier order(s) cancelled.")
    expect(page.locator(".timeline")).to_contain_text("the customer ordered twice")
    expect(page.locator("#ledger .pill-res-released").first).to_be_visible()
    expect(page.locator("#cancel-form")).to_have_count(0)
    shoot(page, "order-cancelled")
    with live_server["app"].app_context():
        assert db.session.get(Order, orders["cancel"]).status == "cancelled"
        assert [r.state for r in db.session.query(Reservation).filter_by(order_id=orders["cancel"])] == ["released"]
    assert page.js_errors == []


def test_ops_reroute_the_waiting_order_by_hand_from_its_exception_item(page, orders):
    sign_in(page, "ops")
    page.goto("/exceptions?view=unroutable")
    ids = page.locator("#exception-list .exception-item").evaluate_all("items => items.map(item => item.id)")
    for _ in range(ids.index(f"exception-{orders['item']}") + 1):
        page.locator("body").press("j")
    expect(page.locator(f"#exception-{orders['item']}")).to_have_class(re.compile("is-current"))
    page.locator("body").press("e")  # its form: reroute by hand or cancel
    page.wait_for_url(re.compile(rf"/exceptions/{orders['item']}#reroute"))
    form = page.locator("#reroute-form")
    options = form.locator("tr.feasible[id^=option-]")
    expect(options.first).to_be_visible()
    chosen = options.first.get_attribute("id").removeprefix("option-")
    expect(form.locator(f"#reroute-{chosen}")).to_be_checked()
    form.locator(f"#trace-option-{chosen} summary").click()
    expect(form.locator(f"#trace-option-{chosen} table")).to_be_visible()
    shoot(page, "exception-reroute-form")
    form.get_by_role("button", name="Reroute to the chosen supplier").click()
    page.wait_for_url(re.compile(rf"/orders/{orders['waiting']}$"))
    expect(page.locator(".toast")).to_contain_text(f"rerouted to {chosen}")
    expect(page.locator("#shipments .shipment")).to_have_count(1)
    expect(page.locator("#shipments")).to_contain_text(chosen)
    expect(page.locator("#ledger tr.reservation")).to_have_count(1)
    shoot(page, "order-rerouted-by-hand")
    assert page.js_errors == []


def test_the_ops_home_flow_panel_refreshes_itself_when_exceptions_change(page, orders, live_server):
    from app.extensions import db
    from app.models import ExceptionItem

    sign_in(page, "ops")
    page.goto("/overview")
    panel = page.locator("#order-flow")
    expect(panel.locator("#flow-manual-review .card-value")).not_to_have_text("")
    badge = panel.locator('#flow-exceptions [data-kind="unroutable"]')
    before = int(badge.inner_text()) if badge.count() else 0
    with live_server["app"].app_context():
        db.session.add(ExceptionItem(kind="unroutable", reason_code="out_of_stock", reason="another order waits",
                                     payload={}, history=[]))
        db.session.commit()
    page.evaluate("htmx.trigger(document.body, 'exceptions-changed')")  # what any queue action announces
    expect(badge).to_have_text(str(before + 1))
    link = panel.locator("#flow-exceptions a", has_text="Order could not be routed")
    expect(link).to_have_attribute("href", "/exceptions?kind=unroutable")
    shoot(page, "overview-flow-panel")
    link.click()
    expect(page).to_have_url(re.compile(r"/exceptions\?kind=unroutable"))
    assert page.js_errors == []


@pytest.mark.parametrize("role, views", [
    ("ops", ["Failed intake", "Stockout reroutes", "Supplier refusals & timeouts", "Unroutable", "Mine"]),
    ("support", ["Orders waiting on a person", "Failed intake", "Mine"]),
    ("manager", ["Past their SLA", "Orders waiting on a person", "Sync & feeds", "Oldest first"]),
])
def test_each_role_sees_its_saved_views_in_the_queue(page, orders, role, views):
    sign_in(page, role)
    page.goto("/exceptions")
    links = page.get_by_role("navigation", name="Saved views").get_by_role("link")
    expect(links).to_have_text(["All open", *[re.compile("^" + re.escape(view) + r" \d+$") for view in views]])
    links.nth(1).click()
    expect(page).to_have_url(re.compile(r"view="))
    expect(links.nth(1)).to_have_attribute("aria-current", "page")
    shoot(page, f"queue-views-{role}")
    assert page.js_errors == []
