"""Background machinery people need to see: is the worker there, is the schedule ticking?"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app import queues
from app.models.types import utcnow

CRON_LATE_AFTER = timedelta(minutes=3)


@dataclass(frozen=True)
class BackgroundStatus:
    workers: int
    last_cron_tick: datetime | None

    @property
    def cron_late(self) -> bool:
        return self.last_cron_tick is None or utcnow() - self.last_cron_tick > CRON_LATE_AFTER


def record_cron_tick() -> datetime:
    return queues.record_heartbeat("cron")


def background_status() -> BackgroundStatus:
    return BackgroundStatus(workers=queues.worker_count(), last_cron_tick=queues.last_heartbeat("cron"))
