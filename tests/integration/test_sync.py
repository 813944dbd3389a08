"""Stock sync against the sandbox suppliers over real HTTP, with faults switched on."""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from app.connectors import RetryPolicy
from app.extensions import db
from app.models import ExceptionItem, InboundPayload, StockChange, Supplier, SupplierStock, SyncRun
from app.sandbox import sandbox_credentials
from app.sandbox.faults import parse_faults, reset_supplier, set_faults, supplier_stats
from app.services import demo, supplier_health, sync


def switch_on(code: str, faults: dict) -> None:
    set_faults(code, parse_faults(faults, datetime.now(timezone.utc)))


PULLING = ("ACME", "EUROHUB", "NORDIC", "MAPLE", "ALPINE", "ATLAS", "BRITBOX", "PACIFIC")


@pytest.fixture
def suppliers(app, sandbox_url):
    config = app.config["DROPDESK"]
    app.config["DROPDESK"] = dataclasses.replace(config, sandbox_url=sandbox_url)
    app.config["SYNC_RETRY_POLICY"] = RetryPolicy(attempts=3, base_seconds=0.05, cap_seconds=0.2, retry_after_cap_seconds=2)
    demo.seed()
    for code in (*PULLING, "SUNRISE"):
        reset_supplier(code)
        supplier_health.reset(code)
    yield {s.code: s for s in db.session.scalars(select(Supplier))}
    for code in (*PULLING, "SUNRISE"):
        reset_supplier(code)
        supplier_health.reset(code)
    app.config["DROPDESK"] = config
    app.config.pop("SYNC_RETRY_POLICY")


def stock_rows(supplier) -> dict[str, tuple]:
    return {r.supplier_sku: (r.on_hand, r.status, r.reported_at) for r in
            db.session.scalars(select(SupplierStock).where(SupplierStock.supplier_id == supplier.id))}


def test_every_connection_style_syncs_in_full_without_rejects(suppliers):
    for code in PULLING:
        run = sync.run_sync(suppliers[code].id, kind="full", trigger="manual")
        assert (code, run.outcome, run.rejected) == (code, "succeeded", 0), run.error_message
        assert run.records_seen >= 300 and run.pages >= 1


def test_a_full_sync_then_a_delta_asks_only_for_what_changed(suppliers):
    acme = suppliers["ACME"]
    full = sync.run_sync(acme.id, trigger="manual")
    assert full.kind == "full" and full.outcome == "succeeded"
    reset_supplier("ACME")
    delta = sync.run_sync(acme.id, trigger="schedule")
    assert delta.kind == "delta" and delta.outcome == "succeeded"
    assert all("updated_since" in call["query"] for call in supplier_stats("ACME")["recent"])
    assert delta.records_seen < full.records_seen


def test_a_supplier_that_is_down_ends_down_is_not_hammered_and_recovers(suppliers):
    pacific = suppliers["PACIFIC"]
    switch_on("PACIFIC", ({"down": True}))
    outcomes = [sync.run_sync(pacific.id, kind="full").outcome for _ in range(3)]
    assert outcomes == ["failed", "failed", "failed"]
    assert supplier_health.health_of("PACIFIC") == "down"
    calls = supplier_stats("PACIFIC")["requests"]
    skipped = [sync.run_sync(pacific.id, kind="full") for _ in range(5)]
    assert {run.outcome for run in skipped} == {"skipped"}
    assert supplier_stats("PACIFIC")["requests"] == calls  # an open breaker sends nothing
    item = db.session.scalars(select(ExceptionItem).where(ExceptionItem.supplier_id == pacific.id)).one()
    assert item.kind == "sync_failed" and item.status == "open" and len(item.history) == 3  # one item, not three
    # The cool-down passes (its start moved back), the supplier is back: one probe closes the breaker.
    state = supplier_health.load("PACIFIC")
    supplier_health.save("PACIFIC", dataclasses.replace(state, opened_at=state.opened_at - supplier_health.SETTINGS.cool_down))
    reset_supplier("PACIFIC")
    recovered = sync.run_sync(pacific.id, kind="full")
    assert recovered.outcome == "succeeded" and supplier_health.health_of("PACIFIC") == "up"
    db.session.refresh(item)
    assert item.status == "resolved"


def test_retry_after_is_honoured_and_the_run_still_succeeds(suppliers):
    switch_on("ACME", ({"rate_limit": {"every": 2, "retry_after": 1}}))
    run = sync.run_sync(suppliers["ACME"].id, kind="full")
    assert run.outcome == "succeeded" and run.http_errors >= 1
    assert run.duration_ms >= 1000  # waited the second the supplier asked for


def test_a_malformed_page_fails_cleanly_and_marks_nothing_missing(suppliers):
    atlas = suppliers["ATLAS"]
    assert sync.run_sync(atlas.id, kind="full").outcome == "succeeded"
    before = stock_rows(atlas)
    changes = db.session.scalar(select(func.count()).select_from(StockChange))
    switch_on("ATLAS", ({"malformed_page": 2}))
    for _ in range(2):  # twice: absences would count by now if a failed run counted them
        failed = sync.run_sync(atlas.id, kind="full")
        assert failed.outcome == "failed" and failed.error_reason == "malformed"
    assert stock_rows(atlas) == before
    assert db.session.scalar(select(func.count()).select_from(StockChange)) == changes
    assert db.session.scalar(select(SupplierStock.missing_runs).where(SupplierStock.supplier_id == atlas.id)
                             .order_by(SupplierStock.missing_runs.desc()).limit(1)) == 0


def test_a_failing_sync_never_logs_or_stores_the_secret(suppliers, caplog):
    acme = suppliers["ACME"]
    acme.credentials = {"api_key": "wrong-key-that-must-stay-secret"}
    db.session.commit()
    with caplog.at_level(logging.DEBUG):
        run = sync.run_sync(acme.id, kind="full")
    assert run.outcome == "failed" and run.error_reason == "auth"
    item = db.session.scalars(select(ExceptionItem).where(ExceptionItem.supplier_id == acme.id)).one()
    stored = f"{run.error_message} {run.requests} {item.reason} {item.payload} {item.history}"
    assert "sync_failed supplier=ACME" in caplog.text and "supplier_request supplier=ACME" in caplog.text  # logs were captured
    assert "wrong-key-that-must-stay-secret" not in caplog.text + stored


def test_a_feed_that_lost_its_figures_is_held_then_applied_or_discarded(suppliers):
    from app.services import users

    admin = users.find_by_email("admin@example.com")  # the demo's
    britbox = suppliers["BRITBOX"]
    assert sync.run_sync(britbox.id, kind="full").outcome == "succeeded"
    before = stock_rows(britbox)
    switch_on("BRITBOX", ({"schema_drift": True}))
    held = sync.run_sync(britbox.id, kind="full")
    assert held.outcome == "held" and stock_rows(britbox) == before
    item = db.session.scalars(select(ExceptionItem).where(ExceptionItem.kind == "feed_held")).one()
    assert "would go out of stock" in item.reason or "would fall" in item.reason
    sync.discard_held_feed(held.id, actor=admin)
    assert stock_rows(britbox) == before
    db.session.refresh(item)
    assert item.status == "discarded"


def test_two_runs_for_one_supplier_never_overlap(suppliers):
    nordic = suppliers["NORDIC"]
    with sync.run_lock(nordic.id) as locked:
        assert locked
        assert sync.run_sync(nordic.id, kind="full") is None
    assert sync.run_sync(nordic.id, kind="full").outcome == "succeeded"


def test_the_cron_tick_fans_out_one_job_per_due_supplier_once(suppliers):
    due = sync.due_suppliers()
    assert sorted(db.session.get(Supplier, i).code for i in due) == sorted(PULLING)
    assert sync.due_suppliers() == []  # marked as started: the next tick does not enqueue them again


def test_pushes_are_verified_stored_deduplicated_and_applied_in_order(suppliers, client):
    from app.services import pushes

    sunrise = suppliers["SUNRISE"]
    secret = sandbox_credentials("SUNRISE")["webhook_secret"]
    body = b'{"items": [{"sku": "SUN000007", "status": "Out of Stock", "updated_at": "2026-11-24T09:00:00Z"}]}'
    from app.connectors import sign_push

    headers = {"X-Signature": "sha256=" + sign_push(body, secret), "X-Webhook-Id": "delivery-1",
               "Content-Type": "application/json"}
    first = client.post("/api/v1/suppliers/SUNRISE/stock-push", data=body, headers=headers)
    assert first.status_code == 202  # stored and (in tests, at once) applied
    again = client.post("/api/v1/suppliers/SUNRISE/stock-push", data=body, headers=headers)
    assert again.status_code == 200 and again.json["status"] == "duplicate"
    forged = client.post("/api/v1/suppliers/SUNRISE/stock-push", data=body,
                         headers={**headers, "X-Signature": "sha256=" + "0" * 64, "X-Webhook-Id": "delivery-2"})
    assert forged.status_code == 401
    row = db.session.scalars(select(SupplierStock).where(SupplierStock.supplier_id == sunrise.id,
                                                         SupplierStock.supplier_sku == "SUN000007")).one()
    assert row.status == "out_of_stock"
    older = body.replace(b"Out of Stock", b"In Stock").replace(b"09:00:00", b"08:00:00")
    late = client.post("/api/v1/suppliers/SUNRISE/stock-push", data=older,
                       headers={**headers, "X-Signature": sign_push(older, secret), "X-Webhook-Id": "delivery-0"})
    assert late.status_code == 202
    db.session.refresh(row)
    assert row.status == "out_of_stock"  # the out-of-order older push changed nothing
    statuses = dict(db.session.execute(select(InboundPayload.delivery_id, InboundPayload.status)
                                       .where(InboundPayload.source == "supplier_push")).all())  # not the demo orders
    assert statuses == {"delivery-1": "processed", None: "rejected", "delivery-0": "processed"}
    assert pushes.requeue_forgotten() == 0


def test_ensure_fresh_checks_only_stale_skus_live_and_applies_them(suppliers):
    from datetime import timedelta

    from app.models.types import utcnow

    acme = suppliers["ACME"]
    assert sync.run_sync(acme.id, kind="full").outcome == "succeeded"
    rows = db.session.scalars(select(SupplierStock).where(SupplierStock.supplier_id == acme.id)
                              .order_by(SupplierStock.supplier_sku).limit(3)).all()
    assert sync.ensure_fresh(acme.id, [r.supplier_sku for r in rows]) is None  # just synced: nothing to check
    rows[0].received_at = utcnow() - timedelta(minutes=30)
    rows[0].missing_runs = 1  # left out of the last full feed: only its own confirmation counts
    db.session.commit()
    reset_supplier("ACME")
    run = sync.ensure_fresh(acme.id, [r.supplier_sku for r in rows])
    assert run.kind == "realtime" and run.outcome == "succeeded" and run.records_seen == 1
    calls = supplier_stats("ACME")["recent"]
    assert len(calls) == 1 and calls[0]["path"].endswith("/stock/check") and calls[0]["query"]["sku"] == [rows[0].supplier_sku]
    db.session.refresh(rows[0])
    assert utcnow() - rows[0].received_at < timedelta(minutes=1) and rows[0].missing_runs == 0


def test_ensure_fresh_does_nothing_for_a_supplier_without_a_realtime_api(suppliers):
    assert sync.ensure_fresh(suppliers["NORDIC"].id, ["NOR000001"]) is None


def test_only_one_of_many_concurrent_callers_gets_the_half_open_probe(suppliers, app):
    from concurrent.futures import ThreadPoolExecutor

    from app.domain.health import BreakerState
    from app.models.types import utcnow

    opened = utcnow() - supplier_health.SETTINGS.cool_down * 2
    supplier_health.save("PACIFIC", BreakerState(state="open", consecutive_failures=3, opened_at=opened,
                                                 last_failure_at=opened))

    def ask(_):
        with app.app_context():
            return supplier_health.allow_call("PACIFIC")

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(16)))
    assert answers.count(True) == 1


def test_a_run_cut_short_leaves_stock_untouched_and_the_next_run_closes_it_and_succeeds(suppliers):
    from app.models.types import utcnow

    maple = suppliers["MAPLE"]
    assert sync.run_sync(maple.id, kind="full").outcome == "succeeded"
    before = stock_rows(maple)
    # What a killed worker leaves behind: a run marked running, no stock written (one transaction).
    orphan = SyncRun(supplier_id=maple.id, kind="full", trigger="schedule", started_at=utcnow())
    db.session.add(orphan)
    db.session.commit()
    assert stock_rows(maple) == before
    nxt = sync.run_sync(maple.id, kind="full")
    assert nxt.outcome == "succeeded"
    db.session.refresh(orphan)
    assert (orphan.outcome, orphan.error_reason) == ("failed", "interrupted")


def test_calls_to_one_supplier_are_capped_across_workers(suppliers, app):
    acme = suppliers["ACME"]
    acme.connection_options = {**acme.connection_options, "max_concurrency": 1}
    db.session.commit()
    with sync.supplier_slot(acme) as first:
        with sync.supplier_slot(acme, wait_seconds=0.2) as second:
            assert (first, second) == (True, False)
    with sync.supplier_slot(acme, wait_seconds=0) as again:
        assert again is True  # released
