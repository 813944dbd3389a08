"""The simulated suppliers' stock: deterministic from (supplier code, SKU, 5-minute bucket), drifting over time.

Pure (standard library only). Time is cut into 5-minute buckets counted from the Unix epoch. In
each bucket about 5% of a supplier's SKUs "change": their quantity is drawn afresh from
(code, sku, bucket), so some sell out, some come back and some just move. A SKU's figure is the
one drawn in the last bucket it changed in, and its `updated_at` is that bucket's start, so it
is never later than `now`. Every process computes the same figures without sharing any state.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

BUCKET = timedelta(minutes=5)
CHANGE_SHARE = 0.05
MAX_QUANTITY = 400
LOW_STOCK_BELOW = 10
# Besides the random 5%, every SKU is redrawn once a week at its own phase. That bounds how far
# back its last change can lie, so looking it up is a short, exact scan instead of unbounded.
REDRAW_EVERY_BUCKETS = 7 * 24 * 12
EXTRA_SKU_COUNT = 3
# Shares of quantity draws: sold out, low (below LOW_STOCK_BELOW), otherwise comfortably stocked.
SOLD_OUT_SHARE = 0.08
LOW_SHARE = 0.12
CHEAPEST_COST_CENTS, DEAREST_COST_CENTS = 300, 9000

STATUS_IN_STOCK, STATUS_LOW, STATUS_OUT = "In Stock", "Low Stock", "Out of Stock"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SimulatedItem:
    """One supplier SKU as the simulated supplier reports it at some moment."""

    sku: str
    quantity: int
    updated_at: datetime  # UTC, the start of the bucket the figure last changed in
    cost: Decimal  # cents
    status_text: str  # the supplier's own words: In Stock / Low Stock / Out of Stock


def extra_skus(code: str) -> list[str]:
    """SKUs the simulated supplier carries but Dropdesk's catalog does not (so "unmapped" has rows)."""
    return [f"{code[:3]}-NEW-{number}" for number in range(1, EXTRA_SKU_COUNT + 1)]


def stock_at(code: str, skus: Iterable[str], now: datetime) -> list[SimulatedItem]:
    """Every SKU the supplier reports at `now` (the given ones plus its extras), sorted by SKU."""
    bucket = bucket_number(now)
    every_sku = sorted(set(skus) | set(extra_skus(code)))
    return [_item_in_bucket(code, sku, bucket) for sku in every_sku]


def item_at(code: str, sku: str, now: datetime) -> SimulatedItem:
    """One SKU's figure at `now` (any SKU: the supplier's catalogue is what the caller says it is)."""
    return _item_in_bucket(code, sku, bucket_number(now))


def changed_since(items: Iterable[SimulatedItem], since: datetime) -> list[SimulatedItem]:
    """The items whose figure changed at or after `since` (inclusive, so a caller passing the last
    `updated_at` it saw never misses a change made in that same bucket)."""
    _require_aware(since)
    return [item for item in items if item.updated_at >= since]


def bucket_number(moment: datetime) -> int:
    """Which 5-minute bucket since the epoch `moment` falls in."""
    _require_aware(moment)
    return int((moment - _EPOCH) // BUCKET)


def bucket_start(bucket: int) -> datetime:
    return _EPOCH + bucket * BUCKET


def changes_in_bucket(code: str, sku: str, bucket: int) -> bool:
    """Whether this SKU's figure is drawn afresh in this bucket (~5% of buckets, plus the weekly redraw)."""
    if _fraction(code, sku, "change", bucket) < CHANGE_SHARE:
        return True
    return (bucket + _redraw_phase(code, sku)) % REDRAW_EVERY_BUCKETS == 0


def last_change_bucket(code: str, sku: str, bucket: int) -> int:
    """The latest bucket at or before `bucket` in which this SKU changed."""
    phase = _redraw_phase(code, sku)
    for candidate in range(bucket, bucket - REDRAW_EVERY_BUCKETS, -1):
        if _fraction(code, sku, "change", candidate) < CHANGE_SHARE:
            return candidate
        if (candidate + phase) % REDRAW_EVERY_BUCKETS == 0:
            return candidate
    raise AssertionError("unreachable: the weekly redraw falls inside any week")


def status_text_for(quantity: int) -> str:
    if quantity == 0:
        return STATUS_OUT
    return STATUS_LOW if quantity < LOW_STOCK_BELOW else STATUS_IN_STOCK


def _item_in_bucket(code: str, sku: str, bucket: int) -> SimulatedItem:
    changed = last_change_bucket(code, sku, bucket)
    quantity = _quantity_drawn(code, sku, changed)
    return SimulatedItem(sku, quantity, bucket_start(changed), _cost(code, sku), status_text_for(quantity))


def _quantity_drawn(code: str, sku: str, bucket: int) -> int:
    kind = _fraction(code, sku, "kind", bucket)
    size = _fraction(code, sku, "size", bucket)
    if kind < SOLD_OUT_SHARE:
        return 0
    if kind < SOLD_OUT_SHARE + LOW_SHARE:
        return 1 + int(size * (LOW_STOCK_BELOW - 1))
    return LOW_STOCK_BELOW + int(size * (MAX_QUANTITY - LOW_STOCK_BELOW + 1))


def _cost(code: str, sku: str) -> Decimal:
    """The supplier's unit cost: fixed per SKU, so price changes never muddle stock tests."""
    span = DEAREST_COST_CENTS - CHEAPEST_COST_CENTS
    cents = CHEAPEST_COST_CENTS + int(_fraction(code, sku, "cost", 0) * (span + 1))
    return Decimal(cents) / 100


def _redraw_phase(code: str, sku: str) -> int:
    # Spread the weekly redraws so they never all land in one bucket.
    return int(_fraction(code, sku, "phase", 0) * REDRAW_EVERY_BUCKETS)


def _fraction(code: str, sku: str, purpose: str, bucket: int) -> float:
    """A number in [0, 1) that depends only on its inputs (the same in every process and run)."""
    digest = hashlib.blake2b(f"{code}\x1f{sku}\x1f{purpose}\x1f{bucket}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("the sandbox works in timezone-aware UTC time; got a naive datetime")
