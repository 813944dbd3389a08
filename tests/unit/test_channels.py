"""Channel order intake: conformance scenarios, field rules, errors and webhook signatures."""

from __future__ import annotations

import ast
import base64
import copy
import decimal
import hashlib
import hmac
import json
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.channels import (
    UnknownChannel,
    known_channels,
    normalize_scenario,
    parse_order,
    shopify_signature_is_valid,
    webhook_signature_is_valid,
    woocommerce_signature_is_valid,
)

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_DIR = ROOT / "tests" / "conformance" / "channels"
SCENARIO_FILES = sorted(SCENARIO_DIR.glob("*.json"))
SHOPIFY_REFERENCE = json.loads((SCENARIO_DIR / "01-shopify-reference-order.json").read_text())
WOO_REFERENCE = json.loads((SCENARIO_DIR / "02-woocommerce-reference-order.json").read_text())

ALLOWED_ERRORS = re.compile(
    r"(currency|ship_to|ship_to\.country|ship_to\.address1|ship_to\.city):missing"
    r"|lines:empty|lines\[\d+\]\.sku:missing_sku|lines\[\d+\]\.qty:bad_quantity"
)


# --- helpers -----------------------------------------------------------------------------------


def cmp_channels(exp: dict, got: dict) -> str | None:
    """The grader's comparison (../shared/conformance/check.py), verbatim in behaviour."""
    if got.get("order") != exp["order"]:
        e, g = exp["order"], got.get("order") or {}
        for k in e:
            if e[k] != g.get(k):
                return f"order.{k} {json.dumps(g.get(k))[:120]} != {json.dumps(e[k])[:120]}"
        return "order differs"
    ge = [(x.get("path"), x.get("reason")) for x in got.get("errors") or []]
    ee = [(x["path"], x["reason"]) for x in exp["errors"]]
    return None if ge == ee else f"errors {ge} != {ee}"


def printed(result: dict) -> dict:
    """The result as the grader sees it: printed by the CLI as JSON, read back by check.py."""
    return json.loads(json.dumps(result))


def intake(channel: str, payload) -> dict:
    return printed(normalize_scenario({"name": "t", "channel": channel, "payload": payload}))


def shopify_payload() -> dict:
    return copy.deepcopy(SHOPIFY_REFERENCE["payload"])


def woo_payload() -> dict:
    return copy.deepcopy(WOO_REFERENCE["payload"])


def error_pairs(result: dict) -> list[tuple[str, str]]:
    return [(error["path"], error["reason"]) for error in result["errors"]]


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# --- conformance scenarios -------------------------------------------------------------------------


def test_conformance_scenarios_are_present():
    assert len(SCENARIO_FILES) >= 2


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.name)
def test_each_conformance_scenario_matches_its_expectation(path):
    scenario = json.loads(path.read_text())
    assert cmp_channels(scenario["expect"], printed(normalize_scenario(scenario))) is None


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.name)
def test_each_conformance_scenario_matches_when_floats_load_as_decimal(path):
    scenario = json.loads(path.read_text(), parse_float=decimal.Decimal)
    expect = json.loads(path.read_text())["expect"]
    assert cmp_channels(expect, printed(normalize_scenario(scenario))) is None


# --- identifiers and strings -------------------------------------------------------------------------


def test_shopify_order_id_beyond_2_53_stays_exact():
    text = json.dumps(shopify_payload()).replace('"id": 450789469,', '"id": 9007199254740993123,', 1)
    payload = json.loads(text, parse_float=decimal.Decimal)
    payload["line_items"][0]["id"] = 9007199254740993
    result = intake("shopify", payload)
    assert result["order"]["external_id"] == "9007199254740993123"
    assert result["order"]["lines"][0]["external_id"] == "9007199254740993"


def test_order_id_sent_as_string_is_kept_as_sent():
    payload = shopify_payload()
    payload["id"] = " 5012345678901234567 "
    assert intake("shopify", payload)["order"]["external_id"] == "5012345678901234567"


def test_woocommerce_number_sent_as_integer_becomes_its_decimal_text():
    payload = woo_payload()
    payload["number"] = 727
    assert intake("woocommerce", payload)["order"]["number"] == "727"


def test_numeric_postcode_becomes_text():
    payload = woo_payload()
    payload["shipping"]["postcode"] = 94103
    assert intake("woocommerce", payload)["order"]["ship_to"]["postal_code"] == "94103"


def test_strings_are_trimmed_and_blank_strings_become_null():
    payload = shopify_payload()
    payload["email"] = "  bob@example.com \n"
    payload["shipping_address"]["company"] = "   "
    payload["shipping_address"]["city"] = " Louisville "
    order = intake("shopify", payload)["order"]
    assert order["email"] == "bob@example.com"
    assert order["ship_to"]["company"] is None
    assert order["ship_to"]["address2"] is None
    assert order["ship_to"]["city"] == "Louisville"


def test_boolean_in_a_string_field_is_not_text():
    payload = shopify_payload()
    payload["email"] = True
    assert intake("shopify", payload)["order"]["email"] is None


# --- names and phones ---------------------------------------------------------------------------------


def test_shopify_blank_shipping_name_falls_back_to_first_and_last():
    payload = shopify_payload()
    payload["shipping_address"].update(name="  ", first_name=" Ada ", last_name="Lovelace")
    assert intake("shopify", payload)["order"]["ship_to"]["name"] == "Ada Lovelace"


def test_name_joins_only_non_empty_parts():
    payload = shopify_payload()
    payload["shipping_address"].update(name=None, first_name="", last_name=" Norman ")
    assert intake("shopify", payload)["order"]["ship_to"]["name"] == "Norman"
    payload["shipping_address"].update(last_name=None)
    assert intake("shopify", payload)["order"]["ship_to"]["name"] is None


def test_woocommerce_name_is_shipping_first_and_last():
    payload = woo_payload()
    payload["shipping"].update(first_name=" Jane ", last_name="")
    assert intake("woocommerce", payload)["order"]["ship_to"]["name"] == "Jane"


def test_woocommerce_shipping_phone_wins_over_billing_phone():
    payload = woo_payload()
    payload["shipping"]["phone"] = "+1 415 000 0000"
    assert intake("woocommerce", payload)["order"]["ship_to"]["phone"] == "+1 415 000 0000"


def test_woocommerce_blank_shipping_phone_falls_back_to_billing_phone():
    payload = woo_payload()
    payload["shipping"]["phone"] = "  "
    assert intake("woocommerce", payload)["order"]["ship_to"]["phone"] == "(555) 555-5555"


def test_shopify_phone_does_not_fall_back_to_billing():
    payload = shopify_payload()
    payload["shipping_address"]["phone"] = None
    assert intake("shopify", payload)["order"]["ship_to"]["phone"] is None


def test_ship_to_fields_come_only_from_the_shipping_address():
    payload = woo_payload()
    payload["shipping"]["company"] = ""
    payload["billing"]["company"] = "Billing Co"
    payload["shipping"]["city"] = ""
    result = intake("woocommerce", payload)
    assert result["order"]["ship_to"]["company"] is None
    assert result["order"]["ship_to"]["city"] is None


def test_woocommerce_email_comes_from_billing():
    payload = woo_payload()
    payload["billing"] = None
    assert intake("woocommerce", payload)["order"]["email"] is None


# --- titles -----------------------------------------------------------------------------------------------


def test_woocommerce_line_title_is_html_decoded_then_trimmed():
    payload = woo_payload()
    payload["line_items"][0]["name"] = "&nbsp;Tom &amp; Jerry &#8211; Mug "
    assert intake("woocommerce", payload)["order"]["lines"][0]["title"] == "Tom & Jerry – Mug"


def test_shopify_line_title_is_not_html_decoded():
    payload = shopify_payload()
    payload["line_items"][0]["title"] = " Tom &amp; Jerry "
    assert intake("shopify", payload)["order"]["lines"][0]["title"] == "Tom &amp; Jerry"


# --- money --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("409.94", "409.94"),
        (3, "3.00"),
        (12.5, "12.50"),
        ("0.125", "0.13"),
        ("2.675", "2.68"),
        (1.005, "1.01"),
        (" 7 ", "7.00"),
        ("1e2", "100.00"),
        ("-0.001", "0.00"),
        ("not a price", None),
        ("NaN", None),
        ("1,000.00", None),
        (True, None),
        (None, None),
        ({"amount": "3"}, None),
    ],
)
def test_money_is_two_decimal_text_rounded_half_up_or_null(sent, shown):
    payload = shopify_payload()
    payload["total_price"] = sent
    payload["line_items"][0]["price"] = sent
    result = intake("shopify", payload)
    assert result["order"]["total"] == shown
    assert result["order"]["lines"][0]["unit_price"] == shown
    assert result["errors"] == []


def test_money_loaded_as_decimal_keeps_its_exact_value():
    payload = json.loads('{"total": 2.675, "line_items": [{"price": 0.005}]}', parse_float=decimal.Decimal)
    order = intake("woocommerce", payload)["order"]
    assert order["total"] == "2.68"
    assert order["lines"][0]["unit_price"] == "0.01"


# --- time ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("2008-01-10T11:00:00-05:00", "2008-01-10T16:00:00Z"),
        ("2008-01-10T23:30:00-05:00", "2008-01-11T04:30:00Z"),
        ("2008-01-10T01:00:00+05:30", "2008-01-09T19:30:00Z"),
        ("2008-01-10T11:00:00Z", "2008-01-10T11:00:00Z"),
        ("2008-01-10T11:00:00", "2008-01-10T11:00:00Z"),
        ("2008-01-10T11:00:00.999999+01:00", "2008-01-10T10:00:00Z"),
        ("2008-01-10 11:00:00.5", "2008-01-10T11:00:00Z"),
        (" 2008-01-10T11:00:00Z ", "2008-01-10T11:00:00Z"),
        ("2008-02-30T11:00:00Z", None),
        ("yesterday", None),
        ("", None),
        (1199980800, None),
        (None, None),
    ],
)
def test_placed_at_is_utc_to_the_second_or_null(sent, shown):
    payload = shopify_payload()
    payload["created_at"] = sent
    result = intake("shopify", payload)
    assert result["order"]["placed_at"] == shown
    assert result["errors"] == []


def test_woocommerce_placed_at_is_the_gmt_date_not_the_local_one():
    payload = woo_payload()
    del payload["date_created_gmt"]
    assert intake("woocommerce", payload)["order"]["placed_at"] is None


# --- test flag ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "shown"), [(True, True), (False, False), ("true", False), (1, False), (None, False)]
)
def test_shopify_test_is_true_only_for_boolean_true(sent, shown):
    payload = shopify_payload()
    payload["test"] = sent
    assert intake("shopify", payload)["order"]["test"] is shown


def test_shopify_test_is_false_when_absent():
    payload = shopify_payload()
    del payload["test"]
    assert intake("shopify", payload)["order"]["test"] is False


def test_woocommerce_order_is_never_a_test():
    payload = woo_payload()
    payload["test"] = True
    assert intake("woocommerce", payload)["order"]["test"] is False


# --- errors: each reason ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("currency", [None, "", "   ", ["USD"]])
def test_missing_currency_is_an_error(currency):
    payload = shopify_payload()
    payload["currency"] = currency
    result = intake("shopify", payload)
    assert result["order"]["currency"] is None
    assert error_pairs(result) == [("currency", "missing")]


def test_absent_currency_is_an_error():
    payload = woo_payload()
    del payload["currency"]
    assert error_pairs(intake("woocommerce", payload))[0] == ("currency", "missing")


@pytest.mark.parametrize("line_items", ["absent", None, [], {}])
def test_order_without_line_items_is_an_error(line_items):
    payload = shopify_payload()
    if line_items == "absent":
        del payload["line_items"]
    else:
        payload["line_items"] = line_items
    result = intake("shopify", payload)
    assert result["order"]["lines"] == []
    assert error_pairs(result) == [("lines", "empty")]


@pytest.mark.parametrize("address", ["absent", None, {}, "not an object"])
def test_order_without_shipping_address_has_null_ship_to_and_one_error(address):
    payload = shopify_payload()
    if address == "absent":
        del payload["shipping_address"]
    else:
        payload["shipping_address"] = address
    result = intake("shopify", payload)
    assert result["order"]["ship_to"] is None
    assert error_pairs(result) == [("ship_to", "missing")]


def test_woocommerce_shipping_with_only_empty_values_counts_as_missing():
    payload = woo_payload()
    payload["shipping"] = {key: "" for key in payload["shipping"]} | {"phone": None}
    result = intake("woocommerce", payload)
    # The billing phone does not bring an absent address back.
    assert result["order"]["ship_to"] is None
    assert error_pairs(result) == [("ship_to", "missing"), ("lines[0].sku", "missing_sku")]


@pytest.mark.parametrize(
    ("shopify_key", "woo_key", "path"),
    [
        ("country_code", "country", "ship_to.country"),
        ("address1", "address_1", "ship_to.address1"),
        ("city", "city", "ship_to.city"),
    ],
)
def test_shipping_address_without_a_required_field_is_an_error(shopify_key, woo_key, path):
    shopify = shopify_payload()
    shopify["shipping_address"][shopify_key] = "  "
    assert error_pairs(intake("shopify", shopify)) == [(path, "missing")]
    woo = woo_payload()
    del woo["shipping"][woo_key]
    assert error_pairs(intake("woocommerce", woo)) == [(path, "missing"), ("lines[0].sku", "missing_sku")]


def test_shopify_country_name_does_not_stand_in_for_the_country_code():
    payload = shopify_payload()
    del payload["shipping_address"]["country_code"]
    result = intake("shopify", payload)
    assert result["order"]["ship_to"]["country"] is None
    assert error_pairs(result) == [("ship_to.country", "missing")]


@pytest.mark.parametrize("sku", ["absent", None, "", "   "])
def test_line_without_sku_is_an_error(sku):
    payload = shopify_payload()
    if sku == "absent":
        del payload["line_items"][1]["sku"]
    else:
        payload["line_items"][1]["sku"] = sku
    result = intake("shopify", payload)
    assert result["order"]["lines"][1]["sku"] is None
    assert error_pairs(result) == [("lines[1].sku", "missing_sku")]


@pytest.mark.parametrize("quantity", ["2", 2.0, True, False, 0, -1, None, [2], {"value": 2}])
def test_quantity_that_is_not_a_positive_json_integer_is_an_error_and_kept_as_sent(quantity):
    payload = shopify_payload()
    payload["line_items"][2]["quantity"] = quantity
    result = intake("shopify", payload)
    assert result["order"]["lines"][2]["qty"] == quantity
    assert type(result["order"]["lines"][2]["qty"]) is type(quantity)
    assert error_pairs(result) == [("lines[2].qty", "bad_quantity")]


def test_absent_quantity_is_null_and_an_error():
    payload = woo_payload()
    del payload["line_items"][1]["quantity"]
    result = intake("woocommerce", payload)
    assert result["order"]["lines"][1]["qty"] is None
    assert error_pairs(result) == [("lines[0].sku", "missing_sku"), ("lines[1].qty", "bad_quantity")]


def test_fractional_quantity_loaded_as_decimal_is_bad_and_printed_as_sent():
    payload = json.loads(
        json.dumps(woo_payload()).replace('"quantity": 2,', '"quantity": 2.0,'), parse_float=decimal.Decimal
    )
    result = intake("woocommerce", payload)
    assert result["order"]["lines"][0]["qty"] == 2.0
    assert isinstance(result["order"]["lines"][0]["qty"], float)
    assert ("lines[0].qty", "bad_quantity") in error_pairs(result)


def test_large_positive_integer_quantity_is_fine():
    payload = shopify_payload()
    payload["line_items"][0]["quantity"] = 2**60
    result = intake("shopify", payload)
    assert result["order"]["lines"][0]["qty"] == 2**60
    assert result["errors"] == []


def test_errors_come_in_the_specified_order():
    payload = shopify_payload()
    payload["currency"] = None
    for key in ("country_code", "address1", "city"):
        payload["shipping_address"][key] = ""
    payload["line_items"][0].update(sku=None, quantity=0)
    payload["line_items"][2].update(quantity="1")
    assert error_pairs(intake("shopify", payload)) == [
        ("currency", "missing"),
        ("ship_to.country", "missing"),
        ("ship_to.address1", "missing"),
        ("ship_to.city", "missing"),
        ("lines[0].sku", "missing_sku"),
        ("lines[0].qty", "bad_quantity"),
        ("lines[2].qty", "bad_quantity"),
    ]


def test_empty_order_lists_currency_then_lines_then_ship_to():
    assert error_pairs(intake("woocommerce", {})) == [
        ("currency", "missing"),
        ("lines", "empty"),
        ("ship_to", "missing"),
    ]


def test_line_item_that_is_not_an_object_still_becomes_a_line():
    payload = woo_payload()
    payload["line_items"].append("junk")
    result = intake("woocommerce", payload)
    assert result["order"]["lines"][2] == {
        "external_id": None,
        "sku": None,
        "title": None,
        "qty": None,
        "unit_price": None,
    }
    assert error_pairs(result)[-2:] == [("lines[2].sku", "missing_sku"), ("lines[2].qty", "bad_quantity")]


def test_no_other_field_produces_an_error():
    payload = shopify_payload()
    for key in ("id", "name", "created_at", "email", "total_price", "test"):
        payload[key] = None
    payload["line_items"][0].update(id=None, title=None, price="abc")
    result = intake("shopify", payload)
    assert result["errors"] == []
    assert result["order"]["external_id"] is None


# --- the registry and the CLI adapter -----------------------------------------------------------------------


def test_known_channels_include_shopify_woocommerce_and_generic():
    assert set(known_channels()) == {"shopify", "woocommerce", "generic"}


@pytest.mark.parametrize("channel", ["amazon", "", None, "Shopify"])
def test_unknown_channel_is_refused(channel):
    with pytest.raises(UnknownChannel):
        normalize_scenario({"name": "x", "channel": channel, "payload": {}})


def test_payload_that_is_not_an_object_still_yields_an_order_with_errors():
    result = intake("shopify", ["not", "an", "order"])
    assert result["order"]["channel"] == "shopify"
    assert error_pairs(result) == [("currency", "missing"), ("lines", "empty"), ("ship_to", "missing")]


def test_parse_order_returns_frozen_decisions():
    result = parse_order("shopify", shopify_payload())
    assert result.is_valid
    assert result.order.total == decimal.Decimal("409.94")
    assert result.order.placed_at.utcoffset().total_seconds() == 0
    with pytest.raises(AttributeError):
        result.order.currency = "EUR"


def test_generic_channel_accepts_the_canonical_shape_back():
    shopify = intake("shopify", shopify_payload())["order"]
    generic = intake("generic", shopify)
    assert generic["order"] == shopify | {"channel": "generic"}
    assert generic["errors"] == []


def test_generic_channel_applies_the_same_rules():
    order = copy.deepcopy(WOO_REFERENCE["expect"]["order"])
    order.update(currency=" ", total=12, placed_at="2017-03-22T21:28:02+02:00")
    order["lines"][1]["qty"] = "1"
    result = intake("generic", order)
    assert result["order"]["total"] == "12.00"
    assert result["order"]["placed_at"] == "2017-03-22T19:28:02Z"
    assert error_pairs(result) == [
        ("currency", "missing"),
        ("lines[0].sku", "missing_sku"),
        ("lines[1].qty", "bad_quantity"),
    ]


# --- webhook signatures -------------------------------------------------------------------------------------------

BODY = json.dumps(SHOPIFY_REFERENCE["payload"]).encode()
SECRET = "hush-webhook-secret"


@pytest.mark.parametrize(
    ("verify", "header"),
    [
        (shopify_signature_is_valid, "X-Shopify-Hmac-Sha256"),
        (woocommerce_signature_is_valid, "X-WC-Webhook-Signature"),
    ],
)
class TestWebhookSignature:
    def test_signature_over_the_raw_body_is_accepted(self, verify, header):
        assert verify(BODY, {header: sign(BODY, SECRET)}, SECRET)

    def test_header_name_is_matched_case_insensitively(self, verify, header):
        assert verify(BODY, {header.lower(): sign(BODY, SECRET)}, SECRET.encode())

    def test_tampered_body_is_refused(self, verify, header):
        tampered = BODY.replace(b"409.94", b"0.01")
        assert not verify(tampered, {header: sign(BODY, SECRET)}, SECRET)

    def test_signature_made_with_another_secret_is_refused(self, verify, header):
        assert not verify(BODY, {header: sign(BODY, "someone-else")}, SECRET)

    def test_missing_header_is_refused(self, verify, header):
        assert not verify(BODY, {}, SECRET)

    def test_empty_secret_is_refused_even_with_a_matching_signature(self, verify, header):
        assert not verify(BODY, {header: sign(BODY, "")}, "")

    def test_non_ascii_header_is_refused_without_raising(self, verify, header):
        assert not verify(BODY, {header: "ünïcødé"}, SECRET)


def test_the_other_channels_header_does_not_count():
    assert not shopify_signature_is_valid(BODY, {"X-WC-Webhook-Signature": sign(BODY, SECRET)}, SECRET)


def test_webhook_signature_is_checked_by_channel_name():
    assert webhook_signature_is_valid(
        "woocommerce", BODY, {"X-WC-Webhook-Signature": sign(BODY, SECRET)}, SECRET
    )
    with pytest.raises(UnknownChannel):
        webhook_signature_is_valid("amazon", BODY, {}, SECRET)


# --- robustness -----------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.decimals(allow_nan=True)
    | st.sampled_from(["", "  ", "2008-01-10T11:00:00-05:00", "1e999999", "&ndash;"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)


def _check_total(channel: str, payload) -> None:
    result = normalize_scenario({"channel": channel, "payload": payload})
    round_tripped = json.loads(json.dumps(result))
    assert set(round_tripped) == {"order", "errors"}
    assert round_tripped["order"]["channel"] == channel
    for error in round_tripped["errors"]:
        assert ALLOWED_ERRORS.fullmatch(f"{error['path']}:{error['reason']}")


@settings(max_examples=300, deadline=None, database=None)
@given(channel=st.sampled_from(["shopify", "woocommerce", "generic"]), payload=json_values)
def test_arbitrary_junk_payloads_never_raise_they_give_errors(channel, payload):
    _check_total(channel, payload)


@settings(max_examples=300, deadline=None, database=None)
@given(
    channel=st.sampled_from(["shopify", "woocommerce"]),
    replacements=st.dictionaries(
        st.sampled_from(
            [
                "id",
                "name",
                "number",
                "created_at",
                "date_created_gmt",
                "currency",
                "email",
                "test",
                "total_price",
                "total",
                "shipping_address",
                "shipping",
                "billing",
                "line_items",
            ]
        ),
        json_values,
        max_size=4,
    ),
    line_field=st.sampled_from(["id", "sku", "title", "name", "quantity", "price"]),
    line_value=json_values,
)
def test_reference_orders_with_junk_fields_never_raise(channel, replacements, line_field, line_value):
    payload = shopify_payload() if channel == "shopify" else woo_payload()
    payload["line_items"][0][line_field] = line_value
    payload.update(replacements)
    _check_total(channel, payload)


# --- layering ---------------------------------------------------------------------------------------------------------


def test_channels_import_only_the_standard_library_and_domain():
    package = ROOT / "app" / "channels"
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                allowed = top in sys.stdlib_module_names or name.startswith(("app.channels", "app.domain"))
                assert allowed, f"{module.name} imports {name}"
