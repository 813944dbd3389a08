"""Applying a supplier's report: only real changes, stale never overwrites fresh, absences counted."""
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from app.domain.stock import ReportedStock, StoredStock, guard_full_feed, plan_stock_changes

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


def stored(sku, on_hand, status="in_stock", at=T0, missing=0):
    return StoredStock(sku, on_hand, status, at, missing)


def report(sku, on_hand, status="in_stock", at=T0 + timedelta(minutes=5)):
    return ReportedStock(sku, on_hand, status, at)


def test_only_figures_that_changed_become_changes():
    plan = plan_stock_changes({"A": stored("A", 40), "B": stored("B", 7, "low_stock")},
                              [report("A", 40), report("B", 12)], full_feed=False, missing_runs_before_unknown=2)
    assert [(c.supplier_sku, c.previous_on_hand, c.new_on_hand) for c in plan.applied] == [("B", 7, 12)]
    assert plan.unchanged == 1


def test_a_report_older_than_the_stored_one_is_logged_and_not_applied():
    plan = plan_stock_changes({"A": stored("A", 40, at=T0)}, [report("A", 0, "out_of_stock", at=T0 - timedelta(seconds=1))],
                              full_feed=False, missing_runs_before_unknown=2)
    assert plan.applied == ()
    assert [(c.supplier_sku, c.new_on_hand, c.applied) for c in plan.stale] == [("A", 0, False)]
    assert plan.alerts == ()


def test_a_new_sku_is_inserted_with_no_previous_figure():
    plan = plan_stock_changes({}, [report("NEW", 3, "low_stock")], full_feed=True, missing_runs_before_unknown=2)
    assert [(c.previous_status, c.new_status) for c in plan.applied] == [(None, "low_stock")]


def test_absence_from_completed_full_feeds_marks_unknown_only_after_n_runs():
    first = plan_stock_changes({"A": stored("A", 5)}, [], full_feed=True, missing_runs_before_unknown=2)
    assert first.missing_runs == {"A": 1} and first.applied == ()
    second = plan_stock_changes({"A": stored("A", 5, missing=1)}, [], full_feed=True, missing_runs_before_unknown=2)
    assert [(c.supplier_sku, c.new_status, c.new_on_hand) for c in second.applied] == [("A", "unknown", None)]


def test_a_delta_never_counts_absences():
    plan = plan_stock_changes({"A": stored("A", 5)}, [], full_feed=False, missing_runs_before_unknown=1)
    assert plan.missing_runs == {} and plan.changes == ()


def test_a_sku_that_returns_resets_its_missing_count():
    plan = plan_stock_changes({"A": stored("A", 5, missing=1)}, [report("A", 5)], full_feed=True, missing_runs_before_unknown=2)
    assert plan.missing_runs == {"A": 0}


def test_alerts_for_out_back_and_low():
    plan = plan_stock_changes(
        {"A": stored("A", 20), "B": stored("B", 0, "out_of_stock"), "C": stored("C", 30)},
        [report("A", 0, "out_of_stock"), report("B", 50), report("C", 4, "low_stock")],
        full_feed=False, missing_runs_before_unknown=2)
    assert sorted((a.supplier_sku, a.kind) for a in plan.alerts) == [
        ("A", "went_out_of_stock"), ("B", "back_in_stock"), ("C", "fell_below_threshold")]


def test_the_guard_holds_a_feed_that_halves_total_stock():
    before = {f"S{i}": stored(f"S{i}", 100) for i in range(10)}
    plan = plan_stock_changes(before, [report(f"S{i}", 40) for i in range(10)], full_feed=True, missing_runs_before_unknown=2)
    verdict = guard_full_feed(before, plan, max_drop_pct=50, max_out_flip_pct=25)
    assert verdict.hold and verdict.total_before == 1000 and verdict.total_after == 400
    assert "more than 50%" in verdict.reasons[0]


def test_the_guard_holds_a_feed_that_flips_too_many_skus_out():
    before = {f"S{i}": stored(f"S{i}", 10) for i in range(8)}
    reports = [report(f"S{i}", 0, "out_of_stock") for i in range(3)] + [report(f"S{i}", 30) for i in range(3, 8)]
    verdict = guard_full_feed(before, plan_stock_changes(before, reports, full_feed=True, missing_runs_before_unknown=2),
                              max_drop_pct=90, max_out_flip_pct=25)
    assert verdict.hold and verdict.flipped_to_out == 3


def test_the_guard_lets_an_ordinary_feed_through():
    before = {f"S{i}": stored(f"S{i}", 100) for i in range(10)}
    plan = plan_stock_changes(before, [report(f"S{i}", 90) for i in range(10)], full_feed=True, missing_runs_before_unknown=2)
    assert not guard_full_feed(before, plan, max_drop_pct=50, max_out_flip_pct=25).hold


quantities = st.integers(min_value=0, max_value=500)
minutes = st.integers(min_value=-30, max_value=30)


@given(st.dictionaries(st.sampled_from("ABCDEFG"), st.tuples(quantities, minutes), max_size=7),
       st.lists(st.tuples(st.sampled_from("ABCDEFGH"), quantities, minutes), max_size=12, unique_by=lambda r: r[0]))
def test_applying_a_plan_never_lets_an_older_report_win(existing, incoming):
    before = {sku: stored(sku, qty, "in_stock" if qty else "out_of_stock", T0 + timedelta(minutes=m))
              for sku, (qty, m) in existing.items()}
    reports = [report(sku, qty, "in_stock" if qty else "out_of_stock", T0 + timedelta(minutes=m)) for sku, qty, m in incoming]
    plan = plan_stock_changes(before, reports, full_feed=False, missing_runs_before_unknown=2)
    after = {sku: (s.on_hand, s.reported_at) for sku, s in before.items()}
    for change in plan.applied:
        after[change.supplier_sku] = (change.new_on_hand, change.reported_at)
    for sku, qty, m in incoming:
        at = T0 + timedelta(minutes=m)
        if sku in before and before[sku].reported_at > at:
            assert after[sku] == (before[sku].on_hand, before[sku].reported_at)  # stale ignored
        else:
            assert after[sku][0] == qty


def test_the_guard_holds_a_full_feed_that_left_most_skus_out_on_its_first_run():
    before = {f"S{i}": stored(f"S{i}", 50) for i in range(10)}
    plan = plan_stock_changes(before, [report("S0", 50)], full_feed=True, missing_runs_before_unknown=2)
    verdict = guard_full_feed(before, plan, max_drop_pct=50, max_out_flip_pct=25)
    assert verdict.hold and verdict.flipped_to_out == 9 and verdict.total_after == 50
