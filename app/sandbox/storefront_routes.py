"""The simulated storefronts' HTTP side, at /sandbox/storefront: the channels' order APIs the console pulls
from (Shopify's orders.json, WooCommerce's wp-json/wc/v3/orders) and controls for the demo and tests.

Public on purpose (it plays the shop, which checks its own credentials) and exempt from CSRF.
"""
from __future__ import annotations

import hmac
from datetime import datetime

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select

from app.channels.canonical import utc_timestamp
from app.sandbox import storefront

bp = Blueprint("sandbox_storefront", __name__, url_prefix="/sandbox/storefront")
MAX_LIMIT = 250


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/shopify/admin/api/<version>/orders.json")
def shopify_orders(version: str):
    """Shopify's REST shape: `updated_at_min`, `limit`, cursor paging by a `Link: <…>; rel="next"` header."""
    token = request.headers.get("X-Shopify-Access-Token", "")
    if not _same(token, storefront.storefront_credentials("shopify")["api_token"]):
        return _error(401, "[API] Invalid API key or access token (unrecognized login or wrong password)")
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
def woocommerce_orders():
    """WooCommerce's REST v3 shape: `modified_after`, `per_page`, `page`, X-WP-Total / X-WP-TotalPages."""
    expected = storefront.storefront_credentials("woocommerce")
    given = request.authorization
    if not (given and _same(given.username or "", expected["api_key"]) and _same(given.password or "", expected["api_secret"])):
        return _error(401, "Sorry, you cannot list resources.", code="woocommerce_rest_cannot_view")
    since = _instant("modified_after")
    per_page = _limit("per_page", default=10, maximum=100)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    orders = storefront.orders_changed_since("woocommerce", since)
    response = jsonify(orders[(page - 1) * per_page:page * per_page])
    response.headers["X-WP-Total"] = str(len(orders))
    response.headers["X-WP-TotalPages"] = str(max(1, -(-len(orders) // per_page)))
    return response


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


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _error(status: int, message: str, code: str | None = None) -> Response:
    response = jsonify({"errors": message} if code is None else {"code": code, "message": message})
    response.status_code = status
    return response



