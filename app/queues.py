"""Queue names and enqueue(): the only place `app/` touches RQ."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Retry, Worker, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job

from app.extensions import rq

log = logging.getLogger(__name__)

HIGH, DEFAULT, LOW = "high", "default", "low"
JOBS_MODULE = "workers.jobs"  # jobs are enqueued by dotted name: app/ never imports workers/
HEARTBEAT_KEY = "dropdesk:heartbeat:{}"


@dataclass(frozen=True)
class JobStatus:
    id: str
    state: str  # queued, started, finished, failed, missing
    progress: int  # 0..100
    message: str
    result: dict | None

    @property
    def done(self) -> bool:
        return self.state in ("finished", "failed", "missing")


def connection() -> Redis:
    return rq.get_queue(DEFAULT).connection


def enqueue(job: str, *args, queue: str = DEFAULT, retries: int = 0, job_id: str | None = None,
            description: str | None = None, timeout: int | None = None, delay_seconds: float = 0, **kwargs) -> str:
    """Enqueue `workers.jobs.<job>(*args)`; returns the job id for the progress component.

    With `delay_seconds` the job waits in RQ's scheduled registry (a worker started --with-scheduler moves it on)."""
    retry = Retry(max=retries, interval=[10, 30, 60]) if retries else None
    options = dict(
        args=args, kwargs=kwargs, retry=retry, job_id=job_id, job_timeout=timeout,
        # RQ keeps the failed job in its registry; this puts it in front of a person as well.
        on_failure=Callback(f"{JOBS_MODULE}.record_job_failure"),
        description=description or job, meta={"progress": 0, "message": "Waiting for a worker…"},
        result_ttl=3600, failure_ttl=7 * 24 * 3600,
    )
    target = rq.get_queue(queue)
    if delay_seconds > 0:
        enqueued = target.enqueue_in(timedelta(seconds=delay_seconds), f"{JOBS_MODULE}.{job}", **options)
    else:
        enqueued = target.enqueue(f"{JOBS_MODULE}.{job}", **options)
    log.info("job_enqueued job=%s id=%s queue=%s", job, enqueued.id, queue)
    return enqueued.id


def runs_inline() -> bool:
    """True when enqueue() runs the job at once in this process (the test app) instead of handing it to a worker."""
    return not rq.get_queue(DEFAULT).is_async


PENDING_FLAG_KEY = "dropdesk:pending-job:{}"
LINGER_POLL_SECONDS = 0.2


def enqueue_unless_pending(flag: str, job: str, *args, ttl: int = 60, **kwargs) -> str | None:
    """Enqueue `job` unless one enqueued under `flag` has not started yet: that one will see this work too.

    For jobs that drain a backlog: each job is a new process, so one per event would fall behind.
    The job calls `job_started(flag)` before it reads the backlog, or drains it under `drain_backlog`. The flag
    expires after `ttl` seconds in case a job is lost before it starts.
    """
    if not connection().set(PENDING_FLAG_KEY.format(flag), "1", nx=True, ex=ttl):
        return None
    return enqueue(job, *args, **kwargs)


def job_started(flag: str) -> None:
    """Let the next event enqueue a new job: anything stored from now on is after this job's read."""
    connection().delete(PENDING_FLAG_KEY.format(flag))


def drain_backlog(flag: str, job: str, drain: Callable[[], int], *, queue: str = DEFAULT, ttl: int = 60,
                  linger_seconds: float = 5, budget_seconds: float = 120) -> int:
    """Inside the job `enqueue_unless_pending(flag, job)` queued: call `drain()` (it returns how many items it
    took) until it has found nothing for `linger_seconds`, holding the flag meanwhile, so events that arrive while
    it works queue no other job. Returns the items taken.

    Starting a job costs a new process (seconds of CPU, Flask-RQ's work horse); under a stream of events "one job
    per event that finds none waiting" starts one after another. Here one job keeps up with the stream, looking
    again every LINGER_POLL_SECONDS while it lingers. Nothing is left behind: the flag is dropped, then the
    backlog read once more, so an event that saw the flag was stored before that read; if the read finds work
    the job takes it and holds the flag again, unless an event queued the next job in between. After
    `budget_seconds` (under RQ's job timeout) the job hands over to a new one. The flag's `ttl` is renewed on
    each pass, in case the job dies. A job run inline (the test app) does not linger.
    """
    key, redis = PENDING_FLAG_KEY.format(flag), connection()
    linger = 0 if runs_inline() else linger_seconds
    started, total = time.monotonic(), 0
    idle_since = started
    redis.set(key, "1", ex=ttl)
    while True:
        taken = drain()
        total += taken
        now = time.monotonic()
        if now - started < budget_seconds:
            if taken or now - idle_since < linger:
                if taken:
                    idle_since = now
                else:
                    time.sleep(LINGER_POLL_SECONDS)
                redis.set(key, "1", ex=ttl)
                continue
        redis.delete(key)
        if now - started >= budget_seconds:
            enqueue_unless_pending(flag, job, queue=queue, ttl=ttl)
            return total
        taken = drain()
        total += taken
        if not taken or not redis.set(key, "1", nx=True, ex=ttl):
            return total
        idle_since = time.monotonic()


def report_progress(percent: int, message: str) -> None:
    """Called from inside a running job; a no-op outside one (CLI, tests calling services)."""
    job = get_current_job()
    if job is None:
        return
    job.meta["progress"] = max(0, min(100, int(percent)))
    job.meta["message"] = message
    job.save_meta()


def job_status(job_id: str) -> JobStatus:
    try:
        job = Job.fetch(job_id, connection=connection())
    except NoSuchJobError:
        return JobStatus(job_id, "missing", 0, "This job is no longer known (results are kept one hour).", None)
    state = job.get_status(refresh=True)
    state_name = getattr(state, "value", str(state))
    meta = job.get_meta(refresh=True)
    progress, message = meta.get("progress", 0), meta.get("message", "")
    result = None
    if state_name == "finished":
        progress, result = 100, job.return_value()
        message = (result or {}).get("message", "Done.") if isinstance(result, dict) else "Done."
    elif state_name == "failed":
        # The traceback stays in RQ's failed registry for developers; people get a plain sentence.
        message = meta.get("failure", "The job failed. Operations can see it in the failed jobs list.")
    return JobStatus(job_id, state_name, progress, message, result if isinstance(result, dict) else None)


def mark_failed(job: Job, message: str) -> None:
    """The sentence the progress component shows for a failed job."""
    job.meta["failure"] = message
    job.save_meta()


def record_heartbeat(process: str) -> datetime:
    now = datetime.now(timezone.utc)
    connection().set(HEARTBEAT_KEY.format(process), now.isoformat(), ex=24 * 3600)
    return now


def last_heartbeat(process: str) -> datetime | None:
    try:
        raw = connection().get(HEARTBEAT_KEY.format(process))
    except RedisError:
        return None
    return datetime.fromisoformat(raw.decode()) if raw else None


def worker_count() -> int:
    try:
        return len(Worker.all(connection=connection()))
    except RedisError:
        return 0


def ping() -> None:
    """Raise when Redis cannot be reached."""
    connection().ping()
