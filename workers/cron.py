"""Every periodic job in one list. Periodic jobs that concern suppliers fan out one job per supplier."""
from __future__ import annotations

from dataclasses import dataclass

from app.queues import DEFAULT


@dataclass(frozen=True)
class Periodic:
    job: str  # function name in workers.jobs
    every: int | str  # seconds, or a cron string
    queue: str = DEFAULT


SCHEDULE: tuple[Periodic, ...] = (
    Periodic("record_cron_tick", every=60),
    Periodic("schedule_stock_syncs", every=60),
    Periodic("requeue_forgotten_pushes", every=120),
    Periodic("push_sandbox_stock", every=60),  # does nothing unless SANDBOX is on
    Periodic("requeue_forgotten_channel_payloads", every=120),
    Periodic("schedule_channel_pulls", every=300),
    Periodic("place_sandbox_orders", every=60),  # does nothing unless SANDBOX is on
    Periodic("schedule_supplier_order_polls", every=120),
    Periodic("reconcile_supplier_orders", every=3600),
    Periodic("requeue_stuck_dispatches", every=300),
    Periodic("schedule_channel_publishing", every=60),
)


def register(rq_extension) -> None:
    """Hand the schedule to Flask-RQ's cron scheduler (`flask rq cron`)."""
    from workers import jobs

    for entry in SCHEDULE:
        rq_extension.cron_register(getattr(jobs, entry.job), entry.every, queue=entry.queue)
