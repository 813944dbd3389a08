"""The pure rules of an order's life after routing (app/domain/fulfilment.py)."""
from __future__ import annotations

import pytest

from app.domain.fulfilment import line_differences, order_status, resend_delay, supplier_lines


@pytest.mark.parametrize(("states", "expected"), [
    (["pending", "pending"], "routed"),
    (["sent", "pending"], "awaiting_supplier"),
    (["acknowledged", "sent"], "awaiting_supplier"),
    (["acknowledged", "acknowledged"], "confirmed"),
    (["shipped", "acknowledged"], "partially_shipped"),
    (["shipped", "delivered"], "shipped"),
    (["delivered", "delivered"], "delivered"),
    (["refused", "acknowledged"], "confirmed"),  # a refused shipment no longer counts: its lines went elsewhere
    (["timed_out", "cancelled", "shipped"], "shipped"),
])
def test_an_orders_status_follows_its_live_shipments(states, expected):
    assert order_status("routed", states, lines_unplaced=False) == expected


def test_an_order_without_a_live_shipment_keeps_its_status():
    assert order_status("accepted", [], lines_unplaced=False) == "accepted"
    assert order_status("awaiting_supplier", ["refused"], lines_unplaced=False) == "awaiting_supplier"


def test_cancelled_and_waiting_for_a_person_are_not_moved_by_shipments():
    assert order_status("cancelled", ["shipped"], lines_unplaced=False) == "cancelled"
    assert order_status("manual_review", ["acknowledged"], lines_unplaced=True) == "manual_review"
    assert order_status("manual_review", ["acknowledged"], lines_unplaced=False) == "confirmed"  # rerouted by hand


def test_a_supplier_is_sent_one_line_per_sku_even_when_two_of_ours_share_it():
    lines = [{"supplier_sku": "A-1", "qty": 2}, {"supplier_sku": "B-1", "qty": 1}, {"supplier_sku": "A-1", "qty": 3}]
    assert supplier_lines(lines) == (("A-1", 5), ("B-1", 1))


def test_acknowledged_lines_are_compared_per_sku_whatever_their_order():
    assert line_differences([("A", 2), ("B", 1)], [("B", 1), ("A", 2)]) == []
    assert line_differences([("A", 2), ("B", 1)], [("A", 1), ("C", 4)]) == [
        "A: ours 2, theirs 1", "B: ours 1, theirs 0", "C: ours 0, theirs 4"]


def test_resends_wait_by_the_backoff_and_its_last_figure_repeats():
    assert [resend_delay(attempt, (5, 30, 120)) for attempt in range(1, 6)] == [5, 30, 120, 120, 120]
    assert resend_delay(1, (0,)) == 0
