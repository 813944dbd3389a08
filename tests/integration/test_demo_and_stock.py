"""Demo data, and the stock list's filters, sort and keyset pages."""
import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from app.extensions import db
from app.models import Product, Supplier, SupplierOffer, SupplierStock, User
from app.services import demo
from app.services.stock import StockFilter, list_stock
from tests.helpers import login


def counts():
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (User, Supplier, Product, SupplierOffer, SupplierStock))


def test_demo_seed_creates_every_role_ten_suppliers_and_two_thousand_skus(app):
    first = demo.seed()
    assert first.changed
    assert counts()[:3] == (5, 10, 2000)
    assert counts()[3] == counts()[4] > 2000  # every offer has its stock row


def test_demo_seed_twice_changes_nothing(app):
    demo.seed()
    before = counts()
    second = demo.seed()
    assert not second.changed and counts() == before


def test_every_demo_login_reaches_its_home_page(app):
    demo.seed()
    for email, role in demo.demo_logins():
        client = app.test_client()
        response = login(client, email, demo.DEMO_PASSWORD)
        assert response.status_code == 302, role
        assert client.get(response.headers["Location"]).status_code == 200, role


def test_demo_seed_cli_says_when_nothing_changed(app):
    runner = app.test_cli_runner()
    assert "+5 users" in runner.invoke(args=["demo", "seed"]).output
    assert "nothing changed" in runner.invoke(args=["demo", "seed"]).output


def test_keyset_pages_cover_every_row_once_in_order(app):
    demo.seed()
    for sort, descending in (("supplier_sku", False), ("sku", False), ("on_hand", True), ("received_at", False),
                             ("supplier", True)):
        seen, after = [], None
        while True:
            page = list_stock(StockFilter(sort=sort, descending=descending, after=after), per_page=400)
            seen.extend(row.SupplierStock.id for row in page.items)
            if not page.has_next:
                break
            after = page.next_cursor
        assert len(seen) == len(set(seen)) == page.total == counts()[4], sort


def test_stock_filters_and_sort_live_in_the_url(client, make_user, app):
    demo.seed()
    make_user("buyer", email="stock-buyer@example.com")
    login(client, "stock-buyer@example.com")
    html = client.get("/stock/by-supplier?supplier=ACME&status=low_stock&sort=-on_hand").text
    rows = re.findall(r'<td class="num">(\d+)</td>\s*<td><span class="pill pill-low_stock">', html)
    quantities = [int(q) for q in rows]
    assert quantities and quantities == sorted(quantities, reverse=True)
    assert all(q <= 10 for q in quantities)
    next_link = re.search(r'rel="next" href="([^"]+)"', html)
    if next_link:
        query = parse_qs(urlsplit(next_link.group(1).replace("&amp;", "&")).query)
        assert query["supplier"] == ["ACME"] and query["status"] == ["low_stock"] and "after" in query


def test_an_htmx_filter_request_gets_only_the_table(client, make_user):
    demo.seed()
    make_user("ops", email="stock-ops@example.com")
    login(client, "stock-ops@example.com")
    response = client.get("/stock?q=towel", headers={"HX-Request": "true", "HX-Target": "stock-table"})
    assert response.text.lstrip().startswith('<section id="stock-table"')
    assert "Towel" in response.text and "Teapot" not in response.text
    assert {"HX-Request", "HX-Target"} <= {v.strip() for v in response.headers["Vary"].split(",")}


def test_a_search_that_matches_nothing_shows_an_empty_state_with_a_way_out(client, make_user):
    demo.seed()
    make_user("ops", email="stock-ops@example.com")
    login(client, "stock-ops@example.com")
    html = client.get("/stock?q=zzz-nothing").text
    assert "No stock matches these filters" in html and 'href="/stock">Clear all filters' in html


def test_an_unknown_sort_or_a_forged_cursor_gets_a_clear_message(client, make_user):
    make_user("ops", email="stock-ops@example.com")
    login(client, "stock-ops@example.com")
    bad_sort = client.get("/stock?sort=price")
    assert bad_sort.status_code == 422 and "Cannot sort by" in bad_sort.text
    bad_cursor = client.get("/stock?after=%%%")
    assert bad_cursor.status_code == 422 and "no longer valid" in bad_cursor.text


def test_stale_means_not_confirmed_for_twice_the_suppliers_interval(app):
    from datetime import timedelta

    from app.models.types import utcnow

    demo.seed()
    acme = db.session.scalar(select(Supplier).where(Supplier.code == "ACME"))
    acme.poll_interval_minutes = 60
    now = utcnow()
    acme.stock_confirmed_at = now - timedelta(minutes=130)  # its last full feed: beyond the cutoff
    rows = db.session.scalars(select(SupplierStock).where(SupplierStock.supplier_id == acme.id)).all()
    for row in rows[:10]:
        row.received_at = now - timedelta(minutes=100)  # within 2 x 60 min: fresh
    for row in rows[10:]:
        row.received_at = now - timedelta(minutes=130)  # beyond: stale
    db.session.commit()
    stale = list_stock(StockFilter(supplier="ACME", freshness="stale"), per_page=1000)
    fresh = list_stock(StockFilter(supplier="ACME", freshness="fresh"), per_page=1000)
    assert (stale.total, fresh.total) == (len(rows) - 10, 10)


def test_the_stock_page_has_one_row_per_sku_with_its_total_and_each_suppliers_figure(client, make_user):
    from app.services.stock import list_skus

    demo.seed()
    make_user("buyer", email="sku-buyer@example.com")
    login(client, "sku-buyer@example.com")
    page = list_skus(StockFilter(sort="available", descending=True), per_page=5)
    top = page.items[0]
    assert page.total == 2000 and top.available == sum(q or 0 for _, q, s in top.figures if s in ("in_stock", "low_stock"))
    assert [row.available for row in page.items] == sorted((row.available for row in page.items), reverse=True)
    html = client.get("/stock?sort=-available").text
    assert f'<a href="/stock/sku/{top.sku}"><code>{top.sku}</code></a>' in html
    for code, on_hand, _status in top.figures:
        assert f"{code} {on_hand}" in html


def test_sku_filters_by_total_status_and_supplier(app):
    from app.services.stock import list_skus

    demo.seed()
    out = list_skus(StockFilter(status="out_of_stock"), per_page=500)
    assert out.total > 0 and all(row.available == 0 and row.status == "out_of_stock" for row in out.items)
    low = list_skus(StockFilter(status="low_stock"), per_page=500)
    assert all(0 < row.available < 10 for row in low.items)
    nordic = list_skus(StockFilter(supplier="NORDIC"), per_page=1000)
    assert nordic.total > 0 and all(any(code == "NORDIC" for code, *_ in row.figures) for row in nordic.items)


def test_sku_keyset_pages_cover_every_product_once(app):
    from app.services.stock import list_skus

    demo.seed()
    for sort, descending in (("sku", False), ("available", True), ("confirmed", False)):
        seen, after = [], None
        while True:
            page = list_skus(StockFilter(sort=sort, descending=descending, after=after), per_page=300)
            seen.extend(row.product_id for row in page.items)
            if not page.has_next:
                break
            after = page.next_cursor
        assert len(seen) == len(set(seen)) == page.total == 2000, sort


def test_a_long_list_counts_only_so_far_and_says_there_are_more(client, monkeypatch):
    from app.services import paging

    demo.seed()
    monkeypatch.setattr(paging, "COUNT_LIMIT", 120)
    page = list_stock(StockFilter(sort="supplier_sku"))
    assert (page.total, page.total_is_at_least, len(page.items), page.has_next) == (120, True, 50, True)
    assert list_stock(StockFilter(supplier="ACME", status="out_of_stock")).total_is_at_least is False  # a short list
    login(client, "buyer@example.com", "dropdesk-demo")  # a demo login
    assert "120+ stock rows" in client.get("/stock/by-supplier").text
