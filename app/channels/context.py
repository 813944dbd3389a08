"""Validation by channel and account context: what one channel accepts beyond CHANNELS.md's own checks.

Pure: the service hands in the channel's settings and which of the order's SKUs are ours, and gets
back the order with aliases applied plus every error, in the order staff should read them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.channels.canonical import CanonicalOrder, OrderError, ShipTo, items, mapping, text, validate_order

# Keys whose values are payment data or secrets: masked wherever a payload is shown or kept for people.
_MASKED_KEY_PARTS = ("card", "payment_details", "cvv", "cvc", "token", "secret", "password", "iban",
                     "authorization", "transaction", "browser_ip", "checkout_token", "cart_token")
MASK = "••••"


@dataclass(frozen=True)
class ChannelRules:
    """A channel's editable intake settings (app/models/channel.py) as the validator needs them."""

    sku_aliases: Mapping[str, str] = field(default_factory=dict)
    allowed_countries: Collection[str] = ()  # empty: every country
    accept_test_orders: bool = False
    required_fields: Collection[str] = ()
    express_required_fields: Collection[str] = ()


def apply_aliases(order: CanonicalOrder, aliases: Mapping[str, str]) -> tuple[CanonicalOrder, tuple[str | None, ...]]:
    """The order with each aliased channel SKU replaced by ours, and each line's original SKU (None: not aliased)."""
    lines, originals = [], []
    for line in order.lines:
        ours = aliases.get(line.sku) if line.sku is not None else None
        lines.append(dataclasses.replace(line, sku=ours) if ours else line)
        originals.append(line.sku if ours else None)
    return dataclasses.replace(order, lines=tuple(lines)), tuple(originals)


def fix_ship_to(order: CanonicalOrder, fixes: Mapping[str, Any]) -> CanonicalOrder:
    """The order with staff's corrections to the shipping address applied (a blank value clears a field)."""
    if not fixes:
        return order
    names = [f.name for f in dataclasses.fields(ShipTo)]
    current = dataclasses.asdict(order.ship_to) if order.ship_to else {name: None for name in names}
    current.update({name: text(value) for name, value in fixes.items() if name in names})
    ship_to = ShipTo(**current) if any(current.values()) else None
    return dataclasses.replace(order, ship_to=ship_to)


def validate_for_channel(order: CanonicalOrder, rules: ChannelRules, known_skus: Collection[str],
                         service_level: str = "standard") -> tuple[OrderError, ...]:
    """CHANNELS.md's errors, then what this channel's settings and our catalogue refuse."""
    errors = list(validate_order(order))
    if order.test and not rules.accept_test_orders:
        errors.append(OrderError("test", "test_order", "This channel does not accept test orders."))
    country = order.ship_to.country if order.ship_to else None
    allowed = {code.upper() for code in rules.allowed_countries}
    if country and allowed and country.upper() not in allowed:
        errors.append(OrderError("ship_to.country", "country_not_allowed",
                                 f"This channel does not ship to {country} (allowed: {', '.join(sorted(allowed))})."))
    required = list(rules.required_fields) + (list(rules.express_required_fields) if service_level == "express" else [])
    for path in dict.fromkeys(required):
        if order.ship_to is None and path.startswith("ship_to."):
            continue  # "ship_to missing" already says it
        if _field(order, path) is None:
            errors.append(OrderError(path, "required", f"This channel requires {path} on "
                                     f"{'express ' if path in rules.express_required_fields else ''}orders."))
    for index, line in enumerate(order.lines):
        if line.sku is not None and line.sku not in known_skus:
            errors.append(OrderError(f"lines[{index}].sku", "unknown_sku",
                                     f"Line {index + 1} SKU {line.sku} is not one of our products; "
                                     "add a SKU alias for this channel or fix the line."))
    return tuple(errors)


def service_level_of(channel_kind: str, payload: Any) -> str:
    """express when the customer chose an express shipping line, else standard."""
    order = mapping(payload)
    if channel_kind in ("api", "csv"):
        return "express" if text(order.get("service_level")) == "express" else "standard"
    titles = [text(mapping(line).get(key)) or "" for line in items(order.get("shipping_lines"))
              for key in ("code", "title", "method_title", "method_id")]
    return "express" if any("express" in title.lower() for title in titles) else "standard"


def mask_payment_data(value: Any) -> Any:
    """A copy of a payload with payment data and secrets replaced by a mask, for exception items and pages."""
    if isinstance(value, dict):
        return {key: (MASK if _is_sensitive(key) and value[key] not in (None, "", [], {}) else mask_payment_data(value[key]))
                for key in value}
    if isinstance(value, list):
        return [mask_payment_data(item) for item in value]
    return value


def load_payload(raw: str | bytes) -> Any:
    """A JSON body with ids kept exact (ints stay ints beyond 2**53) and fractions as Decimal, never float."""
    return json.loads(raw, parse_float=Decimal)


def plain_payload(value: Any) -> Any:
    """A payload read by load_payload, back in plain JSON types (fractions as floats) for json.dumps and pages."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: plain_payload(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_payload(item) for item in value]
    return value


def _is_sensitive(key: Any) -> bool:
    lowered = str(key).lower()
    return any(part in lowered for part in _MASKED_KEY_PARTS)


def _field(order: CanonicalOrder, path: str) -> Any:
    if path.startswith("ship_to."):
        return getattr(order.ship_to, path.split(".", 1)[1], None) if order.ship_to else None
    return getattr(order, path, None)
