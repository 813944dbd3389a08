"""Stock sync with suppliers: one run at a time per supplier, breaker-guarded, recorded, applied safely."""
from __future__ import annotations

import hashlib
import logging
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Callable

from flask import current_app
from sqlalchemy import select, update

from app import connectors, queues, vault
from app.connectors import ConnectionSettings, ConnectorError, FeedPull, RetryPolicy
from app.domain.batching import collector_paused
from app.domain.feeds import StockRecord
from app.domain.stock import ReportedStock, StockStatus, guard_full_feed
from app.extensions import db
from app.models import Supplier, SyncRun
from app.models.types import utcnow
from app.services import ServiceError, audit, exceptions, leases, supplier_health
from app.services.stock_updates import ApplyResult, lock_supplier_stock, plan_report, threshold_for, write_plan

log = logging.getLogger(__name__)
PULLED_TYPES = ("rest_json", "csv_http", "xml_http")
LOCK_KEY = "dropdesk:sync-lock:{}"
JOB_SECONDS = 10 * 60  # RQ stops a sync job after this
FULL_PULL_EVERY = timedelta(hours=24)
REJECTS_KEPT = 200
Progress = Callable[[int, str], None]


def _no_progress(_percent: int, _message: str) -> None:
    return None


class RedisTokenCache:
    """OAuth2 tokens shared by every worker process, encrypted like every other secret."""

    def _key(self, key: str) -> str:
        return "dropdesk:oauth-token:" + hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str) -> tuple[str, float] | None:
        raw = queues.connection().get(self._key(key))
        if not raw:
            return None
        stored = vault.decrypt(raw.decode())
        return stored["token"], float(stored["expires_at"])

    def set(self, key: str, token: str, expires_at: float) -> None:
        ttl = max(1, int(expires_at - time.time()))
        queues.connection().set(self._key(key), vault.encrypt({"token": token, "expires_at": str(expires_at)}), ex=ttl)


def retry_policy() -> RetryPolicy:
    """How hard one run tries a failing supplier (the app may set SYNC_RETRY_POLICY, e.g. faster in tests)."""
    return current_app.config.get("SYNC_RETRY_POLICY") or RetryPolicy()


def connection_settings(supplier: Supplier) -> ConnectionSettings:
    return ConnectionSettings(supplier_code=supplier.code, connection_type=supplier.connection_type,
                              options=supplier.connection_options or {}, credentials=supplier.credentials,
                              mapping=supplier.feed_mapping or {}, low_stock_threshold=threshold_for(supplier))


def interval(supplier: Supplier) -> timedelta:
    return timedelta(minutes=supplier.poll_interval_minutes or current_app.config["DROPDESK"].poll_interval_minutes)


def next_run_at(supplier: Supplier) -> datetime | None:
    if supplier.status != "active" or supplier.connection_type not in PULLED_TYPES:
        return None
    return (supplier.last_run_at + interval(supplier)) if supplier.last_run_at else utcnow()


def _wants_full(supplier: Supplier, settings: ConnectionSettings, now: datetime) -> bool:
    return (not connectors.supports_delta(settings) or supplier.delta_since is None
            or supplier.last_full_pull_at is None or now - supplier.last_full_pull_at >= FULL_PULL_EVERY)


def due_suppliers(now: datetime | None = None) -> list[int]:
    """Active pulled suppliers whose interval has passed, marked as started so the next tick skips them."""
    now = now or utcnow()
    due = []
    for supplier in db.session.scalars(select(Supplier).where(Supplier.status == "active",
                                                              Supplier.connection_type.in_(PULLED_TYPES))):
        if supplier.last_run_at is None or supplier.last_run_at + interval(supplier) <= now:
            supplier.last_run_at = now
            due.append(supplier.id)
    db.session.commit()
    return due


_PLAIN_STATUS = {status: str(status) for status in StockStatus}  # the enum's text, looked up (not converted) per record


def _reports(records: tuple[StockRecord, ...]) -> list[ReportedStock]:
    plain = _PLAIN_STATUS
    return [ReportedStock(r.sku, r.quantity, plain[r.status], r.updated_at) for r in records]


def record_pull(run: SyncRun, pull: FeedPull) -> None:
    run.pages, run.records_seen, run.rejected = pull.pages, len(pull.records) + len(pull.rejects), len(pull.rejects)
    run.http_errors = pull.http_errors
    run.requests = [exchange.to_dict() for exchange in pull.exchanges[-50:]]
    run.rejects = [{"index": r.index, "reason": str(r.reason), "sku": r.sku, "detail": r.detail}
                   for r in pull.rejects[:REJECTS_KEPT]]


def _finish(run: SyncRun, outcome: str, started: float) -> None:
    run.outcome = outcome
    run.finished_at = utcnow()
    run.duration_ms = int((time.monotonic() - started) * 1000)


SLOT_KEY = "dropdesk:supplier-calls:{}"
DEFAULT_MAX_CONCURRENCY = 2


@contextmanager
def supplier_slot(supplier: Supplier, wait_seconds: float = 5.0):
    """Cap the calls in flight to one supplier across every worker process (options.max_concurrency,
    default 2): yields True with a slot, False when none freed up in time."""
    cap = int((supplier.connection_options or {}).get("max_concurrency") or DEFAULT_MAX_CONCURRENCY)
    with leases.slot(SLOT_KEY.format(supplier.id), cap, wait_seconds) as taken:
        yield taken


def run_lock(supplier_id: int):
    """One run per supplier at a time, across every worker; a killed worker's hold lapses within SYNC_LOCK_SECONDS."""
    return leases.exclusive(LOCK_KEY.format(supplier_id))


def apply_pull(supplier: Supplier, run: SyncRun, pull: FeedPull, *, source: str, received_at: datetime,
               guard: bool) -> ApplyResult | None:
    """Apply a successful pull in one transaction, unless the sanity guard holds it (returns None then)."""
    with collector_paused():
        return _apply_pull(supplier, run, pull, source=source, received_at=received_at, guard=guard)


def _apply_pull(supplier: Supplier, run: SyncRun, pull: FeedPull, *, source: str, received_at: datetime,
                guard: bool) -> ApplyResult | None:
    reports = _reports(pull.records)
    full_feed = pull.kind == "full"
    lock_supplier_stock(supplier.id)
    plan, stored, ids = plan_report(supplier, reports, full_feed=full_feed)
    if guard and full_feed and stored:
        verdict = guard_full_feed(stored, plan, max_drop_pct=supplier.guard_max_drop_pct,
                                  max_out_flip_pct=supplier.guard_max_out_flip_pct)
        if verdict.hold:
            run.held_records = [{"sku": r.sku, "quantity": r.quantity, "status": str(r.status),
                                 "updated_at": r.updated_at.isoformat()} for r in pull.records]
            exceptions.raise_item("feed_held", "feed_sanity_guard", "Full feed held for review: " + "; ".join(verdict.reasons),
                                  supplier=supplier, sync_run_id=run.id,
                                  payload={"reasons": list(verdict.reasons), "total_before": verdict.total_before,
                                           "total_after": verdict.total_after, "flipped_to_out": verdict.flipped_to_out,
                                           "skus": verdict.skus})
            return None
    result = write_plan(supplier, plan, ids, reports, source=source, received_at=received_at, full_feed=full_feed)
    run.changed = result.changed
    if pull.records:
        newest = max(r.updated_at for r in pull.records)
        supplier.delta_since = max(newest, supplier.delta_since) if supplier.delta_since else newest
    if full_feed:
        supplier.last_full_pull_at = received_at
    supplier.last_success_at = received_at
    return result


def run_sync(supplier_id: int, *, kind: str | None = None, trigger: str = "schedule",
             progress: Progress = _no_progress) -> SyncRun | None:
    """Pull a supplier's stock and apply it; None when another run for this supplier holds the lock."""
    with run_lock(supplier_id) as locked:
        if not locked:
            log.info("sync_skipped supplier_id=%s reason=already_running", supplier_id)
            return None
        return _run_locked(supplier_id, kind=kind, trigger=trigger, progress=progress)


def _run_locked(supplier_id: int, *, kind: str | None, trigger: str, progress: Progress) -> SyncRun | None:
    supplier = db.session.get(Supplier, supplier_id)
    if supplier is None:
        raise ServiceError(f"No supplier with id {supplier_id}.")
    if supplier.connection_type not in PULLED_TYPES:
        raise ServiceError(f"{supplier.code} is connected by {supplier.connection_type}; there is nothing to pull.")
    now, started = utcnow(), time.monotonic()
    # We hold the lock, so a run still marked running was cut short (a worker killed mid-run):
    # its transaction never committed any stock, so closing its record is all there is to do.
    db.session.execute(update(SyncRun).where(SyncRun.supplier_id == supplier.id, SyncRun.outcome == "running")
                       .values(outcome="failed", error_reason="interrupted", finished_at=now,
                               error_message="The run stopped before it finished (worker stopped or timed out)."))
    settings = connection_settings(supplier)
    full = kind == "full" or _wants_full(supplier, settings, now)
    run = SyncRun(supplier_id=supplier.id, kind="full" if full else "delta", trigger=trigger, started_at=now)
    supplier.last_run_at = now
    db.session.add(run)
    if not supplier_health.allow_call(supplier.code):
        run.error_reason, run.error_message = "circuit_open", "Supplier is down; waiting for the cool-down before probing."
        _finish(run, "skipped", started)
        db.session.commit()
        return run
    db.session.commit()
    progress(5, f"Asking {supplier.code} for its {'full' if full else 'changed'} stock…")
    try:
        with supplier_slot(supplier, wait_seconds=60) as slot:
            if not slot:
                raise ConnectorError("connection", f"{supplier.code} already has its maximum of calls in flight.")
            pull = connectors.pull_stock(settings, since=None if full else supplier.delta_since, received_at=now,
                                         token_cache=RedisTokenCache(), policy=retry_policy())
    except ConnectorError as error:
        supplier_health.record_failure(supplier.code)
        run.error_reason, run.error_message = error.reason, error.message
        run.requests = [exchange.to_dict() for exchange in error.exchanges[-20:]]
        run.http_errors = sum(1 for exchange in error.exchanges if exchange.error or (exchange.status or 0) >= 400)
        _finish(run, "failed", started)
        exceptions.raise_item("sync_failed", error.reason, f"Stock sync with {supplier.code} failed: {error.message}",
                              supplier=supplier, sync_run_id=run.id,
                              payload={"run_id": run.id, "last_error": error.message, "requests": run.requests})
        db.session.commit()
        log.warning("sync_failed supplier=%s run=%s reason=%s", supplier.code, run.id, error.reason)
        return run
    supplier_health.record_success(supplier.code)
    progress(60, f"{len(pull.records):,} records read from {pull.pages} page(s); applying…")
    record_pull(run, pull)
    result = apply_pull(supplier, run, pull, source=pull.kind, received_at=now, guard=True)
    _finish(run, "held" if result is None else "succeeded", started)
    if result is not None:
        exceptions.resolve_open("sync_failed", supplier, f"Sync run {run.id} succeeded.")
    db.session.commit()
    log.info("sync_done supplier=%s run=%s kind=%s outcome=%s changed=%s", supplier.code, run.id, run.kind,
             run.outcome, run.changed)
    progress(100, f"{run.changed:,} changed of {run.records_seen:,} records." if result else "Held for review.")
    return run


def apply_held_feed(run_id: int, actor) -> SyncRun:
    """A person decided a held full feed is right: apply it now (newer reports already stored still win)."""
    run = db.session.get(SyncRun, run_id)
    if run is None or run.outcome != "held" or run.held_records is None:
        raise ServiceError("This feed is no longer held for review.")
    supplier = run.supplier
    records = tuple(StockRecord(sku=r["sku"], quantity=r["quantity"], status=r["status"],
                                updated_at=datetime.fromisoformat(r["updated_at"]), cost=None) for r in run.held_records)
    pull = FeedPull(kind="full", records=records, rejects=(), pages=run.pages, exchanges=(), http_errors=0)
    result = apply_pull(supplier, run, pull, source="full", received_at=run.started_at, guard=False)
    run.outcome, run.held_records = "succeeded", None
    for item in _held_items(run):
        exceptions.close(item, actor, f"Held feed applied: {result.changed:,} changes.")
    audit.record(actor, "feed.applied", "sync_run", run.id, {"outcome": ("held", "succeeded")})
    db.session.commit()
    return run


def discard_held_feed(run_id: int, actor) -> SyncRun:
    run = db.session.get(SyncRun, run_id)
    if run is None or run.outcome != "held":
        raise ServiceError("This feed is no longer held for review.")
    run.outcome, run.held_records = "discarded", None
    for item in _held_items(run):
        exceptions.close(item, actor, "Held feed discarded.", status="discarded")
    audit.record(actor, "feed.discarded", "sync_run", run.id, {"outcome": ("held", "discarded")})
    db.session.commit()
    return run


def _held_items(run: SyncRun):
    from app.models import ExceptionItem

    return db.session.scalars(select(ExceptionItem).where(ExceptionItem.sync_run_id == run.id,
                                                          ExceptionItem.kind == "feed_held",
                                                          ExceptionItem.status == "open")).all()


def enqueue_due_syncs() -> int:
    """The cron tick's fan-out: one job per supplier that is due."""
    due = due_suppliers()
    for supplier_id in due:
        queues.enqueue("sync_supplier", supplier_id, queue=queues.DEFAULT, timeout=JOB_SECONDS,
                       description=f"Stock sync, supplier {supplier_id}")
    return len(due)


def start_sync_now(code: str, actor) -> str:
    """'Sync now' from the supplier page: a full pull in the background; returns the job id."""
    supplier = db.session.scalar(select(Supplier).where(Supplier.code == code))
    if supplier is None:
        raise ServiceError(f"No supplier {code}.")
    if supplier.connection_type not in PULLED_TYPES:
        raise ServiceError(f"{supplier.code} sends its stock ({supplier.connection_type}); there is nothing to pull.")
    audit.record(actor, "supplier.sync_requested", "supplier", supplier.id)
    db.session.commit()
    return queues.enqueue("sync_supplier", supplier.id, "full", "manual", queue=queues.HIGH, timeout=JOB_SECONDS,
                          description=f"Stock sync now, {supplier.code}")


def ensure_fresh(supplier_id: int, skus: list[str]) -> SyncRun | None:
    """Before promising stock: check these SKUs live when their figures are older than the
    freshness budget and the supplier's API can answer for a few SKUs. None when nothing was checked."""
    from app.services.stock import confirmed_times, freshness_budget

    supplier = db.session.get(Supplier, supplier_id)
    if supplier is None:
        raise ServiceError(f"No supplier with id {supplier_id}.")
    settings = connection_settings(supplier)
    if supplier.connection_type not in PULLED_TYPES or not connectors.supports_realtime(settings):
        return None
    now = utcnow()
    confirmed = confirmed_times(supplier.id, skus)
    stale = sorted(sku for sku in set(skus) if confirmed.get(sku) is None or now - confirmed[sku] > freshness_budget())
    if not stale or not supplier_health.allow_call(supplier.code):
        return None
    started = time.monotonic()
    run = SyncRun(supplier_id=supplier.id, kind="realtime", trigger="order", started_at=now)
    db.session.add(run)
    db.session.flush()
    try:
        with supplier_slot(supplier) as slot:
            if not slot:  # the supplier is busy: promise from the stored figure rather than queue up
                run.error_reason, run.error_message = "busy", "No free call slot for a live check."
                _finish(run, "skipped", started)
                db.session.commit()
                return run
            pull = connectors.check_stock(settings, stale, received_at=now, token_cache=RedisTokenCache(),
                                          policy=retry_policy())
    except ConnectorError as error:
        supplier_health.record_failure(supplier.code)
        run.error_reason, run.error_message = error.reason, error.message
        _finish(run, "failed", started)
        db.session.commit()
        log.warning("realtime_check_failed supplier=%s skus=%s reason=%s", supplier.code, len(stale), error.reason)
        return run
    supplier_health.record_success(supplier.code)
    record_pull(run, pull)
    apply_pull(supplier, run, pull, source="realtime", received_at=now, guard=False)
    _finish(run, "succeeded", started)
    db.session.commit()
    return run
