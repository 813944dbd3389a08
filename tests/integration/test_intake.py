"""Order intake over real HTTP: webhooks verified, stored first, deduplicated; the order API's idempotency;
failures held in the queue and replayed after a fix; the sweeper; the reconciliation pull from the sandbox."""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEntry, Channel, ExceptionItem, InboundPayload, Order, Product, User
from app.sandbox import storefront
from app.services import channel_pull, intake

SKUS = ["KIT-00001", "KIT-00002", "HOM-00003"]
API_TOKEN = "dd_test_token_for_the_erp"


@pytest.fixture
def shop(app):
    """Our catalogue and the three kinds of channel, wired to the sandbox storefronts' secrets."""
    for number, sku in enumerate(SKUS):
        db.session.add(Product(sku=sku, name=f"Product {sku}", price=Decimal("10.00") + number))
    channels = {}
    for kind in ("shopify", "woocommerce", "api"):
        channel = Channel(code=kind, kind=kind, name=kind.title(), sku_aliases={}, allowed_countries=[],
                          required_fields=[], express_required_fields=[])
        channel.credentials = storefront.storefront_credentials(kind) if kind != "api" else {"api_token": API_TOKEN}
        db.session.add(channel)
        channels[kind] = channel
    db.session.commit()
    for kind in storefront.KINDS:
        storefront.reset(kind)
    return channels


def shopify_order(order_id: int = 9_007_199_254_740_993, sku: str = "KIT-00001", **changes) -> dict:
    order = {"id": order_id, "name": "#1001", "email": "ada@example.com", "created_at": "2026-11-30T10:00:00-05:00",
             "updated_at": "2026-11-30T10:00:00-05:00", "currency": "USD", "total_price": "21.00",
             "shipping_address": {"first_name": "Ada", "last_name": "Moreno", "address1": "1 Main St", "city": "Albany",
                                  "province_code": "NY", "zip": "12201", "country_code": "US"},
             "line_items": [{"id": 9_007_199_254_740_995, "sku": sku, "title": "Mug", "quantity": 2, "price": "10.50"}],
             "payment_details": {"credit_card_number": "•••• 4242", "credit_card_company": "Visa"}}
    order.update(changes)
    return order


def post_shopify(client, body: bytes, *, topic="orders/create", webhook_id="wh-1", secret=None):
    secret = secret or storefront.storefront_credentials("shopify")["webhook_secret"]
    return client.post("/api/v1/webhooks/shopify/shopify", data=body, headers={
        "X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id, "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": storefront.sign(body, secret)})


def post_api(client, order: dict, key: str = "key-1", token: str = API_TOKEN):
    return client.post("/api/v1/orders", data=json.dumps(order),
                       headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key,
                                "Content-Type": "application/json"})


def canonical(external_id="erp-1", sku="KIT-00002", **changes) -> dict:
    order = {"external_id": external_id, "number": "ERP-1", "currency": "EUR", "email": "buyer@example.com",
             "total": "22.00", "ship_to": {"name": "Eva Lind", "address1": "Storgatan 1", "city": "Berlin",
                                           "postal_code": "10115", "country": "DE"},
             "lines": [{"external_id": "1", "sku": sku, "qty": 2, "unit_price": "11.00"}]}
    order.update(changes)
    return order


def orders() -> list[Order]:
    db.session.expire_all()
    return list(db.session.scalars(select(Order).order_by(Order.id)))


def test_a_signed_shopify_order_is_stored_then_accepted_with_its_timeline_and_exact_big_ids(client, shop):
    body = json.dumps(shopify_order()).encode()
    response = post_shopify(client, body)
    assert response.status_code == 200 and response.json["status"] == "stored"
    [order] = orders()
    assert (order.channel, order.external_id, order.status) == ("shopify", "9007199254740993", "accepted")
    assert order.lines[0].external_id == "9007199254740995"  # 2**53 + 3: a float would have said ...992
    assert order.total == Decimal("21.00") and order.ship_to_country == "US"
    assert [event.kind for event in order.events] == ["received", "validated", "accepted"]
    payload = db.session.get(InboundPayload, order.inbound_payload_id)
    assert payload.body == body.decode() and payload.status == "processed"
    assert "x-shopify-hmac-sha256" not in {name.lower() for name in payload.headers}


def test_a_bad_signature_is_refused_with_401_recorded_and_nothing_processed(client, shop):
    body = json.dumps(shopify_order()).encode()
    response = post_shopify(client, body, secret="not-the-secret")
    assert response.status_code == 401
    assert orders() == []
    [attempt] = db.session.scalars(select(InboundPayload)).all()
    assert (attempt.status, attempt.error) == ("rejected", "signature missing or wrong")


def test_the_same_webhook_delivered_five_times_makes_one_order(client, shop):
    body = json.dumps(shopify_order()).encode()
    answers = [post_shopify(client, body, webhook_id="same").json["status"] for _ in range(3)]
    answers += [post_shopify(client, body, webhook_id=f"other-{n}").json["status"] for n in range(2)]
    assert answers == ["stored", "duplicate", "duplicate", "stored", "stored"]
    assert len(orders()) == 1  # the two other webhook ids are the same order id: recognised, nothing changed
    assert db.session.scalar(select(func.count()).select_from(InboundPayload)) == 3


def test_a_shopify_cancellation_cancels_the_order_and_says_so_on_its_timeline(client, shop):
    post_shopify(client, json.dumps(shopify_order()).encode())
    cancelled = shopify_order(cancelled_at="2026-11-30T12:00:00Z", cancel_reason="customer",
                              updated_at="2026-11-30T12:00:00Z")
    post_shopify(client, json.dumps(cancelled).encode(), topic="orders/cancelled", webhook_id="wh-2")
    [order] = orders()
    assert order.status == "cancelled" and order.cancel_reason == "customer"
    assert order.events[-1].kind == "cancelled" and order.events[-1].actor == "channel shopify"


def test_a_newer_update_changes_the_order_and_an_older_one_does_not(client, shop):
    post_shopify(client, json.dumps(shopify_order()).encode())
    moved = shopify_order(updated_at="2026-11-30T18:00:00Z")
    moved["shipping_address"]["city"] = "Buffalo"
    post_shopify(client, json.dumps(moved).encode(), topic="orders/updated", webhook_id="wh-2")
    stale = shopify_order(updated_at="2026-11-30T16:00:00Z")
    stale["shipping_address"]["city"] = "Old Town"
    post_shopify(client, json.dumps(stale).encode(), topic="orders/updated", webhook_id="wh-3")
    [order] = orders()
    assert order.ship_to_city == "Buffalo"
    assert [event.kind for event in order.events][-1] == "updated"


def test_woocommerce_pings_unsigned_and_dedupes_on_order_id_and_modification_time(client, shop):
    ping = client.post("/api/v1/webhooks/woocommerce/woocommerce", data=b"webhook_id=7",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert ping.status_code == 200 and ping.json == {"status": "pong"}
    order = storefront.build_order("woocommerce", 1, SKUS, __import__("datetime").datetime(2026, 11, 30, 9, 0))
    body = json.dumps(order).encode()
    secret = storefront.storefront_credentials("woocommerce")["webhook_secret"]
    for delivery in ("d1", "d2"):  # WooCommerce's delivery id changes on every delivery
        response = client.post("/api/v1/webhooks/woocommerce/woocommerce", data=body, headers={
            "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Delivery-ID": delivery,
            "X-WC-Webhook-Signature": storefront.sign(body, secret), "Content-Type": "application/json"})
        assert response.status_code == 200
    assert [(o.channel, o.external_id) for o in orders()] == [("woocommerce", "5001")]
    unsigned = client.post("/api/v1/webhooks/woocommerce/woocommerce", data=body,
                           headers={"X-WC-Webhook-Topic": "order.created", "Content-Type": "application/json"})
    assert unsigned.status_code == 401


def test_the_order_api_answers_a_repeat_with_the_original_and_a_changed_body_with_409(client, shop):
    first = post_api(client, canonical())
    assert first.status_code == 201 and first.json["order"]["status"] == "accepted"
    again = post_api(client, canonical())
    assert (again.status_code, again.json) == (201, first.json)
    changed = post_api(client, canonical(total="99.00"))
    assert changed.status_code == 409 and changed.json["error"] == "idempotency_key_reused"
    assert len(orders()) == 1
    assert post_api(client, canonical(), token="wrong").status_code == 401
    no_key = client.post("/api/v1/orders", data=json.dumps(canonical()), headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert no_key.status_code == 400 and no_key.json["error"] == "idempotency_key_required"


def test_an_invalid_api_order_gets_field_paths_and_waits_in_the_queue_with_its_payload(client, shop):
    response = post_api(client, canonical(sku="NOPE-1", ship_to={"name": "X", "country": "DE"}), key="bad-1")
    assert response.status_code == 422
    assert [(e["path"], e["reason"]) for e in response.json["errors"]] == [
        ("ship_to.address1", "missing"), ("ship_to.city", "missing"), ("lines[0].sku", "unknown_sku")]
    item = db.session.get(ExceptionItem, response.json["exception_item"])
    assert (item.kind, item.reason_code, item.channel, item.order_ref) == ("intake_failed", "missing", "api", "erp-1")
    assert item.payload["received"]["lines"][0]["sku"] == "NOPE-1" and item.order_value == Decimal("22.00")
    not_json = client.post("/api/v1/orders", data=b"{nope", headers={"Authorization": f"Bearer {API_TOKEN}",
                                                                     "Idempotency-Key": "k-json"})
    assert not_json.status_code == 400 and not_json.json["error"] == "invalid_json"
    assert db.session.scalar(select(func.count()).select_from(InboundPayload).where(InboundPayload.status == "failed")) == 1


def test_an_unknown_sku_is_held_then_accepted_after_an_alias_is_added_and_the_order_replayed(client, shop, make_user):
    post_shopify(client, json.dumps(shopify_order(sku="SHOP-KIT-00001")).encode())
    assert orders() == []
    item = db.session.scalars(select(ExceptionItem)).one()
    assert item.reason_code == "unknown_sku" and item.payload["unknown_skus"] == ["SHOP-KIT-00001"]
    assert item.payload["received"]["payment_details"] == "••••"  # payment data never kept in the item
    ops = make_user("ops")
    outcome = intake.replay(item.id, db.session.get(User, ops.id), aliases={"SHOP-KIT-00001": "KIT-00001"})
    assert outcome.status == "accepted"
    [order] = orders()
    assert (order.lines[0].sku, order.lines[0].channel_sku) == ("KIT-00001", "SHOP-KIT-00001")
    assert [e.kind for e in order.events] == ["received", "held", "replayed", "validated", "accepted"]
    db.session.refresh(item)
    assert item.status == "resolved" and item.order_id == order.id
    assert db.session.get(Channel, shop["shopify"].id).sku_aliases == {"SHOP-KIT-00001": "KIT-00001"}
    assert {e.action for e in db.session.scalars(select(AuditEntry))} >= {"channel.sku_aliases", "exception.replayed"}


def test_channel_rules_hold_test_orders_disallowed_countries_and_missing_required_fields(client, shop):
    channel = shop["api"]
    channel.allowed_countries, channel.express_required_fields = ["US"], ["ship_to.phone"]
    db.session.commit()
    response = post_api(client, canonical(test=True, service_level="express"), key="rules-1")
    assert [(e["path"], e["reason"]) for e in response.json["errors"]] == [
        ("test", "test_order"), ("ship_to.country", "country_not_allowed"), ("ship_to.phone", "required")]


def test_payloads_stored_while_redis_was_down_are_taken_in_by_the_sweeper(app, shop, database_url, other_app):
    from app import create_app
    from tests.helpers import make_config

    keys = ",".join(app.config["DROPDESK"].secrets_keys)  # the same vault, a Redis nobody answers on
    offline = create_app(make_config(database_url, "redis://127.0.0.1:1/0", SECRETS_KEYS=keys))
    body = json.dumps(shopify_order()).encode()
    with offline.app_context():
        answers = [post_shopify(offline.test_client(), body, webhook_id=f"down-{n}").status_code for n in range(3)]
    assert answers == [200, 200, 200]  # the channel still hears 200: the payloads are stored
    assert orders() == []
    assert intake.requeue_forgotten(older_than=timedelta(0)) == 3
    assert len(orders()) == 1
    assert intake.requeue_forgotten(older_than=timedelta(0)) == 0


def test_a_webhook_lost_on_purpose_is_found_by_the_reconciliation_pull_over_http(client, shop, sandbox_url):
    for kind in ("shopify", "woocommerce"):
        shop[kind].base_url = f"{sandbox_url}/sandbox/storefront/{kind}"
    db.session.commit()
    with httpx.Client(timeout=10) as http:
        for kind in ("shopify", "woocommerce"):
            delivered = http.post(f"{sandbox_url}/sandbox/storefront/{kind}/orders",
                                  json={"count": 2, "skus": SKUS, "console_url": sandbox_url})
            lost = http.post(f"{sandbox_url}/sandbox/storefront/{kind}/orders",
                             json={"count": 1, "skus": SKUS, "deliver": False})
            assert delivered.status_code == lost.status_code == 201
    assert len(orders()) == 4
    results = [channel_pull.pull_channel(shop[kind].id) for kind in ("shopify", "woocommerce")]
    assert [(r["seen"], r["accepted"]) for r in results] == [(3, 1), (3, 1)]
    assert len(orders()) == 6
    again = channel_pull.pull_channel(shop["shopify"].id)
    assert again["accepted"] == 0 and len(orders()) == 6
    shopify_ids = {o.external_id for o in orders() if o.channel == "shopify"}
    assert all(int(i) > 2**53 for i in shopify_ids)


def test_a_pull_with_wrong_credentials_is_recorded_on_the_channel(shop, sandbox_url):
    channel = shop["shopify"]
    channel.base_url, channel.credentials = f"{sandbox_url}/sandbox/storefront/shopify", {"api_token": "wrong"}
    db.session.commit()
    with pytest.raises(channel_pull.PullError):
        channel_pull.pull_channel(channel.id)
    db.session.refresh(channel)
    assert "401" in channel.last_poll_error and "wrong" not in channel.last_poll_error


def test_the_openapi_description_names_the_order_endpoint_and_its_answers(client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]["/orders"]["post"]["responses"]) == {"200", "201", "400", "401", "409", "422"}


def test_a_webhook_answered_by_the_web_is_taken_in_by_a_real_worker_process(app, shop, database_url, redis_url):
    from app import create_app
    from tests.helpers import make_config
    from tests.integration.test_jobs_and_worker import run_worker_burst

    keys = ",".join(app.config["DROPDESK"].secrets_keys)
    web = create_app(make_config(database_url, redis_url, SECRETS_KEYS=keys), RQ_ASYNC=True)
    body = json.dumps(shopify_order()).encode()
    with web.app_context():
        answer = post_shopify(web.test_client(), body)
    assert answer.status_code == 200 and orders() == []  # answered before any processing
    worker = run_worker_burst(database_url, redis_url, "high")
    assert worker.returncode == 0, worker.stderr[-2000:]
    [order] = orders()
    assert order.external_id == "9007199254740993" and order.status == "accepted"


@pytest.mark.parametrize("kind", ["shopify", "woocommerce"])
def test_a_cancellation_sent_by_the_storefront_cancels_the_order_over_http(shop, sandbox_url, kind):
    with httpx.Client(timeout=10) as http:
        [order_id] = http.post(f"{sandbox_url}/sandbox/storefront/{kind}/orders",
                               json={"count": 1, "skus": SKUS, "console_url": sandbox_url}).json()["orders"]
        assert [o.status for o in orders()] == ["accepted"]
        assert http.post(f"{sandbox_url}/sandbox/storefront/{kind}/orders/{order_id}/cancel",
                         json={"console_url": sandbox_url}).status_code == 200
    [order] = orders()
    assert (order.external_id, order.status) == (order_id, "cancelled")
    assert [e.kind for e in order.events][-1] == "cancelled"


def test_rotating_the_keys_re_encrypts_channel_secrets_too(app, shop):
    from app.services import credentials

    before = shop["shopify"].credentials_ciphertext
    assert credentials.rotate_all() >= 3
    channel = db.session.get(Channel, shop["shopify"].id)
    assert channel.credentials_ciphertext != before
    assert channel.credentials == storefront.storefront_credentials("shopify")


def test_an_api_repeat_after_the_sweeper_took_the_order_in_gets_the_order_it_made(client, shop):
    from app.services import intake as intake_service

    body = json.dumps(canonical()).encode()
    payload = InboundPayload(source=intake_service.SOURCE, channel_id=shop["api"].id, delivery_id="api:key:k-9",
                             headers={}, body=body.decode(), topic="api", status="pending",
                             body_sha256=__import__("hashlib").sha256(body).hexdigest())
    db.session.add(payload)
    db.session.commit()  # stored, then the web process died before it could answer
    intake_service.requeue_forgotten(older_than=timedelta(0))
    again = client.post("/api/v1/orders", data=body, headers={"Authorization": f"Bearer {API_TOKEN}",
                                                              "Idempotency-Key": "k-9"})
    assert again.status_code == 201 and again.json["order"]["external_id"] == "erp-1"
    assert len(orders()) == 1


def test_five_deliveries_of_one_order_at_the_same_moment_make_one_order(shop, sandbox_url):
    from concurrent.futures import ThreadPoolExecutor

    body = json.dumps(shopify_order()).encode()
    secret = storefront.storefront_credentials("shopify")["webhook_secret"]

    def deliver(number: int) -> int:
        return httpx.post(f"{sandbox_url}/api/v1/webhooks/shopify/shopify", content=body, timeout=30, headers={
            "X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": f"burst-{number}",
            "X-Shopify-Hmac-Sha256": storefront.sign(body, secret)}).status_code

    with ThreadPoolExecutor(5) as pool:
        assert list(pool.map(deliver, range(5))) == [200] * 5
    assert len(orders()) == 1
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(InboundPayload)
                             .where(InboundPayload.status == "pending")) == 0
