"""Shopify order webhook payload (the bare order object) to the canonical order."""

from __future__ import annotations

from typing import Any

from app.channels.canonical import (
    CanonicalOrder,
    OrderLine,
    ParsedOrder,
    ShipTo,
    address_is_missing,
    first_present,
    items,
    mapping,
    money,
    parsed,
    person_name,
    text,
    utc_timestamp,
)

CHANNEL = "shopify"


def parse_shopify_order(payload: Any) -> ParsedOrder:
    """The canonical order for a Shopify order payload, with its validation errors."""
    order = mapping(payload)
    return parsed(
        CanonicalOrder(
            channel=CHANNEL,
            # Shopify ids exceed 2**53: they arrive as Python ints and str() keeps every digit.
            external_id=text(order.get("id")),
            number=text(order.get("name")),
            placed_at=utc_timestamp(order.get("created_at")),
            currency=text(order.get("currency")),
            email=text(order.get("email")),
            test=order.get("test") is True,
            total=money(order.get("total_price")),
            ship_to=_ship_to(order.get("shipping_address")),
            lines=tuple(_line(mapping(item)) for item in items(order.get("line_items"))),
        )
    )


def _ship_to(address: Any) -> ShipTo | None:
    if address_is_missing(address):
        return None
    return ShipTo(
        name=first_present(
            text(address.get("name")), person_name(address.get("first_name"), address.get("last_name"))
        ),
        company=text(address.get("company")),
        address1=text(address.get("address1")),
        address2=text(address.get("address2")),
        city=text(address.get("city")),
        region=text(address.get("province_code")),
        postal_code=text(address.get("zip")),
        country=text(address.get("country_code")),
        # No billing fallback for Shopify: CHANNELS.md maps the phone from shipping_address only.
        phone=text(address.get("phone")),
    )


def _line(item: dict) -> OrderLine:
    return OrderLine(
        external_id=text(item.get("id")),
        sku=text(item.get("sku")),
        title=text(item.get("title")),
        qty=item.get("quantity"),
        unit_price=money(item.get("price")),
    )
