"""The unified stock-status scale and the low-stock threshold rules (../shared/conformance/FEEDS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

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
