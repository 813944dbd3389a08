"""Ops triage the queue: most costly first, filters and saved views in the URL, assign, snooze, edit and replay,
cancel, bulk actions with a confirmation and per-item results; support finds the order end to end; CSV upload."""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, Channel, ExceptionItem, Order, Product, User
from app.models.types import utcnow
from app.sandbox import storefront
from app.services import exception_queue, exceptions
from tests.helpers import csrf_token_from, login


@pytest.fixture
def shop(app):
    for sku in ("KIT-00001", "KIT-00002"):
        db.session.add(Product(sku=sku, name=f"Product {sku}", price=Decimal("10.00")))
    for kind in ("shopify", "csv"):
        channel = Channel(code=kind, kind=kind, name=kind.title(), sku_aliases={}, allowed_countries=[],
                          required_fields=[], express_required_fields=[])
        if kind == "shopify":
            channel.credentials = storefront.storefront_credentials("shopify")
        db.session.add(channel)
    db.session.commit()


def held_order(client, order_id: int, *, sku="SHOP-KIT-00001", total="21.00", address=True):
    order = {"id": order_id, "name": f"#{order_id}", "currency": "USD", "total_price": total,
             "created_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:00Z",
             "shipping_address": {"name": "Ada Moreno", "address1": "1 Main St" if address else None, "city": "Albany",
                                  "country_code": "US"},
             "line_items": [{"id": 1, "sku": sku, "title": "Mug", "quantity": 1, "price": total}]}
    body = json.dumps(order).encode()
    client.post("/api/v1/webhooks/shopify/shopify", data=body, headers={
        "X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": f"wh-{order_id}",
        "X-Shopify-Hmac-Sha256": storefront.sign(body, storefront.storefront_credentials("shopify")["webhook_secret"])})
    return db.session.scalar(select(ExceptionItem).where(ExceptionItem.order_ref == str(order_id)))


def signed_in(client, make_user, role="ops"):
    make_user(role)
    login(client, f"{role}@example.com")
    return csrf_token_from(client.get("/exceptions").text)


def htmx(token):
    return {"HX-Request": "true", "X-CSRFToken": token}


def test_the_queue_shows_the_most_costly_item_first_and_older_items_climb(client, shop, make_user):
    cheap, dear = held_order(client, 1, total="5.00"), held_order(client, 2, total="400.00")
    sync_item = exceptions.raise_item("job_failed", "RuntimeError", "A job failed")
    db.session.commit()
    page = exception_queue.list_items(exception_queue.QueueFilter())
    assert [row.ExceptionItem.id for row in page.items] == [dear.id, cheap.id, sync_item.id]
    cheap.created_at = utcnow() - timedelta(days=3)  # long past its 2-hour SLA
    db.session.commit()
    rows = exception_queue.list_items(exception_queue.QueueFilter()).items
    assert rows[0].ExceptionItem.id == cheap.id and rows[0].overdue_by > timedelta(days=2)
    token = signed_in(client, make_user)
    html = client.get("/exceptions?sort=-created", headers={"HX-Request": "true", "HX-Target": "exception-list"}).text
    assert html.index(f'id="exception-{sync_item.id}"') < html.index(f'id="exception-{cheap.id}"')
    assert token


def test_filters_and_saved_views_live_in_the_url(client, shop, make_user):
    unknown, no_address = held_order(client, 1), held_order(client, 2, sku="KIT-00001", address=False)
    token = signed_in(client, make_user)
    html = client.get("/exceptions?reason=missing").text
    assert f'id="exception-{no_address.id}"' in html and f'id="exception-{unknown.id}"' not in html
    client.post(f"/exceptions/{unknown.id}/assign", data={"owner": "me"}, headers=htmx(token))
    mine = client.get("/exceptions?view=mine").text
    assert f'id="exception-{unknown.id}"' in mine and f'id="exception-{no_address.id}"' not in mine
    assert 'aria-current="page">Mine' in mine
    failed = client.get("/exceptions?view=failed-intake&channel=shopify").text
    assert failed.count('class="exception-item ') == 2
    assert client.get("/exceptions?age=bogus").status_code == 422


def test_assigning_and_snoozing_are_audited_and_a_snoozed_item_leaves_the_open_queue(client, shop, make_user):
    item = held_order(client, 1)
    token = signed_in(client, make_user)
    response = client.post(f"/exceptions/{item.id}/assign", data={"owner": "me"}, headers=htmx(token))
    assert response.status_code == 200 and "owner ops@example.com" in response.text
    assert "exceptions-changed" in response.headers["HX-Trigger"]
    snoozed = client.post(f"/exceptions/{item.id}/snooze", data={"hours": "4"}, headers=htmx(token))
    assert snoozed.status_code == 200
    assert exception_queue.open_count() == 0
    assert f'id="exception-{item.id}"' in client.get("/exceptions?status=snoozed").text
    assert client.post(f"/exceptions/{item.id}/snooze", data={"hours": "-1"}, headers=htmx(token)).status_code == 422
    actions = [entry.action for entry in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[-2:] == ["exception.assigned", "exception.snoozed"]


def test_edit_and_replay_with_an_alias_accepts_the_order_and_sends_the_browser_to_it(client, shop, make_user):
    item = held_order(client, 1)
    token = signed_in(client, make_user)
    page = client.get(f"/exceptions/{item.id}").text
    assert "Our SKU for <code>SHOP-KIT-00001</code>" in page
    wrong = client.post(f"/exceptions/{item.id}/replay", data={"alias-SHOP-KIT-00001": "NOT-OURS"},
                        headers={**htmx(token), "HX-Target": "replay-form"})
    assert wrong.status_code == 422 and "NOT-OURS is not one of our SKUs" in wrong.text
    response = client.post(f"/exceptions/{item.id}/replay", data={"alias-SHOP-KIT-00001": "KIT-00001"},
                           headers={**htmx(token), "HX-Target": "replay-form"})
    order = db.session.scalars(select(Order)).one()
    assert response.headers["HX-Redirect"] == f"/orders/{order.id}"
    shown = client.get(f"/orders/{order.id}").text
    assert "accepted" in shown and "SHOP-KIT-00001" in shown and f"/exceptions/{item.id}" in shown
    assert "replayed" in shown and "ops@example.com" in shown


def test_fixing_the_address_in_the_form_replays_through_the_same_checks(client, shop, make_user):
    item = held_order(client, 1, sku="KIT-00001", address=False)
    token = signed_in(client, make_user)
    still = client.post(f"/exceptions/{item.id}/replay", data={"ship_to-city": ""}, headers=htmx(token))
    assert still.status_code == 422 and "Still not accepted" in still.text
    fixed = client.post(f"/exceptions/{item.id}/replay", data={"ship_to-address1": "9 Elm St", "ship_to-city": "Albany"},
                        headers=htmx(token))
    assert fixed.headers.get("HX-Redirect")
    assert db.session.scalars(select(Order)).one().ship_to_address1 == "9 Elm St"


def test_cancelling_a_failed_intake_needs_a_reason_and_closes_it(client, shop, make_user):
    item = held_order(client, 1)
    token = signed_in(client, make_user)
    assert client.post(f"/exceptions/{item.id}/close", data={"status": "cancelled", "note": " "},
                       headers=htmx(token)).status_code == 422
    response = client.post(f"/exceptions/{item.id}/close", data={"status": "cancelled", "note": "customer phoned"},
                           headers=htmx(token))
    assert response.status_code == 200
    db.session.refresh(item)
    assert item.status == "cancelled" and item.history[-1]["what"] == "customer phoned"


def test_bulk_resolve_lists_the_items_first_then_reports_each_result(client, shop, make_user):
    first, second = held_order(client, 1), held_order(client, 2)
    exceptions.close(second, "system", "gone", status="resolved")
    db.session.commit()
    token = signed_in(client, make_user)
    ids = {"ids": [str(first.id), str(second.id)], "action": "resolve", "note": "handled by phone"}
    confirm = client.post("/exceptions/bulk", data=ids, headers=htmx(token))
    assert f"#{first.id}" in confirm.text and f"#{second.id}" in confirm.text and "Yes, resolve 2 items" in confirm.text
    assert db.session.get(ExceptionItem, first.id).status == "open"  # nothing happens before the confirmation
    done = client.post("/exceptions/bulk", data={**ids, "confirm": "yes"}, headers=htmx(token))
    assert "Done: 1 of 2 items" in done.text and "already closed" in done.text
    db.session.expire_all()
    assert db.session.get(ExceptionItem, first.id).status == "resolved"


def test_bulk_retry_replays_failed_intakes_and_says_which_still_fail(client, shop, make_user):
    unknown, missing = held_order(client, 1), held_order(client, 2, sku="KIT-00001", address=False)
    channel = db.session.scalar(select(Channel).where(Channel.code == "shopify"))
    channel.sku_aliases = {"SHOP-KIT-00001": "KIT-00001"}
    db.session.commit()
    token = signed_in(client, make_user)
    done = client.post("/exceptions/bulk", data={"ids": [str(unknown.id), str(missing.id)], "action": "retry",
                                                 "confirm": "yes"}, headers=htmx(token))
    assert "replayed: order accepted" in done.text and "still held (missing)" in done.text


def test_the_order_list_filters_and_finds_by_number(client, shop, make_user):
    held_order(client, 1, sku="KIT-00001")
    held_order(client, 2, sku="KIT-00002")
    make_user("support")
    login(client, "support@example.com")
    assert client.get("/orders").text.count('href="/orders/') == 2
    found = client.get("/orders?q=%232").text
    assert found.count('href="/orders/') == 1 and "#2" in found
    assert "No orders match" in client.get("/orders?channel=nowhere").text
    assert client.get("/orders?status=bogus").status_code == 422


def test_a_csv_upload_takes_in_good_orders_and_reports_bad_rows_by_line(client, shop, make_user):
    token = signed_in(client, make_user)
    text = ("order_id,currency,ship_to_name,ship_to_address1,ship_to_city,ship_to_country,sku,qty,unit_price\n"
            "A-1,EUR,Eva,Gata 1,Berlin,DE,KIT-00001,2,10.00\n"
            "A-1,EUR,Eva,Gata 1,Berlin,DE,KIT-00002,1,10.00\n"
            "A-2,EUR,Bo,Gata 2,Berlin,DE,NOPE,1,3.00\n"
            "A-3,EUR,Cy,Gata 3,Berlin,DE,KIT-00001,two,3.00\n")
    import io

    response = client.post("/orders/upload", data={"channel": "csv", "csrf_token": token,
                                                   "file": (io.BytesIO(text.encode()), "orders.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    assert "1 accepted, 1 held for a fix, 0 already known, 2 row problem(s)" in response.text
    assert "&#39;two&#39; is not a whole number" in response.text and "lines[0].sku" in response.text
    [order] = db.session.scalars(select(Order)).all()
    assert (order.external_id, [line.qty for line in order.lines]) == ("A-1", [2, 1])
    again = client.post("/orders/upload", data={"channel": "csv", "csrf_token": token,
                                                "file": (io.BytesIO(text.encode()), "orders.csv")},
                        content_type="multipart/form-data")
    assert "0 accepted" in again.text and "2 already known" in again.text
    bad = client.post("/orders/upload", data={"channel": "csv", "csrf_token": token,
                                              "file": (io.BytesIO(b"name,price\nx,1\n"), "x.csv")},
                      content_type="multipart/form-data")
    assert bad.status_code == 422 and "lacks the column(s) order_id, currency, sku, qty" in bad.text


def test_channel_secrets_are_write_only_masked_and_audited_as_changed(client, shop, make_user):
    make_user("admin")
    login(client, "admin@example.com")
    page = client.get("/admin/channels/shopify").text
    token = csrf_token_from(page)
    secret = storefront.storefront_credentials("shopify")["webhook_secret"]
    assert secret not in page and "set ••••••••" in page
    response = client.post("/admin/channels/shopify", data={
        "csrf_token": token, "name": "Shop", "kind": "shopify", "active": "on", "allowed_countries": "us, ca",
        "sku_aliases": "SHOP-1 = KIT-00001", "secret-webhook_secret": "brand-new-secret", "base_url": ""})
    assert response.status_code == 302
    channel = db.session.scalar(select(Channel).where(Channel.code == "shopify"))
    db.session.refresh(channel)
    assert channel.credentials["webhook_secret"] == "brand-new-secret" and channel.allowed_countries == ["CA", "US"]
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "channel.updated")).one()
    assert entry.changes["webhook_secret"] == ["set", "changed"] and "brand-new-secret" not in json.dumps(entry.changes)
    bad = client.post("/admin/channels/shopify", data={"csrf_token": token, "name": "Shop", "kind": "shopify",
                                                       "allowed_countries": "USA"})
    assert bad.status_code == 422 and "two-letter" in bad.text
    assert db.session.get(User, 1) is not None
