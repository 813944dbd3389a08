"""Jobs run by a real RQ worker process (Flask-RQ), in app context, against the same database and Redis."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app import create_app, queues
from app.services import demo
from tests.helpers import login, make_config

ROOT = Path(__file__).resolve().parents[2]


def run_worker_burst(database_url: str, redis_url: str, queue: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DROPDESK_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    flask = str(Path(sys.executable).parent / "flask")
    return subprocess.run([flask, "--app", "workers.context", "rq", "worker", "--burst", queue],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_a_stock_export_enqueued_by_the_web_is_run_by_a_worker_process(app, database_url, redis_url, other_app):
    demo.seed()
    web = create_app(make_config(database_url, redis_url), RQ_ASYNC=True)
    with web.app_context():
        job_id = queues.enqueue("export_stock", "integration0001", {"supplier": "ACME", "status": "low_stock"},
                                queue=queues.LOW)
        assert queues.job_status(job_id).state == "queued"
    worker = run_worker_burst(database_url, redis_url, queues.LOW)
    assert worker.returncode == 0, worker.stderr[-2000:]
    with web.app_context():
        status = queues.job_status(job_id)
        assert (status.state, status.progress) == ("finished", 100), status
        assert status.result["download"] == "stock-integration0001.csv"
        from app.services.exports import export_path

        lines = export_path("stock-integration0001.csv").read_text().splitlines()
    assert lines[0].startswith("sku,product,supplier,")
    assert len(lines) - 1 == status.result["rows"] > 0
    assert all(",ACME," in line and ",low_stock," in line for line in lines[1:])


def test_the_schedule_ticks_through_a_worker_and_the_overview_says_so(app, database_url, redis_url, make_user):
    from workers import jobs

    jobs.record_cron_tick()
    make_user("manager")
    client = app.test_client()
    login(client, "manager@example.com")
    html = client.get("/overview").text
    assert "Schedule ticked" in html


def test_job_progress_fragment_polls_until_done_then_stops(client, make_user, app):
    make_user("ops")
    login(client, "ops@example.com")
    missing = client.get("/jobs/not-a-real-job")
    assert missing.status_code == 200
    assert 'role="progressbar"' in missing.text and "hx-get" not in missing.text  # done: no more polling
    assert missing.headers["HX-Trigger"] == '{"job-finished": null}'  # pages refresh what the job changed
    demo.seed()
    from tests.helpers import csrf_token_from

    token = csrf_token_from(client.get("/stock").text)
    started = client.post("/stock/exports?supplier=ATLAS", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert started.status_code == 200
    assert 'aria-valuenow="100"' in started.text  # the test app's queue runs jobs at once
    assert "Download CSV" in started.text and started.headers["HX-Trigger"] == '{"job-finished": null}'


def test_an_export_link_for_a_file_that_does_not_exist_is_a_404(client, make_user):
    make_user("buyer")
    login(client, "buyer@example.com")
    assert client.get("/stock/exports/stock-ffffffffffffffffffffffffffffffff.csv").status_code == 404
    assert client.get("/stock/exports/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_a_job_that_raises_lands_in_the_exception_queue_once_per_kind_of_failure(app, database_url, redis_url, other_app):
    from sqlalchemy import select

    from app.extensions import db
    from app.models import ExceptionItem

    web = create_app(make_config(database_url, redis_url), RQ_ASYNC=True)
    with web.app_context():
        first = queues.enqueue("sync_supplier", 987654)  # no such supplier: the job raises
        second = queues.enqueue("sync_supplier", 987654)
    worker = run_worker_burst(database_url, redis_url, queues.DEFAULT)
    assert worker.returncode == 0, worker.stderr[-2000:]
    db.session.expire_all()
    item = db.session.scalars(select(ExceptionItem).where(ExceptionItem.kind == "job_failed")).one()
    assert item.reason_code == "ServiceError" and "No supplier with id 987654" in item.reason
    assert item.payload["job"] == "sync_supplier" and item.payload["args"] == [987654]
    assert len(item.history) == 2 and "Traceback" not in str(item.history)
    with web.app_context():
        status = queues.job_status(second)
        assert status.state == "failed" and "exception queue" in status.message
        assert queues.job_status(first).state == "failed"
