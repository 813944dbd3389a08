"""The unified stock-status scale and the low-stock threshold rules (../shared/conformance/FEEDS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import NamedTuple

DEFAULT_LOW_STOCK_THRESHOLD = 10


class StockStatus(StrEnum):
    """The one alert level every supplier's stock is put on, whatever the supplier calls it."""

    IN_STOCK = "in_stock"
    LOW_STOCK = "low_stock"
    OUT_OF_STOCK = "out_of_stock"
    DISCONTINUED = "discontinued"


# Statuses that tell us the supplier has goods to sell, but not how many.
SELLABLE_STATUSES = frozenset({StockStatus.IN_STOCK, StockStatus.LOW_STOCK})
# Statuses that mean nothing can be sold, whatever figure came with them.
UNSELLABLE_STATUSES = frozenset({StockStatus.OUT_OF_STOCK, StockStatus.DISCONTINUED})


@dataclass(frozen=True)
class StockLevel:
    """A supplier SKU's on-hand figure and its alert level, decided together."""

    quantity: int
    status: StockStatus


def unified_stock_level(
    quantity: int,
    supplier_status: StockStatus | None,
    *,
    threshold: int = DEFAULT_LOW_STOCK_THRESHOLD,
    quantity_assumed: bool = False,
) -> StockLevel:
    """Decide the alert level from the reported (or assumed) quantity and the supplier's own status."""
    if quantity < 0:
        raise ValueError(f"quantity must not be negative (got {quantity})")
    if supplier_status is StockStatus.DISCONTINUED:
        return StockLevel(0, StockStatus.DISCONTINUED)
    if quantity == 0 or supplier_status is StockStatus.OUT_OF_STOCK:
        return StockLevel(0, StockStatus.OUT_OF_STOCK)
    # A supplier's "low" flag only speaks when it gave no figure of its own: a reported
    # quantity at or above the threshold is in stock whatever the flag says.
    if quantity < threshold or (quantity_assumed and supplier_status is StockStatus.LOW_STOCK):
        return StockLevel(quantity, StockStatus.LOW_STOCK)
    return StockLevel(quantity, StockStatus.IN_STOCK)


def available_to_promise(on_hand: int | None, reserved: int, status: str) -> int:
    """What a supplier SKU can still promise: its last figure less what orders hold that the figure does not
    reflect yet (invariant 2). Nothing when the supplier says it cannot sell; never below zero, though a newer
    figure may fall below what is already held."""
    if status not in SELLABLE_STATUSES or not on_hand:
        return 0
    return max(on_hand - reserved, 0)


def wanted_quantity(atp_total: int, ratio: Decimal, safety_units: int) -> int:
    """What a sales channel may sell of a product: floor(available to promise x ratio) less the safety units,
    never below zero (zero delists it). The ratio keeps a margin for figures that are a few minutes old."""
    if not Decimal(0) <= ratio <= Decimal(1):
        raise ValueError(f"the ratio must be between 0 and 1 (got {ratio})")
    if safety_units < 0:
        raise ValueError(f"safety units must not be negative (got {safety_units})")
    if atp_total <= 0:
        return 0
    share = int((Decimal(atp_total) * ratio).to_integral_value(rounding=ROUND_FLOOR))
    return max(share - safety_units, 0)


class ListingState(NamedTuple):
    """What a channel was last told of one product: None before the first publish."""

    published_qty: int | None
    listed: bool


@dataclass(frozen=True)
class ListingUpdate:
    sku: str
    qty: int
    was_listed: bool | None  # None: never published to this channel

    @property
    def listed(self) -> bool:
        return self.qty > 0

    @property
    def listing_changes(self) -> bool:
        return self.was_listed != self.listed


def plan_listing_updates(wanted: dict[str, int], told: dict[str, ListingState]) -> list[ListingUpdate]:
    """Only what differs from what the channel was last told, delistings first (each one stops an oversell),
    then by SKU. A product it was told of that is no longer sold (inactive, removed) is told zero."""
    updates = []
    for sku in sorted(set(wanted) | set(told)):
        qty, last = wanted.get(sku, 0), told.get(sku)
        if last is not None and last.published_qty == qty and last.listed == (qty > 0):
            continue
        updates.append(ListingUpdate(sku, qty, None if last is None or last.published_qty is None else last.listed))
    updates.sort(key=lambda update: (update.listed, update.sku))
    return updates


def report_reflects_confirmation(reported_at: datetime, confirmed_at: datetime | None) -> bool:
    """A stock report accounts for an order once the supplier made it after confirming that order."""
    return confirmed_at is not None and reported_at > confirmed_at


# --- Applying a supplier's report to what is stored -------------------------------------------

UNKNOWN = "unknown"  # a SKU that completed full feeds keep leaving out: we no longer know


# These two are tuples, not dataclasses: a full feed makes 200,000 of each, and a tuple is several times
# cheaper to build; both are as immutable.
class StoredStock(NamedTuple):
    """What Dropdesk holds for one supplier SKU before a report is applied."""

    supplier_sku: str
    on_hand: int | None
    status: str
    reported_at: datetime | None
    missing_runs: int = 0


class ReportedStock(NamedTuple):
    """One normalized figure from the supplier (a feed record, a push, a realtime answer, a manual entry)."""

    supplier_sku: str
    on_hand: int | None
    status: str
    reported_at: datetime


@dataclass(frozen=True)
class StockChange:
    supplier_sku: str
    previous_on_hand: int | None
    new_on_hand: int | None
    previous_status: str | None
    new_status: str
    reported_at: datetime | None
    applied: bool  # False: older than the stored report; logged, never applied (invariant 4)


@dataclass(frozen=True)
class StockAlertEvent:
    supplier_sku: str
    kind: str  # went_out_of_stock, back_in_stock, fell_below_threshold
    previous_on_hand: int | None
    new_on_hand: int | None


@dataclass(frozen=True)
class StockPlan:
    """Everything applying a report would do: decided here, written by the service in bulk."""

    changes: tuple[StockChange, ...]  # applied ones change the stored row (or insert it when previous_status is None)
    missing_runs: dict[str, int]  # SKU -> its new count of consecutive full feeds without it
    alerts: tuple[StockAlertEvent, ...]
    unchanged: int

    @property
    def applied(self) -> tuple[StockChange, ...]:
        return tuple(change for change in self.changes if change.applied)

    @property
    def stale(self) -> tuple[StockChange, ...]:
        return tuple(change for change in self.changes if not change.applied)


def _alert(sku: str, before: StoredStock | None, on_hand: int | None, status: str) -> StockAlertEvent | None:
    previous_status = before.status if before else None
    previous_on_hand = before.on_hand if before else None
    if status == StockStatus.OUT_OF_STOCK and previous_status not in (None, StockStatus.OUT_OF_STOCK):
        return StockAlertEvent(sku, "went_out_of_stock", previous_on_hand, on_hand)
    if status in SELLABLE_STATUSES and previous_status in (StockStatus.OUT_OF_STOCK, UNKNOWN):
        return StockAlertEvent(sku, "back_in_stock", previous_on_hand, on_hand)
    if status == StockStatus.LOW_STOCK and previous_status == StockStatus.IN_STOCK:
        return StockAlertEvent(sku, "fell_below_threshold", previous_on_hand, on_hand)
    return None


def plan_stock_changes(stored: dict[str, StoredStock], reports: list[ReportedStock], *, full_feed: bool,
                       missing_runs_before_unknown: int) -> StockPlan:
    """Compare reports with what is stored: only real changes, stale reports kept aside, absences counted.

    `full_feed` is true only for a *completed* full feed: only then does a SKU's absence count.
    """
    changes: list[StockChange] = []
    alerts: list[StockAlertEvent] = []
    missing_runs: dict[str, int] = {}
    unchanged = 0
    seen: set[str] = set()
    for report in reports:
        seen.add(report.supplier_sku)
        before = stored.get(report.supplier_sku)
        if before is not None and before.missing_runs:
            missing_runs[report.supplier_sku] = 0
        if before is not None and before.reported_at is not None and report.reported_at < before.reported_at:
            changes.append(StockChange(report.supplier_sku, before.on_hand, report.on_hand, before.status,
                                       report.status, report.reported_at, applied=False))
            continue
        if before is not None and (before.on_hand, before.status) == (report.on_hand, report.status):
            unchanged += 1
            continue
        changes.append(StockChange(report.supplier_sku, before.on_hand if before else None, report.on_hand,
                                   before.status if before else None, report.status, report.reported_at, applied=True))
        alert = _alert(report.supplier_sku, before, report.on_hand, report.status)
        if alert:
            alerts.append(alert)
    if full_feed:
        for sku, before in stored.items():
            if sku in seen or before.status == UNKNOWN:
                continue
            runs = before.missing_runs + 1
            missing_runs[sku] = runs
            if runs >= missing_runs_before_unknown:
                changes.append(StockChange(sku, before.on_hand, None, before.status, UNKNOWN, None, applied=True))
    return StockPlan(tuple(changes), missing_runs, tuple(alerts), unchanged)


@dataclass(frozen=True)
class GuardVerdict:
    hold: bool
    reasons: tuple[str, ...]
    total_before: int
    total_after: int
    flipped_to_out: int
    skus: int


def guard_full_feed(stored: dict[str, StoredStock], plan: StockPlan, *, max_drop_pct: int,
                    max_out_flip_pct: int) -> GuardVerdict:
    """Hold a full feed that would cut total stock or flip SKUs to out-of-stock beyond the supplier's thresholds.

    A SKU the feed leaves out counts as gone: a feed that lost its figures (schema drift, a broken
    export) must be held on its first run, not only once the absences add up to "unknown".
    """
    after = {sku: s.on_hand or 0 for sku, s in stored.items()}
    gone = {sku for sku, runs in plan.missing_runs.items() if runs > 0}
    for sku in gone:
        after[sku] = 0
    flipped = sum(1 for sku in gone if stored[sku].status in SELLABLE_STATUSES)
    for change in plan.applied:
        after[change.supplier_sku] = change.new_on_hand or 0
        was_out = change.previous_status in (StockStatus.OUT_OF_STOCK, UNKNOWN, None)
        if change.new_status in (StockStatus.OUT_OF_STOCK, UNKNOWN) and not was_out and change.supplier_sku not in gone:
            flipped += 1
    total_before = sum(s.on_hand or 0 for s in stored.values())
    total_after = sum(after.values())
    reasons = []
    if total_before and (total_before - total_after) * 100 > max_drop_pct * total_before:
        reasons.append(f"total stock would fall from {total_before:,} to {total_after:,} units "
                       f"(more than {max_drop_pct}%)")
    if stored and flipped * 100 > max_out_flip_pct * len(stored):
        reasons.append(f"{flipped:,} of the supplier's {len(stored):,} SKUs would go out of stock "
                       f"(more than {max_out_flip_pct}%)")
    return GuardVerdict(bool(reasons), tuple(reasons), total_before, total_after, flipped, len(stored))
