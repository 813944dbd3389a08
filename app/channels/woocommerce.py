"""WooCommerce REST API v3 order payload to the canonical order."""

from __future__ import annotations

import html
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

CHANNEL = "woocommerce"


def parse_woocommerce_order(payload: Any) -> ParsedOrder:
    """The canonical order for a WooCommerce order payload, with its validation errors."""
    order = mapping(payload)
    billing = mapping(order.get("billing"))
    return parsed(
        CanonicalOrder(
            channel=CHANNEL,
            external_id=text(order.get("id")),
            number=text(order.get("number")),
            # date_created is shop-local time; only the _gmt twin is UTC.
            placed_at=utc_timestamp(order.get("date_created_gmt")),
            currency=text(order.get("currency")),
            email=text(billing.get("email")),
            # WooCommerce has no test-order flag.
            test=False,
            total=money(order.get("total")),
            ship_to=_ship_to(order.get("shipping"), billing),
            lines=tuple(_line(mapping(item)) for item in items(order.get("line_items"))),
        )
    )


def _ship_to(shipping: Any, billing: dict) -> ShipTo | None:
    if address_is_missing(shipping):
        return None
    return ShipTo(
        name=person_name(shipping.get("first_name"), shipping.get("last_name")),
        company=text(shipping.get("company")),
        address1=text(shipping.get("address_1")),
        address2=text(shipping.get("address_2")),
        city=text(shipping.get("city")),
        region=text(shipping.get("state")),
        postal_code=text(shipping.get("postcode")),
        country=text(shipping.get("country")),
        # Older WooCommerce versions have no shipping phone; the carrier still needs one.
        phone=first_present(text(shipping.get("phone")), text(billing.get("phone"))),
    )


def _line(item: dict) -> OrderLine:
    return OrderLine(
        external_id=text(item.get("id")),
        sku=text(item.get("sku")),
        title=_line_title(item.get("name")),
        qty=item.get("quantity"),
        unit_price=money(item.get("price")),
    )


def _line_title(name: Any) -> str | None:
    # WooCommerce sends product names HTML-escaped ("&ndash;"); decode before trimming so an
    # encoded space ("&nbsp;") at either end is trimmed too.
    if isinstance(name, str):
        return text(html.unescape(name))
    return text(name)
