"""The sandbox suppliers' order APIs over real HTTP, through the supplier order connector: acceptance under an
idempotency key, refusals, timeouts, slow acceptances, shipping and delivery by the sandbox clock, cancellation."""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

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
)
from app.sandbox import SANDBOX_SUPPLIERS, sandbox_connection, sandbox_credentials
from app.sandbox.supplier_orders import tracking_number

AUTHENTICATED = ["ACME", "EUROHUB", "MAPLE"]  # api key header, OAuth2 client credentials, bearer
SHIP_TO = {"name": "Ada Moreno", "address1": "12 Market Street", "address2": None, "city": "New York",
           "region": "NY", "postal_code": "10001", "country": "US", "phone": None}
QUICK = RetryPolicy(attempts=2, base_seconds=0, cap_seconds=0)


@pytest.fixture
def desk(sandbox_url):
    """Every supplier's order desk empty and accepting, no faults, the clock running; the same afterwards."""
    controls = httpx.Client(base_url=sandbox_url, timeout=10)

    def reset():
        for code in SANDBOX_SUPPLIERS:
            assert controls.delete(f"/sandbox/suppliers/{code}/orders").status_code == 200
            assert controls.post(f"/sandbox/suppliers/{code}/faults", json={}).status_code == 200
        assert controls.post("/sandbox/clock", json={}).status_code == 200

    reset()
    yield Desk(sandbox_url, controls)
    reset()
    controls.close()


class Desk:
    """The connector's side (settings as the demo seed gives them) and the sandbox's controls."""

    def __init__(self, sandbox_url: str, controls: httpx.Client):
        self.sandbox_url = sandbox_url
        self.controls = controls
        self.token_cache = MemoryTokenCache()

    def settings(self, code: str, **orders) -> ConnectionSettings:
        connection_type, options, mapping = sandbox_connection(code, self.sandbox_url)
        options["orders"].update(orders)
        return ConnectionSettings(code, connection_type, options, sandbox_credentials(code), mapping)

    def place(self, code: str, key: str, lines=(("SKU-1", 2),), service=None, policy=QUICK, **orders):
        return place_supplier_order(self.settings(code, **orders), SupplierOrderRequest(key, SHIP_TO, service, lines),
                                    policy=policy, sleep=lambda seconds: None, token_cache=self.token_cache,
                                    rng=random.Random(1))

    def status(self, code: str, ref: str):
        return supplier_order_status(self.settings(code), ref, policy=QUICK, sleep=lambda seconds: None,
                                     token_cache=self.token_cache)

    def cancel(self, code: str, ref: str):
        return cancel_supplier_order(self.settings(code), ref, policy=QUICK, sleep=lambda seconds: None,
                                     token_cache=self.token_cache)

    def mode(self, code: str, **settings) -> None:
        answer = self.controls.post(f"/sandbox/suppliers/{code}/order-mode", json=settings)
        assert answer.status_code == 200, answer.text

    def taken(self, code: str) -> dict:
        return self.controls.get(f"/sandbox/suppliers/{code}/orders").json()

    def freeze_clock(self, at: datetime) -> None:
        assert self.controls.post("/sandbox/clock", json={"frozen_at": at.isoformat()}).status_code == 200

    def advance_clock(self, seconds: int) -> None:
        assert self.controls.post("/sandbox/clock", json={"advance_seconds": seconds}).status_code == 200


# --- taking orders -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", AUTHENTICATED + ["HARBOR", "SUNRISE"])
def test_a_supplier_takes_an_order_and_a_repeated_key_gets_the_same_order_once(desk, code):
    first = desk.place(code, "DD-1-1", lines=(("SKU-1", 2), ("SKU-2", 1)))
    again = desk.place(code, "DD-1-1", lines=(("SKU-1", 2), ("SKU-2", 1)))
    assert (first.outcome, first.supplier_ref, first.lines) == ("accepted", f"{code}-000001", (("SKU-1", 2), ("SKU-2", 1)))
    assert (again.outcome, again.supplier_ref) == ("accepted", first.supplier_ref)
    assert [exchange.status for exchange in first.exchanges][-1:] == [201]
    assert [exchange.status for exchange in again.exchanges][-1:] == [200]
    taken = desk.taken(code)
    assert [order["id"] for order in taken["orders"]] == [first.supplier_ref]
    assert taken["orders"][0]["reference"] == "DD-1-1"
    assert taken["posts_by_key"] == {"DD-1-1": 2}


def test_the_same_key_posted_at_once_from_many_workers_is_one_order(desk):
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: desk.place("PACIFIC", "DD-1-9"), range(8)))
    assert {answer.outcome for answer in answers} == {"accepted"}
    assert len({answer.supplier_ref for answer in answers}) == 1
    taken = desk.taken("PACIFIC")
    assert ([order["id"] for order in taken["orders"]], taken["posts_by_key"]) == (
        [answers[0].supplier_ref], {"DD-1-9": 8})


def test_each_key_is_its_own_order_numbered_in_turn(desk):
    refs = [desk.place("ACME", f"DD-2-{number}").supplier_ref for number in (1, 2, 3)]
    assert refs == ["ACME-000001", "ACME-000002", "ACME-000003"]
    assert desk.taken("ACME")["posts_by_key"] == {"DD-2-1": 1, "DD-2-2": 1, "DD-2-3": 1}


@pytest.mark.parametrize("code", AUTHENTICATED)
def test_an_order_without_the_suppliers_credentials_is_refused_and_nothing_is_taken(desk, code):
    answer = httpx.post(f"{desk.sandbox_url}/sandbox/suppliers/{code}/orders", headers={"Idempotency-Key": "DD-3-1"},
                        json={"reference": "DD-3-1", "ship_to": SHIP_TO, "lines": [{"sku": "SKU-1", "qty": 1}]})
    assert answer.status_code == 401
    wrong = ConnectionSettings(code, *_with_credentials_of("ATLAS", desk.settings(code)))
    with pytest.raises(ConnectorError) as caught:
        place_supplier_order(wrong, SupplierOrderRequest("DD-3-1", SHIP_TO, None, (("SKU-1", 1),)), policy=QUICK,
                             sleep=lambda seconds: None, token_cache=MemoryTokenCache())
    assert caught.value.reason == "auth"
    taken = desk.taken(code)
    assert (taken["orders"], taken["posts_by_key"]) == ([], {})


def _with_credentials_of(other: str, settings: ConnectionSettings):
    """Someone else's secret in the names this supplier's auth style needs."""
    secret = sandbox_credentials(other)["api_key"]
    credentials = {name: secret for name in settings.credentials}
    return settings.connection_type, settings.options, credentials, settings.mapping


@pytest.mark.parametrize(
    ("headers", "body", "error", "says"),
    [
        ({}, {"lines": [{"sku": "SKU-1", "qty": 1}]}, "missing_idempotency_key", "Idempotency-Key"),
        ({"Idempotency-Key": "DD-4-1"}, {"reference": "DD-4-1"}, "bad_request", "lines"),
        ({"Idempotency-Key": "DD-4-1"}, {"lines": []}, "bad_request", "lines"),
        ({"Idempotency-Key": "DD-4-1"}, {"lines": [{"sku": "SKU-1", "qty": 0}]}, "bad_request", "lines[0].qty"),
        ({"Idempotency-Key": "DD-4-1"}, {"lines": [{"sku": "SKU-1", "qty": "2"}]}, "bad_request", "lines[0].qty"),
        ({"Idempotency-Key": "DD-4-1"}, {"lines": [{"sku": "SKU-1", "qty": 1.5}]}, "bad_request", "lines[0].qty"),
        ({"Idempotency-Key": "DD-4-1"}, {"lines": [{"qty": 1}]}, "bad_request", "lines[0].sku"),
        ({"Idempotency-Key": "DD-4-1"}, ["not", "an", "object"], "bad_request", "JSON object"),
    ],
    ids=["no_key", "no_lines", "empty_lines", "zero_qty", "text_qty", "fraction_qty", "no_sku", "not_an_object"],
)
def test_a_bad_order_is_a_400_that_says_what_is_wrong_and_takes_nothing(desk, headers, body, error, says):
    api_key = sandbox_credentials("ACME")["api_key"]
    answer = httpx.post(f"{desk.sandbox_url}/sandbox/suppliers/ACME/orders", json=body,
                        headers={"X-Api-Key": api_key, **headers})
    assert answer.status_code == 400
    assert answer.json()["error"] == error and says in answer.json()["message"]
    assert desk.taken("ACME")["orders"] == []


def test_a_body_that_is_not_json_is_a_400(desk):
    answer = httpx.post(f"{desk.sandbox_url}/sandbox/suppliers/ACME/orders", content=b"{not json", headers={
        "X-Api-Key": sandbox_credentials("ACME")["api_key"], "Idempotency-Key": "DD-5-1",
        "Content-Type": "application/json"})
    assert answer.status_code == 400 and "JSON object" in answer.json()["message"]


@pytest.mark.parametrize("code", AUTHENTICATED)
def test_a_rejecting_supplier_refuses_out_of_stock_and_takes_nothing(desk, code):
    desk.mode(code, mode="reject")
    answer = desk.place(code, "DD-6-1", lines=(("SKU-1", 1), ("SKU-2", 3)))
    assert (answer.outcome, answer.supplier_ref, answer.reason) == ("refused", None, "out_of_stock")
    assert answer.lines == (("SKU-1", 1), ("SKU-2", 3))
    assert "out of stock" in answer.message
    assert [exchange.status for exchange in answer.exchanges][-1] == 409
    taken = desk.taken(code)
    assert (taken["orders"], taken["posts_by_key"]) == ([], {"DD-6-1": 1})


def test_an_order_taken_before_the_supplier_started_refusing_is_still_its_order(desk):
    first = desk.place("ACME", "DD-7-1")
    desk.mode("ACME", mode="reject")
    again = desk.place("ACME", "DD-7-1")
    assert (again.outcome, again.supplier_ref) == ("accepted", first.supplier_ref)


@pytest.mark.parametrize("code", AUTHENTICATED)
def test_a_supplier_that_times_out_ends_in_a_timeout_error_after_retries_and_takes_nothing(desk, code):
    desk.mode(code, mode="timeout", hold_seconds=2)
    with pytest.raises(ConnectorError) as caught:
        desk.place(code, "DD-8-1", timeout_seconds=0.5)
    assert caught.value.reason == "timeout"
    assert "after 2 attempt(s)" in caught.value.message
    order_calls = [exchange for exchange in caught.value.exchanges if exchange.url.endswith("/orders")]
    assert [(exchange.attempt, exchange.status) for exchange in order_calls] == [(1, None), (2, None)]
    taken = desk.taken(code)
    assert (taken["orders"], taken["posts_by_key"]) == ([], {"DD-8-1": 2})


@pytest.mark.parametrize("code", AUTHENTICATED)
def test_an_order_taken_slowly_is_found_by_the_retry_with_the_same_key(desk, code):
    desk.mode(code, mode="accept_slowly", hold_seconds=2)
    answer = desk.place(code, "DD-9-1", timeout_seconds=0.5)
    order_calls = [exchange for exchange in answer.exchanges if exchange.url.endswith("/orders")]
    assert [(exchange.attempt, exchange.status) for exchange in order_calls] == [(1, None), (2, 200)]
    assert (answer.outcome, answer.supplier_ref) == ("accepted", f"{code}-000001")
    # The job that timed out and runs again later gets the same order too.
    desk.mode(code, mode="accept")
    assert desk.place(code, "DD-9-1").supplier_ref == answer.supplier_ref
    taken = desk.taken(code)
    assert ([order["id"] for order in taken["orders"]], taken["posts_by_key"]) == ([answer.supplier_ref], {"DD-9-1": 3})


def test_a_supplier_that_is_down_answers_503_and_the_connector_gives_up_after_retries(desk):
    desk.controls.post("/sandbox/suppliers/ACME/faults", json={"down": True})
    with pytest.raises(ConnectorError) as caught:
        desk.place("ACME", "DD-10-1")
    assert caught.value.reason == "http_status" and "HTTP 503" in caught.value.message
    assert desk.taken("ACME")["orders"] == []


# --- shipping, delivery, cancellation ------------------------------------------------------------


@pytest.mark.parametrize(("code", "service", "carrier"), [
    ("ACME", None, "UPS"), ("EUROHUB", None, "DHL"), ("EUROHUB", "express", "UPS"), ("MAPLE", "Canada Post ground", "Canada Post"),
    ("MAPLE", "DHL express", "DHL"),
])
def test_an_accepted_order_ships_by_the_clock_with_its_carriers_tracking_number_then_is_delivered(
        desk, code, service, carrier):
    desk.freeze_clock(datetime.now(UTC) - timedelta(days=1))
    ref = desk.place(code, "DD-11-1", service=service).supplier_ref
    accepted = desk.status(code, ref)
    assert (accepted.status, accepted.shipments, accepted.lines) == ("accepted", (), (("SKU-1", 2),))
    desk.advance_clock(59)
    assert desk.status(code, ref).status == "accepted"
    desk.advance_clock(1)
    shipped = desk.status(code, ref)
    assert shipped.status == "shipped"
    (shipment,) = shipped.shipments
    assert (shipment.carrier, shipment.tracking_number) == (carrier, tracking_number(carrier, ref))
    assert shipment.tracking_number in shipment.tracking_url
    assert shipment.shipped_at is not None and shipment.shipped_at.utcoffset() == timedelta(0)
    desk.advance_clock(600)
    delivered = desk.status(code, ref)
    assert delivered.status == "delivered"
    assert delivered.shipments == shipped.shipments  # the same number every time it is asked


def test_ship_and_delivery_delays_follow_the_order_mode(desk):
    desk.freeze_clock(datetime.now(UTC) - timedelta(days=1))
    desk.mode("ACME", mode="accept", ship_after_seconds=3600, deliver_after_seconds=60)
    ref = desk.place("ACME", "DD-12-1").supplier_ref
    desk.advance_clock(3599)
    assert desk.status("ACME", ref).status == "accepted"
    desk.advance_clock(1)
    assert desk.status("ACME", ref).status == "shipped"
    desk.advance_clock(60)
    assert desk.status("ACME", ref).status == "delivered"


def test_ship_now_ships_at_once_whatever_the_clock(desk):
    desk.freeze_clock(datetime.now(UTC) - timedelta(days=1))
    ref = desk.place("EUROHUB", "DD-13-1").supplier_ref
    shipped = desk.controls.post(f"/sandbox/suppliers/EUROHUB/orders/{ref}/ship").json()
    assert shipped["status"] == "shipped" and shipped["shipments"][0]["carrier"] == "DHL"
    status = desk.status("EUROHUB", ref)
    assert status.status == "shipped" and status.shipments[0].tracking_number == shipped["shipments"][0]["tracking_number"]


@pytest.mark.parametrize("code", AUTHENTICATED)
def test_an_order_cancelled_before_it_ships_never_ships(desk, code):
    desk.freeze_clock(datetime.now(UTC) - timedelta(days=1))
    ref = desk.place(code, "DD-14-1").supplier_ref
    answer = desk.cancel(code, ref)
    assert (answer.outcome, answer.supplier_ref) == ("cancelled", ref)
    assert desk.cancel(code, ref).outcome == "cancelled"  # again: nothing changes
    desk.advance_clock(3600)
    status = desk.status(code, ref)
    assert (status.status, status.shipments) == ("cancelled", ())
    assert desk.controls.post(f"/sandbox/suppliers/{code}/orders/{ref}/ship").status_code == 409


@pytest.mark.parametrize("code", AUTHENTICATED)
def test_an_order_that_has_shipped_cannot_be_cancelled(desk, code):
    ref = desk.place(code, "DD-15-1").supplier_ref
    desk.controls.post(f"/sandbox/suppliers/{code}/orders/{ref}/ship")
    answer = desk.cancel(code, ref)
    assert (answer.outcome, answer.reason) == ("already_shipped", "already_shipped")
    assert desk.status(code, ref).status == "shipped"


def test_a_repeated_key_of_a_cancelled_order_says_it_was_cancelled(desk):
    ref = desk.place("ACME", "DD-16-1").supplier_ref
    desk.cancel("ACME", ref)
    again = desk.place("ACME", "DD-16-1")
    assert (again.outcome, again.supplier_ref) == ("cancelled", ref)


def test_the_status_of_an_unknown_order_is_an_http_status_error(desk):
    with pytest.raises(ConnectorError) as caught:
        desk.status("MAPLE", "MAPLE-999999")
    assert caught.value.reason == "http_status" and "HTTP 404" in caught.value.message
    assert "no order MAPLE-999999" in caught.value.message
    assert sandbox_credentials("MAPLE")["token"] not in caught.value.message


# --- controls ------------------------------------------------------------------------------------


def test_the_order_mode_is_shown_replaced_and_reset(desk):
    assert desk.controls.get("/sandbox/suppliers/ACME/order-mode").json() == {
        "supplier": "ACME", "mode": "accept", "hold_seconds": 30, "ship_after_seconds": 60, "deliver_after_seconds": 600}
    desk.mode("ACME", mode="timeout", hold_seconds=5)
    assert desk.controls.get("/sandbox/suppliers/ACME/order-mode").json()["hold_seconds"] == 5
    desk.mode("ACME", mode="reject")
    assert desk.controls.get("/sandbox/suppliers/ACME/order-mode").json()["hold_seconds"] == 30
    desk.controls.delete("/sandbox/suppliers/ACME/orders")
    assert desk.controls.get("/sandbox/suppliers/ACME/order-mode").json()["mode"] == "accept"


@pytest.mark.parametrize("body", [{"mode": "explode"}, {"mode": "timeout", "hold_seconds": -1},
                                  {"mode": "accept", "ship_after_seconds": "soon"}, {"colour": "red"}, [1]])
def test_an_order_mode_that_makes_no_sense_is_refused_with_the_reason(desk, body):
    answer = desk.controls.post("/sandbox/suppliers/ACME/order-mode", json=body)
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request" and answer.json()["message"]


def test_reset_forgets_every_order_and_numbers_from_one_again(desk):
    desk.place("ATLAS", "DD-17-1")
    desk.place("ATLAS", "DD-17-2")
    taken = desk.controls.delete("/sandbox/suppliers/ATLAS/orders").json()
    assert (taken["orders"], taken["posts_by_key"]) == ([], {})
    assert desk.place("ATLAS", "DD-17-1").supplier_ref == "ATLAS-000001"


def test_an_unknown_supplier_has_no_order_desk(desk):
    assert desk.controls.get("/sandbox/suppliers/NOPE/orders").status_code == 404
    assert desk.controls.post("/sandbox/suppliers/NOPE/orders", json={}).status_code == 404
    assert desk.controls.post("/sandbox/suppliers/NOPE/order-mode", json={}).status_code == 404


def test_order_calls_are_counted_in_the_suppliers_stats_without_credentials(desk):
    desk.controls.delete("/sandbox/suppliers/ATLAS/stats")
    desk.place("ATLAS", "DD-18-1")  # its API key travels in the query string
    stats = desk.controls.get("/sandbox/suppliers/ATLAS/stats").json()
    assert stats["requests"] == 1
    (recent,) = stats["recent"]
    assert (recent["method"], recent["path"], recent["status"]) == ("POST", "/sandbox/suppliers/ATLAS/orders", 201)
    assert "api_key" not in recent["query"]
