"""The simulated storefronts' HTTP side, at /sandbox/storefront: the channels' order APIs the console pulls
from (Shopify's orders.json, WooCommerce's wp-json/wc/v3/orders), the APIs it publishes to (Shopify's
inventory_levels/set.json, products and fulfillments.json; WooCommerce's products and the Shipment Tracking
extension's shipment-trackings), and controls for the demo and tests (what was published, "down").

Public on purpose (it plays the shop, which checks its own credentials) and exempt from CSRF.
"""
from __future__ import annotations

import functools
import hmac
from datetime import datetime

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select

from app.channels.canonical import utc_timestamp
from app.sandbox import storefront

bp = Blueprint("sandbox_storefront", __name__, url_prefix="/sandbox/storefront")
MAX_LIMIT = 250


def shop_api(kind: str):
    """A route of the shop's API: refused as the shop would refuse it (down, wrong credentials) before it runs."""
    def decorate(view):
        @functools.wraps(view)
        def guarded(*args, **kwargs):
            return _refused(kind) or view(*args, **kwargs)
        return guarded
    return decorate


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/shopify/admin/api/<version>/orders.json")
@shop_api("shopify")
def shopify_orders(version: str):
    """Shopify's REST shape: `updated_at_min`, `limit`, cursor paging by a `Link: <…>; rel="next"` header."""
    since = _instant("updated_at_min")
    limit = _limit()
    offset = _offset(request.args.get("page_info"))
    orders = storefront.orders_changed_since("shopify", since)
    response = jsonify(orders=orders[offset:offset + limit])
    if offset + limit < len(orders):
        # page_info carries the whole query, as Shopify's does: other filters are not allowed with it.
        next_url = request.base_url + f"?limit={limit}&page_info=o{offset + limit}"
        if since:
            next_url += f"&updated_at_min={since.isoformat().replace('+00:00', 'Z')}"
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


@bp.get("/woocommerce/wp-json/wc/v3/orders")
@shop_api("woocommerce")
def woocommerce_orders():
    """WooCommerce's REST v3 shape: `modified_after`, `per_page`, `page`, X-WP-Total / X-WP-TotalPages."""
    since = _instant("modified_after")
    per_page = _limit("per_page", default=10, maximum=100)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    orders = storefront.orders_changed_since("woocommerce", since)
    response = jsonify(orders[(page - 1) * per_page:page * per_page])
    response.headers["X-WP-Total"] = str(len(orders))
    response.headers["X-WP-TotalPages"] = str(max(1, -(-len(orders) // per_page)))
    return response


@bp.post("/shopify/admin/api/<version>/inventory_levels/set.json")
@shop_api("shopify")
def shopify_set_inventory(version: str):
    """Shopify's inventory_levels/set: {location_id, inventory_item_id (the sandbox takes the SKU), available}."""
    wanted = request.get_json(silent=True) or {}
    sku, available = wanted.get("inventory_item_id"), wanted.get("available")
    if not sku or not isinstance(available, int) or isinstance(available, bool):
        return _error(422, {"available": ["must be a whole number"]} if sku else {"inventory_item_id": ["is required"]})
    level = storefront.record_inventory("shopify", str(sku), available=available, location_id=wanted.get("location_id"))
    return jsonify(inventory_level={"inventory_item_id": level["sku"], "location_id": level.get("location_id"),
                                    "available": level["available"], "updated_at": level["updated_at"]})


@bp.put("/shopify/admin/api/<version>/products/<sku>.json")
@shop_api("shopify")
def shopify_update_product(version: str, sku: str):
    """A product's status: `active` lists it on the store, `draft` takes it off."""
    status = ((request.get_json(silent=True) or {}).get("product") or {}).get("status")
    if status not in ("active", "draft", "archived"):
        return _error(422, {"status": ["is not included in the list"]})
    level = storefront.record_inventory("shopify", sku, listed=status == "active")
    return jsonify(product={"id": sku, "status": "active" if level["listed"] else status})


@bp.post("/shopify/admin/api/<version>/orders/<order_id>/fulfillments.json")
@shop_api("shopify")
def shopify_create_fulfilment(version: str, order_id: str):
    """A shipment of an order: tracking number, company, URL and the line items it carries."""
    if storefront.get_order("shopify", order_id) is None:
        return _error(404, "Not Found")
    wanted = (request.get_json(silent=True) or {}).get("fulfillment") or {}
    if not wanted.get("tracking_number") or not isinstance(wanted.get("line_items"), list):
        return _error(422, {"fulfillment": ["needs tracking_number and line_items"]})
    fulfilment, created = storefront.add_fulfilment("shopify", order_id, {
        "status": "success", "tracking_number": wanted["tracking_number"],
        "tracking_company": wanted.get("tracking_company"), "tracking_url": wanted.get("tracking_url"),
        "line_items": wanted["line_items"]})
    return jsonify(fulfillment=fulfilment), 201 if created else 200


@bp.put("/woocommerce/wp-json/wc/v3/products/<sku>")
@shop_api("woocommerce")
def woocommerce_update_product(sku: str):
    """A product's stock and visibility: {stock_quantity, status: publish | private}."""
    wanted = request.get_json(silent=True) or {}
    quantity, status = wanted.get("stock_quantity"), wanted.get("status")
    if quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool)):
        return _error(400, "Invalid parameter(s): stock_quantity", code="rest_invalid_param")
    if status is not None and status not in ("publish", "private", "draft", "pending"):
        return _error(400, "Invalid parameter(s): status", code="rest_invalid_param")
    level = storefront.record_inventory("woocommerce", sku, available=quantity,
                                        listed=None if status is None else status == "publish")
    return jsonify(id=sku, sku=sku, manage_stock=True, stock_quantity=level["available"],
                   status="publish" if level["listed"] else "private")


@bp.post("/woocommerce/wp-json/wc-shipment-tracking/v3/orders/<order_id>/shipment-trackings")
@shop_api("woocommerce")
def woocommerce_add_tracking(order_id: str):
    """The Shipment Tracking extension (kept in the order's meta): provider, number, link, date, line items."""
    if storefront.get_order("woocommerce", order_id) is None:
        return _error(404, "Invalid ID.", code="woocommerce_rest_shop_order_invalid_id")
    wanted = request.get_json(silent=True) or {}
    if not wanted.get("tracking_number"):
        return _error(400, "Missing parameter(s): tracking_number", code="rest_missing_callback_param")
    fulfilment, created = storefront.add_fulfilment("woocommerce", order_id, {
        "tracking_provider": wanted.get("tracking_provider"), "tracking_number": wanted["tracking_number"],
        "tracking_link": wanted.get("tracking_link"), "date_shipped": wanted.get("date_shipped"),
        "line_items": wanted.get("line_items") or []})
    return jsonify({**fulfilment, "tracking_id": str(fulfilment["id"])}), 201 if created else 200


@bp.get("/<kind>/published")
def published(kind: str):
    """Control: what the console has published to this shop, per SKU (available, listed, how many updates)."""
    if kind not in storefront.KINDS:
        return _error(404, f"no sandbox storefront {kind!r}")
    return jsonify(levels=storefront.inventory(kind), down=storefront.is_down(kind))


@bp.get("/<kind>/orders/<order_id>/fulfilments")
def order_fulfilments(kind: str, order_id: str):
    """Control: the shipments (tracking) the console has pushed to one order."""
    if kind not in storefront.KINDS:
        return _error(404, f"no sandbox storefront {kind!r}")
    return jsonify(fulfilments=storefront.fulfilments(kind, order_id))


@bp.route("/<kind>/mode", methods=["GET", "POST"])
def mode(kind: str):
    """Control: {"down": true} makes the shop's API answer 503 until {"down": false}."""
    if kind not in storefront.KINDS:
        return _error(404, f"no sandbox storefront {kind!r}")
    if request.method == "POST":
        storefront.set_down(kind, (request.get_json(silent=True) or {}).get("down") is True)
    return jsonify(down=storefront.is_down(kind))


@bp.post("/<kind>/orders")
def place_orders(kind: str):
    """Control: customers place orders. JSON {count, deliver (false: the webhook is lost), unknown_sku, console_url, channel}."""
    if kind not in storefront.KINDS:
        return _error(404, f"no sandbox storefront {kind!r}")
    wanted = request.get_json(silent=True) or {}
    from app.extensions import db
    from app.models import Product

    skus = wanted.get("skus") or list(db.session.scalars(select(Product.sku).where(Product.active.is_(True))
                                                         .order_by(Product.sku).limit(400)))
    placed = storefront.place_orders(kind, int(wanted.get("count", 1)), skus, _console_url(wanted),
                                     wanted.get("channel") or kind, deliver=wanted.get("deliver", True) is not False,
                                     unknown_sku=wanted.get("unknown_sku") is True)
    return jsonify(orders=[str(order["id"]) for order in placed]), 201


@bp.post("/<kind>/orders/<order_id>/cancel")
def cancel_order(kind: str, order_id: str):
    if kind not in storefront.KINDS:
        return _error(404, f"no sandbox storefront {kind!r}")
    wanted = request.get_json(silent=True) or {}
    order = storefront.cancel_order(kind, order_id, _console_url(wanted), wanted.get("channel") or kind,
                                    deliver=wanted.get("deliver", True) is not False)
    if order is None:
        return _error(404, f"no order {order_id}")
    return jsonify(order=str(order["id"]))


@bp.route("/rate", methods=["GET", "POST"])
def order_rate():
    """Control: how many orders a minute the demo shops take (0 stops them). JSON {orders_per_minute}."""
    if request.method == "POST":
        wanted = request.get_json(silent=True) or {}
        try:
            storefront.set_rate(int(wanted.get("orders_per_minute", 0)))
        except (TypeError, ValueError):
            return _error(400, "orders_per_minute must be a whole number")
    return jsonify(orders_per_minute=storefront.rate())


def _console_url(wanted: dict) -> str:
    return str(wanted.get("console_url") or current_app.config["DROPDESK"].sandbox_url).rstrip("/")


def _instant(name: str) -> datetime | None:
    raw = request.args.get(name)
    return utc_timestamp(raw) if raw else None


def _limit(name: str = "limit", default: int = 50, maximum: int = MAX_LIMIT) -> int:
    value = request.args.get(name, default, type=int) or default
    return max(1, min(maximum, value))


def _offset(page_info: str | None) -> int:
    if page_info and page_info.startswith("o") and page_info[1:].isdigit():
        return int(page_info[1:])
    return 0


def _refused(kind: str) -> Response | None:
    """The shop's own checks on an API call: down (503), else the channel's credentials (401); None lets it in."""
    if storefront.is_down(kind):
        return _error(503, "Service Unavailable") if kind == "shopify" else _error(
            503, "The store is temporarily unavailable.", code="sandbox_down")
    expected = storefront.storefront_credentials(kind)
    if kind == "shopify":
        if not _same(request.headers.get("X-Shopify-Access-Token", ""), expected["api_token"]):
            return _error(401, "[API] Invalid API key or access token (unrecognized login or wrong password)")
        return None
    given = request.authorization
    if not (given and _same(given.username or "", expected["api_key"]) and _same(given.password or "", expected["api_secret"])):
        return _error(401, "Sorry, you cannot list resources.", code="woocommerce_rest_cannot_view")
    return None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _error(status: int, message: str | dict, code: str | None = None) -> Response:
    response = jsonify({"errors": message} if code is None else {"code": code, "message": message})
    response.status_code = status
    return response



