"""Reconciliation pull: WooCommerce never retries a failed webhook and Shopify gives up after hours, so each
channel's REST API is asked for the orders changed since the newest one seen; what the webhooks missed is
stored and taken in exactly like a delivery (same dedupe)."""
from __future__ import annotations

import json
import logging
from datetime import timedelta

import httpx
from sqlalchemy import select

from app.channels.canonical import utc_timestamp
from app.channels.context import load_payload, plain_payload
from app.extensions import db
from app.models import Channel
from app.models.types import utcnow
from app.services import intake
from app.services.channel_http import OUTBOUND_KINDS, TIMEOUT, channel_api, new_client

log = logging.getLogger(__name__)
MAX_PAGES = 20
FIRST_LOOK_BACK = timedelta(days=1)
# Changes are asked for from a little before the newest one seen: a clock skew or a change committed
# late is not missed, and the repeats are recognised as duplicates.
OVERLAP = timedelta(minutes=5)


class PullError(RuntimeError):
    """The channel's API could not be read; the message names the channel and never a credential."""


def pullable_channel_ids() -> list[int]:
    return list(db.session.scalars(select(Channel.id).where(Channel.active.is_(True), Channel.base_url.is_not(None),
                                                            Channel.kind.in_(OUTBOUND_KINDS))
                                   .order_by(Channel.id)))


def pull_channel(channel_id: int, client: httpx.Client | None = None) -> dict:
    """Pull one channel's changed orders and take in the ones not seen; returns counts for the job."""
    channel = db.session.get(Channel, channel_id)
    if channel is None or channel_api(channel) is None:
        return {"message": "Nothing to pull.", "new": 0}
    since = (channel.last_seen_at - OVERLAP) if channel.last_seen_at else utcnow() - FIRST_LOOK_BACK
    owned = client is None
    client = client or new_client()
    try:
        orders = list(_fetch(channel, since, client))
    except PullError as error:
        channel.last_polled_at, channel.last_poll_error = utcnow(), str(error)
        db.session.commit()
        log.warning("channel_pull_failed channel=%s error=%s", channel.code, error)
        raise
    finally:
        if owned:
            client.close()
    new_ids, newest = [], channel.last_seen_at
    for data, raw in orders:
        payload_id = intake.store_pulled_order(channel, data, raw)
        changed = utc_timestamp(data.get("updated_at") if channel.kind == "shopify" else data.get("date_modified_gmt"))
        if changed and (newest is None or changed > newest):
            newest = changed
        if payload_id is not None:
            new_ids.append(payload_id)
    taken = [intake.process_payload(payload_id) for payload_id in new_ids]
    channel = db.session.get(Channel, channel_id)
    channel.last_seen_at, channel.last_polled_at, channel.last_poll_error = newest, utcnow(), None
    db.session.commit()
    accepted = sum(1 for outcome in taken if outcome and outcome.status == "accepted")
    log.info("channel_pulled channel=%s seen=%s stored=%s accepted=%s", channel.code, len(orders), len(new_ids), accepted)
    return {"message": f"{channel.code}: {len(orders)} changed orders, {len(new_ids)} stored, {accepted} new orders accepted.",
            "seen": len(orders), "stored": len(new_ids), "accepted": accepted}


def _fetch(channel: Channel, since, client: httpx.Client):
    api = channel_api(channel)
    headers, auth = api.headers, api.auth
    stamp = since.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    if channel.kind == "shopify":
        url = api.url("/orders.json")
        params: dict | None = {"updated_at_min": stamp, "status": "any", "limit": 250}
        for _ in range(MAX_PAGES):
            response = _get(channel, client, url, params, headers)
            for order in _document(channel, response).get("orders", []):
                yield order, json.dumps(plain_payload(order))
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return
            url, params = next_url, None
        return
    url = api.url("/orders")
    for page in range(1, MAX_PAGES + 1):
        response = _get(channel, client, url, {"modified_after": stamp, "per_page": 100, "page": page,
                                               "orderby": "modified", "order": "asc"}, {}, auth=auth)
        document = _document(channel, response)
        for order in document if isinstance(document, list) else []:
            yield order, json.dumps(plain_payload(order))
        if page >= int(response.headers.get("X-WP-TotalPages", "1") or 1):
            return


def _get(channel: Channel, client: httpx.Client, url: str, params, headers, auth=None) -> httpx.Response:
    # Not ChannelApi.call: a page of orders must be exactly 200, and the pull reports its own PullError.
    try:
        response = client.get(url, params=params, headers=headers, auth=auth, timeout=TIMEOUT)
    except httpx.HTTPError as error:
        raise PullError(f"{channel.code}: {type(error).__name__} reaching {channel.base_url}") from None
    if response.status_code != 200:
        raise PullError(f"{channel.code}: the order API answered {response.status_code}")
    return response


def _document(channel: Channel, response: httpx.Response):
    try:
        return load_payload(response.content)
    except ValueError:
        raise PullError(f"{channel.code}: the order API sent something that is not JSON") from None

