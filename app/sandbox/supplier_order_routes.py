"""The simulated suppliers' order APIs, at /sandbox/suppliers/<code>/orders, and their controls for tests and demos.

Each supplier checks the same credentials as its stock API and plays the same faults (app.sandbox.routes).
Public on purpose and exempt from CSRF, like the rest of the sandbox; mounted only when SANDBOX is on.
"""
from __future__ import annotations

import functools
import logging
import time

from flask import Blueprint, Response, jsonify, request

from app.sandbox import clock, supplier_orders
from app.sandbox.connections import SANDBOX_SUPPLIERS
from app.sandbox.routes import (
    _json_error,
    _play_faults,
    _refuse_without_credentials,
    _unknown_supplier,
    remember_call,
)

log = logging.getLogger(__name__)

bp = Blueprint("sandbox_supplier_orders", __name__, url_prefix="/sandbox/suppliers")
bp.after_request(remember_call)


def supplier_api(view):
    """A route of a supplier's order API: refused as the supplier would refuse it (unknown, a fault, wrong
    credentials) before it runs."""
    @functools.wraps(view)
    def guarded(code: str, *args, **kwargs):
        return _refused(code) or view(code, *args, **kwargs)
    return guarded


@bp.errorhandler(supplier_orders.OrderRequestError)
def bad_order_request(error: supplier_orders.OrderRequestError):
    return _json_error(400, "bad_request", str(error))


# --- the suppliers' side -------------------------------------------------------------------------


@bp.post("/<code>/orders")
@supplier_api
def place_order(code: str):
    """Take an order under its Idempotency-Key: 201 new, 200 the one already taken, 409 out of stock, or 504."""
    if not request.headers.get("Idempotency-Key", "").strip():
        return _json_error(400, "missing_idempotency_key",
                           "The Idempotency-Key header is required: the same key always means the same order.")
    key = supplier_orders.parse_idempotency_key(request.headers.get("Idempotency-Key"))
    body = supplier_orders.parse_order_body(request.get_json(silent=True))
    supplier_orders.count_post(code, key)
    mode = supplier_orders.current_order_mode(code)
    now = clock.sandbox_now()
    if mode.mode == "timeout":
        log.info("sandbox_order_timeout supplier=%s key=%s hold_s=%s", code, key, mode.hold_seconds)
        time.sleep(mode.hold_seconds)
        return _json_error(504, "timeout", f"{code} did not answer in time; the order was not taken.")
    earlier = supplier_orders.existing_order(code, key, now)
    if earlier is not None:
        # Seen before: the order it already has, even while it refuses new ones.
        return jsonify(earlier), 200
    if mode.mode == "reject":
        skus = [sku for sku, _ in body.lines]
        log.info("sandbox_order_rejected supplier=%s key=%s", code, key)
        response = jsonify(error="out_of_stock", message=f"{code} cannot supply {', '.join(skus)}: out of stock.",
                           skus=skus)
        response.status_code = 409
        return response
    order, created = supplier_orders.place_order(code, key, body, mode, now)
    log.info("sandbox_order_placed supplier=%s key=%s id=%s new=%s", code, key, order["id"], created)
    if created and mode.mode == "accept_slowly":
        # Taken, but the answer comes late: the caller may give up, and its retry must find this order.
        time.sleep(mode.hold_seconds)
    return jsonify(order), 201 if created else 200


@bp.get("/<code>/orders/<order_id>")
@supplier_api
def order_status(code: str, order_id: str):
    order = supplier_orders.get_order(code, order_id, clock.sandbox_now())
    if order is None:
        return _json_error(404, "not_found", f"{code} has no order {order_id}.")
    return jsonify(order)


@bp.post("/<code>/orders/<order_id>/cancel")
@supplier_api
def cancel_order(code: str, order_id: str):
    outcome = supplier_orders.cancel_order(code, order_id, clock.sandbox_now())
    if outcome is None:
        return _json_error(404, "not_found", f"{code} has no order {order_id}.")
    if outcome == "already_shipped":
        return _json_error(409, "already_shipped", f"{order_id} has already shipped; it can no longer be cancelled.")
    return jsonify(id=order_id, status="cancelled")


# --- controls for demos and tests ----------------------------------------------------------------


@bp.route("/<code>/orders", methods=["GET", "DELETE"])
def orders_taken(code: str):
    """GET: every order as it stands and the POSTs per key. DELETE: forget them all and accept again."""
    if code not in SANDBOX_SUPPLIERS:
        return _unknown_supplier(code)
    if request.method == "DELETE":
        supplier_orders.reset(code)
    return jsonify(supplier_orders.orders_and_posts(code, clock.sandbox_now()))


@bp.route("/<code>/order-mode", methods=["GET", "POST"])
def order_mode(code: str):
    """GET: how the desk answers. POST {"mode", "hold_seconds", "ship_after_seconds", "deliver_after_seconds"}."""
    if code not in SANDBOX_SUPPLIERS:
        return _unknown_supplier(code)
    if request.method == "POST":
        supplier_orders.set_order_mode(code, supplier_orders.parse_order_mode(request.get_json(silent=True)))
    return jsonify(supplier=code, **supplier_orders.current_order_mode(code).to_json())


@bp.post("/<code>/orders/<order_id>/ship")
def ship_order(code: str, order_id: str):
    """Ship it now, whatever the clock says."""
    if code not in SANDBOX_SUPPLIERS:
        return _unknown_supplier(code)
    try:
        order = supplier_orders.ship_order(code, order_id, clock.sandbox_now())
    except supplier_orders.OrderRequestError as error:
        return _json_error(409, "cancelled", str(error))
    if order is None:
        return _json_error(404, "not_found", f"{code} has no order {order_id}.")
    return jsonify(order)


def _refused(code: str) -> Response | None:
    """The answer when the supplier is unknown, a fault answers instead, or the credentials are wrong."""
    supplier = SANDBOX_SUPPLIERS.get(code)
    if supplier is None:
        return _unknown_supplier(code)
    return _play_faults(code) or _refuse_without_credentials(supplier)
