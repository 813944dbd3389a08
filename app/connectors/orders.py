"""Placing, following and cancelling orders at a supplier's order API (options["orders"]).

The supplier is reached at the same base URL, with the same auth, secret scrubbing, exchanges and
retry policy as its stock pulls. Every placement carries the shipment's Idempotency-Key, so a retry
after a timeout (ours or the caller's job) gets the order the supplier already took, never a second.
A refusal (409 out of stock) is an answer, not an error; calls that cannot be completed raise
ConnectorError ("timeout", "connection", "http_status", "auth", "malformed", "unsupported").
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx

from app.connectors.base import ConnectionSettings, ConnectorError, HttpExchange, RetryPolicy, TokenCache
from app.connectors.http import (
    DEFAULT_RETRY_POLICY,
    REFUSED_STATUSES,
    RETRYABLE_STATUSES,
    SupplierHttp,
    open_supplier_http,
)

logger = logging.getLogger("app.connectors")

DEFAULT_ORDERS_PATH = "/orders"
DEFAULT_ORDER_TIMEOUT_SECONDS = 10.0
# Client errors the connector reads itself: 409 is the supplier's refusal, the rest become http_status
# errors carrying the supplier's own message. 401/403 stay auth errors; 429 stays retried.
ORDER_ANSWERS = frozenset(range(400, 500)) - REFUSED_STATUSES - RETRYABLE_STATUSES
CONFLICT = 409
SUPPLIER_MESSAGE_CHARS = 300

AnswerOutcome = Literal["accepted", "refused", "cancelled", "already_shipped"]
OrderStatus = Literal["accepted", "shipped", "delivered", "cancelled"]
ORDER_STATUSES = ("accepted", "shipped", "delivered", "cancelled")
Lines = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class SupplierOrderRequest:
    """One shipment to place: the idempotency key, where it goes, how, and (supplier SKU, quantity) lines."""

    key: str
    ship_to: dict[str, Any]  # name, address1, address2, city, region, postal_code, country, phone
    service: str | None
    lines: Lines


@dataclass(frozen=True)
class SupplierOrderAnswer:
    """What the supplier said to a placement or a cancellation."""

    outcome: AnswerOutcome
    supplier_ref: str | None  # the supplier's own order id (None when refused)
    lines: Lines  # accepted: what it says it took; refused: the lines it refused
    reason: str | None  # refused / already_shipped: the supplier's error code, e.g. out_of_stock
    message: str  # safe to show and store (no secrets)
    exchanges: tuple[HttpExchange, ...] = ()


@dataclass(frozen=True)
class Shipment:
    carrier: str
    tracking_number: str
    tracking_url: str | None
    shipped_at: datetime | None


@dataclass(frozen=True)
class SupplierOrderStatus:
    """An order as the supplier sees it now."""

    supplier_ref: str
    status: OrderStatus
    shipments: tuple[Shipment, ...]
    lines: Lines
    exchanges: tuple[HttpExchange, ...] = ()


def supports_orders(settings: ConnectionSettings) -> bool:
    """True when orders can be placed with this supplier through its API (options["orders"] is set)."""
    return isinstance(settings.options.get("orders"), Mapping)


def place_supplier_order(
    settings: ConnectionSettings,
    request: SupplierOrderRequest,
    *,
    client: httpx.Client | None = None,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    sleep: Callable[[float], Any] = time.sleep,
    token_cache: TokenCache | None = None,
    rng: random.Random | None = None,
) -> SupplierOrderAnswer:
    """Place one shipment under its idempotency key: accepted (a repeated key answers with the same order)
    or refused; ConnectorError when the supplier could not be asked or gave no usable answer."""
    _check_request(request)
    orders_url, order_settings = _orders_endpoint(settings)
    body = {
        "reference": request.key,
        "ship_to": dict(request.ship_to),
        "service": request.service,
        "lines": [{"sku": sku, "qty": qty} for sku, qty in request.lines],
    }
    with open_supplier_http(order_settings, client, policy, sleep, token_cache, rng) as http:
        response = http.post_json(orders_url, body, idempotency_key=request.key, answers=ORDER_ANSWERS)
        payload = _json_object(response, http, "POST", orders_url, allow_empty=response.status_code >= 400)
        if response.status_code == CONFLICT:
            answer = _refusal(settings, request, payload, http)
        elif response.status_code >= 400:
            raise _client_error(http, "POST", orders_url, response, payload)
        else:
            answer = _acceptance(settings, request, payload, http, orders_url)
    logger.info(
        "supplier_order_placed supplier=%s key=%s outcome=%s ref=%s status=%s attempts=%s",
        settings.supplier_code,
        request.key,
        answer.outcome,
        answer.supplier_ref or "-",
        response.status_code,
        len(answer.exchanges),
    )
    return answer


def supplier_order_status(
    settings: ConnectionSettings,
    supplier_ref: str,
    *,
    client: httpx.Client | None = None,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    sleep: Callable[[float], Any] = time.sleep,
    token_cache: TokenCache | None = None,
    rng: random.Random | None = None,
) -> SupplierOrderStatus:
    """The order's status, shipments (carrier, tracking number) and lines as the supplier reports them."""
    orders_url, order_settings = _orders_endpoint(settings)
    url = _order_url(orders_url, supplier_ref)
    with open_supplier_http(order_settings, client, policy, sleep, token_cache, rng) as http:
        response = http.get(url, answers=ORDER_ANSWERS)
        payload = _json_object(response, http, "GET", url, allow_empty=response.status_code >= 400)
        if response.status_code >= 400:
            raise _client_error(http, "GET", url, response, payload)
        status = payload.get("status")
        if status not in ORDER_STATUSES:
            raise _malformed(http, f"GET {url} answered with status {status!r}, not one of {', '.join(ORDER_STATUSES)}")
        shipments = _shipments(payload.get("shipments"), http, url)
        lines = _lines(payload.get("lines"), http, url)
        return SupplierOrderStatus(str(payload.get("id") or supplier_ref), status, shipments, lines,
                                   tuple(http.exchanges))


def cancel_supplier_order(
    settings: ConnectionSettings,
    supplier_ref: str,
    *,
    client: httpx.Client | None = None,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    sleep: Callable[[float], Any] = time.sleep,
    token_cache: TokenCache | None = None,
    rng: random.Random | None = None,
) -> SupplierOrderAnswer:
    """Cancel the order at the supplier: cancelled (also when it already was), or already_shipped."""
    orders_url, order_settings = _orders_endpoint(settings)
    url = _order_url(orders_url, supplier_ref) + "/cancel"
    with open_supplier_http(order_settings, client, policy, sleep, token_cache, rng) as http:
        # A cancellation changes nothing the second time, so it needs no idempotency key to be retried.
        response = http.post_json(url, {}, idempotency_key=None, answers=ORDER_ANSWERS)
        payload = _json_object(response, http, "POST", url, allow_empty=True)
        if response.status_code == CONFLICT and payload.get("error") == "already_shipped":
            answer = SupplierOrderAnswer("already_shipped", supplier_ref, (), "already_shipped",
                                         http.safe_text(_supplier_message(payload) or
                                                        f"{settings.supplier_code} has already shipped {supplier_ref}"),
                                         tuple(http.exchanges))
        elif response.status_code >= 400:
            raise _client_error(http, "POST", url, response, payload)
        else:
            answer = SupplierOrderAnswer("cancelled", supplier_ref, (), None,
                                         f"{settings.supplier_code} cancelled order {supplier_ref}", tuple(http.exchanges))
    logger.info("supplier_order_cancel supplier=%s ref=%s outcome=%s", settings.supplier_code, supplier_ref,
                answer.outcome)
    return answer


# --- the steps -----------------------------------------------------------------------------------


def _check_request(request: SupplierOrderRequest) -> None:
    """A shipment the caller built wrongly is a bug, caught before anything is sent."""
    if not isinstance(request.key, str) or not request.key.strip():
        raise ValueError("a supplier order needs its idempotency key")
    if not request.lines:
        raise ValueError(f"supplier order {request.key} has no lines")
    for sku, qty in request.lines:
        if not isinstance(sku, str) or not sku or isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            raise ValueError(f"supplier order {request.key}: each line needs a SKU and a quantity of at least 1")


def _orders_endpoint(settings: ConnectionSettings) -> tuple[str, ConnectionSettings]:
    """The orders URL, and the settings to call it with (the orders timeout in place of the stock one)."""
    raw = settings.options.get("orders")
    if not isinstance(raw, Mapping):
        raise ConnectorError("unsupported", f"{settings.supplier_code}: this connection has no order API (options.orders)")
    path = raw.get("path", DEFAULT_ORDERS_PATH)
    if not isinstance(path, str):
        raise ConnectorError("unsupported", f"{settings.supplier_code}: orders.path must be text, e.g. /orders")
    timeout = raw.get("timeout_seconds", DEFAULT_ORDER_TIMEOUT_SECONDS)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
        raise ConnectorError(
            "unsupported", f"{settings.supplier_code}: orders.timeout_seconds must be a number of seconds in (0, 600]"
        )
    # A supplier that pushes its stock or sends files has no stock base_url: its order API names its own.
    base_url = raw.get("base_url") or settings.options.get("base_url")
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConnectorError("unsupported", f"{settings.supplier_code}: the order API needs an http(s) base_url")
    url = base_url.rstrip("/") + ("/" + path.lstrip("/") if path else "")
    return url, replace(settings, options={**settings.options, "timeout_seconds": timeout})


def _order_url(orders_url: str, supplier_ref: str) -> str:
    if not isinstance(supplier_ref, str) or not supplier_ref:
        raise ValueError("a supplier order reference is needed")
    return f"{orders_url}/{quote(supplier_ref, safe='')}"


def _acceptance(settings: ConnectionSettings, request: SupplierOrderRequest, payload: dict, http: SupplierHttp,
                url: str) -> SupplierOrderAnswer:
    supplier_ref = payload.get("id")
    if not isinstance(supplier_ref, str) or not supplier_ref:
        raise _malformed(http, f"POST {url} accepted the order without giving its id")
    lines = _lines(payload.get("lines"), http, url) if payload.get("lines") is not None else request.lines
    if payload.get("status") == "cancelled":
        # The key was seen before and that order has since been cancelled: it is not coming.
        return SupplierOrderAnswer("cancelled", supplier_ref, lines, "cancelled",
                                   f"{settings.supplier_code} had order {supplier_ref} for this key and cancelled it",
                                   tuple(http.exchanges))
    return SupplierOrderAnswer("accepted", supplier_ref, lines, None,
                               f"{settings.supplier_code} accepted the order as {supplier_ref}", tuple(http.exchanges))


def _refusal(settings: ConnectionSettings, request: SupplierOrderRequest, payload: dict,
             http: SupplierHttp) -> SupplierOrderAnswer:
    reason = payload.get("error") if isinstance(payload.get("error"), str) and payload.get("error") else "refused"
    named = payload.get("skus")
    refused_skus = {sku for sku in named if isinstance(sku, str)} if isinstance(named, list) and named else None
    lines = tuple(line for line in request.lines if refused_skus is None or line[0] in refused_skus)
    message = _supplier_message(payload) or f"{settings.supplier_code} refused the order ({reason})"
    return SupplierOrderAnswer("refused", None, lines, reason, http.safe_text(message), tuple(http.exchanges))


def _client_error(http: SupplierHttp, method: str, url: str, response: httpx.Response, payload: dict) -> ConnectorError:
    detail = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    said = _supplier_message(payload)
    return ConnectorError(
        "http_status",
        http.safe_text(f"{http.supplier_code}: {method} {http.redactor.url(url)} failed: {detail}"
                       + (f": {said}" if said else "")),
        exchanges=tuple(http.exchanges),
    )


def _supplier_message(payload: dict) -> str:
    """The supplier's own explanation (message, else error code), cut to a length fit to store."""
    for name in ("message", "error"):
        value = payload.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[:SUPPLIER_MESSAGE_CHARS]
    return ""


def _json_object(response: httpx.Response, http: SupplierHttp, method: str, url: str, *, allow_empty: bool) -> dict:
    """The answer's JSON object; an error answer may have none (an empty dict then)."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        return payload
    if allow_empty:
        return {}
    raise _malformed(http, f"{method} {url} answered HTTP {response.status_code} without a JSON object")


def _lines(raw: Any, http: SupplierHttp, url: str) -> Lines:
    if not isinstance(raw, list):
        raise _malformed(http, f"{url}: the order's lines are not a list")
    lines = []
    for line in raw:
        sku = line.get("sku") if isinstance(line, dict) else None
        qty = line.get("qty") if isinstance(line, dict) else None
        if not isinstance(sku, str) or isinstance(qty, bool) or not isinstance(qty, int):
            raise _malformed(http, f"{url}: an order line needs a sku and a whole qty")
        lines.append((sku, qty))
    return tuple(lines)


def _shipments(raw: Any, http: SupplierHttp, url: str) -> tuple[Shipment, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _malformed(http, f"{url}: the order's shipments are not a list")
    shipments = []
    for shipment in raw:
        if not isinstance(shipment, dict) or not isinstance(shipment.get("tracking_number"), str):
            raise _malformed(http, f"{url}: a shipment needs a tracking_number")
        tracking_url = shipment.get("tracking_url")
        shipments.append(Shipment(str(shipment.get("carrier") or ""), shipment["tracking_number"],
                                  tracking_url if isinstance(tracking_url, str) and tracking_url else None,
                                  _instant(shipment.get("shipped_at"))))
    return tuple(shipments)


def _instant(raw: Any) -> datetime | None:
    """An aware instant from ISO 8601 text; None when absent, unreadable or without an offset."""
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else None


def _malformed(http: SupplierHttp, problem: str) -> ConnectorError:
    return ConnectorError("malformed", http.safe_text(f"{http.supplier_code}: {problem}"), exchanges=tuple(http.exchanges))
