"""Validation by channel context, payment masking, exact JSON and service level: pure, no app."""
from __future__ import annotations

import base64
import hashlib
import hmac

from app.channels import parse_order
from app.channels.context import (
    MASK,
    ChannelRules,
    apply_aliases,
    fix_ship_to,
    load_payload,
    mask_payment_data,
    service_level_of,
    validate_for_channel,
)
from app.channels.signatures import shopify_signature_is_valid, woocommerce_signature_is_valid


def order(**changes):
    payload = {"external_id": "o-1", "currency": "EUR", "test": False,
               "ship_to": {"name": "Eva", "address1": "Gata 1", "city": "Berlin", "country": "DE"},
               "lines": [{"sku": "THEIRS-1", "qty": 1}, {"sku": "OURS-2", "qty": 2}]}
    payload.update(changes)
    return parse_order("generic", payload).order


def reasons(errors):
    return [(error.path, error.reason) for error in errors]


def test_an_alias_maps_the_channel_sku_to_ours_and_remembers_the_original():
    aliased, originals = apply_aliases(order(), {"THEIRS-1": "OURS-1"})
    assert [line.sku for line in aliased.lines] == ["OURS-1", "OURS-2"]
    assert originals == ("THEIRS-1", None)


def test_a_sku_we_do_not_sell_is_an_unknown_sku_error_on_its_line():
    errors = validate_for_channel(order(), ChannelRules(), known_skus={"OURS-2"})
    assert reasons(errors) == [("lines[0].sku", "unknown_sku")]


def test_channel_rules_refuse_test_orders_other_countries_and_missing_required_fields():
    rules = ChannelRules(allowed_countries=["us"], required_fields=["email"], express_required_fields=["ship_to.phone"])
    errors = validate_for_channel(order(test=True), rules, known_skus={"THEIRS-1", "OURS-2"}, service_level="express")
    assert reasons(errors) == [("test", "test_order"), ("ship_to.country", "country_not_allowed"),
                               ("email", "required"), ("ship_to.phone", "required")]


def test_channels_md_errors_come_first_and_a_missing_address_is_not_reported_twice():
    errors = validate_for_channel(order(ship_to=None, currency=None), ChannelRules(required_fields=["ship_to.phone"]),
                                  known_skus={"THEIRS-1", "OURS-2"})
    assert reasons(errors) == [("currency", "missing"), ("ship_to", "missing")]


def test_a_fixed_address_replaces_only_the_fields_staff_changed():
    fixed = fix_ship_to(order(ship_to={"name": "Eva", "country": "DE"}), {"address1": " Gata 2 ", "city": "Berlin"})
    assert (fixed.ship_to.name, fixed.ship_to.address1, fixed.ship_to.city) == ("Eva", "Gata 2", "Berlin")
    assert validate_for_channel(fixed, ChannelRules(), {"THEIRS-1", "OURS-2"}) == ()


def test_payment_data_and_tokens_are_masked_at_any_depth_and_the_rest_kept():
    masked = mask_payment_data({"id": 1, "payment_details": {"credit_card_number": "4242"}, "cart_token": "abc",
                                "line_items": [{"sku": "A", "card_last4": "4242"}], "note": None})
    assert masked == {"id": 1, "payment_details": MASK, "cart_token": MASK, "line_items": [{"sku": "A", "card_last4": MASK}],
                      "note": None}


def test_ids_beyond_two_to_the_53_stay_exact_and_prices_never_become_floats():
    data = load_payload(b'{"id": 9007199254740993, "price": 10.10}')
    assert data["id"] == 9007199254740993 and str(data["price"]) == "10.10"


def test_express_comes_from_the_shipping_line_or_the_api_field():
    assert service_level_of("shopify", {"shipping_lines": [{"code": "Express", "title": "2-day"}]}) == "express"
    assert service_level_of("woocommerce", {"shipping_lines": [{"method_title": "Flat rate"}]}) == "standard"
    assert service_level_of("api", {"service_level": "express"}) == "express"


def test_webhook_signatures_are_the_base64_hmac_of_the_raw_body():
    body, secret = b'{"id": 1}', "s3cret"
    good = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    assert shopify_signature_is_valid(body, {"X-Shopify-Hmac-Sha256": good}, secret)
    assert not shopify_signature_is_valid(body + b" ", {"X-Shopify-Hmac-Sha256": good}, secret)
    assert woocommerce_signature_is_valid(body, {"x-wc-webhook-signature": good}, secret)
    assert not woocommerce_signature_is_valid(body, {}, secret)
