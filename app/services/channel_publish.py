"""What the order flow tells the sales channels: how many of each product they may sell (a share of what can be
promised, so a channel never sells what no supplier has), and the tracking of each shipment.

Publishing compares what each product may sell now with what the channel was last told (ChannelListing) and
sends only the differences: a product whose availability reaches zero is delisted at once, and relisted when
it returns. It runs as a job (cron every minute, and soon after stock or reservations move), never inside
intake. Order API and CSV channels have no API to call: they are skipped, which is not an error.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import func, select

from app import queues
from app.domain.stock import ListingState, plan_listing_updates, wanted_quantity
from app.extensions import db
from app.models import Channel, ChannelListing, Order, OrderEvent, OrderLine, Product, ProductStock, SupplierOrder
from app.models.types import utcnow
from app.services import ServiceError, audit, leases
from app.services.channel_http import OUTBOUND_KINDS, ChannelApi, ChannelCallError, channel_api, new_client
from app.services.paging import Page, keyset_page

log = logging.getLogger(__name__)

# A first publish of a whole catalogue is spread over a few runs: each job stays short and the rest follow.
MAX_CHANGES_PER_RUN = 1000
COMMIT_EVERY = 100
PUBLISH_FLAG = "channel-publish:{}"
PUBLISH_LEASE = "dropdesk:lease:channel-publish:{}"
PUBLISH_LEASE_SECONDS = 120
SHOPIFY_LOCATION_ID = 1  # the shop's one location; a multi-location shop would make this a channel setting
LISTINGS_PER_PAGE = 50


class PublishFailed(RuntimeError):
    """The channel could not be reached; what was sent is kept, the job is retried for the rest."""


class TrackingPushFailed(RuntimeError):
    """The channel did not take a shipment's tracking; the job is retried (the channel dedupes by number)."""


@dataclass(frozen=True)
class PublishReport:
    channel: str
    outcome: str  # published, unchanged, skipped (no API / publishing off), busy (another run), failed (retry)
    compared: int = 0
    sent: int = 0
    delisted: int = 0
    relisted: int = 0
    failed: int = 0
    remaining: int = 0  # changes left for the next run
    message: str = ""

    @property
    def retry(self) -> bool:
        return self.outcome == "failed"

    def as_job_result(self) -> dict:
        return {"message": self.message, "outcome": self.outcome, "sent": self.sent, "delisted": self.delisted,
                "relisted": self.relisted, "failed": self.failed, "remaining": self.remaining}


def publishable_channel_ids() -> list[int]:
    """Active channels with publishing on and an API to publish to."""
    return list(db.session.scalars(select(Channel.id).where(
        Channel.active.is_(True), Channel.publish_quantities.is_(True), Channel.base_url.is_not(None),
        Channel.kind.in_(OUTBOUND_KINDS)).order_by(Channel.id)))


def publish_soon() -> int:
    """Queue one publishing job per channel unless one is already waiting to start (it will see this change
    too). For the job layer, after a stock write or a reservation has committed; returns how many were queued.

    Not where jobs run inline (the test app): there it would make channel calls inside the caller's job.
    """
    if queues.runs_inline():
        return 0
    queued = 0
    for channel_id in publishable_channel_ids():
        if queues.enqueue_unless_pending(PUBLISH_FLAG.format(channel_id), "publish_channel_quantities", channel_id,
                                         retries=5, description=f"Publish quantities, channel {channel_id}"):
            queued += 1
    return queued


def channel_skus(channel: Channel) -> dict[str, list[str]]:
    """Our SKU -> the channel's SKUs for it (sku_aliases read backwards); a SKU without an alias is the same."""
    reverse: dict[str, list[str]] = {}
    for theirs, ours in sorted((channel.sku_aliases or {}).items()):
        reverse.setdefault(ours, []).append(theirs)
    return reverse


def wanted_quantities(channel: Channel) -> dict[str, int]:
    """Per active product, what this channel may sell now (product_stock.available is what can be promised)."""
    rows = db.session.execute(select(Product.sku, func.coalesce(ProductStock.available, 0))
                              .outerjoin(ProductStock, ProductStock.product_id == Product.id)
                              .where(Product.active.is_(True)))
    ratio, safety = channel.publish_ratio, channel.publish_safety_units or 0
    return {sku: wanted_quantity(int(available), ratio, safety) for sku, available in rows}


def publish_channel_quantities(channel_id: int, *, client: httpx.Client | None = None) -> PublishReport:
    """Bring one channel up to date with what each product may sell; commits as it goes."""
    channel = db.session.get(Channel, channel_id)
    if channel is None:
        return PublishReport(f"#{channel_id}", "skipped", message=f"No channel with id {channel_id}.")
    api = channel_api(channel)
    if api is None:
        log.info("channel_publish_skipped channel=%s reason=no_api kind=%s", channel.code, channel.kind)
        return PublishReport(channel.code, "skipped", message=f"{channel.code}: this channel has no API to publish to.")
    if not (channel.active and channel.publish_quantities):
        return PublishReport(channel.code, "skipped", message=f"{channel.code}: publishing quantities is off.")
    with leases.exclusive(PUBLISH_LEASE.format(channel.id), PUBLISH_LEASE_SECONDS) as ours:
        if not ours:
            return PublishReport(channel.code, "busy", message=f"{channel.code}: another publish is running.")
        owned = client is None
        client = client or new_client()
        try:
            return _publish(channel, api, client)
        finally:
            if owned:
                client.close()


def _publish(channel: Channel, api: ChannelApi, client: httpx.Client) -> PublishReport:
    listings = {listing.sku: listing for listing in db.session.scalars(
        select(ChannelListing).where(ChannelListing.channel_id == channel.id))}
    wanted = wanted_quantities(channel)
    changes = plan_listing_updates(wanted, {sku: ListingState(row.published_qty, row.listed) for sku, row in listings.items()})
    batch, remaining = changes[:MAX_CHANGES_PER_RUN], max(len(changes) - MAX_CHANGES_PER_RUN, 0)
    aliases = channel_skus(channel)
    sent = delisted = relisted = failed = 0
    unreachable: ChannelCallError | None = None
    for position, change in enumerate(batch, start=1):
        listing = listings.get(change.sku)
        if listing is None:
            listing = ChannelListing(channel_id=channel.id, sku=change.sku, listed=False, wanted_qty=change.qty)
            db.session.add(listing)
        listing.wanted_qty = change.qty
        try:
            for their_sku in aliases.get(change.sku, [change.sku]):
                _send_level(api, client, their_sku, change.qty, change.listed, list_changed=change.listing_changes)
        except ChannelCallError as error:
            listing.error = error.message
            failed += 1
            log.warning("channel_publish_failed channel=%s sku=%s status=%s retryable=%s", channel.code, change.sku,
                        error.status, error.retryable)
            if error.retryable:  # the store is down or busy: stop here, the retry carries on
                unreachable = error
                remaining += len(batch) - position
                break
            continue
        listing.published_qty, listing.listed, listing.published_at, listing.error = (
            change.qty, change.listed, utcnow(), None)
        sent += 1
        delisted += change.was_listed is not False and not change.listed
        relisted += change.was_listed is False and change.listed
        if position % COMMIT_EVERY == 0:
            db.session.commit()
    if unreachable is None:
        channel.last_published_at = utcnow()
    db.session.commit()
    outcome = "failed" if unreachable else "published" if sent or failed else "unchanged"
    message = (f"{channel.code}: {sent:,} of {len(wanted):,} products sent ({delisted} delisted, {relisted} relisted)"
               + (f", {failed} refused" if failed else "") + (f", {remaining:,} left for the next run" if remaining else "")
               + (f"; {unreachable.message}, will retry" if unreachable else "") + ".")
    log.info("channel_published channel=%s outcome=%s compared=%s sent=%s delisted=%s relisted=%s failed=%s remaining=%s",
             channel.code, outcome, len(wanted), sent, delisted, relisted, failed, remaining)
    return PublishReport(channel.code, outcome, len(wanted), sent, delisted, relisted, failed, remaining, message)


def _send_level(api: ChannelApi, client: httpx.Client, sku: str, quantity: int, listed: bool, *, list_changed: bool) -> None:
    """One product's quantity, and its listing when that changes, in the channel's own shape."""
    if api.kind == "shopify":
        api.call(client, "POST", api.url("/inventory_levels/set.json"),
                 json={"location_id": SHOPIFY_LOCATION_ID, "inventory_item_id": sku, "available": quantity})
        if list_changed:
            api.call(client, "PUT", api.url(f"/products/{sku}.json"),
                     json={"product": {"status": "active" if listed else "draft"}})
        return
    api.call(client, "PUT", api.url(f"/products/{sku}"),
             json={"stock_quantity": quantity, "manage_stock": True, "status": "publish" if listed else "private"})


# --- tracking ------------------------------------------------------------------------------------------


def push_tracking(supplier_order_id: int, *, client: httpx.Client | None = None) -> bool:
    """Tell the order's channel one shipment's carrier, tracking number, link and lines; once. Returns True when
    it was sent now, False when there was nothing to send (already pushed, not shipped, no channel API).
    Raises TrackingPushFailed when the channel did not take it (the job retries)."""
    supplier_order = db.session.get(SupplierOrder, supplier_order_id)
    if supplier_order is None:
        raise ServiceError(f"No supplier order with id {supplier_order_id}.")
    if supplier_order.tracking_pushed_at is not None:
        return False
    if not supplier_order.tracking_number:
        log.info("tracking_push_skipped supplier_order=%s reason=no_tracking_number", supplier_order.id)
        return False
    order = supplier_order.order
    channel = db.session.get(Channel, order.channel_id) if order.channel_id else db.session.scalar(
        select(Channel).where(Channel.code == order.channel))
    api = channel_api(channel) if channel is not None else None
    if api is None:
        _skip_tracking(supplier_order, order, channel)
        return False
    line_items = _shipped_lines(supplier_order)
    owned = client is None
    client = client or new_client()
    try:
        answer = _send_tracking(api, client, order.external_id, supplier_order, line_items)
    except ChannelCallError as error:
        db.session.rollback()
        log.warning("tracking_push_failed supplier_order=%s order=%s channel=%s status=%s", supplier_order_id,
                    order.id, api.code, error.status)
        raise TrackingPushFailed(error.message) from None
    finally:
        if owned:
            client.close()
    supplier_order.tracking_pushed_at = utcnow()
    db.session.add(OrderEvent(order_id=order.id, kind="tracking_pushed", actor="system",
                              detail=f"Tracking {supplier_order.tracking_number} ({supplier_order.tracking_carrier or 'carrier'}) "
                                     f"sent to {api.code} for {sum(item['quantity'] for item in line_items)} items.",
                              data={"supplier_order_id": supplier_order.id, "tracking_number": supplier_order.tracking_number,
                                    "channel": api.code, "channel_fulfilment_id": answer}))
    db.session.commit()
    log.info("tracking_pushed supplier_order=%s order=%s channel=%s tracking=%s", supplier_order.id, order.id, api.code,
             supplier_order.tracking_number)
    return True


def _shipped_lines(supplier_order: SupplierOrder) -> list[dict]:
    """The channel's own line ids (OrderLine.external_id) and the quantities this shipment carries."""
    quantities: dict[int, int] = {}
    for line in supplier_order.lines or []:
        quantities[int(line["order_line_id"])] = quantities.get(int(line["order_line_id"]), 0) + int(line["qty"])
    external = dict(db.session.execute(select(OrderLine.id, OrderLine.external_id)
                                       .where(OrderLine.id.in_(quantities))).all()) if quantities else {}
    items = []
    for line_id, quantity in quantities.items():
        external_id = external.get(line_id)
        if external_id is None:
            continue
        items.append({"id": int(external_id) if external_id.isdigit() else external_id, "quantity": quantity})
    return items


def _send_tracking(api: ChannelApi, client: httpx.Client, order_ref: str, supplier_order: SupplierOrder,
                   line_items: list[dict]):
    if api.kind == "shopify":
        response = api.call(client, "POST", api.url(f"/orders/{order_ref}/fulfillments.json"), json={"fulfillment": {
            "tracking_number": supplier_order.tracking_number, "tracking_company": supplier_order.tracking_carrier,
            "tracking_url": supplier_order.tracking_url, "notify_customer": True, "line_items": line_items}})
        return (_json(response).get("fulfillment") or {}).get("id")
    shipped = supplier_order.shipped_at or utcnow()
    response = api.call(client, "POST", api.url(f"/orders/{order_ref}/shipment-trackings",
                                                 prefix="/wp-json/wc-shipment-tracking/v3"),
                        json={"tracking_provider": supplier_order.tracking_carrier,
                              "tracking_number": supplier_order.tracking_number,
                              "tracking_link": supplier_order.tracking_url, "date_shipped": shipped.date().isoformat(),
                              "line_items": line_items})
    return _json(response).get("tracking_id")


def _json(response: httpx.Response) -> dict:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _skip_tracking(supplier_order: SupplierOrder, order: Order, channel: Channel | None) -> None:
    """A channel without an API hears nothing from us: say so on the timeline, once per shipment."""
    code = channel.code if channel is not None else order.channel
    said = db.session.scalars(select(OrderEvent.data).where(OrderEvent.order_id == order.id,
                                                            OrderEvent.kind == "tracking_not_pushed"))
    if not any((data or {}).get("supplier_order_id") == supplier_order.id for data in said):
        db.session.add(OrderEvent(order_id=order.id, kind="tracking_not_pushed", actor="system",
                                  detail=f"{code} takes no tracking over an API: {supplier_order.tracking_number} was "
                                         "not sent (not an error).",
                                  data={"supplier_order_id": supplier_order.id, "channel": code,
                                        "tracking_number": supplier_order.tracking_number}))
        db.session.commit()
    log.info("tracking_push_skipped supplier_order=%s channel=%s reason=no_api", supplier_order.id, code)


# --- the channel page ----------------------------------------------------------------------------------


def listings_page(channel: Channel, *, after: str | None = None, problem: str = "",
                  per_page: int = LISTINGS_PER_PAGE) -> Page:
    """The channel's listings by SKU, a keyset page at a time; `problem`: "delisted" or "errors" only."""
    query = select(ChannelListing).where(ChannelListing.channel_id == channel.id)
    if problem == "delisted":
        query = query.where(ChannelListing.listed.is_(False), ChannelListing.published_qty.is_not(None))
    elif problem == "errors":
        query = query.where(ChannelListing.error.is_not(None))
    page = keyset_page(query, ChannelListing.sku, ChannelListing.id, descending=False, after=after, per_page=per_page,
                       row_key=lambda row: (row[0].sku, row[0].id))
    return Page(items=[row[0] for row in page.items], total=page.total, per_page=page.per_page,
                next_cursor=page.next_cursor, first=page.first, total_is_at_least=page.total_is_at_least)


@dataclass(frozen=True)
class ListingSummary:
    listed: int
    delisted: int
    errors: int
    last_published_at: datetime | None


def listing_summary(channel: Channel) -> ListingSummary:
    listed, delisted, errors = db.session.execute(select(
        func.count().filter(ChannelListing.listed.is_(True), ChannelListing.published_qty.is_not(None)),
        func.count().filter(ChannelListing.listed.is_(False), ChannelListing.published_qty.is_not(None)),
        func.count().filter(ChannelListing.error.is_not(None)))
        .where(ChannelListing.channel_id == channel.id)).one()
    return ListingSummary(listed, delisted, errors, channel.last_published_at)


def start_publish_now(code: str, actor) -> str:
    """"Publish now" from the channel page: a publishing job straight away; returns its id."""
    channel = db.session.scalar(select(Channel).where(Channel.code == code))
    if channel is None:
        raise ServiceError(f"No channel {code}.")
    if channel_api(channel) is None:
        raise ServiceError(f"{channel.code} has no API to publish to (order API and CSV channels only send to us).")
    if not channel.publish_quantities:
        raise ServiceError(f"Publishing quantities is off for {channel.code}; turn it on first.")
    audit.record(actor, "channel.publish_requested", "channel", channel.code)
    db.session.commit()
    return queues.enqueue("publish_channel_quantities", channel.id, queue=queues.HIGH, retries=5,
                          description=f"Publish quantities now, {channel.code}")
