"""Ops work the exception queue: see failures with what is needed, retry a sync, close with a note."""
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, ExceptionItem, Supplier
from app.services import exceptions
from tests.helpers import csrf_token_from, login


def failed_sync_item() -> ExceptionItem:
    from app.services import supplier_health

    supplier_health.reset("GONE")  # breakers live in the shared Redis: start closed whatever ran before
    supplier = Supplier(code="GONE", name="Gone Away", warehouse_country="US", ships_to=["US"],
                        connection_type="rest_json", feed_mapping={"format": "json", "records": "", "fields": {"sku": "sku"}},
                        connection_options={"base_url": "http://127.0.0.1:1", "timeout_seconds": 1})
    db.session.add(supplier)
    db.session.flush()
    item = exceptions.raise_item("sync_failed", "connection", "Stock sync with GONE failed: connection refused",
                                 supplier=supplier, payload={"requests": [{"method": "GET", "url": "http://127.0.0.1:1/",
                                                                           "status": None, "elapsed_ms": 3, "error": "refused"}]})
    db.session.commit()
    return item


def signed_in(client, make_user, role="ops"):
    make_user(role)
    login(client, f"{role}@example.com")
    return csrf_token_from(client.get("/exceptions").text)


def test_ops_land_on_the_queue_and_see_the_reason_and_the_requests(client, make_user):
    failed_sync_item()
    make_user("ops")
    assert login(client, "ops@example.com").headers["Location"] == "/exceptions"
    html = client.get("/exceptions").text
    assert "Stock sync failed" in html and "connection refused" in html and "http://127.0.0.1:1/" in html
    assert client.get("/exceptions/count").text.count(">1<") == 1


def test_an_empty_queue_says_nothing_needs_you(client, make_user):
    signed_in(client, make_user)
    assert "Nothing needs you" in client.get("/exceptions").text


def test_retrying_a_failed_sync_runs_it_and_keeps_the_item_open_while_it_still_fails(client, make_user, app):
    app.config["SYNC_RETRY_POLICY"] = __import__("app.connectors", fromlist=["RetryPolicy"]).RetryPolicy(
        attempts=1, base_seconds=0.01, cap_seconds=0.01)
    try:
        item = failed_sync_item()
        token = signed_in(client, make_user)
        response = client.post(f"/exceptions/{item.id}/retry", headers={"HX-Request": "true", "X-CSRFToken": token})
        assert response.status_code == 200 and 'role="progressbar"' in response.text
    finally:
        app.config.pop("SYNC_RETRY_POLICY")
    db.session.expire_all()
    item = db.session.get(ExceptionItem, item.id)
    assert item.status == "open"
    assert [h["what"] for h in item.history][1] == "retry requested"
    assert item.history[-1]["what"].startswith("happened again")


def test_closing_needs_a_note_and_is_audited(client, make_user):
    item = failed_sync_item()
    token = signed_in(client, make_user)
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    refused = client.post(f"/exceptions/{item.id}/close", data={"note": " ", "status": "resolved"}, headers=headers)
    assert refused.status_code == 422 and "Say what was done" in refused.text
    done = client.post(f"/exceptions/{item.id}/close", data={"note": "Supplier moved API; updated address",
                                                             "status": "resolved"}, headers=headers)
    assert done.status_code == 200 and "exceptions-changed" in done.headers["HX-Trigger"]
    db.session.expire_all()
    assert db.session.get(ExceptionItem, item.id).status == "resolved"
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "exception.resolved")).one()
    assert entry.actor_label == "ops@example.com"
    assert "Nothing needs you" in client.get("/exceptions").text
    assert "Supplier moved API" in client.get("/exceptions?status=resolved").text


def test_a_manager_sees_the_queue_but_cannot_act(client, make_user):
    item = failed_sync_item()
    signed_in(client, make_user, role="manager")
    html = client.get("/exceptions").text
    assert "connection refused" in html and "Retry the sync" not in html
    assert client.post(f"/exceptions/{item.id}/close", data={"note": "x"}).status_code in (400, 403)


def test_alerts_list_what_went_out_came_back_or_ran_low(client, make_user, app):
    from datetime import datetime, timedelta, timezone

    from app.domain.stock import ReportedStock
    from app.services import demo
    from app.services.stock_updates import apply_stock_report

    demo.seed()
    acme = db.session.scalar(select(Supplier).where(Supplier.code == "ACME"))
    later = datetime.now(timezone.utc) + timedelta(minutes=1)
    apply_stock_report(acme, [ReportedStock("ACM000018", 0, "out_of_stock", later)], source="push", received_at=later)
    login(client, "support@example.com", demo.DEMO_PASSWORD)
    html = client.get("/stock/alerts").text
    assert "Went out of stock" in html and "ACM000018" not in html and "BAT-00018" in html  # shown as our SKU
    assert "No alerts" in client.get("/stock/alerts?kind=back_in_stock").text
    assert client.get("/stock/alerts?kind=bogus").status_code == 422
