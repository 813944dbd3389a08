"""Machine endpoints (no session, no CSRF: signed by the sender or carrying a channel's bearer token):
suppliers push stock here, channels send orders."""
from flask import Blueprint, jsonify, request

from app.extensions import csrf
from app.services import intake, pushes
from app.web.api.openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


@bp.post("/suppliers/<code>/stock-push")
def supplier_stock_push(code: str):
    answer = pushes.receive_push(code, request.get_data(cache=False), request.headers)
    return jsonify(answer.body), answer.status


@bp.post("/webhooks/shopify/<code>")
def shopify_webhook(code: str):
    """orders/create, orders/updated, orders/cancelled (X-Shopify-Topic), signed X-Shopify-Hmac-Sha256."""
    answer = intake.receive_webhook("shopify", code, request.get_data(cache=False), request.headers)
    return jsonify(answer.body), answer.status


@bp.post("/webhooks/woocommerce/<code>")
def woocommerce_webhook(code: str):
    """order.created, order.updated (X-WC-Webhook-Topic), signed X-WC-Webhook-Signature; the creation ping."""
    answer = intake.receive_webhook("woocommerce", code, request.get_data(cache=False), request.headers)
    return jsonify(answer.body), answer.status


@bp.post("/orders")
def create_order():
    """A custom storefront or ERP: the canonical order, a channel bearer token and an Idempotency-Key."""
    answer = intake.receive_api_order(request.get_data(cache=False), request.headers)
    return jsonify(answer.body), answer.status


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
