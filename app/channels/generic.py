"""Custom storefront / ERP payload, already in the canonical shape, to the canonical order."""

from __future__ import annotations

from typing import Any

from app.channels.canonical import (
    CanonicalOrder,
    OrderLine,
    ParsedOrder,
    ShipTo,
    address_is_missing,
    items,
    mapping,
    money,
    parsed,
    text,
    utc_timestamp,
)

CHANNEL = "generic"


def parse_generic_order(payload: Any) -> ParsedOrder:
    """The canonical order for a payload sent in Dropdesk's own JSON order shape.

    The payload uses the output field names (external_id, number, placed_at, currency,
    email, test, total, ship_to{...}, lines[{external_id, sku, title, qty, unit_price}]);
    the same field rules apply, so a storefront's sloppy values are cleaned the same way.
    """
    order = mapping(payload)
    return parsed(
        CanonicalOrder(
            channel=CHANNEL,
            external_id=text(order.get("external_id")),
            number=text(order.get("number")),
            placed_at=utc_timestamp(order.get("placed_at")),
            currency=text(order.get("currency")),
            email=text(order.get("email")),
            test=order.get("test") is True,
            total=money(order.get("total")),
            ship_to=_ship_to(order.get("ship_to")),
            lines=tuple(_line(mapping(item)) for item in items(order.get("lines"))),
        )
    )


def _ship_to(address: Any) -> ShipTo | None:
    if address_is_missing(address):
        return None
    return ShipTo(
        name=text(address.get("name")),
        company=text(address.get("company")),
        address1=text(address.get("address1")),
        address2=text(address.get("address2")),
        city=text(address.get("city")),
        region=text(address.get("region")),
        postal_code=text(address.get("postal_code")),
        country=text(address.get("country")),
        phone=text(address.get("phone")),
    )


def _line(item: dict) -> OrderLine:
    return OrderLine(
        external_id=text(item.get("external_id")),
        sku=text(item.get("sku")),
        title=text(item.get("title")),
        qty=item.get("qty"),
        unit_price=money(item.get("unit_price")),
    )
