"""What the order flow tells the sales channels, over real HTTP to the sandbox storefronts: a share of what can be
promised per product (only changes sent, zero delists at once, relisted when it returns) and each shipment's
tracking, once; a storefront that is down fails the job, whose retry carries on."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from app.domain.stock import ReportedStock
from app.extensions import db
from app.models import (
    AuditEntry,
    Channel,
    ChannelListing,
    Order,
    OrderEvent,
    OrderLine,
    Product,
    Supplier,
    SupplierOffer,
    SupplierOrder,
)
from app.sandbox import storefront
from app.services import channel_publish, inventory
from app.services.inventory import Hold
from app.services.stock_updates import apply_stock_report
from tests.helpers import csrf_token_from, login
from workers import jobs

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
SKUS = ("KIT-00001", "KIT-00002", "HOM-00003", "OFF-00004")


@pytest.fixture
def world(app, sandbox_url):
    """Two suppliers carrying four products; the three kinds of channel, the two shops at the sandbox."""
    products = {sku: Product(sku=sku, name=f"Product {sku}", price=Decimal("20.00")) for sku in SKUS}
    db.session.add_all(products.values())
    acme = Supplier(code="ACME", name="Acme", warehouse_country="US", ships_to=["US"])
    nordic = Supplier(code="NORDIC", name="Nordic", warehouse_country="SE", ships_to=["SE"])
    db.session.add_all([acme, nordic])
    db.session.flush()
    for supplier in (acme, nordic):
        for sku in SKUS:
            db.session.add(SupplierOffer(supplier_id=supplier.id, product_id=products[sku].id,
                                         supplier_sku=f"{supplier.code[:3]}-{sku}", cost=Decimal("8.00")))
    channels = {}
    for kind in ("shopify", "woocommerce", "api"):
        channel = Channel(code=kind, kind=kind, name=kind.title(), sku_aliases={}, allowed_countries=[],
                          required_fields=[], express_required_fields=[],
                          base_url=f"{sandbox_url}/sandbox/storefront/{kind}" if kind != "api" else None)
        channel.credentials = storefront.storefront_credentials(kind) if kind != "api" else {"api_token": "dd_x"}
        db.session.add(channel)
        channels[kind] = channel
    db.session.commit()
    for kind in storefront.KINDS:
        storefront.reset(kind)
    return {"acme": acme, "nordic": nordic, "channels": channels, "url": sandbox_url}


def stock(supplier: Supplier, at=T0, **figures: int) -> None:
    """Report on-hand per our SKU (the supplier's SKU is derived from it)."""
    reports = [ReportedStock(f"{supplier.code[:3]}-{sku.replace('_', '-')}", qty,
                             "in_stock" if qty >= 10 else "low_stock" if qty else "out_of_stock", at)
               for sku, qty in figures.items()]
    apply_stock_report(supplier, reports, source="full", received_at=at)


def published(world, kind: str) -> dict[str, dict]:
    return httpx.get(f"{world['url']}/sandbox/storefront/{kind}/published", timeout=10).json()["levels"]


def set_down(world, kind: str, down: bool) -> None:
    assert httpx.post(f"{world['url']}/sandbox/storefront/{kind}/mode", json={"down": down}, timeout=10).json() == {"down": down}


def listings(channel: Channel) -> dict[str, ChannelListing]:
    db.session.expire_all()
    return {row.sku: row for row in db.session.scalars(select(ChannelListing).where(ChannelListing.channel_id == channel.id))}


def test_a_channel_is_offered_the_floor_of_ninety_percent_of_what_can_be_promised(world):
    stock(world["acme"], KIT_00001=10, KIT_00002=19, HOM_00003=1)
    stock(world["nordic"], KIT_00002=1)  # 19 + 1 across two suppliers = 20 -> 18
    report = channel_publish.publish_channel_quantities(world["channels"]["shopify"].id)
    assert report.outcome == "published" and report.sent == 4
    levels = published(world, "shopify")
    assert {sku: (level["available"], level["listed"]) for sku, level in levels.items()} == {
        "KIT-00001": (9, True), "KIT-00002": (18, True), "HOM-00003": (0, False), "OFF-00004": (0, False)}
    rows = listings(world["channels"]["shopify"])
    assert (rows["KIT-00002"].published_qty, rows["KIT-00002"].listed, rows["KIT-00002"].error) == (18, True, None)
    assert rows["HOM-00003"].listed is False and rows["HOM-00003"].published_at is not None
    assert db.session.get(Channel, world["channels"]["shopify"].id).last_published_at is not None


def test_safety_units_and_the_ratio_are_per_channel(world):
    woo = world["channels"]["woocommerce"]
    woo.publish_ratio, woo.publish_safety_units = Decimal("0.5"), 2
    db.session.commit()
    stock(world["acme"], KIT_00001=10, KIT_00002=5)
    channel_publish.publish_channel_quantities(woo.id)
    levels = published(world, "woocommerce")
    assert (levels["KIT-00001"]["available"], levels["KIT-00001"]["listed"]) == (3, True)  # floor(5) - 2
    assert (levels["KIT-00002"]["available"], levels["KIT-00002"]["listed"]) == (0, False)  # floor(2.5) - 2 = 0


def test_reservations_lower_what_is_published(world):
    stock(world["acme"], KIT_00001=20)
    shopify = world["channels"]["shopify"]
    channel_publish.publish_channel_quantities(shopify.id)
    assert published(world, "shopify")["KIT-00001"]["available"] == 18
    inventory.reserve_plan([Hold(world["acme"].id, "ACM-KIT-00001", 10)], order_id=None, cause="test order")
    channel_publish.publish_channel_quantities(shopify.id)
    assert published(world, "shopify")["KIT-00001"]["available"] == 9


def test_only_changes_are_sent(world):
    stock(world["acme"], KIT_00001=10, KIT_00002=20, HOM_00003=30, OFF_00004=40)
    shopify = world["channels"]["shopify"].id
    assert channel_publish.publish_channel_quantities(shopify).sent == 4
    again = channel_publish.publish_channel_quantities(shopify)
    assert (again.outcome, again.sent) == ("unchanged", 0)
    stock(world["acme"], at=T0.replace(hour=11), KIT_00002=30)
    changed = channel_publish.publish_channel_quantities(shopify)
    assert changed.sent == 1
    updates = {sku: level["updates"] for sku, level in published(world, "shopify").items()}
    # the first publish of a listed product sets its quantity and lists it (two calls); after that, one call a change
    assert updates == {"KIT-00001": 2, "KIT-00002": 3, "HOM-00003": 2, "OFF-00004": 2}


def test_a_product_that_runs_out_is_delisted_at_once_and_relisted_when_it_returns(world):
    stock(world["acme"], KIT_00001=10)
    shopify, woo = world["channels"]["shopify"].id, world["channels"]["woocommerce"].id
    for channel_id in (shopify, woo):
        channel_publish.publish_channel_quantities(channel_id)
    stock(world["acme"], at=T0.replace(hour=11), KIT_00001=0)
    gone = channel_publish.publish_channel_quantities(shopify)
    assert (gone.sent, gone.delisted) == (1, 1)
    channel_publish.publish_channel_quantities(woo)
    for kind in ("shopify", "woocommerce"):
        level = published(world, kind)["KIT-00001"]
        assert (level["available"], level["listed"]) == (0, False)
    assert listings(world["channels"]["shopify"])["KIT-00001"].listed is False
    stock(world["acme"], at=T0.replace(hour=12), KIT_00001=5)
    back = channel_publish.publish_channel_quantities(shopify)
    assert (back.sent, back.relisted) == (1, 1)
    level = published(world, "shopify")["KIT-00001"]
    assert (level["available"], level["listed"]) == (4, True)
    assert listings(world["channels"]["shopify"])["KIT-00001"].listed is True


def test_an_alias_publishes_under_the_channel_s_own_sku(world):
    shopify = world["channels"]["shopify"]
    shopify.sku_aliases = {"SHOP-KIT-00001": "KIT-00001"}
    db.session.commit()
    stock(world["acme"], KIT_00001=10)
    channel_publish.publish_channel_quantities(shopify.id)
    levels = published(world, "shopify")
    assert levels["SHOP-KIT-00001"]["available"] == 9 and "KIT-00001" not in levels
    assert "KIT-00001" in listings(shopify)  # our SKU on our side


def test_a_new_alias_publishes_the_product_again_under_its_new_sku(world):
    from app.services import channel_settings

    shopify = world["channels"]["shopify"]
    stock(world["acme"], KIT_00001=10)
    channel_publish.publish_channel_quantities(shopify.id)
    change = channel_settings.ChannelChange(name="Shopify", kind="shopify", base_url=shopify.base_url,
                                            sku_aliases="SHOP-KIT-00001 = KIT-00001")
    channel_settings.save_channel("shopify", change, "test")
    report = channel_publish.publish_channel_quantities(shopify.id)
    assert report.sent == 1
    levels = published(world, "shopify")
    assert (levels["SHOP-KIT-00001"]["available"], levels["SHOP-KIT-00001"]["listed"]) == (9, True)


def test_order_api_and_csv_channels_are_skipped_not_failed(world):
    report = channel_publish.publish_channel_quantities(world["channels"]["api"].id)
    assert report.outcome == "skipped" and not report.retry
    assert listings(world["channels"]["api"]) == {}
    assert world["channels"]["api"].id not in channel_publish.publishable_channel_ids()


def test_publishing_off_sends_nothing(world):
    shopify = world["channels"]["shopify"]
    shopify.publish_quantities = False
    db.session.commit()
    stock(world["acme"], KIT_00001=10)
    assert channel_publish.publish_channel_quantities(shopify.id).outcome == "skipped"
    assert published(world, "shopify") == {}
    assert shopify.id not in channel_publish.publishable_channel_ids()


def test_a_storefront_that_is_down_fails_the_job_and_the_retry_carries_on(world):
    stock(world["acme"], KIT_00001=10, KIT_00002=20)
    shopify = world["channels"]["shopify"]
    set_down(world, "shopify", True)
    try:
        with pytest.raises(channel_publish.PublishFailed, match="503"):
            jobs.publish_channel_quantities(shopify.id)
        rows = listings(shopify)
        assert len(rows) == 1 and "503" in next(iter(rows.values())).error  # stopped at the first refusal
        assert db.session.get(Channel, shopify.id).last_published_at is None
    finally:
        set_down(world, "shopify", False)
    result = jobs.publish_channel_quantities(shopify.id)  # what RQ's retry runs
    assert result["outcome"] == "published" and result["sent"] == 4  # two stocked, two told zero
    assert all(row.error is None and row.published_qty is not None for row in listings(shopify).values())
    assert {sku: level["available"] for sku, level in published(world, "shopify").items()}["KIT-00002"] == 18


def test_a_refused_product_is_recorded_and_the_rest_go_on(world):
    stock(world["acme"], KIT_00001=10, KIT_00002=20)
    woo = world["channels"]["woocommerce"]
    woo.credentials = {**woo.credentials, "api_secret": "wrong"}
    db.session.commit()
    report = channel_publish.publish_channel_quantities(woo.id)
    assert (report.outcome, report.failed, report.sent) == ("published", 4, 0)
    assert all("401" in row.error and "wrong" not in row.error for row in listings(woo).values())


def test_a_storefront_that_cannot_be_reached_is_retried_and_no_secret_is_in_the_error(world):
    stock(world["acme"], KIT_00001=10)
    shopify = world["channels"]["shopify"]
    shopify.base_url = "http://127.0.0.1:9/sandbox/storefront/shopify"  # nothing listens on the discard port
    db.session.commit()
    report = channel_publish.publish_channel_quantities(shopify.id)
    assert report.retry and report.sent == 0
    [row] = listings(shopify).values()
    assert "ConnectError" in row.error and storefront.storefront_credentials("shopify")["api_token"] not in row.error


# --- tracking ----------------------------------------------------------------------------------------------


def shipped_order(world, kind: str, *, tracking: str = "1Z999AA10123456784", lines: int | None = None):
    """A storefront order taken in, and one shipment of it with tracking (as fulfilment leaves it)."""
    answer = httpx.post(f"{world['url']}/sandbox/storefront/{kind}/orders",
                        json={"count": 1, "skus": list(SKUS), "deliver": False}, timeout=10).json()
    shop_order = storefront.get_order(kind, answer["orders"][0])
    channel = world["channels"][kind]
    order = Order(channel=kind, channel_id=channel.id, external_id=str(shop_order["id"]), status="shipped")
    for position, item in enumerate(shop_order["line_items"]):
        order.lines.append(OrderLine(position=position, external_id=str(item["id"]), sku=item["sku"], qty=item["quantity"]))
    db.session.add(order)
    db.session.flush()
    carried = order.lines[:lines] if lines else order.lines
    supplier_order = SupplierOrder(order_id=order.id, supplier_id=world["acme"].id, idempotency_key=f"DD-{order.id}-x",
                                   status="shipped", tracking_carrier="UPS", tracking_number=tracking,
                                   tracking_url=f"https://www.ups.com/track?tracknum={tracking}", shipped_at=T0,
                                   lines=[{"order_line_id": line.id, "sku": line.sku, "supplier_sku": f"ACM-{line.sku}",
                                           "qty": line.qty, "reservation_id": None} for line in carried])
    db.session.add(supplier_order)
    db.session.flush()
    supplier_order.idempotency_key = f"DD-{order.id}-{supplier_order.id}"
    db.session.commit()
    return shop_order, supplier_order


def fulfilments(world, kind: str, order_id) -> list[dict]:
    return httpx.get(f"{world['url']}/sandbox/storefront/{kind}/orders/{order_id}/fulfilments", timeout=10).json()["fulfilments"]


@pytest.mark.parametrize("kind", ["shopify", "woocommerce"])
def test_tracking_is_pushed_once_per_shipment_with_the_channel_s_line_ids(world, kind):
    shop_order, supplier_order = shipped_order(world, kind)
    assert channel_publish.push_tracking(supplier_order.id) is True
    assert channel_publish.push_tracking(supplier_order.id) is False  # a second push does nothing
    [fulfilment] = fulfilments(world, kind, shop_order["id"])
    assert fulfilment["tracking_number"] == "1Z999AA10123456784"
    assert fulfilment.get("tracking_company", fulfilment.get("tracking_provider")) == "UPS"
    assert [(item["id"], item["quantity"]) for item in fulfilment["line_items"]] == [
        (item["id"], item["quantity"]) for item in shop_order["line_items"]]
    db.session.expire_all()
    assert db.session.get(SupplierOrder, supplier_order.id).tracking_pushed_at is not None
    events = db.session.scalars(select(OrderEvent).where(OrderEvent.order_id == supplier_order.order_id,
                                                         OrderEvent.kind == "tracking_pushed")).all()
    assert len(events) == 1 and events[0].data["tracking_number"] == "1Z999AA10123456784"


def test_each_shipment_of_a_split_order_is_its_own_fulfilment(world):
    shop_order, first = shipped_order(world, "shopify", lines=1)
    order = db.session.get(Order, first.order_id)
    second = SupplierOrder(order_id=order.id, supplier_id=world["nordic"].id, idempotency_key=f"DD-{order.id}-y",
                           status="shipped", tracking_carrier="DHL", tracking_number="JD0002", tracking_url=None,
                           lines=[{"order_line_id": line.id, "sku": line.sku, "supplier_sku": "x", "qty": line.qty,
                                   "reservation_id": None} for line in order.lines[1:]])
    db.session.add(second)
    db.session.commit()
    assert channel_publish.push_tracking(first.id) and channel_publish.push_tracking(second.id)
    pushed = fulfilments(world, "shopify", shop_order["id"])
    assert [f["tracking_number"] for f in pushed] == ["1Z999AA10123456784", "JD0002"]
    assert pushed[0]["line_items"] == [{"id": shop_order["line_items"][0]["id"], "quantity": shop_order["line_items"][0]["quantity"]}]


def test_the_storefront_dedupes_a_repeated_tracking_number(world):
    shop_order, supplier_order = shipped_order(world, "shopify")
    assert channel_publish.push_tracking(supplier_order.id)
    supplier_order = db.session.get(SupplierOrder, supplier_order.id)
    supplier_order.tracking_pushed_at = None  # as if the job died after the call, before its commit
    db.session.commit()
    assert channel_publish.push_tracking(supplier_order.id)
    assert len(fulfilments(world, "shopify", shop_order["id"])) == 1


def test_tracking_for_a_storefront_that_is_down_fails_the_job_and_the_retry_pushes_it(world):
    shop_order, supplier_order = shipped_order(world, "woocommerce")
    set_down(world, "woocommerce", True)
    try:
        with pytest.raises(channel_publish.TrackingPushFailed, match="503"):
            jobs.push_tracking_to_channel(supplier_order.id)
    finally:
        set_down(world, "woocommerce", False)
    db.session.expire_all()
    assert db.session.get(SupplierOrder, supplier_order.id).tracking_pushed_at is None
    assert jobs.push_tracking_to_channel(supplier_order.id)["pushed"] is True
    assert len(fulfilments(world, "woocommerce", shop_order["id"])) == 1


def test_tracking_for_an_order_api_channel_is_noted_not_sent(world):
    api = world["channels"]["api"]
    order = Order(channel="api", channel_id=api.id, external_id="ERP-1", status="shipped")
    order.lines.append(OrderLine(position=0, external_id="1", sku="KIT-00001", qty=1))
    db.session.add(order)
    db.session.flush()
    supplier_order = SupplierOrder(order_id=order.id, supplier_id=world["acme"].id, idempotency_key="DD-api-1",
                                   status="shipped", tracking_number="TRK1",
                                   lines=[{"order_line_id": order.lines[0].id, "qty": 1}])
    db.session.add(supplier_order)
    db.session.commit()
    assert channel_publish.push_tracking(supplier_order.id) is False
    assert channel_publish.push_tracking(supplier_order.id) is False
    kinds = db.session.scalars(select(OrderEvent.kind).where(OrderEvent.order_id == order.id)).all()
    assert kinds == ["tracking_not_pushed"]


# --- the channel page ----------------------------------------------------------------------------------------


def channel_form(**changes) -> dict:
    form = {"name": "Shopify", "kind": "shopify", "active": "on", "publish_settings": "1", "publish_quantities": "on",
            "publish_ratio": "0.9", "publish_safety_units": "0"}
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


@pytest.mark.parametrize("ratio, safety, message", [
    ("1.5", "0", "between 0 and 1"), ("-0.1", "0", "between 0 and 1"), ("lots", "0", "a number"),
    ("0.12345", "0", "three decimals"), ("0.9", "-1", "0 or more"), ("0.9", "two", "whole number")])
def test_the_settings_form_refuses_a_bad_ratio_or_safety_units_with_a_clear_message(world, client, make_user,
                                                                                      ratio, safety, message):
    make_user("admin")
    login(client, "admin@example.com")
    token = csrf_token_from(client.get("/admin/channels/shopify").text)
    answer = client.post("/admin/channels/shopify", data={**channel_form(publish_ratio=ratio, publish_safety_units=safety),
                                                          "csrf_token": token})
    assert answer.status_code == 422 and message in answer.text
    channel = db.session.get(Channel, world["channels"]["shopify"].id)
    db.session.refresh(channel)
    assert (channel.publish_ratio, channel.publish_safety_units) == (Decimal("0.9"), 0)


def test_the_settings_form_saves_publishing_settings_and_audits_them(world, client, make_user):
    make_user("admin")
    login(client, "admin@example.com")
    token = csrf_token_from(client.get("/admin/channels/shopify").text)
    answer = client.post("/admin/channels/shopify", data={**channel_form(publish_ratio="0.75", publish_safety_units="3",
                                                                         publish_quantities=None), "csrf_token": token})
    assert answer.status_code == 302
    channel = db.session.get(Channel, world["channels"]["shopify"].id)
    db.session.refresh(channel)
    assert (channel.publish_quantities, channel.publish_ratio, channel.publish_safety_units) == (False, Decimal("0.75"), 3)
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "channel.updated")).one()
    assert entry.changes["publish_ratio"] == ["0.900", "0.750"]
    assert entry.changes["publish_safety_units"] == [0, 3] and entry.changes["publish_quantities"] == [True, False]


def test_the_channel_page_lists_what_was_published_and_publish_now_runs_the_job(world, client, make_user):
    make_user("admin")
    login(client, "admin@example.com")
    empty = client.get("/admin/channels/shopify").text
    assert "Nothing published yet" in empty
    stock(world["acme"], KIT_00001=10)
    page = client.get("/admin/channels/shopify")
    token = csrf_token_from(page.text)
    started = client.post("/admin/channels/shopify/publish", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert started.status_code == 200 and 'aria-valuenow="100"' in started.text  # the test app runs jobs at once
    html = client.get("/admin/channels/shopify").text
    assert "KIT-00001" in html and "delisted" in html and ">9<" in html
    fragment = client.get("/admin/channels/shopify?problem=delisted",
                          headers={"HX-Request": "true", "HX-Target": "channel-listings"}).text
    assert fragment.lstrip().startswith('<section id="channel-listings"') and "KIT-00001" not in fragment
    assert "HOM-00003" in fragment
    assert db.session.scalars(select(AuditEntry.action).where(AuditEntry.action == "channel.publish_requested")).all()
    assert client.post("/admin/channels/api/publish", headers={"HX-Request": "true", "X-CSRFToken": token}).status_code == 422


# --- jobs run by a real worker ---------------------------------------------------------------------------------


def run_worker_burst(app, database_url: str, redis_url: str, queue: str):
    """A real worker process that can read the channels' credentials (the test app's keys)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DROPDESK_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "SECRETS_KEYS": ",".join(app.config["DROPDESK"].secrets_keys)}
    return subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "workers.context", "rq", "worker",
                           "--burst", queue], cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True,
                          text=True, timeout=120)


def test_publish_soon_queues_one_job_per_channel_and_a_real_worker_publishes_with_retries(app, world, database_url,
                                                                                          redis_url):
    from rq import Queue
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    from app import create_app, queues
    from app.models import ExceptionItem
    from tests.helpers import make_config

    stock(world["acme"], KIT_00001=10)
    keys = ",".join(app.config["DROPDESK"].secrets_keys)
    web = create_app(make_config(database_url, redis_url, SECRETS_KEYS=keys), RQ_ASYNC=True)
    set_down(world, "woocommerce", True)
    try:
        with web.app_context():
            queue = Queue(queues.DEFAULT, connection=queues.connection())
            queue.empty()
            assert channel_publish.publish_soon() == 2  # the shops; not the order API channel
            assert channel_publish.publish_soon() == 0  # both still waiting: they will see this change too
        worker = run_worker_burst(app, database_url, redis_url, queues.DEFAULT)
        assert worker.returncode == 0, worker.stderr[-2000:]
        assert published(world, "shopify")["KIT-00001"]["available"] == 9
        assert published(world, "woocommerce") == {}
        db.session.expire_all()
        item = db.session.scalars(select(ExceptionItem).where(ExceptionItem.kind == "job_failed")).one()
        assert item.payload["job"] == "publish_channel_quantities" and "503" in item.reason
        assert "503" in listings(world["channels"]["woocommerce"])["HOM-00003"].error
        with web.app_context():
            registry = ScheduledJobRegistry(queue=queue)
            [retry_id] = registry.get_job_ids()  # RQ's retry, due in 10 s; run it now
            registry.remove(retry_id)
            queue.enqueue_job(Job.fetch(retry_id, connection=queues.connection()))
    finally:
        set_down(world, "woocommerce", False)
    worker = run_worker_burst(app, database_url, redis_url, queues.DEFAULT)
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert (published(world, "woocommerce")["KIT-00001"]["available"], published(world, "woocommerce")["KIT-00001"]["listed"]) == (9, True)
    assert all(row.error is None for row in listings(world["channels"]["woocommerce"]).values())
