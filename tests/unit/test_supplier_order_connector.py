"""The supplier order connector over httpx.MockTransport: placing under an idempotency key, refusals, retries,
auth, status and cancellation, and secrets kept out of every message."""

from __future__ import annotations

import base64
import json
import random

import httpx
import pytest

from app.connectors import (
    ConnectionSettings,
    ConnectorError,
    MemoryTokenCache,
    RetryPolicy,
    SupplierOrderRequest,
    cancel_supplier_order,
    place_supplier_order,
    supplier_order_status,
    supports_orders,
)

BASE_URL = "https://supplier.test/api/ACME"
ORDERS_URL = BASE_URL + "/orders"
API_KEY = "ak-9f8e7d6c5b4a"
PASSWORD = "pw-horse-battery-77"
BEARER = "bt-0123456789abcdef"
CLIENT_SECRET = "cs-very-secret-4242"
KEY = "DD-41-7"
SHIP_TO = {"name": "Ada Moreno", "address1": "12 Market Street", "address2": None, "city": "New York",
           "region": "NY", "postal_code": "10001", "country": "US", "phone": None}
REQUEST = SupplierOrderRequest(KEY, SHIP_TO, "UPS ground", (("AC-100", 2), ("AC-200", 1)))


def connection(*, auth=None, credentials=None, orders=None, **options) -> ConnectionSettings:
    return ConnectionSettings(
        supplier_code="ACME",
        connection_type="rest_json",
        options={"base_url": BASE_URL, "stock_path": "/stock", "auth": auth or {"style": "none"},
                 "orders": orders if orders is not None else {"path": "/orders", "timeout_seconds": 10}, **options},
        credentials=credentials or {},
        mapping={"format": "json", "records": "items", "fields": {"sku": "sku", "quantity": "qty"}},
    )


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class FakeOrderApi:
    """A supplier order API in memory: one order per Idempotency-Key, every request remembered."""

    def __init__(self, *, mode="accept", refuse_skus=None):
        self.mode = mode
        self.refuse_skus = refuse_skus
        self.requests: list[httpx.Request] = []
        self.orders: dict[str, dict] = {}
        self.timeouts_left = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.timeouts_left:
            self.timeouts_left -= 1
            raise httpx.ReadTimeout("the supplier took too long", request=request)
        path = request.url.path
        if request.method == "POST" and path == "/api/ACME/orders":
            return self.place(request)
        if request.method == "GET" and path.startswith("/api/ACME/orders/"):
            order = next((o for o in self.orders.values() if o["id"] == path.rsplit("/", 1)[1]), None)
            if order is None:
                return httpx.Response(404, json={"error": "not_found", "message": "No such order."})
            return httpx.Response(200, json=order)
        if request.method == "POST" and path.endswith("/cancel"):
            ref = path.split("/")[-2]
            order = next(o for o in self.orders.values() if o["id"] == ref)
            if order["status"] in ("shipped", "delivered"):
                return httpx.Response(409, json={"error": "already_shipped", "message": f"{ref} has shipped."})
            order["status"] = "cancelled"
            return httpx.Response(200, json={"status": "cancelled"})
        return httpx.Response(404)

    def place(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("Idempotency-Key")
        body = json.loads(request.content)
        if self.mode == "reject":
            skus = self.refuse_skus or [line["sku"] for line in body["lines"]]
            return httpx.Response(409, json={"error": "out_of_stock", "message": "Not enough stock.", "skus": skus})
        if self.mode == "bad":
            return httpx.Response(400, json={"error": "bad_request", "message": "lines[0].qty must be at least 1"})
        if key in self.orders:
            return httpx.Response(200, json=self.orders[key])
        order = {"id": f"ACME-{len(self.orders) + 1:06d}", "status": "accepted", "reference": body["reference"],
                 "lines": body["lines"], "created_at": "2026-11-24T10:00:00+00:00", "shipments": []}
        self.orders[key] = order
        return httpx.Response(201, json=order)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def place(settings, api, *, request=REQUEST, policy=None, sleeps=None, token_cache=None):
    return place_supplier_order(settings, request, client=api.client(), policy=policy or RetryPolicy(),
                                sleep=sleeps if sleeps is not None else Sleeps(),
                                token_cache=token_cache or MemoryTokenCache(), rng=random.Random(7))


# --- placing -------------------------------------------------------------------------------------


def test_an_accepted_order_gives_the_suppliers_reference_and_the_lines_it_took():
    api = FakeOrderApi()
    answer = place(connection(), api)
    assert (answer.outcome, answer.supplier_ref, answer.lines, answer.reason) == (
        "accepted", "ACME-000001", (("AC-100", 2), ("AC-200", 1)), None)
    (sent,) = api.requests
    assert (sent.method, str(sent.url), sent.headers["Idempotency-Key"]) == ("POST", ORDERS_URL, KEY)
    assert json.loads(sent.content) == {"reference": KEY, "ship_to": SHIP_TO, "service": "UPS ground",
                                        "lines": [{"sku": "AC-100", "qty": 2}, {"sku": "AC-200", "qty": 1}]}
    assert [(exchange.method, exchange.status) for exchange in answer.exchanges] == [("POST", 201)]


def test_placing_the_same_key_again_answers_with_the_same_order_and_places_no_second():
    api = FakeOrderApi()
    first, again = place(connection(), api), place(connection(), api)
    assert first.supplier_ref == again.supplier_ref == "ACME-000001"
    assert again.outcome == "accepted" and len(api.orders) == 1
    assert [request.headers["Idempotency-Key"] for request in api.requests] == [KEY, KEY]


def test_a_timed_out_post_is_retried_with_the_same_idempotency_key():
    api = FakeOrderApi()
    api.timeouts_left = 2
    answer = place(connection(), api)
    assert answer.outcome == "accepted" and len(api.orders) == 1
    assert [request.headers["Idempotency-Key"] for request in api.requests] == [KEY, KEY, KEY]
    assert [(exchange.attempt, exchange.error is None) for exchange in answer.exchanges] == [
        (1, False), (2, False), (3, True)]


def test_out_of_stock_is_a_refusal_with_the_refused_lines_not_an_error():
    api = FakeOrderApi(mode="reject", refuse_skus=["AC-200"])
    sleeps = Sleeps()
    answer = place(connection(), api, sleeps=sleeps)
    assert (answer.outcome, answer.supplier_ref, answer.reason, answer.lines) == (
        "refused", None, "out_of_stock", (("AC-200", 1),))
    assert answer.message == "Not enough stock."
    assert (len(api.requests), sleeps) == (1, [])


def test_timeouts_on_every_attempt_end_in_a_timeout_error_after_the_policys_retries():
    api = FakeOrderApi()
    api.timeouts_left = 99
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as caught:
        place(connection(), api, policy=RetryPolicy(attempts=3), sleeps=sleeps)
    assert caught.value.reason == "timeout"
    assert "after 3 attempt(s)" in caught.value.message
    assert (len(api.requests), len(sleeps), len(caught.value.exchanges)) == (3, 2, 3)
    assert {request.headers["Idempotency-Key"] for request in api.requests} == {KEY}


def test_server_errors_are_retried_then_reported():
    api = FakeOrderApi()
    api.place = lambda request: httpx.Response(503)
    with pytest.raises(ConnectorError) as caught:
        place(connection(), api, policy=RetryPolicy(attempts=2))
    assert (caught.value.reason, len(api.requests)) == ("http_status", 2)


def test_a_bad_request_is_an_http_status_error_with_the_suppliers_message_and_is_not_retried():
    api = FakeOrderApi(mode="bad")
    with pytest.raises(ConnectorError) as caught:
        place(connection(), api)
    assert caught.value.reason == "http_status"
    assert "HTTP 400" in caught.value.message and "lines[0].qty must be at least 1" in caught.value.message
    assert len(api.requests) == 1


def test_an_acceptance_without_an_order_id_is_malformed():
    api = FakeOrderApi()
    api.place = lambda request: httpx.Response(201, json={"status": "accepted"})
    with pytest.raises(ConnectorError) as caught:
        place(connection(), api)
    assert caught.value.reason == "malformed"


def test_the_orders_timeout_is_sent_on_every_call():
    api = FakeOrderApi()
    place(connection(orders={"path": "/orders", "timeout_seconds": 2.5}, timeout_seconds=30), api)
    assert api.requests[0].extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}


def test_without_orders_options_there_is_no_order_api():
    settings = connection(orders={})
    assert supports_orders(settings)
    bare = ConnectionSettings("ACME", "rest_json", {"base_url": BASE_URL}, {}, {})
    assert not supports_orders(bare)
    with pytest.raises(ConnectorError) as caught:
        place(bare, FakeOrderApi())
    assert caught.value.reason == "unsupported"


def test_an_order_api_may_name_its_own_base_url_when_the_supplier_has_no_stock_api():
    api = FakeOrderApi()
    settings = ConnectionSettings("ACME", "upload", {"orders": {"base_url": BASE_URL, "path": "/orders"}}, {}, {})
    assert place(settings, api).outcome == "accepted"
    assert str(api.requests[0].url) == ORDERS_URL


def test_a_shipment_without_lines_or_with_a_zero_quantity_is_refused_before_sending():
    api = FakeOrderApi()
    with pytest.raises(ValueError):
        place(connection(), api, request=SupplierOrderRequest(KEY, SHIP_TO, None, ()))
    with pytest.raises(ValueError):
        place(connection(), api, request=SupplierOrderRequest(KEY, SHIP_TO, None, (("AC-100", 0),)))
    assert api.requests == []


# --- auth and secrets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "credentials", "header", "value"),
    [
        ({"style": "api_key_header", "header": "X-Api-Key"}, {"api_key": API_KEY}, "X-Api-Key", API_KEY),
        ({"style": "basic"}, {"username": "acme-shop", "password": PASSWORD}, "Authorization",
         "Basic " + base64.b64encode(f"acme-shop:{PASSWORD}".encode()).decode()),
        ({"style": "bearer"}, {"token": BEARER}, "Authorization", f"Bearer {BEARER}"),
    ],
    ids=["api_key_header", "basic", "bearer"],
)
def test_each_auth_style_sends_its_credential_with_the_order(auth, credentials, header, value):
    api = FakeOrderApi()
    place(connection(auth=auth, credentials=credentials), api)
    assert api.requests[0].headers[header] == value


def test_an_api_key_in_the_query_is_sent_and_masked_in_the_exchanges():
    api = FakeOrderApi()
    answer = place(connection(auth={"style": "api_key_query"}, credentials={"api_key": API_KEY}), api)
    assert api.requests[0].url.params["api_key"] == API_KEY
    assert API_KEY not in answer.exchanges[0].url and "api_key=***" in answer.exchanges[0].url


def test_oauth2_fetches_a_token_then_places_the_order_with_it():
    api = FakeOrderApi()
    served = api.__call__

    def with_token_endpoint(request):
        if request.url.path == "/oauth/token":
            api.requests.append(request)
            return httpx.Response(200, json={"access_token": "at-order-token", "expires_in": 3600})
        return served(request)

    settings = connection(auth={"style": "oauth2_client_credentials", "token_url": "https://supplier.test/oauth/token"},
                          credentials={"client_id": "dropdesk", "client_secret": CLIENT_SECRET})
    answer = place_supplier_order(settings, REQUEST, client=httpx.Client(transport=httpx.MockTransport(with_token_endpoint)),
                                  sleep=Sleeps(), token_cache=MemoryTokenCache())
    token_request, order_request = api.requests
    assert token_request.url.path == "/oauth/token"
    assert order_request.headers["Authorization"] == "Bearer at-order-token"
    assert answer.outcome == "accepted"


def test_a_refused_credential_is_an_auth_error_and_never_shows_the_secret():
    api = FakeOrderApi()
    api.place = lambda request: httpx.Response(401, json={"error": "unauthorized", "message": f"bad key {API_KEY}"})
    with pytest.raises(ConnectorError) as caught:
        place(connection(auth={"style": "api_key_query"}, credentials={"api_key": API_KEY}), api)
    assert caught.value.reason == "auth" and len(api.requests) == 1
    shown = caught.value.message + repr(caught.value) + json.dumps([e.to_dict() for e in caught.value.exchanges])
    assert API_KEY not in shown


def test_a_supplier_message_echoing_a_secret_is_scrubbed():
    api = FakeOrderApi()
    api.place = lambda request: httpx.Response(422, json={"message": f"token {BEARER} may not order AC-100"})
    with pytest.raises(ConnectorError) as caught:
        place(connection(auth={"style": "bearer"}, credentials={"token": BEARER}), api)
    assert caught.value.reason == "http_status"
    assert BEARER not in caught.value.message and "*** may not order AC-100" in caught.value.message


def test_a_refusal_message_echoing_a_secret_is_scrubbed():
    api = FakeOrderApi()
    api.place = lambda request: httpx.Response(409, json={"error": "out_of_stock", "message": f"no stock for {API_KEY}"})
    answer = place(connection(auth={"style": "api_key_header"}, credentials={"api_key": API_KEY}), api)
    assert answer.outcome == "refused" and API_KEY not in answer.message


# --- status and cancellation ---------------------------------------------------------------------


def test_status_reports_shipments_with_tracking_and_aware_times():
    api = FakeOrderApi()
    ref = place(connection(), api).supplier_ref
    api.orders[KEY].update(status="shipped", shipments=[{"carrier": "UPS", "tracking_number": "1Z999AA10123456784",
                                                         "tracking_url": "https://ups.example/1Z999AA10123456784",
                                                         "shipped_at": "2026-11-24T11:00:00Z"}])
    status = supplier_order_status(connection(), ref, client=api.client(), sleep=Sleeps())
    assert (status.supplier_ref, status.status, status.lines) == (ref, "shipped", (("AC-100", 2), ("AC-200", 1)))
    (shipment,) = status.shipments
    assert (shipment.carrier, shipment.tracking_number) == ("UPS", "1Z999AA10123456784")
    assert shipment.shipped_at.utcoffset().total_seconds() == 0 and shipment.shipped_at.hour == 11
    assert str(api.requests[-1].url) == f"{ORDERS_URL}/{ref}"


def test_status_of_an_unknown_order_is_an_http_status_error():
    with pytest.raises(ConnectorError) as caught:
        supplier_order_status(connection(), "ACME-999999", client=FakeOrderApi().client(), sleep=Sleeps())
    assert caught.value.reason == "http_status" and "No such order." in caught.value.message


def test_an_unknown_status_word_is_malformed():
    api = FakeOrderApi()
    ref = place(connection(), api).supplier_ref
    api.orders[KEY]["status"] = "lost_in_space"
    with pytest.raises(ConnectorError) as caught:
        supplier_order_status(connection(), ref, client=api.client(), sleep=Sleeps())
    assert caught.value.reason == "malformed"


def test_cancelling_an_unshipped_order_cancels_it_and_again_changes_nothing():
    api = FakeOrderApi()
    ref = place(connection(), api).supplier_ref
    first = cancel_supplier_order(connection(), ref, client=api.client(), sleep=Sleeps())
    again = cancel_supplier_order(connection(), ref, client=api.client(), sleep=Sleeps())
    assert (first.outcome, again.outcome, first.supplier_ref) == ("cancelled", "cancelled", ref)
    assert api.requests[-1].method == "POST" and str(api.requests[-1].url) == f"{ORDERS_URL}/{ref}/cancel"
    assert "Idempotency-Key" not in api.requests[-1].headers


def test_cancelling_a_shipped_order_answers_already_shipped():
    api = FakeOrderApi()
    ref = place(connection(), api).supplier_ref
    api.orders[KEY]["status"] = "shipped"
    answer = cancel_supplier_order(connection(), ref, client=api.client(), sleep=Sleeps())
    assert (answer.outcome, answer.reason) == ("already_shipped", "already_shipped")
    assert api.orders[KEY]["status"] == "shipped"
