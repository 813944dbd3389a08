"""The simulated storefronts (a Shopify shop and a WooCommerce store): they take orders for the demo
catalogue, send signed webhooks for them to this console, answer the console's reconciliation pulls, and
keep what the console publishes to them (quantities, listings, tracking per order).

Orders live in Redis so every web worker sees the same shop. Shapes follow the channels' own REST
resources (Shopify's order object with ids beyond 2**53, WooCommerce's v3 order).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
from datetime import UTC, datetime

import httpx

from app import queues

log = logging.getLogger(__name__)

KINDS = ("shopify", "woocommerce")
KEY = "dropdesk:sandbox:storefront:{kind}:{part}"
SEND_TIMEOUT_SECONDS = 10
MAX_ORDERS_PER_CALL = 200
# Beyond 2**53 (9,007,199,254,740,992) on purpose: a float would lose the last digits.
SHOPIFY_FIRST_ID = 9_007_199_254_741_000
ALIAS_PREFIX = "SHOP-"  # an unknown-SKU order uses the shop's own SKU: what an alias fixes
_SALT = "dropdesk-sandbox-storefront"
FIRST_NAMES = ["Ada", "Ben", "Chloé", "Dev", "Eva", "Femi", "Grace", "Hugo", "Inès", "Jonas"]
LAST_NAMES = ["Moreno", "Okafor", "Martin", "Patel", "Lind", "Adeyemi", "Kim", "Weber", "Dubois", "Berg"]
ADDRESSES = [("US", "NY", "New York", "10001", "USD"), ("US", "CA", "Los Angeles", "90001", "USD"),
             ("CA", "ON", "Toronto", "M5V 2T6", "CAD"), ("DE", "BE", "Berlin", "10115", "EUR"),
             ("GB", None, "London", "SW1A 1AA", "GBP"), ("NL", None, "Amsterdam", "1011", "EUR")]


def storefront_credentials(kind: str) -> dict[str, str]:
    """The secrets a sandbox storefront signs with and accepts (stable; never real: production refuses the sandbox)."""
    def derive(name: str) -> str:
        return hashlib.sha256(f"{_SALT}:{kind}:{name}".encode()).hexdigest()[:32]

    if kind == "shopify":
        return {"webhook_secret": derive("webhook"), "api_token": "shpat_" + derive("token")}
    if kind == "woocommerce":
        return {"webhook_secret": derive("webhook"), "api_key": "ck_" + derive("key"), "api_secret": "cs_" + derive("secret")}
    return {"api_token": "dd_" + derive("token")}  # the custom storefront / ERP posting to /api/v1/orders


def sign(body: bytes, secret: str) -> str:
    """Base64 HMAC-SHA256 of the raw body: X-Shopify-Hmac-Sha256 and X-WC-Webhook-Signature alike."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _iso(moment: datetime, kind: str) -> str:
    moment = moment.astimezone(UTC).replace(microsecond=0)
    # Shopify sends an offset; WooCommerce's *_gmt fields are UTC without one.
    return moment.isoformat() if kind == "shopify" else moment.strftime("%Y-%m-%dT%H:%M:%S")


def build_order(kind: str, number: int, skus: list[str], now: datetime, *, unknown_sku: bool = False) -> dict:
    """One order in the channel's own shape, drawn the same way for the same number."""
    rng = random.Random(f"{kind}:{number}")
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    country, region, city, postcode, currency = rng.choice(ADDRESSES)
    chosen = rng.sample(skus, min(len(skus), rng.choice((1, 1, 2, 3)))) if skus else ["KIT-00001"]
    lines = []
    for position, sku in enumerate(chosen):
        price = f"{rng.randint(900, 14900) / 100:.2f}"
        shop_sku = f"{ALIAS_PREFIX}{sku}" if unknown_sku and position == 0 else sku
        lines.append({"sku": shop_sku, "qty": rng.choice((1, 1, 2)), "price": price, "title": f"Demo item {sku}",
                      "id": number * 10 + position + 1})
    total = f"{sum(float(line['price']) * line['qty'] for line in lines):.2f}"
    express = rng.random() < 0.15
    stamp = _iso(now, kind)
    if kind == "shopify":
        return {
            "id": SHOPIFY_FIRST_ID + number, "name": f"#{1000 + number}", "email": f"{first.lower()}@example.com",
            "created_at": stamp, "updated_at": stamp, "cancelled_at": None, "cancel_reason": None,
            "currency": currency, "total_price": total, "test": False, "financial_status": "paid",
            "shipping_address": {"first_name": first, "last_name": last, "address1": f"{rng.randint(1, 200)} Market Street",
                                 "address2": None, "city": city, "province_code": region, "zip": postcode,
                                 "country_code": country, "phone": "+1 555 0100" if express else None, "company": None},
            "line_items": [{"id": SHOPIFY_FIRST_ID + line["id"], "sku": line["sku"], "title": line["title"],
                            "quantity": line["qty"], "price": line["price"]} for line in lines],
            "shipping_lines": [{"code": "express" if express else "standard",
                                "title": "Express" if express else "Standard shipping"}],
            "payment_details": {"credit_card_number": "•••• •••• •••• 4242", "credit_card_company": "Visa"},
        }
    return {
        "id": 5000 + number, "number": str(5000 + number), "status": "processing", "currency": currency,
        "date_created_gmt": stamp, "date_modified_gmt": stamp, "total": total,
        "billing": {"first_name": first, "last_name": last, "email": f"{first.lower()}@example.com", "phone": "+44 20 0000"},
        "shipping": {"first_name": first, "last_name": last, "company": "", "address_1": f"{rng.randint(1, 200)} High Street",
                     "address_2": "", "city": city, "state": region or "", "postcode": postcode, "country": country,
                     "phone": ""},
        "line_items": [{"id": line["id"], "sku": line["sku"], "name": line["title"], "quantity": line["qty"],
                        "price": float(line["price"])} for line in lines],
        "shipping_lines": [{"method_id": "flat_rate", "method_title": "Express" if express else "Flat rate"}],
        "payment_method": "stripe", "transaction_id": "ch_sandbox_" + str(number),
    }


# --- the shop's memory (Redis) --------------------------------------------------------------------


def _redis():
    return queues.connection()


def save_order(kind: str, order: dict) -> None:
    changed = order["updated_at"] if kind == "shopify" else order["date_modified_gmt"] + "+00:00"
    redis = _redis()
    redis.hset(KEY.format(kind=kind, part="orders"), str(order["id"]), json.dumps(order))
    redis.zadd(KEY.format(kind=kind, part="changed"), {str(order["id"]): datetime.fromisoformat(changed).timestamp()})


def get_order(kind: str, order_id: str) -> dict | None:
    raw = _redis().hget(KEY.format(kind=kind, part="orders"), str(order_id))
    return json.loads(raw) if raw else None


def orders_changed_since(kind: str, since: datetime | None) -> list[dict]:
    """Every order changed at or after `since`, oldest change first (ties by id)."""
    redis = _redis()
    ids = redis.zrangebyscore(KEY.format(kind=kind, part="changed"), since.timestamp() if since else "-inf", "+inf")
    raws = redis.hmget(KEY.format(kind=kind, part="orders"), ids) if ids else []
    return [json.loads(raw) for raw in raws if raw]


def reset(kind: str) -> None:
    _redis().delete(*(KEY.format(kind=kind, part=part) for part in ("orders", "changed", "number", "inventory",
                                                                     "fulfilments", "fulfilment_number", "down")))


def rate() -> int:
    raw = _redis().get(KEY.format(kind="all", part="rate"))
    return int(raw) if raw else 0


def set_rate(orders_per_minute: int) -> int:
    _redis().set(KEY.format(kind="all", part="rate"), max(0, min(600, int(orders_per_minute))))
    return rate()


# --- what the console tells the shop: quantities, listings, tracking ----------------------------------


def is_down(kind: str) -> bool:
    """Control for tests and the demo: a shop that is down answers its API with 503."""
    return bool(_redis().exists(KEY.format(kind=kind, part="down")))


def set_down(kind: str, down: bool) -> bool:
    if down:
        _redis().set(KEY.format(kind=kind, part="down"), "1")
    else:
        _redis().delete(KEY.format(kind=kind, part="down"))
    return is_down(kind)


def record_inventory(kind: str, sku: str, *, available: int | None = None, listed: bool | None = None,
                     location_id=None) -> dict:
    """One product's level and listing as the shop holds them; `updates` counts the calls that touched it."""
    redis, key = _redis(), KEY.format(kind=kind, part="inventory")
    raw = redis.hget(key, sku)
    level = json.loads(raw) if raw else {"sku": sku, "available": None, "listed": True, "updates": 0}
    if available is not None:
        level["available"] = int(available)
    if listed is not None:
        level["listed"] = bool(listed)
    if location_id is not None:
        level["location_id"] = location_id
    level["updates"] += 1
    level["updated_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
    redis.hset(key, sku, json.dumps(level))
    return level


def inventory(kind: str) -> dict[str, dict]:
    return {sku.decode(): json.loads(raw) for sku, raw in _redis().hgetall(KEY.format(kind=kind, part="inventory")).items()}


def add_fulfilment(kind: str, order_id: str, tracking: dict) -> tuple[dict, bool]:
    """Record a shipment's tracking on an order; the same tracking number again returns the first (False)."""
    redis, key = _redis(), KEY.format(kind=kind, part="fulfilments")
    known = fulfilments(kind, order_id)
    for fulfilment in known:
        if tracking.get("tracking_number") and fulfilment.get("tracking_number") == tracking.get("tracking_number"):
            return fulfilment, False
    fulfilment = {**tracking, "id": int(redis.incr(KEY.format(kind=kind, part="fulfilment_number"))), "order_id": order_id, "created_at": datetime.now(UTC).replace(microsecond=0).isoformat()}
    redis.hset(key, str(order_id), json.dumps([*known, fulfilment]))
    return fulfilment, True


def fulfilments(kind: str, order_id: str) -> list[dict]:
    raw = _redis().hget(KEY.format(kind=kind, part="fulfilments"), str(order_id))
    return json.loads(raw) if raw else []


# --- what the shop does ---------------------------------------------------------------------------


def ship_to_country(kind: str, order: dict) -> str | None:
    """Where an order in the channel's own shape goes."""
    if kind == "shopify":
        return (order.get("shipping_address") or {}).get("country_code")
    return (order.get("shipping") or {}).get("country")


def build_order_selling(kind: str, number: int, sold: list[str] | dict[str, list[str]], now: datetime, *,
                        unknown_sku: bool = False) -> dict | None:
    """build_order from what the shop sells, or from what it sells per ship-to country (None when nothing is sold
    where this order goes)."""
    if isinstance(sold, dict):  # the address is drawn before the lines: a first draw says where the order goes
        sold = sold.get(ship_to_country(kind, build_order(kind, number, ["-"], now))) or []
        if not sold:
            return None
    return build_order(kind, number, sold, now, unknown_sku=unknown_sku)


def place_orders(kind: str, count: int, skus: list[str] | dict[str, list[str]], console_url: str,
                 code: str | None = None, *, deliver: bool = True, unknown_sku: bool = False,
                 now: datetime | None = None, client: httpx.Client | None = None) -> list[dict]:
    """Customers place `count` orders; each is sent to the console as a signed orders/create webhook
    (unless `deliver` is off: a webhook lost on the way, for the reconciliation pull to find).

    `skus` is what the shop sells, or what it sells per ship-to country (a shop sells what reaches its customer).
    """
    now = now or datetime.now(UTC)
    placed = []
    for _ in range(max(0, min(MAX_ORDERS_PER_CALL, count))):
        number = int(_redis().incr(KEY.format(kind=kind, part="number")))
        order = build_order_selling(kind, number, skus, now, unknown_sku=unknown_sku)
        if order is None:  # nothing the shop sells reaches this customer: no sale
            continue
        save_order(kind, order)
        placed.append(order)
        if deliver:
            send_webhook(kind, order, "created", console_url, code or kind, client=client)
    return placed


def cancel_order(kind: str, order_id: str, console_url: str, code: str | None = None, *, deliver: bool = True,
                 now: datetime | None = None, client: httpx.Client | None = None) -> dict | None:
    order = get_order(kind, order_id)
    if order is None:
        return None
    now = now or datetime.now(UTC)
    if kind == "shopify":
        order.update(cancelled_at=_iso(now, kind), updated_at=_iso(now, kind), cancel_reason="customer")
    else:
        order.update(status="cancelled", date_modified_gmt=_iso(now, kind))
    save_order(kind, order)
    if deliver:
        send_webhook(kind, order, "cancelled", console_url, code or kind, client=client)
    return order


def send_webhook(kind: str, order: dict, event: str, console_url: str, code: str, *,
                 client: httpx.Client | None = None) -> int:
    """POST one signed webhook the way the channel does; returns the console's status code."""
    body = json.dumps(order, separators=(",", ":")).encode()
    secret = storefront_credentials(kind)["webhook_secret"]
    delivery = hashlib.sha256(body + event.encode()).hexdigest()[:24]
    if kind == "shopify":
        topic = {"created": "orders/create", "updated": "orders/updated", "cancelled": "orders/cancelled"}[event]
        headers = {"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": sign(body, secret),
                   "X-Shopify-Webhook-Id": f"sandbox-{delivery}", "X-Shopify-Shop-Domain": "dropdesk-demo.myshopify.com",
                   "X-Shopify-API-Version": "2024-10"}
    else:
        topic = "order.created" if event == "created" else "order.updated"
        headers = {"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Signature": sign(body, secret),
                   "X-WC-Webhook-Delivery-ID": delivery, "X-WC-Webhook-Source": "https://woo.example.com/"}
    url = f"{console_url}/api/v1/webhooks/{kind}/{code}"
    headers["Content-Type"] = "application/json"
    try:
        if client is None:
            with httpx.Client(timeout=SEND_TIMEOUT_SECONDS) as own:
                response = own.post(url, content=body, headers=headers)
        else:
            response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        # A real shop logs a failed delivery and moves on: the reconciliation pull is what finds it.
        log.warning("sandbox_storefront_webhook_failed kind=%s order=%s error=%s", kind, order["id"], type(error).__name__)
        return 0
    log.info("sandbox_storefront_webhook kind=%s order=%s topic=%s status=%s", kind, order["id"], topic,
             response.status_code)
    return response.status_code


def place_demo_orders() -> int:
    """The cron's minute: the demo shops take `rate()` orders between them (SANDBOX on only)."""
    from flask import current_app
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Channel
    from app.services.demo import shippable_skus_by_country

    config = current_app.config["DROPDESK"]
    per_minute = rate() if config.sandbox else 0
    if not per_minute:
        return 0
    routable = shippable_skus_by_country()
    placed = 0
    for index in range(per_minute):
        kind = KINDS[index % 2]
        channel = db.session.scalar(select(Channel.code).where(Channel.kind == kind, Channel.active.is_(True)))
        if channel is None:
            continue
        placed += len(place_orders(kind, 1, routable, config.sandbox_url, channel, unknown_sku=random.random() < 0.1))
    return placed
