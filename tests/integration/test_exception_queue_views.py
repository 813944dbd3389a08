"""Saved views per role, the past-SLA and kind-group filters they set, and "most costly first" sorted and paged in
SQL in exactly the order impact_of gives."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app.extensions import db
from app.models import ExceptionItem
from app.models.types import utcnow
from app.services import exception_queue
from tests.helpers import csrf_token_from, login


def item(kind="intake_failed", *, value=None, orders=0, age=timedelta(minutes=5), now=None, **fields) -> ExceptionItem:
    row = ExceptionItem(kind=kind, reason_code=fields.pop("reason_code", "test"), reason=f"a {kind} item",
                        order_value=value, orders_affected=orders, created_at=(now or utcnow()) - age, history=[],
                        payload={}, **fields)
    db.session.add(row)
    db.session.flush()
    return row


def shown_ids(html: str) -> list[int]:
    import re

    return [int(found) for found in re.findall(r'class="exception-item [^"]*" id="exception-(\d+)"', html)]


@pytest.mark.parametrize("role, views", [
    ("ops", ["Failed intake", "Stockout reroutes", "Supplier refusals &amp; timeouts", "Unroutable", "Mine"]),
    ("support", ["Orders waiting on a person", "Failed intake", "Mine"]),
    ("manager", ["Past their SLA", "Orders waiting on a person", "Sync &amp; feeds", "Oldest first"]),
    ("admin", ["Sync &amp; feeds", "Failed jobs", "Past their SLA", "Oldest first", "Mine"]),
])
def test_each_role_sees_the_saved_views_of_its_work(client, make_user, role, views):
    assert [view.label for view in exception_queue.saved_views(role)] == [v.replace("&amp;", "&") for v in views]
    make_user(role)
    login(client, f"{role}@example.com")
    html = client.get("/exceptions").text
    nav = html[html.index('aria-label="Saved views"'):html.index("</nav>", html.index('aria-label="Saved views"'))]
    positions = [nav.index(f">{label} <span") for label in views]
    assert positions == sorted(positions)
    others = {view.label for view in exception_queue.SAVED_VIEWS.values()} - {v.replace("&amp;", "&") for v in views}
    assert all(f">{label.replace('&', '&amp;')} <span" not in nav for label in others)


def test_a_buyer_has_no_views_and_no_queue(client, make_user):
    assert exception_queue.saved_views("buyer") == []
    make_user("buyer")
    login(client, "buyer@example.com")
    assert client.get("/exceptions").status_code == 403


def test_support_lands_on_the_orders_page_after_signing_in(client, make_user):
    make_user("support")
    response = login(client, "support@example.com")
    assert response.status_code == 302 and response.headers["Location"] == "/orders"
    assert client.get("/orders").status_code == 200


def test_support_reads_the_queue_but_cannot_act_on_it(client, make_user):
    held = item("unroutable", value=Decimal("80.00"), orders=1, order_ref="#1001")
    db.session.commit()
    make_user("support")
    login(client, "support@example.com")
    html = client.get("/exceptions?view=orders-waiting").text
    assert shown_ids(html) == [held.id] and "Assign to me" not in html
    token = csrf_token_from(html)
    assert client.post(f"/exceptions/{held.id}/assign", data={"owner": "me"},
                       headers={"HX-Request": "true", "X-CSRFToken": token}).status_code == 403


def test_each_view_sets_its_filters(client, make_user):
    now = utcnow()
    rejected = item("supplier_rejected", value=Decimal("50.00"), orders=1, age=timedelta(minutes=30))
    timed_out = item("supplier_timeout", value=Decimal("70.00"), orders=1, age=timedelta(hours=5))  # SLA 4 h
    intake_late = item("intake_failed", value=Decimal("10.00"), orders=1, age=timedelta(hours=3))  # SLA 2 h
    sync = item("sync_failed", orders=3, age=timedelta(hours=1))
    feed = item("feed_held", age=timedelta(hours=9))  # SLA 8 h
    job = item("job_failed", age=timedelta(hours=30))  # SLA 24 h
    unroutable = item("unroutable", value=Decimal("99.00"), orders=1, age=timedelta(minutes=10))
    db.session.commit()
    make_user("admin")
    login(client, "admin@example.com")

    def view(key, **extra):
        query = "&".join(f"{name}={value}" for name, value in {"view": key, **extra}.items())
        return shown_ids(client.get(f"/exceptions?{query}").text)

    assert sorted(view("supplier-answers")) == sorted([rejected.id, timed_out.id])
    assert sorted(view("sync-feeds")) == sorted([sync.id, feed.id])
    assert sorted(view("orders-waiting")) == sorted([rejected.id, timed_out.id, intake_late.id, unroutable.id])
    assert sorted(view("late")) == sorted([timed_out.id, intake_late.id, feed.id, job.id])
    assert view("failed-jobs") == [job.id]
    assert view("oldest") == [job.id, feed.id, timed_out.id, intake_late.id, sync.id, rejected.id, unroutable.id]
    # What the URL says wins over the view: the oldest view sorted newest first, a group narrowed by supplier kind.
    assert view("oldest", sort="-created") == view("oldest")[::-1]
    assert view("orders-waiting", kind="unroutable") == [unroutable.id]
    counts = exception_queue.view_counts(None, "admin", now=now)
    assert counts == {"sync-feeds": 2, "failed-jobs": 1, "late": 4, "oldest": 7, "mine": 0}
    assert client.get("/exceptions?group=nonsense").status_code == 422
    assert client.get("/exceptions?late=maybe").status_code == 422


def varied_items(now) -> list[ExceptionItem]:
    """Every term of impact_of moving: values with and without cents, none, orders waiting, every SLA, items
    opened in the future (age counts as 0), exact ties (broken by id)."""
    kinds = [*exception_queue.SLA_HOURS, "some_new_kind"]
    values = [None, Decimal("0.00"), Decimal("19.99"), Decimal("250.00"), Decimal("1234.56"), Decimal("7.05")]
    ages = [timedelta(0), timedelta(minutes=7, seconds=13), timedelta(hours=1, minutes=59), timedelta(hours=2),
            timedelta(hours=9, seconds=1), timedelta(days=3, hours=5), timedelta(minutes=-30), timedelta(days=12)]
    rows = []
    for n in range(66):
        rows.append(item(kinds[n % len(kinds)], value=values[n % len(values)], orders=(n * 7) % 5,
                         age=ages[(n * 3) % len(ages)], now=now))
    rows += [item("unroutable", value=Decimal("42.00"), orders=1, age=timedelta(hours=1), now=now) for _ in range(3)]
    db.session.commit()
    return rows


def test_most_costly_first_is_sorted_in_sql_in_the_order_impact_of_gives(app):
    now = utcnow()
    rows = varied_items(now)
    expected = [row.id for row in sorted(rows, key=lambda row: (exception_queue.impact_of(row, now), row.id),
                                         reverse=True)]
    seen, cursor, pages = [], None, 0
    while True:
        page = exception_queue.list_items(exception_queue.QueueFilter(after=cursor), per_page=8, now=now)
        assert page.total == len(rows)
        seen += [row.ExceptionItem.id for row in page.items]
        assert all(row.impact == exception_queue.impact_of(row.ExceptionItem, now) for row in page.items)
        pages += 1
        if not page.has_next:
            break
        cursor = page.next_cursor
    assert seen == expected and pages == 9


def test_the_next_page_continues_the_order_of_the_moment_the_listing_began(app):
    now = utcnow()
    varied_items(now)
    whole = [row.ExceptionItem.id for row in exception_queue.list_items(exception_queue.QueueFilter(), per_page=100,
                                                                         now=now).items]
    first = exception_queue.list_items(exception_queue.QueueFilter(), per_page=20, now=now)
    # Three days later the impacts have moved (late items climbed), yet page two follows page one's order.
    later = exception_queue.list_items(exception_queue.QueueFilter(after=first.next_cursor), per_page=20,
                                       now=now + timedelta(days=3))
    assert [row.ExceptionItem.id for row in [*first.items, *later.items]] == whole[:40]
    fresh = [row.ExceptionItem.id for row in exception_queue.list_items(
        exception_queue.QueueFilter(), per_page=100, now=now + timedelta(days=3)).items]
    assert fresh != whole  # the clock does reorder a new listing


def test_a_tampered_impact_cursor_is_a_clear_message(app):
    from app.services import ServiceError
    from app.services.paging import encode_cursor

    with pytest.raises(ServiceError, match="no longer valid"):
        exception_queue.list_items(exception_queue.QueueFilter(after=encode_cursor(Decimal("3"), 1)))
