"""The canonical order every channel payload becomes, its field rules and its validation.

The rules follow ../shared/conformance/CHANNELS.md. Parsers are total: whatever a payload
holds, they return a canonical order plus the list of what is wrong with it, never raise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

CENTS = Decimal("0.01")

# Money beyond 10**1000 is not a price; refusing it keeps quantize() cheap on junk input.
_LARGEST_MONEY_EXPONENT = 1000

# A plain JSON-style decimal number in a string ("199.00", "-3", "1e2"); Decimal() alone
# would also accept "1_000", "NaN" and non-ASCII digits, which no channel sends as a price.
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)

# Extended ISO 8601 / RFC 3339 as the channels send it: a date, optionally a time
# (seconds and fraction optional), optionally an offset. A bare date is midnight.
_TIMESTAMP = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,]\d+)?)?"
    r"(?P<offset>[Zz]|[+-]\d{2}(?::?\d{2})?)?)?",
    re.ASCII,
)


class UnknownChannel(ValueError):
    """The scenario or request names a sales channel Dropdesk has no parser for."""


# --- decisions as data -------------------------------------------------------------------


@dataclass(frozen=True)
class ShipTo:
    """Where the customer wants the goods delivered."""

    name: str | None
    company: str | None
    address1: str | None
    address2: str | None
    city: str | None
    region: str | None
    postal_code: str | None
    country: str | None
    phone: str | None


@dataclass(frozen=True)
class OrderLine:
    """One ordered item; qty is kept exactly as the channel sent it (it may be invalid)."""

    external_id: str | None
    sku: str | None
    title: str | None
    qty: Any
    unit_price: Decimal | None


@dataclass(frozen=True)
class CanonicalOrder:
    """One order in the channel-neutral shape intake works with."""

    channel: str
    external_id: str | None
    number: str | None
    placed_at: datetime | None
    currency: str | None
    email: str | None
    test: bool
    total: Decimal | None
    ship_to: ShipTo | None
    lines: tuple[OrderLine, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class OrderError:
    """One thing staff must fix before the order can be routed."""

    path: str
    reason: str
    message: str


@dataclass(frozen=True)
class ParsedOrder:
    """The outcome of intake for one payload: the order (always built) and its errors."""

    order: CanonicalOrder | None
    errors: tuple[OrderError, ...] = ()

    @property
    def is_valid(self) -> bool:
        return self.order is not None and not self.errors


# --- field rules ---------------------------------------------------------------------------


def text(value: Any) -> str | None:
    """A string field: trimmed, empty or null becomes None, a number becomes its decimal text."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        # JSON true/false is not a number, and "True" is never a useful id or name.
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, Decimal)):
        number = _exact_decimal(value)
        return None if number is None else format(number, "f")
    return None


def money(value: Any) -> Decimal | None:
    """A price or total as Decimal cents, rounded half-up; anything not a number is None."""
    if isinstance(value, str):
        candidate = value.strip()
        number = Decimal(candidate) if _NUMBER_TEXT.fullmatch(candidate) else None
    elif isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, (float, Decimal)):
        number = _exact_decimal(value)
    else:
        number = None
    if number is None or number.adjusted() > _LARGEST_MONEY_EXPONENT:
        return None
    with localcontext() as context:
        context.prec = max(28, number.adjusted() + 4)
        cents = number.quantize(CENTS, rounding=ROUND_HALF_UP)
    # "-0.00" is not a price anyone writes; a tiny negative rounds to plain zero.
    return cents if cents else Decimal("0.00")


def utc_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime to the second; unreadable or missing is None."""
    if not isinstance(value, str):
        return None
    match = _TIMESTAMP.fullmatch(value.strip())
    if match is None:
        return None
    parts = match.groupdict()
    try:
        local = datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            tzinfo=_offset(parts["offset"]),
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError):
        # Day 31 of February, hour 24, or an offset that pushes year 1 out of range.
        return None


def person_name(first: Any, last: Any) -> str | None:
    """The non-empty parts of first and last name joined by one space."""
    parts = [part for part in (text(first), text(last)) if part]
    return " ".join(parts) or None


def first_present(*values: str | None) -> str | None:
    """The first value that is not None: a field with a fallback."""
    return next((value for value in values if value is not None), None)


def address_is_missing(address: Any) -> bool:
    """True when a shipping address is absent, not an object, or holds only empty values."""
    if not isinstance(address, dict):
        return True
    return all(_is_empty(value) for value in address.values())


def mapping(value: Any) -> dict:
    """The value if it is a JSON object, else an empty one, so lookups never raise."""
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list:
    """The value if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (dict, list)):
        return not value
    return False


def _exact_decimal(value: float | Decimal) -> Decimal | None:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        # repr() is the shortest text that reads back as this float: what the JSON said.
        return Decimal(repr(value))
    return value if value.is_finite() else None


def _offset(designator: str | None) -> timezone:
    if designator is None or designator in ("Z", "z"):
        return UTC
    sign = -1 if designator[0] == "-" else 1
    digits = designator[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"offset out of range: {designator}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


# --- validation ------------------------------------------------------------------------------


def validate_order(order: CanonicalOrder) -> tuple[OrderError, ...]:
    """What is wrong with an order, in the order CHANNELS.md lists the checks."""
    errors: list[OrderError] = []
    if order.currency is None:
        errors.append(OrderError("currency", "missing", "The order has no currency."))
    if not order.lines:
        errors.append(OrderError("lines", "empty", "The order has no line items."))
    if order.ship_to is None:
        errors.append(OrderError("ship_to", "missing", "The order has no shipping address."))
    else:
        for field_name, label in (("country", "country"), ("address1", "street address"), ("city", "city")):
            if getattr(order.ship_to, field_name) is None:
                errors.append(
                    OrderError(f"ship_to.{field_name}", "missing", f"The shipping address has no {label}.")
                )
    for index, line in enumerate(order.lines):
        if line.sku is None:
            errors.append(OrderError(f"lines[{index}].sku", "missing_sku", f"Line {index + 1} has no SKU."))
        if not is_positive_integer(line.qty):
            errors.append(
                OrderError(
                    f"lines[{index}].qty",
                    "bad_quantity",
                    f"Line {index + 1} quantity {line.qty!r} is not a positive whole number.",
                )
            )
    return tuple(errors)


def is_positive_integer(quantity: Any) -> bool:
    """True only for a JSON integer above zero: not "2", 2.0 or true."""
    return isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0


def parsed(order: CanonicalOrder) -> ParsedOrder:
    """The order together with its validation errors."""
    return ParsedOrder(order=order, errors=validate_order(order))


# --- JSON output -----------------------------------------------------------------------------


def order_to_json(order: CanonicalOrder) -> dict:
    """The order as the JSON object CHANNELS.md specifies (money as two-decimal strings)."""
    return {
        "channel": order.channel,
        "external_id": order.external_id,
        "number": order.number,
        "placed_at": _timestamp_text(order.placed_at),
        "currency": order.currency,
        "email": order.email,
        "test": order.test,
        "total": _money_text(order.total),
        "ship_to": None if order.ship_to is None else _ship_to_json(order.ship_to),
        "lines": [_line_json(line) for line in order.lines],
    }


def error_to_json(error: OrderError) -> dict:
    """An error as CHANNELS.md prints it: path and reason (the message is for people)."""
    return {"path": error.path, "reason": error.reason}


def _ship_to_json(ship_to: ShipTo) -> dict:
    return {
        "name": ship_to.name,
        "company": ship_to.company,
        "address1": ship_to.address1,
        "address2": ship_to.address2,
        "city": ship_to.city,
        "region": ship_to.region,
        "postal_code": ship_to.postal_code,
        "country": ship_to.country,
        "phone": ship_to.phone,
    }


def _line_json(line: OrderLine) -> dict:
    return {
        "external_id": line.external_id,
        "sku": line.sku,
        "title": line.title,
        "qty": json_native(line.qty),
        "unit_price": _money_text(line.unit_price),
    }


def _money_text(amount: Decimal | None) -> str | None:
    return None if amount is None else format(amount, "f")


def _timestamp_text(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    # Formatted by hand: strftime("%Y") does not zero-pad years before 1000 on every platform.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def json_native(value: Any) -> Any:
    """A value echoed from a payload, made serialisable by json.dumps (Decimal → number)."""
    if isinstance(value, Decimal):
        # Only a JSON number with a fraction or exponent is loaded as Decimal, so it was a
        # float in the payload and goes back out as one ("2.0" stays 2.0).
        if value.is_finite():
            as_float = float(value)
            if math.isfinite(as_float):
                return as_float
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_native(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_native(item) for item in value]
    return value
