"""Preview impact: a real worker replays recent orders under a draft and under the active set."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app import create_app, queues
from app.extensions import db
from app.models import RoutingPreview
from app.services import routing_preview, supplier_health
from tests.helpers import csrf_token_from, login, make_config
from tests.integration import routing_world as world
from tests.integration.test_jobs_and_worker import run_worker_burst


@pytest.fixture
def draft(app):
    for code in ("ACME", "MAPLE", "PACIFIC"):
        supplier_health.reset(code)
    placed = world.small_world()  # order #1001 to the US: MAPLE 35.31 under no rules
    world.order("#1002", "CA", [("LAMP-1", 5, "40.00")])  # only MAPLE has 5 lamps
    world.order("#1003", "US", [("MUG-1", 1, "12.00")], age=timedelta(days=40))  # outside the window
    world.rule_set(1, "active", [])
    draft = world.rule_set(2, "draft", [{"name": "No MAPLE", "priority": 10, "then": {"exclude": ["MAPLE"]}}])
    db.session.commit()
    return {**placed, "draft": draft}


def test_a_preview_run_by_a_worker_lists_supplier_changes_cost_delta_and_orders_that_become_unroutable(
        draft, database_url, redis_url, make_user):
    manager = make_user("manager")
    web = create_app(make_config(database_url, redis_url), RQ_ASYNC=True)
    with web.app_context():
        preview = routing_preview.start_preview(draft["draft"].id, 14, actor=db.session.merge(manager))
        preview_id, job_id = preview.id, preview.job_id
        assert queues.job_status(job_id).state == "queued"
    worker = run_worker_burst(database_url, redis_url, queues.DEFAULT)
    assert worker.returncode == 0, worker.stderr[-2000:]
    with web.app_context():
        assert queues.job_status(job_id).state == "finished"
    db.session.expire_all()
    done = db.session.get(RoutingPreview, preview_id)
    assert done.status == "finished"
    summary = done.summary
    assert (summary["compared"], summary["changed"], summary["changed_supplier"], summary["became_unroutable"]) == (2, 2, 1, 1)
    assert Decimal(summary["cost_delta"]) == Decimal("0.79")  # ACME 36.10 instead of MAPLE 35.31
    rows = {row["order"]: row for row in done.rows}
    assert rows["#1001"]["before"]["suppliers"] == "MAPLE" and rows["#1001"]["after"]["suppliers"] == "ACME"
    assert rows["#1001"]["changes"] == ["supplier", "cost", "days"] and rows["#1001"]["cost_delta"] == "0.79"
    assert rows["#1002"]["changes"] == ["unroutable"] and rows["#1002"]["after"]["reason"] == "out_of_stock"  # ACME has 3


def test_the_preview_button_shows_a_progress_bar_then_the_results_table(draft, make_user, client):
    make_user("manager")
    login(client, "manager@example.com")
    page = client.get(f"/routing/rule-sets/{draft['draft'].id}")
    assert "No preview yet for this draft." in page.text
    started = client.post(f"/routing/rule-sets/{draft['draft'].id}/preview",
                          data={"csrf_token": csrf_token_from(page.text), "preview-days": "14"},
                          headers={"HX-Request": "true", "HX-Target": "preview-progress"})
    assert started.status_code == 200 and 'role="progressbar"' in started.text  # the test queue runs it at once
    assert started.headers["HX-Trigger"] == '{"job-finished": null}'
    results = client.get(f"/routing/rule-sets/{draft['draft'].id}", headers={"HX-Request": "true",
                                                                            "HX-Target": "preview-results"})
    assert results.text.lstrip().startswith('<div id="preview-results"')
    assert "2</span><span class=\"card-label\">orders change" in results.text and "#1001" in results.text
    too_many = client.post(f"/routing/rule-sets/{draft['draft'].id}/preview",
                           data={"csrf_token": csrf_token_from(page.text), "preview-days": "400"},
                           headers={"HX-Request": "true"})
    assert too_many.status_code == 422 and "between 1 and 90" in too_many.text
