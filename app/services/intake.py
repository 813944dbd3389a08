"""Order intake: every order from every channel stored first, then normalized, validated and taken in.

An order that fails validation is never dropped: it becomes an `intake_failed` exception item holding
the reasons and the masked original, which staff fix (a SKU alias, the address) and replay through
the same checks. Duplicate deliveries (webhook id, order id + modification time, Idempotency-Key)
change nothing.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app import channels as parsers
from app import queues
from app.channels import signatures
from app.channels.canonical import CanonicalOrder, OrderError, error_to_json, order_to_json, utc_timestamp
from app.channels.context import (
    ChannelRules,
    apply_aliases,
    fix_ship_to,
    load_payload,
    mask_payment_data,
    service_level_of,
    validate_for_channel,
)
from app.extensions import db
from app.models import Channel, ExceptionItem, InboundPayload, Order, OrderEvent, OrderLine, Product, User
from app.models.types import utcnow
from app.services import ServiceError, audit, exceptions, fulfilment

log = logging.getLogger(__name__)

SOURCE = "channel"
PARSER_OF_KIND = {"shopify": "shopify", "woocommerce": "woocommerce", "api": "generic", "csv": "generic"}
KEPT_HEADERS = ("content-type", "user-agent", "x-shopify-topic", "x-shopify-webhook-id", "x-shopify-shop-domain",
                "x-shopify-api-version", "x-shopify-triggered-at", "x-wc-webhook-topic", "x-wc-webhook-delivery-id",
                "x-wc-webhook-id", "x-wc-webhook-source", "idempotency-key")
SHOPIFY_TOPICS = ("orders/create", "orders/updated", "orders/cancelled")
WOOCOMMERCE_TOPICS = ("order.created", "order.updated")
REQUEUE_AFTER = timedelta(minutes=2)
MAX_BODY = 5 * 1024 * 1024
KIND = "intake_failed"


@dataclass(frozen=True)
class IntakeAnswer:
    """What an endpoint sends back: status and JSON body."""

    status: int
    body: dict


@dataclass(frozen=True)
class IntakeOutcome:
    """What taking in one stored payload did."""

    status: str  # accepted, updated, cancelled, duplicate, held, unreadable
    order: Order | None = None
    item: ExceptionItem | None = None
    errors: tuple[OrderError, ...] = ()


# --- receiving: store first, answer at once ------------------------------------------------------


def receive_webhook(kind: str, code: str, raw_body: bytes, headers) -> IntakeAnswer:
    """A Shopify or WooCommerce webhook: verified, stored, queued; 200 within milliseconds."""
    channel = db.session.scalar(select(Channel).where(Channel.code == code))
    if channel is None or channel.kind != kind or not channel.active:
        return IntakeAnswer(404, {"error": f"no active {kind} channel {code}"})
    if len(raw_body) > MAX_BODY:
        return IntakeAnswer(413, {"error": "body larger than 5 MB"})
    kept = _kept_headers(headers)
    body_text = raw_body.decode("utf-8", errors="replace")
    if kind == "woocommerce" and _is_woocommerce_ping(raw_body, headers):
        # WooCommerce pings a new webhook unsigned, with `webhook_id=N`; it disables a hook the ping fails.
        log.info("channel_ping channel=%s", code)
        return IntakeAnswer(200, {"status": "pong"})
    secret = channel.credentials.get("webhook_secret", "")
    if not signatures.webhook_signature_is_valid(kind, raw_body, headers, secret):
        # Recorded, so a misconfigured secret shows up in the console, but never processed.
        db.session.add(InboundPayload(source=SOURCE, channel_id=channel.id, headers=kept, body=body_text,
                                      topic=_topic(kind, headers), status="rejected", error="signature missing or wrong"))
        db.session.commit()
        log.warning("webhook_rejected channel=%s reason=bad_signature", code)
        return IntakeAnswer(401, {"error": "signature missing or wrong"})
    topic = _topic(kind, headers)
    delivery_id = _delivery_id(kind, code, raw_body, headers)
    return _store_and_enqueue(channel, topic, delivery_id, kept, body_text)


def receive_api_order(raw_body: bytes, headers) -> IntakeAnswer:
    """`POST /api/v1/orders`: bearer token per channel, Idempotency-Key, processed at once with field errors."""
    token = (headers.get("Authorization") or "").removeprefix("Bearer ").strip()
    channel = _channel_for_token(token) if token else None
    if channel is None:
        return IntakeAnswer(401, {"error": "unauthorized", "message": "Send Authorization: Bearer <channel token>."})
    key = (headers.get("Idempotency-Key") or "").strip()
    if not key or len(key) > 100:
        return IntakeAnswer(400, {"error": "idempotency_key_required",
                                  "message": "Send an Idempotency-Key header (1-100 characters) with every order."})
    if len(raw_body) > MAX_BODY:
        return IntakeAnswer(413, {"error": "body_too_large", "message": "Body larger than 5 MB."})
    digest = hashlib.sha256(raw_body).hexdigest()
    payload = InboundPayload(source=SOURCE, channel_id=channel.id, delivery_id=f"{channel.code}:key:{key}",
                             headers=_kept_headers(headers), body=raw_body.decode("utf-8", errors="replace"),
                             topic="api", body_sha256=digest, status="pending")
    db.session.add(payload)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return _idempotent_repeat(channel, key, digest)
    outcome = process_payload(payload.id)
    if outcome is None:  # another process claimed it first (a sweeper run at the same moment)
        return IntakeAnswer(409, {"error": "request_in_progress",
                                  "message": "This order is being processed; repeat the request to get its answer."})
    answer = _api_answer(outcome, payload)
    stored = db.session.get(InboundPayload, payload.id)
    stored.response_status, stored.response_body = answer.status, answer.body
    db.session.commit()
    return answer


def _store_and_enqueue(channel: Channel, topic: str | None, delivery_id: str | None, kept: dict,
                       body_text: str) -> IntakeAnswer:
    payload = InboundPayload(source=SOURCE, channel_id=channel.id, delivery_id=delivery_id, headers=kept,
                             body=body_text, topic=topic, status="pending")
    db.session.add(payload)
    try:
        db.session.flush()
        payload_id = payload.id  # read before the commit expires it: no second query to answer
        db.session.commit()  # stored before the 200 (invariant 3)
    except IntegrityError:
        db.session.rollback()
        log.info("webhook_duplicate channel=%s delivery=%s", channel.code, delivery_id)
        return IntakeAnswer(200, {"status": "duplicate", "delivery_id": delivery_id})
    _enqueue()
    return IntakeAnswer(200, {"status": "stored", "id": payload_id})


DRAIN_FLAG = "intake"


def _enqueue(*, even_if_pending: bool = False) -> None:
    """Queue the job that takes in every pending payload, unless one is queued and not yet started."""
    try:
        if even_if_pending:
            queues.enqueue("take_in_pending_payloads", queue=queues.HIGH)
        else:
            queues.enqueue_unless_pending(DRAIN_FLAG, "take_in_pending_payloads", queue=queues.HIGH)
    except RedisError as error:
        # Stored already: the sweeper queues it once Redis answers again. The channel still gets its 200.
        log.warning("intake_enqueue_failed error=%s", type(error).__name__)


def _idempotent_repeat(channel: Channel, key: str, digest: str) -> IntakeAnswer:
    original = db.session.scalar(select(InboundPayload).where(InboundPayload.source == SOURCE,
                                                              InboundPayload.delivery_id == f"{channel.code}:key:{key}"))
    if original is None or original.body_sha256 != digest:
        return IntakeAnswer(409, {"error": "idempotency_key_reused",
                                  "message": "This Idempotency-Key was used with a different body."})
    if original.response_status is None:
        if original.status == "pending":
            return IntakeAnswer(409, {"error": "request_in_progress",
                                      "message": "The first request with this Idempotency-Key is still being processed."})
        # Taken in by another process (the sweeper) before the first request could store its answer.
        answer = _answer_from_outcome_of(original)
        original.response_status, original.response_body = answer.status, answer.body
        db.session.commit()
        return answer
    return IntakeAnswer(original.response_status, original.response_body or {})


def _answer_from_outcome_of(payload: InboundPayload) -> IntakeAnswer:
    order = db.session.scalar(select(Order).where(Order.inbound_payload_id == payload.id))
    if order is not None:
        return _api_answer(IntakeOutcome("accepted", order=order), payload)
    item = db.session.scalar(select(ExceptionItem).where(ExceptionItem.inbound_payload_id == payload.id))
    if payload.status == "failed" or item is None:
        return _api_answer(IntakeOutcome("unreadable"), payload)
    errors = tuple(OrderError(e["path"], e["reason"], e.get("message", "")) for e in (item.payload or {}).get("errors", []))
    return _api_answer(IntakeOutcome("held", item=item, errors=errors), payload)


def _api_answer(outcome: IntakeOutcome, payload: InboundPayload) -> IntakeAnswer:
    if outcome.status == "unreadable":
        return IntakeAnswer(400, {"error": "invalid_json", "message": payload.error or "The body is not a JSON object.",
                                  "errors": [{"path": "", "reason": "invalid_json"}]})
    if outcome.status == "held":
        return IntakeAnswer(422, {"error": "invalid_order", "status": "held", "exception_item": outcome.item.id,
                                  "errors": [{**error_to_json(e), "message": e.message} for e in outcome.errors]})
    order = outcome.order
    status = 201 if outcome.status == "accepted" else 200
    return IntakeAnswer(status, {"status": outcome.status, "order": {"id": order.id, "channel": order.channel,
                                                                    "external_id": order.external_id,
                                                                    "status": order.status}})


# --- taking in a stored payload ------------------------------------------------------------------


def process_payload(payload_id: int) -> IntakeOutcome | None:
    """Take in one stored payload (a job; also called inline by the order API and the pull)."""
    payload = db.session.get(InboundPayload, payload_id)
    if payload is None or payload.status != "pending":
        return None  # processed already: a retried job changes nothing
    # Claim it: of two jobs that read it pending at once, only the one whose update lands goes on.
    # It stays pending while it is worked on, so a worker that dies leaves it for the sweeper.
    claimed = db.session.execute(update(InboundPayload).where(
        InboundPayload.id == payload_id, InboundPayload.status == "pending",
        InboundPayload.attempts == payload.attempts).values(attempts=payload.attempts + 1)).rowcount
    if not claimed:
        db.session.rollback()
        return None
    db.session.refresh(payload)
    channel = db.session.get(Channel, payload.channel_id)
    try:
        outcome = _take_in(channel, payload, actor=f"channel {channel.code}")
        db.session.commit()
    except IntegrityError:
        # The same order arrived twice at once (two webhook ids): the other delivery took it in.
        db.session.rollback()
        payload = db.session.get(InboundPayload, payload_id)
        existing = _existing_order(db.session.get(Channel, payload.channel_id), _external_id_of(payload))
        payload.status, payload.processed_at, payload.error = "processed", utcnow(), "duplicate of a concurrent delivery"
        db.session.commit()
        return IntakeOutcome("duplicate", order=existing)
    log.info("intake_processed channel=%s payload=%s outcome=%s order=%s", channel.code, payload_id, outcome.status,
             outcome.order.id if outcome.order else "-")
    if outcome.status == "accepted":
        fulfilment.fulfil_later(outcome.order.id)
    return outcome


def take_in_pending(limit: int = 2000) -> int:
    """Every stored payload still pending, oldest first: one job drains the backlog (each job is a new
    process, so one job per webhook would fall behind a busy shop)."""
    ids = list(db.session.scalars(select(InboundPayload.id).where(
        InboundPayload.source == SOURCE, InboundPayload.status == "pending").order_by(InboundPayload.id).limit(limit)))
    db.session.rollback()
    return sum(1 for payload_id in ids if process_payload(payload_id) is not None)


def _take_in(channel: Channel, payload: InboundPayload, actor: str, fixes: dict | None = None) -> IntakeOutcome:
    try:
        data = load_payload(payload.body)
        if not isinstance(data, dict):
            raise ValueError("the body is not a JSON object")
    except ValueError as error:
        payload.status, payload.processed_at, payload.error = "failed", utcnow(), f"unreadable JSON: {error}"
        item = exceptions.raise_item(KIND, "unreadable", f"A {channel.code} payload could not be read as JSON: {error}",
                                     payload={"channel": channel.code, "body": payload.body[:2000]})
        item.channel, item.inbound_payload_id = channel.code, payload.id
        return IntakeOutcome("unreadable", item=item)
    parsed = parsers.parse_order(PARSER_OF_KIND[channel.kind], data)
    order = dataclasses.replace(parsed.order, channel=channel.code)
    existing = _existing_order(channel, order.external_id)
    changed_at = _changed_at(channel.kind, data)
    if _is_cancellation(channel.kind, payload.topic, data):
        return _cancel_from_channel(channel, payload, existing, data, order)
    if existing is not None:
        return _update_from_channel(channel, payload, existing, order, changed_at)
    fixes = fixes or {}
    order = fix_ship_to(order, fixes.get("ship_to") or {})
    order, originals = apply_aliases(order, channel.sku_aliases or {})
    level = service_level_of(channel.kind, data)
    skus = {line.sku for line in order.lines if line.sku}
    known = set(db.session.scalars(select(Product.sku).where(Product.sku.in_(skus)))) if skus else set()
    errors = validate_for_channel(order, _rules(channel), known, service_level=level)
    if order.external_id is None:
        errors = (*errors, OrderError("external_id", "missing", "The order has no id from the channel."))
    if errors:
        item = _hold(channel, payload, data, order, errors)
        payload.status, payload.processed_at, payload.error = "processed", utcnow(), "held: " + errors[0].reason
        return IntakeOutcome("held", item=item, errors=errors)
    stored = _store_order(channel, payload, order, originals, level, changed_at, actor)
    payload.status, payload.processed_at, payload.error = "processed", utcnow(), None
    return IntakeOutcome("accepted", order=stored)


def _store_order(channel: Channel, payload: InboundPayload, order: CanonicalOrder, originals, level: str,
                 changed_at: datetime | None, actor: str) -> Order:
    ship = order.ship_to
    stored = Order(channel=channel.code, channel_id=channel.id, inbound_payload_id=payload.id,
                   external_id=order.external_id, number=order.number, placed_at=order.placed_at,
                   currency=order.currency, email=order.email, test=order.test, total=order.total,
                   service_level=level, status="accepted", channel_updated_at=changed_at,
                   **{f"ship_to_{name}": getattr(ship, name) for name in SHIP_TO_FIELDS})
    for position, (line, original) in enumerate(zip(order.lines, originals)):
        stored.lines.append(OrderLine(position=position, external_id=line.external_id, sku=line.sku,
                                      channel_sku=original, title=line.title, qty=line.qty, unit_price=line.unit_price))
    stored.events.append(OrderEvent(kind="received", actor=f"channel {channel.code}", at=payload.received_at,
                                    detail=f"Received by {payload.topic or 'upload'}", data={"payload": payload.id}))
    held = db.session.scalar(select(ExceptionItem).where(ExceptionItem.kind == KIND, ExceptionItem.status == "open",
                                                         ExceptionItem.channel == channel.code,
                                                         ExceptionItem.order_ref == order.external_id))
    if held is not None:
        stored.events.append(OrderEvent(kind="held", actor="system", at=held.created_at,
                                        detail=f"Held in the exception queue: {held.reason}", data={"item": held.id}))
        stored.events.append(OrderEvent(kind="replayed", actor=actor, detail="Replayed after a fix"))
    aliased = [f"{original} → {line.sku}" for line, original in zip(order.lines, originals) if original]
    stored.events.append(OrderEvent(kind="validated", actor="system", detail="Passed every check"
                                    + (f"; SKU aliases applied: {', '.join(aliased)}" if aliased else "")))
    stored.events.append(OrderEvent(kind="accepted", actor="system", detail="Ready to route"))
    db.session.add(stored)
    db.session.flush()
    if held is not None:
        held.order_id = stored.id
        exceptions.close(held, actor, f"Replayed: order {stored.label} accepted.")
    return stored


SHIP_TO_FIELDS = ("name", "company", "address1", "address2", "city", "region", "postal_code", "country", "phone")


def _hold(channel: Channel, payload: InboundPayload, data: dict, order: CanonicalOrder,
          errors: tuple[OrderError, ...]) -> ExceptionItem:
    """An order that cannot go through yet: one open item per channel order, the newest delivery kept."""
    label = order.number or order.external_id or "without an id"
    reason = f"Order {label} from {channel.code} was not taken in: " + " ".join(e.message for e in errors)
    details = {"channel": channel.code, "external_id": order.external_id, "topic": payload.topic,
               "errors": [{**error_to_json(e), "message": e.message} for e in errors],
               "order": _jsonable(order_to_json(order)), "received": _jsonable(mask_payment_data(data)),
               "unknown_skus": sorted({_line_sku(order, e.path) for e in errors if e.reason == "unknown_sku"} - {None})}
    item = None
    if order.external_id is not None:
        item = db.session.scalar(select(ExceptionItem).where(ExceptionItem.kind == KIND, ExceptionItem.status == "open",
                                                             ExceptionItem.channel == channel.code,
                                                             ExceptionItem.order_ref == order.external_id))
    if item is None:
        # Its age (against the SLA) runs from when the order reached us, not from when a job looked at it.
        item = ExceptionItem(kind=KIND, reason_code=errors[0].reason, reason=reason, channel=channel.code,
                             order_ref=order.external_id, created_at=payload.received_at,
                             history=[exceptions.history_entry("system", reason)])
        db.session.add(item)
        log.info("intake_held channel=%s order=%s reason=%s", channel.code, order.external_id, errors[0].reason)
    else:
        item.history = [*item.history, exceptions.history_entry("system", f"checked again: {reason}")]
    item.reason_code, item.reason = errors[0].reason, reason
    item.order_value, item.orders_affected, item.inbound_payload_id = order.total, 1, payload.id
    item.payload = {**details, "fixes": (item.payload or {}).get("fixes", {})}
    return item


def _update_from_channel(channel: Channel, payload: InboundPayload, existing: Order, order: CanonicalOrder,
                         changed_at: datetime | None) -> IntakeOutcome:
    """orders/updated, order.updated, a pulled order: newer facts go on the order; a repeat changes nothing."""
    payload.status, payload.processed_at = "processed", utcnow()
    newer = changed_at is not None and (existing.channel_updated_at is None or changed_at > existing.channel_updated_at)
    if not newer or existing.status == "cancelled":
        payload.error = f"duplicate of order {existing.id}"
        return IntakeOutcome("duplicate", order=existing)
    changes = {}
    for name in ("email", "total"):
        if getattr(order, name) is not None and getattr(order, name) != getattr(existing, name):
            changes[name] = (getattr(existing, name), getattr(order, name))
            setattr(existing, name, getattr(order, name))
    if order.ship_to is not None:
        for name in SHIP_TO_FIELDS:
            new = getattr(order.ship_to, name)
            if new is not None and new != getattr(existing, f"ship_to_{name}"):
                changes[f"ship_to.{name}"] = (getattr(existing, f"ship_to_{name}"), new)
                setattr(existing, f"ship_to_{name}", new)
    existing.channel_updated_at = changed_at
    detail = ("Updated by the channel: " + ", ".join(changes)) if changes else "The channel sent an update; nothing we keep changed"
    existing.events.append(OrderEvent(kind="updated", actor=f"channel {channel.code}", detail=detail,
                                      data={"payload": payload.id, "changes": {k: [_plain(o), _plain(n)] for k, (o, n) in changes.items()}}))
    return IntakeOutcome("updated", order=existing)


def _cancel_from_channel(channel: Channel, payload: InboundPayload, existing: Order | None, data: dict,
                         order: CanonicalOrder) -> IntakeOutcome:
    payload.status, payload.processed_at = "processed", utcnow()
    reason = str(data.get("cancel_reason") or data.get("status") or "cancelled by the channel")
    if existing is None:
        # Nothing to cancel here; an item waiting for a fix is closed instead of being replayed later.
        held = db.session.scalar(select(ExceptionItem).where(ExceptionItem.kind == KIND, ExceptionItem.status == "open",
                                                             ExceptionItem.channel == channel.code,
                                                             ExceptionItem.order_ref == order.external_id))
        if held is not None:
            exceptions.close(held, f"channel {channel.code}", f"The channel cancelled the order ({reason}).",
                             status="discarded")
        payload.error = "cancellation of an order never taken in"
        return IntakeOutcome("duplicate", item=held)
    if existing.status == "cancelled":
        payload.error = f"duplicate of order {existing.id}"
        return IntakeOutcome("duplicate", order=existing)
    # Cancelled at the suppliers that have not shipped, reservations released, each step on the timeline (commits).
    fulfilment.cancel_order(existing.id, f"channel {channel.code}", reason, data={"payload": payload.id})
    return IntakeOutcome("cancelled", order=existing)


# --- staff: fix and replay ----------------------------------------------------------------------


def replay(item_id: int, actor: User, *, aliases: dict[str, str] | None = None,
           ship_to: dict[str, str] | None = None) -> IntakeOutcome:
    """Edit and replay: save SKU aliases on the channel and address fixes on the item, then the same checks."""
    item = db.session.get(ExceptionItem, item_id)
    if item is None or item.kind != KIND:
        raise ServiceError("Only a failed intake can be replayed.")
    if item.status != "open":
        raise ServiceError("This item is already closed.")
    payload = db.session.get(InboundPayload, item.inbound_payload_id) if item.inbound_payload_id else None
    channel = db.session.scalar(select(Channel).where(Channel.code == item.channel))
    if payload is None or channel is None:
        raise ServiceError("The original payload or its channel is gone; this item cannot be replayed.")
    aliases = {k.strip(): v.strip() for k, v in (aliases or {}).items() if k and k.strip() and v and v.strip()}
    unknown = sorted(set(aliases.values()) - set(db.session.scalars(select(Product.sku).where(Product.sku.in_(aliases.values())))))
    if unknown:
        raise ServiceError(f"{', '.join(unknown)} is not one of our SKUs.", field="alias")
    if aliases:
        before = dict(channel.sku_aliases or {})
        channel.sku_aliases = {**before, **aliases}
        audit.record(actor, "channel.sku_aliases", "channel", channel.code,
                     {f"alias {k}": (before.get(k), v) for k, v in aliases.items()})
    fixes = dict((item.payload or {}).get("fixes") or {})
    if ship_to:
        cleaned = {k: v.strip() for k, v in ship_to.items() if k in SHIP_TO_FIELDS and v is not None}
        original = (item.payload or {}).get("order", {}).get("ship_to") or {}
        changed = {k: v for k, v in cleaned.items() if (v or None) != original.get(k)}
        if changed:
            fixes["ship_to"] = {**fixes.get("ship_to", {}), **changed}
            audit.record(actor, "exception.fix_address", "exception_item", item.id,
                         {f"ship_to.{k}": (original.get(k), v) for k, v in changed.items()})
    item.payload = {**item.payload, "fixes": fixes}
    item.history = [*item.history, exceptions.history_entry(actor.email, "replay requested")]
    audit.record(actor, "exception.replayed", "exception_item", item.id, {"status": ("open", "replayed")})
    payload.status = "pending"
    outcome = _take_in(channel, payload, actor=actor.email, fixes=fixes)
    db.session.commit()
    log.info("intake_replayed item=%s outcome=%s by=%s", item_id, outcome.status, actor.email)
    if outcome.status == "accepted":
        fulfilment.fulfil_later(outcome.order.id)
    return outcome


# --- the sweeper and the reconciliation pull -------------------------------------------------------


def requeue_forgotten(older_than: timedelta = REQUEUE_AFTER) -> int:
    """Sweeper: stored channel payloads no job processed (Redis lost it, a worker died) are queued again."""
    cutoff = utcnow() - older_than
    ids = list(db.session.scalars(select(InboundPayload.id).where(
        InboundPayload.source == SOURCE, InboundPayload.status == "pending", InboundPayload.received_at <= cutoff)
        .order_by(InboundPayload.id)))
    if ids:
        # Not behind the pending flag: the job it stands for may be the one that was lost.
        _enqueue(even_if_pending=True)
        log.info("intake_requeued payloads=%s", len(ids))
    return len(ids)


def store_pulled_order(channel: Channel, data: dict, raw: str) -> int | None:
    """One order the pull found, stored like a webhook delivery (same dedupe); its payload id when new."""
    changed = data.get("updated_at") if channel.kind == "shopify" else data.get("date_modified_gmt")
    if channel.kind == "woocommerce":
        delivery_id = woocommerce_delivery_id(channel.code, data)  # the key its webhooks are stored under
    else:
        delivery_id = f"{channel.code}:order:{data.get('id')}:{changed}"
    seen = db.session.scalar(select(InboundPayload.id).where(InboundPayload.source == SOURCE,
                                                             InboundPayload.delivery_id == delivery_id))
    if seen is not None:
        return None
    payload = InboundPayload(source=SOURCE, channel_id=channel.id, delivery_id=delivery_id, headers={}, body=raw,
                             topic="poll", status="pending")
    db.session.add(payload)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a webhook for the same change landed meanwhile
        return None
    return payload.id


def _jsonable(value: Any) -> Any:
    """Decimals (from exact JSON parsing) as JSON numbers or text, so the item's payload column can hold them."""
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    return None if value is None else str(value) if isinstance(value, Decimal) else value


# --- small readers -------------------------------------------------------------------------------


def _rules(channel: Channel) -> ChannelRules:
    return ChannelRules(sku_aliases=channel.sku_aliases or {}, allowed_countries=channel.allowed_countries or (),
                        accept_test_orders=channel.accept_test_orders, required_fields=channel.required_fields or (),
                        express_required_fields=channel.express_required_fields or ())


def _existing_order(channel: Channel, external_id: str | None) -> Order | None:
    if external_id is None:
        return None
    return db.session.scalar(select(Order).where(Order.channel == channel.code, Order.external_id == external_id))


def _external_id_of(payload: InboundPayload) -> str | None:
    try:
        data = load_payload(payload.body)
    except ValueError:
        return None
    return parsers.parse_order(PARSER_OF_KIND[db.session.get(Channel, payload.channel_id).kind], data).order.external_id


def _changed_at(kind: str, data: dict) -> datetime | None:
    field_name = {"shopify": "updated_at", "woocommerce": "date_modified_gmt"}.get(kind, "updated_at")
    return utc_timestamp(data.get(field_name))


def _is_cancellation(kind: str, topic: str | None, data: dict) -> bool:
    if kind == "shopify":
        return topic == "orders/cancelled" or bool(data.get("cancelled_at"))
    if kind == "woocommerce":
        return data.get("status") == "cancelled"
    return data.get("status") == "cancelled"


def _line_sku(order: CanonicalOrder, path: str) -> str | None:
    index = int(path.split("[", 1)[1].split("]", 1)[0])
    return order.lines[index].sku if index < len(order.lines) else None


def _channel_for_token(token: str) -> Channel | None:
    import hmac

    for channel in db.session.scalars(select(Channel).where(Channel.kind == "api", Channel.active.is_(True))):
        expected = channel.credentials.get("api_token", "")
        if expected and hmac.compare_digest(expected.encode(), token.encode("utf-8", "replace")):
            return channel
    return None


def _kept_headers(headers) -> dict:
    return {name: headers.get(name) for name in KEPT_HEADERS if headers.get(name)}


def _topic(kind: str, headers) -> str | None:
    return headers.get("X-Shopify-Topic") if kind == "shopify" else headers.get("X-WC-Webhook-Topic")


def _delivery_id(kind: str, code: str, raw_body: bytes, headers) -> str:
    if kind == "shopify" and headers.get("X-Shopify-Webhook-Id"):
        return f"{code}:{headers['X-Shopify-Webhook-Id']}"[:128]
    try:
        data = load_payload(raw_body)
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    if kind == "woocommerce":
        return woocommerce_delivery_id(code, data)
    return f"{code}:order:{data.get('id')}:{data.get('updated_at')}"[:128]


def woocommerce_delivery_id(code: str, data: dict) -> str:
    """WooCommerce's delivery ids change on every delivery: order id + modification time name the event
    (+ its status: a cancellation in the second the order was placed is another event, not a repeat)."""
    return f"{code}:{data.get('id')}:{data.get('date_modified_gmt')}:{data.get('status')}"[:128]


def _is_woocommerce_ping(raw_body: bytes, headers) -> bool:
    return (not headers.get(signatures.WOOCOMMERCE_SIGNATURE_HEADER)
            and raw_body.strip().startswith(b"webhook_id=") and len(raw_body) < 64)
