"""What each sales channel may sell: floor(available to promise x ratio) - safety units, never below zero; and
only what differs from what it was last told is sent, delistings first."""
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.stock import ListingState, plan_listing_updates, wanted_quantity


def test_the_default_ratio_floors_to_whole_units():
    assert wanted_quantity(10, Decimal("0.9"), 0) == 9
    assert wanted_quantity(19, Decimal("0.9"), 0) == 17  # 17.1
    assert wanted_quantity(1, Decimal("0.9"), 0) == 0  # 0.9 of one unit is nothing to sell


def test_safety_units_come_off_after_the_ratio():
    assert wanted_quantity(100, Decimal("0.9"), 5) == 85
    assert wanted_quantity(100, Decimal("1"), 5) == 95


def test_never_below_zero():
    assert wanted_quantity(3, Decimal("0.9"), 10) == 0
    assert wanted_quantity(0, Decimal("1"), 0) == 0
    assert wanted_quantity(-4, Decimal("1"), 0) == 0  # a figure below what is held still promises nothing


def test_ratio_one_and_zero_are_the_bounds():
    assert wanted_quantity(7, Decimal("1"), 0) == 7
    assert wanted_quantity(7, Decimal("0"), 0) == 0


def test_the_ratio_is_exact_decimal_arithmetic():
    # 0.3 x 10 is 3 exactly; a float would give 2.9999999999999996 and floor to 2
    assert wanted_quantity(10, Decimal("0.3"), 0) == 3
    assert wanted_quantity(1000, Decimal("0.333"), 0) == 333


@pytest.mark.parametrize("ratio, safety", [(Decimal("1.01"), 0), (Decimal("-0.1"), 0), (Decimal("0.9"), -1)])
def test_out_of_range_settings_are_refused(ratio, safety):
    with pytest.raises(ValueError):
        wanted_quantity(10, ratio, safety)


@given(st.integers(-50, 100_000), st.decimals(min_value=0, max_value=1, places=3), st.integers(0, 1000))
def test_a_channel_is_never_offered_more_than_can_be_promised(atp, ratio, safety):
    wanted = wanted_quantity(atp, ratio, safety)
    assert 0 <= wanted <= max(atp, 0)
    assert wanted <= max(atp, 0) * ratio


def test_only_what_differs_from_what_the_channel_was_told_is_sent():
    told = {"A": ListingState(9, True), "B": ListingState(0, False), "C": ListingState(4, True)}
    updates = plan_listing_updates({"A": 9, "B": 0, "C": 5}, told)
    assert [(u.sku, u.qty, u.listing_changes) for u in updates] == [("C", 5, False)]


def test_delistings_go_first_and_a_return_relists():
    told = {"A": ListingState(3, True), "B": ListingState(0, False), "Z": ListingState(7, True)}
    updates = plan_listing_updates({"A": 8, "B": 2, "Z": 0}, told)
    assert [(u.sku, u.listed, u.was_listed) for u in updates] == [("Z", False, True), ("A", True, True), ("B", True, False)]
    assert [u.sku for u in updates if u.listing_changes] == ["Z", "B"]


def test_a_product_never_published_is_sent_once_even_at_zero():
    updates = plan_listing_updates({"A": 0, "B": 4}, {})
    assert [(u.sku, u.qty, u.was_listed, u.listing_changes) for u in updates] == [("A", 0, None, True), ("B", 4, None, True)]
    # a row that exists but was never published (a failed first try) counts as never published
    [again] = plan_listing_updates({"A": 0}, {"A": ListingState(None, False)})
    assert (again.was_listed, again.listing_changes) == (None, True)


def test_a_product_no_longer_sold_is_told_zero():
    [update] = plan_listing_updates({}, {"GONE": ListingState(5, True)})
    assert (update.sku, update.qty, update.listed) == ("GONE", 0, False)
    assert plan_listing_updates({}, {"GONE": ListingState(0, False)}) == []
