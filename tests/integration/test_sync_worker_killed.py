"""A real worker process killed in the middle of a sync run: nothing half-applied, the supplier not stuck."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from flask import current_app
from rq.job import Job
from sqlalchemy import select

from app import create_app, queues
from app.extensions import db
from app.models import SyncRun
from app.sandbox.faults import supplier_stats
from app.services import sync
from tests.helpers import make_config
from tests.integration.test_sync import stock_rows, suppliers, switch_on  # noqa: F401 (suppliers: a fixture)

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 2  # the killed worker's: its lock and call slot lapse this long after its last heartbeat


def start_worker(database_url: str, redis_url: str) -> subprocess.Popen:
    """A worker like production's, sharing the app under test's database, Redis and credential keys."""
    env = {**os.environ, "DROPDESK_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "SECRETS_KEYS": ",".join(current_app.config["DROPDESK"].secrets_keys),
           "SYNC_LOCK_SECONDS": str(LEASE_SECONDS)}
    flask = str(Path(sys.executable).parent / "flask")
    return subprocess.Popen([flask, "--app", "workers.context", "rq", "worker", "--burst", queues.DEFAULT],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def kill_with_children(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and the work-horse running the job: no cleanup code of theirs gets to run."""
    family = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
    for process in family:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    worker.wait(timeout=30)


def wait_for(condition, seconds: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def test_a_worker_killed_mid_run_leaves_nothing_applied_and_the_next_run_succeeds(
        suppliers, database_url, redis_url):  # noqa: F811
    acme = suppliers["ACME"]
    assert sync.run_sync(acme.id, kind="full").outcome == "succeeded"
    before = stock_rows(acme)
    runs_before = db.session.scalar(select(SyncRun.id).order_by(SyncRun.id.desc()).limit(1))
    switch_on("ACME", {"latency_ms": 3000})  # every page takes 3 s: the run is still pulling when it is killed
    asked_before = supplier_stats("ACME")["requests"]

    web = create_app(make_config(database_url, redis_url), RQ_ASYNC=True)
    with web.app_context():
        job_id = queues.enqueue("sync_supplier", acme.id, "full", "manual")
    worker = start_worker(database_url, redis_url)
    try:
        def running_run():
            db.session.expire_all()
            return db.session.scalar(select(SyncRun).where(SyncRun.supplier_id == acme.id, SyncRun.id > runs_before,
                                                           SyncRun.outcome == "running"))
        wait_for(lambda: running_run() is not None and supplier_stats("ACME")["requests"] > asked_before,
                 what="the worker's run to start pulling")
    except AssertionError:
        kill_with_children(worker)
        raise AssertionError("the worker never started the run: " + worker.stderr.read().decode()[-3000:]) from None
    kill_with_children(worker)

    # The next worker would find the killed job abandoned and report it; this test's Redis is shared with others.
    Job.fetch(job_id, connection=queues.connection()).delete()
    orphan = running_run()
    assert orphan is not None and orphan.finished_at is None  # the run's record is all it left behind
    assert stock_rows(acme) == before  # not one figure written by the killed run
    switch_on("ACME", {})
    # Its lock lapses within the killed worker's lease (no heartbeat any more): the next run is not skipped.
    wait_for(lambda: not queues.connection().exists(sync.LOCK_KEY.format(acme.id)), seconds=LEASE_SECONDS * 5,
             what="the killed run's lock to lapse")
    time.sleep(0.2)  # and its call slot, which lapses on the same schedule
    nxt = sync.run_sync(acme.id, kind="full")
    assert nxt is not None and nxt.outcome == "succeeded", (nxt and nxt.error_message)
    db.session.refresh(orphan)
    assert (orphan.outcome, orphan.error_reason) == ("failed", "interrupted") and orphan.finished_at is not None
