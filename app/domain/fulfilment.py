"""Pure rules of an order's life after routing: its status from its shipments, what a supplier is sent,
whether what it acknowledged is what we asked, and when a silent supplier is asked again."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

# Supplier orders that still carry their lines (refused, timed out and cancelled ones no longer do).
LIVE_STATES = ("pending", "sent", "acknowledged", "shipped", "delivered")
# Order statuses the shipments do not move: a person or the channel decided.
HELD_STATUSES = ("received", "cancelled")


def order_status(current: str, shipment_states: Iterable[str], *, lines_unplaced: bool) -> str:
    """The order's status from its live supplier orders' states.

    An order waiting for a person (manual review) stays so while any line has no supplier; one with no live
    supplier order keeps its status (it is about to be routed, or waits for a person)."""
    if current in HELD_STATUSES or (current == "manual_review" and lines_unplaced):
        return current
    states = [state for state in shipment_states if state in LIVE_STATES]
    if not states:
        return current
    if all(state == "delivered" for state in states):
        return "delivered"
    if all(state in ("shipped", "delivered") for state in states):
        return "shipped"
    if any(state in ("shipped", "delivered") for state in states):
        return "partially_shipped"
    if all(state == "acknowledged" for state in states):
        return "confirmed"
    if any(state in ("sent", "acknowledged") for state in states):
        return "awaiting_supplier"
    return "routed"


def supplier_lines(lines: Iterable[Mapping]) -> tuple[tuple[str, int], ...]:
    """(supplier SKU, quantity) as the supplier is sent them: one per SKU, even when two of our lines share it."""
    merged: dict[str, int] = {}
    for line in lines:
        merged[line["supplier_sku"]] = merged.get(line["supplier_sku"], 0) + int(line["qty"])
    return tuple(merged.items())


def line_differences(ours: Iterable[tuple[str, int]], theirs: Iterable[tuple[str, int]]) -> list[str]:
    """Each SKU whose quantity differs between what we sent and what the supplier acknowledged, in words."""
    sent, taken = Counter(), Counter()
    for sku, qty in ours:
        sent[sku] += qty
    for sku, qty in theirs:
        taken[sku] += qty
    return [f"{sku}: ours {sent.get(sku, 0)}, theirs {taken.get(sku, 0)}"
            for sku in sorted(set(sent) | set(taken)) if sent.get(sku, 0) != taken.get(sku, 0)]


def resend_delay(attempt: int, backoff: Sequence[int]) -> int:
    """Seconds to wait after failed attempt number `attempt` (1-based); the last figure repeats."""
    return backoff[min(max(attempt, 1), len(backoff)) - 1]
