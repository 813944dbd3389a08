"""The sandbox order desk's pure parts: reading order bodies and modes, carriers, tracking numbers, and an
order's status read off the clock."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.sandbox import SANDBOX_SUPPLIERS, sandbox_connection
from app.sandbox.supplier_orders import (
    DEFAULT_CARRIERS,
    TRACKING_URLS,
    OrderMode,
    OrderRequestError,
    carrier_for,
    parse_idempotency_key,
    parse_order_body,
    parse_order_mode,
    tracking_number,
    view,
)

ACCEPTED_AT = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("code", sorted(SANDBOX_SUPPLIERS))
def test_every_sandbox_connection_names_its_order_api_at_its_own_address(code):
    _, options, _ = sandbox_connection(code, "http://127.0.0.1:5000")
    orders = options["orders"]
    assert (orders["path"], orders["timeout_seconds"]) == ("/orders", 10)
    assert (orders.get("base_url") or options["base_url"]) == f"http://127.0.0.1:5000/sandbox/suppliers/{code}"


def test_every_supplier_has_a_default_carrier_with_a_tracking_page():
    assert set(DEFAULT_CARRIERS) == set(SANDBOX_SUPPLIERS)
    assert set(DEFAULT_CARRIERS.values()) <= set(TRACKING_URLS)


def test_an_order_body_is_read_into_lines_and_a_full_address():
    body = parse_order_body({"reference": "DD-1-1", "ship_to": {"name": "Ada", "country": "US", "extra": "x"},
                             "service": "UPS ground", "lines": [{"sku": " AC-1 ", "qty": 2}]})
    assert (body.reference, body.service, body.lines) == ("DD-1-1", "UPS ground", (("AC-1", 2),))
    assert body.ship_to["name"] == "Ada" and body.ship_to["city"] is None and "extra" not in body.ship_to


@pytest.mark.parametrize("raw", [None, [], {}, {"lines": []}, {"lines": [{"sku": "A", "qty": 0}]},
                                 {"lines": [{"sku": "A", "qty": True}]}, {"lines": [{"sku": "", "qty": 1}]},
                                 {"lines": [{"sku": "A", "qty": 1}], "ship_to": "Berlin"},
                                 {"lines": [{"sku": "A", "qty": 1}], "service": 7}])
def test_an_order_body_a_supplier_would_refuse_says_why(raw):
    with pytest.raises(OrderRequestError) as caught:
        parse_order_body(raw)
    assert str(caught.value)


def test_an_idempotency_key_is_required_and_bounded():
    assert parse_idempotency_key(" DD-1-1 ") == "DD-1-1"
    for bad in (None, "", "   ", "K" * 201):
        with pytest.raises(OrderRequestError):
            parse_idempotency_key(bad)


def test_an_order_mode_fills_in_its_defaults():
    assert parse_order_mode({"mode": "timeout", "hold_seconds": 2}) == OrderMode("timeout", 2, 60, 600)
    assert parse_order_mode({}) == OrderMode()


@pytest.mark.parametrize(("code", "service", "carrier"), [
    ("ACME", None, "UPS"), ("ACME", "ground", "UPS"), ("ACME", "express", "DHL"), ("EUROHUB", "express", "UPS"),
    ("NORDIC", "PostNord ground", "PostNord"), ("NORDIC", "dhl express", "DHL"), ("ATLAS", "FedEx priority", "FedEx"),
])
def test_the_carrier_is_the_one_the_service_names_else_the_suppliers_own(code, service, carrier):
    assert carrier_for(code, service) == carrier


@pytest.mark.parametrize("carrier", sorted(TRACKING_URLS))
def test_tracking_numbers_are_the_same_for_the_same_order_and_differ_between_orders(carrier):
    first = tracking_number(carrier, "ACME-000001")
    assert first == tracking_number(carrier, "ACME-000001") != tracking_number(carrier, "ACME-000002")


def test_postal_tracking_numbers_follow_upu_s10_with_a_valid_check_digit():
    number = tracking_number("Royal Mail", "BRITBOX-000001")
    assert len(number) == 13 and number[:2] == "LX" and number[-2:] == "GB" and number[2:11].isdigit()
    total = sum(int(digit) * weight for digit, weight in zip(number[2:10], (8, 6, 4, 2, 3, 5, 9, 7), strict=True))
    assert int(number[10]) == {10: 0, 11: 5}.get(11 - total % 11, 11 - total % 11)


def test_an_order_ships_then_arrives_as_the_clock_passes_its_delays():
    record = {"id": "ACME-000001", "reference": "DD-1-1", "lines": [{"sku": "A", "qty": 1}], "service": None,
              "carrier": "UPS", "created_at": ACCEPTED_AT.isoformat(), "ship_after_seconds": 60,
              "deliver_after_seconds": 600, "shipped_at": None, "cancelled_at": None}
    assert view(record, ACCEPTED_AT + timedelta(seconds=59))["status"] == "accepted"
    shipped = view(record, ACCEPTED_AT + timedelta(seconds=60))
    assert shipped["status"] == "shipped" and shipped["shipments"][0]["shipped_at"] == "2025-01-15T10:01:00+00:00"
    assert view(record, ACCEPTED_AT + timedelta(seconds=660))["status"] == "delivered"
    cancelled = view({**record, "cancelled_at": ACCEPTED_AT.isoformat()}, ACCEPTED_AT + timedelta(days=1))
    assert (cancelled["status"], cancelled["shipments"]) == ("cancelled", [])
