"""Sales-channel order intake: payload parsers per channel and webhook signature checks (pure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.channels.canonical import (
    CanonicalOrder,
    OrderError,
    OrderLine,
    ParsedOrder,
    ShipTo,
    UnknownChannel,
    error_to_json,
    order_to_json,
)
from app.channels.generic import parse_generic_order
from app.channels.shopify import parse_shopify_order
from app.channels.signatures import (
    shopify_signature_is_valid,
    signature_is_valid,
    webhook_signature_is_valid,
    woocommerce_signature_is_valid,
)
from app.channels.woocommerce import parse_woocommerce_order

__all__ = [
    "CHANNEL_PARSERS",
    "CanonicalOrder",
    "OrderError",
    "OrderLine",
    "ParsedOrder",
    "ShipTo",
    "UnknownChannel",
    "known_channels",
    "normalize_scenario",
    "parse_order",
    "parsed_order_to_json",
    "shopify_signature_is_valid",
    "signature_is_valid",
    "webhook_signature_is_valid",
    "woocommerce_signature_is_valid",
]

# Channel name (as stored on the channel row and written in scenario files) → parser.
CHANNEL_PARSERS: dict[str, Callable[[Any], ParsedOrder]] = {
    "shopify": parse_shopify_order,
    "woocommerce": parse_woocommerce_order,
    "generic": parse_generic_order,
}


def known_channels() -> tuple[str, ...]:
    """The channel names intake can parse."""
    return tuple(CHANNEL_PARSERS)


def parse_order(channel: str, payload: dict) -> ParsedOrder:
    """The canonical order and its errors for one payload; raises UnknownChannel only."""
    parser = CHANNEL_PARSERS.get(channel) if isinstance(channel, str) else None
    if parser is None:
        raise UnknownChannel(f"unknown channel {channel!r}; known: {', '.join(CHANNEL_PARSERS)}")
    return parser(payload)


def parsed_order_to_json(result: ParsedOrder) -> dict:
    """`{"order": ..., "errors": [{path, reason}, ...]}` as CHANNELS.md prints it."""
    return {
        "order": None if result.order is None else order_to_json(result.order),
        "errors": [error_to_json(error) for error in result.errors],
    }


def normalize_scenario(scenario: dict) -> dict:
    """CLI adapter: a `{name, channel, payload, expect?}` scenario to `{"order", "errors"}`.

    Raises UnknownChannel when the scenario names no known channel (the CLI reports it on
    standard error). A payload of any shape still yields an order: junk gives errors.
    """
    if not isinstance(scenario, dict):
        raise UnknownChannel("a scenario must be a JSON object naming its channel")
    return parsed_order_to_json(parse_order(scenario.get("channel"), scenario.get("payload")))
