"""Job functions: they take ids and plain values, and call one service."""
from __future__ import annotations

import logging

from app import queues
from app.services import (
    channel_publish,
    channel_pull,
    exports,
    fulfilment,
    intake,
    pushes,
    routing_preview,
    sync,
    system,
)
from app.services.stock import StockFilter

log = logging.getLogger(__name__)


def export_stock(export_id: str, filters: dict) -> dict:
    """Write the stock CSV for the export page, reporting progress to the job."""
    return exports.export_stock_csv(export_id, StockFilter(**filters), progress=queues.report_progress)


def record_cron_tick() -> str:
    """Periodic heartbeat: the overview shows when the schedule last ticked."""
    return system.record_cron_tick().isoformat()


def sync_supplier(supplier_id: int, kind: str | None = None, trigger: str = "schedule") -> dict:
    """Pull one supplier's stock and apply it."""
    run = sync.run_sync(supplier_id, kind=kind, trigger=trigger, progress=queues.report_progress)
    if run is None:
        return {"message": "Another sync of this supplier is running; this one was skipped."}
    if run.changed:
        channel_publish.publish_soon()
    return {"message": f"Run {run.id}: {run.outcome}, {run.changed:,} changed of {run.records_seen:,}.", "run": run.id}


def schedule_stock_syncs() -> int:
    """Every minute: one sync job per supplier that is due."""
    return sync.enqueue_due_syncs()


def process_supplier_push(payload_id: int) -> dict:
    """Apply one stored supplier push."""
    run = pushes.process_push(payload_id)
    if run is not None and run.changed:
        channel_publish.publish_soon()
    return {"message": "Already processed." if run is None else f"Push applied: {run.outcome}, {run.changed} changed."}


def requeue_forgotten_pushes() -> int:
    """Sweeper: stored pushes that no job processed are queued again."""
    return pushes.requeue_forgotten()


def take_in_pending_payloads() -> dict:
    """Normalize, validate and take in every stored channel payload still pending (orders, updates, cancellations)."""
    taken = queues.drain_backlog(intake.DRAIN_FLAG, "take_in_pending_payloads", intake.take_in_pending, queue=queues.HIGH)
    return {"message": f"{taken} payloads taken in."}


def requeue_forgotten_channel_payloads() -> int:
    """Sweeper: stored channel payloads that no job processed are queued again."""
    return intake.requeue_forgotten()


def schedule_channel_pulls() -> int:
    """Every five minutes: one reconciliation pull job per channel with an order API."""
    channel_ids = channel_pull.pullable_channel_ids()
    for channel_id in channel_ids:
        queues.enqueue("pull_channel_orders", channel_id, queue=queues.DEFAULT)
    return len(channel_ids)


def pull_channel_orders(channel_id: int) -> dict:
    """Ask one channel for the orders changed since the newest seen; take in what the webhooks missed."""
    return channel_pull.pull_channel(channel_id)


# --- channel publishing: quantities and tracking told to the sales channels --------------------------


def publish_channel_quantities(channel_id: int) -> dict:
    """Send one channel the quantities that changed; a channel that cannot be reached fails the job, to be retried."""
    queues.job_started(channel_publish.PUBLISH_FLAG.format(channel_id))
    report = channel_publish.publish_channel_quantities(channel_id)
    if report.retry:
        raise channel_publish.PublishFailed(report.message)
    return report.as_job_result()


def schedule_channel_publishing() -> int:
    """Every minute: one publishing job per channel that publishes, unless one is already waiting."""
    return channel_publish.publish_soon()


def push_tracking_to_channel(supplier_order_id: int) -> dict:
    """Tell the order's channel one shipment's tracking (once)."""
    pushed = channel_publish.push_tracking(supplier_order_id)
    return {"message": "Tracking sent to the channel." if pushed else "Nothing to send.", "pushed": pushed}


# --- the order's life after intake -------------------------------------------------------------------


def fulfil_order(order_id: int) -> dict:
    """Route an accepted order, reserve its plan, make its supplier orders and queue their dispatch."""
    outcome = fulfilment.fulfil_order(order_id)
    if outcome.supplier_order_ids:  # units are held now: the channels hear of it within seconds, not at the next minute
        channel_publish.publish_soon()
    return {"message": f"Order {order_id}: {outcome.status}. {outcome.message}".strip(),
            "supplier_orders": list(outcome.supplier_order_ids)}


def dispatch_supplier_order(supplier_order_id: int) -> dict:
    """Send one supplier order to its supplier (one attempt; it queues its own resend)."""
    return {"message": f"Supplier order {supplier_order_id}: {fulfilment.dispatch_supplier_order(supplier_order_id)}."}


def schedule_supplier_order_polls() -> int:
    """Every two minutes: one job per supplier with acknowledged or shipped orders to follow."""
    return fulfilment.enqueue_supplier_order_polls()


def reroute_unplaced(order_id: int) -> dict:
    """Route again the lines a failed shipment left without a supplier order."""
    outcome = fulfilment.reroute_unplaced(order_id)
    return {"message": f"Order {order_id}: {outcome.status}.", "supplier_orders": list(outcome.supplier_order_ids)}


def poll_supplier_orders(supplier_id: int | None = None) -> int:
    """Ask a supplier (or every one) about its acknowledged and shipped orders: shipments, tracking, delivery."""
    return fulfilment.poll_supplier_orders(supplier_id)


def reconcile_supplier_orders() -> int:
    """Hourly: unacknowledged or mismatched supplier orders become reconciliation items."""
    return fulfilment.reconcile_supplier_orders()


def requeue_stuck_dispatches() -> int:
    """Sweeper: dispatches a dead worker left behind, and accepted orders never fulfilled, are queued again."""
    return fulfilment.requeue_stuck_dispatches()


def place_sandbox_orders() -> int:
    """Demo only (SANDBOX on): the simulated storefronts take orders and send their webhooks."""
    from app.sandbox.storefront import place_demo_orders

    return place_demo_orders()


def push_sandbox_stock() -> int:
    """Demo only (SANDBOX on): the simulated pushing supplier sends its changes to our webhook."""
    from app.sandbox.push import push_demo_updates

    return push_demo_updates()


def preview_rule_set(preview_id: int) -> dict:
    """Replay recent orders under a draft rule set and under the active one."""
    return routing_preview.run_preview(preview_id, progress=queues.report_progress)


def record_job_failure(job, connection, error_type, error, traceback) -> None:
    """RQ's failure callback: mirror the failed job into the exception queue (the traceback stays in RQ)."""
    from contextlib import nullcontext

    from flask import has_app_context

    from app.extensions import db
    from app.services import exceptions

    if has_app_context():  # Flask-RQ runs jobs (and their callbacks) in the worker's app context
        context = nullcontext()
    else:
        from workers.context import app_context

        context = app_context()
    with context:
        db.session.rollback()  # whatever the job left half-done is not ours to commit
        args = [arg if isinstance(arg, (int, str, float, bool)) or arg is None else "…" for arg in job.args]
        exceptions.record_failed_job(job.id, job.func_name, args, error_type.__name__, str(error))
        db.session.commit()
        queues.mark_failed(job, f"The job failed ({error_type.__name__}); it is in the exception queue.")
