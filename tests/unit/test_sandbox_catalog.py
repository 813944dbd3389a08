"""The simulated suppliers' stock: deterministic, drifting about 5% per 5-minute bucket, never dated ahead."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from app.sandbox import catalog

SKUS = [f"ACM{number:06d}" for number in range(1, 2001)]
NOON = datetime(2025, 1, 15, 12, 2, 30, tzinfo=UTC)


def test_same_supplier_skus_and_moment_give_the_same_stock():
    assert catalog.stock_at("ACME", SKUS, NOON) == catalog.stock_at("ACME", list(reversed(SKUS)), NOON)


def test_different_suppliers_report_different_figures_for_the_same_sku():
    acme = [item.quantity for item in catalog.stock_at("ACME", SKUS[:200], NOON)]
    pacific = [item.quantity for item in catalog.stock_at("PACIFIC", SKUS[:200], NOON)]
    assert acme != pacific


def test_stock_is_the_same_anywhere_inside_one_five_minute_bucket():
    bucket_start = catalog.bucket_start(catalog.bucket_number(NOON))
    assert catalog.stock_at("ACME", SKUS, bucket_start) == catalog.stock_at("ACME", SKUS, bucket_start + timedelta(seconds=299))


def test_about_five_percent_of_skus_change_in_each_bucket():
    shares = []
    for step in range(1, 25):
        moment = NOON + step * catalog.BUCKET
        started = catalog.bucket_start(catalog.bucket_number(moment))
        items = catalog.stock_at("ACME", SKUS, moment)
        shares.append(sum(item.updated_at == started for item in items) / len(items))
    assert all(0.025 <= share <= 0.08 for share in shares), shares
    assert 0.04 <= sum(shares) / len(shares) <= 0.06


def test_only_skus_marked_changed_move_between_buckets():
    before = {item.sku: item for item in catalog.stock_at("ACME", SKUS, NOON)}
    later = NOON + catalog.BUCKET
    started = catalog.bucket_start(catalog.bucket_number(later))
    for item in catalog.stock_at("ACME", SKUS, later):
        if item.updated_at != started:
            assert item == before[item.sku]


def test_updated_at_is_a_bucket_start_and_never_after_now():
    for moment in (NOON, NOON + timedelta(seconds=1), catalog.bucket_start(catalog.bucket_number(NOON))):
        for item in catalog.stock_at("ATLAS", SKUS, moment):
            assert item.updated_at <= moment
            assert item.updated_at == catalog.bucket_start(catalog.bucket_number(item.updated_at))
            assert item.updated_at.tzinfo is not None and item.updated_at.utcoffset() == timedelta(0)


def test_every_sku_changed_within_the_last_week():
    for item in catalog.stock_at("EUROHUB", SKUS, NOON):
        assert NOON - item.updated_at <= timedelta(days=7)


def test_quantities_stay_between_0_and_400_and_status_words_follow_them():
    items = catalog.stock_at("ACME", SKUS, NOON)
    assert all(0 <= item.quantity <= catalog.MAX_QUANTITY for item in items)
    assert {item.status_text for item in items} == {"In Stock", "Low Stock", "Out of Stock"}
    for item in items:
        assert item.status_text == catalog.status_text_for(item.quantity)


def test_over_a_day_some_skus_sell_out_and_some_come_back():
    moments = [NOON + step * catalog.BUCKET for step in range(0, 288, 4)]
    history = {sku: [] for sku in SKUS[:500]}
    for moment in moments:
        for item in catalog.stock_at("ACME", SKUS[:500], moment):
            if item.sku in history:
                history[item.sku].append(item.quantity)
    sold_out = [sku for sku, figures in history.items() if any(a > 0 and b == 0 for a, b in pairwise(figures))]
    came_back = [sku for sku, figures in history.items() if any(a == 0 and b > 0 for a, b in pairwise(figures))]
    assert sold_out and came_back


def test_a_few_skus_outside_the_given_list_are_reported_for_the_unmapped_list():
    items = catalog.stock_at("MAPLE", ["MAP000001"], NOON)
    assert [item.sku for item in items] == ["MAP-NEW-1", "MAP-NEW-2", "MAP-NEW-3", "MAP000001"]
    assert catalog.extra_skus("MAPLE") == ["MAP-NEW-1", "MAP-NEW-2", "MAP-NEW-3"]


def test_cost_is_a_decimal_in_cents_that_does_not_drift():
    first = catalog.item_at("ACME", "ACM000001", NOON)
    week_later = catalog.item_at("ACME", "ACM000001", NOON + timedelta(days=7))
    assert isinstance(first.cost, Decimal) and first.cost == first.cost.quantize(Decimal("0.01"))
    assert Decimal("3.00") <= first.cost <= Decimal("90.00")
    assert first.cost == week_later.cost


def test_changed_since_keeps_changes_at_or_after_the_instant():
    items = catalog.stock_at("ACME", SKUS, NOON)
    since = NOON - timedelta(minutes=30)
    changed = catalog.changed_since(items, since)
    assert changed and all(item.updated_at >= since for item in changed)
    assert len(changed) < len(items) / 2


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        catalog.stock_at("ACME", SKUS[:1], datetime(2025, 1, 15, 12, 0))
