"""The simulated suppliers' order desks: they take (or refuse) orders under an Idempotency-Key, ship them by
the sandbox clock with a carrier and a tracking number, and can be cancelled until they ship.

State lives in Redis so every web worker sees the same desk. An order is stored once, with when it was
accepted and how long it takes to ship and arrive; its status is read off the sandbox clock, so a test
that moves the clock watches it ship and arrive without waiting. Nothing random: the same order of the
same supplier always gets the same id, carrier and tracking number.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app import queues

KEY = "dropdesk:sandbox:{code}:{part}"  # as app.sandbox.faults, whose reset leaves these alone
PARTS = ("order_mode", "orders", "order_keys", "order_posts", "order_number")
MODES = ("accept", "reject", "timeout", "accept_slowly")
DEFAULT_HOLD_SECONDS = 30
DEFAULT_SHIP_AFTER_SECONDS = 60
DEFAULT_DELIVER_AFTER_SECONDS = 600
MAX_HOLD_SECONDS = 300
MAX_AFTER_SECONDS = 30 * 24 * 3600
MAX_KEY_LENGTH = 200
MAX_LINES = 200
SHIP_TO_FIELDS = ("name", "address1", "address2", "city", "region", "postal_code", "country", "phone")

TRACKING_URLS = {
    "UPS": "https://www.ups.com/track?tracknum={number}",
    "DHL": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "PostNord": "https://www.postnord.se/en/our-tools/track-and-trace?shipmentId={number}",
    "Canada Post": "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={number}",
    "Royal Mail": "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
    "Post AT": "https://www.post.at/s/sendungsdetails?snr={number}",
    "PostNL": "https://jouw.postnl.nl/track-and-trace/{number}",
}
# Postal carriers' numbers follow UPU S10 (two letters, eight digits, a check digit, the country).
POSTAL_COUNTRIES = {"PostNord": "SE", "Canada Post": "CA", "Royal Mail": "GB", "Post AT": "AT", "PostNL": "NL"}
# The carrier each supplier ships with when the order names none it knows (as the demo's shipping services).
DEFAULT_CARRIERS = {"ACME": "UPS", "NORDIC": "PostNord", "PACIFIC": "UPS", "MAPLE": "Canada Post", "EUROHUB": "DHL",
                    "BRITBOX": "Royal Mail", "SUNRISE": "UPS", "ALPINE": "Post AT", "HARBOR": "UPS", "ATLAS": "PostNL"}


class OrderRequestError(ValueError):
    """An order (or order-mode) request a supplier would refuse with 400; the message says what is wrong."""


@dataclass(frozen=True)
class OrderMode:
    """How a supplier's order desk answers: accept, reject (409 out_of_stock), timeout (hold, then 504,
    taking nothing) or accept_slowly (take the order, then hold before answering)."""

    mode: str = "accept"
    hold_seconds: int = DEFAULT_HOLD_SECONDS
    ship_after_seconds: int = DEFAULT_SHIP_AFTER_SECONDS
    deliver_after_seconds: int = DEFAULT_DELIVER_AFTER_SECONDS

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "hold_seconds": self.hold_seconds, "ship_after_seconds": self.ship_after_seconds,
                "deliver_after_seconds": self.deliver_after_seconds}


@dataclass(frozen=True)
class OrderBody:
    """A well-formed order: where it goes, the service asked for, (sku, qty) lines."""

    reference: str | None
    ship_to: dict[str, Any]
    service: str | None
    lines: tuple[tuple[str, int], ...]


# --- reading requests ------------------------------------------------------------------------------


def parse_order_mode(raw: Any) -> OrderMode:
    """An order-mode request body; what it leaves out takes its default (the setting replaces the last)."""
    if not isinstance(raw, dict):
        raise OrderRequestError('send a JSON object, e.g. {"mode": "reject"}')
    unknown = sorted(set(raw) - set(OrderMode().to_json()))
    if unknown:
        raise OrderRequestError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(OrderMode().to_json())}")
    mode = raw.get("mode", "accept")
    if mode not in MODES:
        raise OrderRequestError(f"mode must be one of {', '.join(MODES)}")
    return OrderMode(
        mode=mode,
        hold_seconds=_whole(raw, "hold_seconds", DEFAULT_HOLD_SECONDS, MAX_HOLD_SECONDS),
        ship_after_seconds=_whole(raw, "ship_after_seconds", DEFAULT_SHIP_AFTER_SECONDS, MAX_AFTER_SECONDS),
        deliver_after_seconds=_whole(raw, "deliver_after_seconds", DEFAULT_DELIVER_AFTER_SECONDS, MAX_AFTER_SECONDS),
    )


def parse_idempotency_key(raw: str | None) -> str:
    key = (raw or "").strip()
    if not key:
        raise OrderRequestError("the Idempotency-Key header is required: the same key always means the same order")
    if len(key) > MAX_KEY_LENGTH:
        raise OrderRequestError(f"the Idempotency-Key may be at most {MAX_KEY_LENGTH} characters")
    return key


def parse_order_body(raw: Any) -> OrderBody:
    """The order a POST carries; OrderRequestError names the first thing wrong with it."""
    if not isinstance(raw, dict):
        raise OrderRequestError('send a JSON object: {"reference", "ship_to", "service", "lines": [{"sku", "qty"}]}')
    lines = raw.get("lines")
    if not isinstance(lines, list) or not lines:
        raise OrderRequestError("lines must be a non-empty list of {\"sku\", \"qty\"}")
    if len(lines) > MAX_LINES:
        raise OrderRequestError(f"an order may have at most {MAX_LINES} lines")
    parsed = []
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            raise OrderRequestError(f"lines[{index}] must be an object with sku and qty")
        sku, qty = line.get("sku"), line.get("qty")
        if not isinstance(sku, str) or not sku.strip():
            raise OrderRequestError(f"lines[{index}].sku must be the supplier's SKU")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            raise OrderRequestError(f"lines[{index}].qty must be a whole number of at least 1")
        parsed.append((sku.strip(), qty))
    ship_to = raw.get("ship_to") or {}
    if not isinstance(ship_to, dict):
        raise OrderRequestError("ship_to must be an object (name, address1, city, postal_code, country, …)")
    service = raw.get("service")
    if service is not None and not isinstance(service, str):
        raise OrderRequestError("service must be text or null")
    reference = raw.get("reference")
    return OrderBody(reference if isinstance(reference, str) else None,
                     {name: ship_to.get(name) for name in SHIP_TO_FIELDS}, service or None, tuple(parsed))


# --- the desk's memory (Redis) ---------------------------------------------------------------------


def _key(code: str, part: str) -> str:
    return KEY.format(code=code, part=part)


def set_order_mode(code: str, mode: OrderMode) -> None:
    queues.connection().set(_key(code, "order_mode"), json.dumps(mode.to_json()))


def current_order_mode(code: str) -> OrderMode:
    stored = queues.connection().get(_key(code, "order_mode"))
    return parse_order_mode(json.loads(stored)) if stored else OrderMode()


def count_post(code: str, key: str) -> int:
    """Count one POST under this key (whatever came of it): what tests read to prove "once per key"."""
    return int(queues.connection().hincrby(_key(code, "order_posts"), key, 1))


def existing_order(code: str, key: str, now: datetime) -> dict | None:
    """The order placed under this key before, as it stands now."""
    redis = queues.connection()
    order_id = redis.hget(_key(code, "order_keys"), key)
    return get_order(code, order_id.decode(), now) if order_id else None


def place_order(code: str, key: str, body: OrderBody, mode: OrderMode, now: datetime) -> tuple[dict, bool]:
    """Take the order under `key`, or give back the one already taken under it: (order now, newly taken)."""
    redis = queues.connection()
    earlier = existing_order(code, key, now)
    if earlier is not None:
        return earlier, False
    order_id = f"{code}-{int(redis.incr(_key(code, 'order_number'))):06d}"
    record = {"id": order_id, "reference": body.reference or key, "idempotency_key": key,
              "lines": [{"sku": sku, "qty": qty} for sku, qty in body.lines], "ship_to": body.ship_to,
              "service": body.service, "carrier": carrier_for(code, body.service), "created_at": _iso(now),
              "ship_after_seconds": mode.ship_after_seconds, "deliver_after_seconds": mode.deliver_after_seconds,
              "shipped_at": None, "cancelled_at": None}
    redis.hset(_key(code, "orders"), order_id, json.dumps(record))
    # Two POSTs with one key at once: the first to claim the key wins; the other's record is dropped.
    if not redis.hsetnx(_key(code, "order_keys"), key, order_id):
        redis.hdel(_key(code, "orders"), order_id)
        return existing_order(code, key, now), False
    return view(record, now), True


def get_order(code: str, order_id: str, now: datetime) -> dict | None:
    record = _record(code, order_id)
    return view(record, now) if record else None


def cancel_order(code: str, order_id: str, now: datetime) -> str | None:
    """'cancelled' (also when it already was), 'already_shipped', or None for an unknown order."""
    record = _record(code, order_id)
    if record is None:
        return None
    status = view(record, now)["status"]
    if status in ("shipped", "delivered"):
        return "already_shipped"
    if status != "cancelled":
        record["cancelled_at"] = _iso(now)
        _save(code, record)
    return "cancelled"


def ship_order(code: str, order_id: str, now: datetime) -> dict | None:
    """Ship it now (a control): an order already shipped keeps its shipment; a cancelled one cannot ship."""
    record = _record(code, order_id)
    if record is None:
        return None
    shown = view(record, now)
    if shown["status"] == "cancelled":
        raise OrderRequestError(f"{order_id} was cancelled; it cannot ship")
    if shown["status"] == "accepted":
        record["shipped_at"] = _iso(now)
        _save(code, record)
        shown = view(record, now)
    return shown


def orders_and_posts(code: str, now: datetime) -> dict[str, Any]:
    """Every order (oldest first) as it stands now, and how many POSTs each key got."""
    redis = queues.connection()
    records = [json.loads(raw) for raw in redis.hvals(_key(code, "orders"))]
    posts = {name.decode(): int(count) for name, count in redis.hgetall(_key(code, "order_posts")).items()}
    return {"supplier": code, "orders": [view(record, now) for record in sorted(records, key=lambda r: r["id"])],
            "posts_by_key": dict(sorted(posts.items())), "mode": current_order_mode(code).to_json()}


def reset(code: str) -> None:
    """No orders, nothing counted, numbering from 1 again, and the desk accepting as by default."""
    queues.connection().delete(*(_key(code, part) for part in PARTS))


def _record(code: str, order_id: str) -> dict | None:
    raw = queues.connection().hget(_key(code, "orders"), order_id)
    return json.loads(raw) if raw else None


def _save(code: str, record: dict) -> None:
    queues.connection().hset(_key(code, "orders"), record["id"], json.dumps(record))


# --- what an order looks like at a given moment ---------------------------------------------------


def view(record: dict, now: datetime) -> dict[str, Any]:
    """The order as the supplier's API shows it at `now` of the sandbox clock."""
    shipped_at = _shipped_at(record)
    status, shipments, delivered_at = "accepted", [], None
    if record.get("cancelled_at"):
        status = "cancelled"
    elif shipped_at <= now:
        status = "shipped"
        number = tracking_number(record["carrier"], record["id"])
        shipments = [{"carrier": record["carrier"], "tracking_number": number,
                      "tracking_url": TRACKING_URLS[record["carrier"]].format(number=number),
                      "shipped_at": _iso(shipped_at)}]
        delivered = shipped_at + timedelta(seconds=record["deliver_after_seconds"])
        if delivered <= now:
            status, delivered_at = "delivered", _iso(delivered)
    return {"id": record["id"], "status": status, "reference": record["reference"], "lines": record["lines"],
            "service": record["service"], "created_at": record["created_at"], "cancelled_at": record.get("cancelled_at"),
            "delivered_at": delivered_at, "shipments": shipments}


def _shipped_at(record: dict) -> datetime:
    if record.get("shipped_at"):
        return datetime.fromisoformat(record["shipped_at"])
    return datetime.fromisoformat(record["created_at"]) + timedelta(seconds=record["ship_after_seconds"])


def carrier_for(code: str, service: str | None) -> str:
    """The carrier the order's service names, else the supplier's express or everyday carrier."""
    default = DEFAULT_CARRIERS.get(code, "UPS")
    if not service:
        return default
    wanted = service.casefold()
    for carrier in sorted(TRACKING_URLS, key=len, reverse=True):
        if wanted.startswith(carrier.casefold()):
            return carrier
    if "express" in wanted:
        return "DHL" if default != "DHL" else "UPS"
    return default


def tracking_number(carrier: str, order_id: str) -> str:
    """The same number for the same order every time, in the carrier's own shape."""
    digest = hashlib.sha256(f"dropdesk-sandbox-tracking:{carrier}:{order_id}".encode()).hexdigest()
    figures = str(int(digest, 16))
    if carrier == "UPS":
        return "1Z" + digest[:16].upper()
    if carrier == "DHL":
        return figures[:10]
    if carrier in POSTAL_COUNTRIES:
        serial = figures[:8]
        return f"LX{serial}{_s10_check_digit(serial)}{POSTAL_COUNTRIES[carrier]}"
    return figures[:12]


def _s10_check_digit(serial: str) -> int:
    check = 11 - sum(int(digit) * weight for digit, weight in zip(serial, (8, 6, 4, 2, 3, 5, 9, 7), strict=True)) % 11
    return {10: 0, 11: 5}.get(check, check)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _whole(raw: dict, name: str, default: int, maximum: int) -> int:
    value = raw.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise OrderRequestError(f"{name} must be a whole number from 0 to {maximum}")
    return value
