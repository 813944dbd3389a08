"""The console as a person uses it, in Chromium."""
import re

from playwright.sync_api import expect

from app.services.demo import DEMO_PASSWORD

NAV = {
    "admin": ["Exceptions", "Orders", "Overview", "Stock", "Alerts", "Suppliers", "Routing rules", "Users", "Channels",
              "Audit log"],
    "ops": ["Exceptions", "Orders", "Overview", "Stock", "Alerts", "Suppliers"],
    "buyer": ["Overview", "Stock", "Alerts", "Suppliers"],
    "support": ["Exceptions", "Orders", "Overview", "Stock", "Alerts"],
    "manager": ["Exceptions", "Orders", "Overview", "Stock", "Alerts", "Suppliers", "Routing rules", "Audit log"],
}
HOME = {"admin": "/admin/users", "ops": "/exceptions", "buyer": "/stock", "support": "/orders", "manager": "/overview"}


def sign_in(page, role):
    page.goto("/login")
    page.get_by_label("E-mail").fill(f"{role}@example.com")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    # htmx wires its triggers when the page has loaded; acting before that would bypass it.
    page.wait_for_url(lambda url: "/login" not in url)
    page.wait_for_load_state("load")


def test_every_demo_login_reaches_its_home_with_its_own_navigation(page, screenshot):
    for role, links in NAV.items():
        sign_in(page, role)
        expect(page).to_have_url(re.compile(re.escape(HOME[role]) + "$"))
        expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(links)
        screenshot(page, f"home-{role}")
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile("/login$"))
        expect(page.locator(".toast")).to_contain_text("You are signed out.")
    assert page.js_errors == []


def test_a_wrong_password_shows_the_error_summary_and_keeps_the_email(page, screenshot):
    page.goto("/login")
    page.get_by_label("E-mail").fill("ops@example.com")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("do not match an active account")
    expect(summary).to_be_focused()
    expect(page.get_by_label("E-mail")).to_have_value("ops@example.com")
    screenshot(page, "login-error")


def test_filtering_stock_swaps_only_the_table_and_keeps_the_filter_in_the_url(page, screenshot):
    sign_in(page, "buyer")
    page.evaluate("window.untouched = true")  # survives only if the page is never reloaded
    page.get_by_label("Supplier").select_option("NORDIC")
    expect(page).to_have_url(re.compile(r"supplier=NORDIC"))
    page.get_by_label("Status").select_option("out_of_stock")
    expect(page).to_have_url(re.compile(r"status=out_of_stock"))
    rows = page.locator("#stock-table tbody tr")
    expect(rows.first).to_contain_text("NORDIC")
    expect(page.locator("#stock-table tbody .pill-in_stock")).to_have_count(0)
    assert page.evaluate("window.untouched") is True
    page.get_by_role("link", name=re.compile("Available")).click()
    expect(page).to_have_url(re.compile(r"sort=available"))
    screenshot(page, "stock-filtered")
    page.get_by_label("Search").fill("zzz-no-such-thing")
    expect(page.get_by_text("No stock matches these filters")).to_be_visible()
    screenshot(page, "stock-empty")
    page.go_back()
    assert page.js_errors == []


def test_the_next_page_link_moves_through_a_long_list(page):
    sign_in(page, "ops")
    page.goto("/stock")
    first_sku = page.locator("#stock-table tbody tr").first.locator("td").first.inner_text()
    page.get_by_role("link", name=re.compile("Next 50")).click()
    expect(page).to_have_url(re.compile(r"after="))
    expect(page.locator("#stock-table tbody tr")).to_have_count(50)
    assert page.locator("#stock-table tbody tr").first.locator("td").first.inner_text() >= first_sku
    expect(page.get_by_role("link", name="« First page")).to_be_visible()


def test_an_admin_changes_a_role_inline_and_sees_a_toast(page, screenshot):
    sign_in(page, "admin")
    row = page.locator("tr", has_text="support@example.com")
    row.evaluate("element => element.dataset.before = 'yes'")
    page.get_by_label("Role of support@example.com").select_option("manager")
    expect(page.locator(".toast").last).to_contain_text("support@example.com is now manager.")
    # The row is swapped for the server's; act on the new one, not on the one being replaced.
    expect(page.locator("tr[data-before]")).to_have_count(0)
    screenshot(page, "users-role-changed")
    page.get_by_label("Role of support@example.com").select_option("support")
    expect(page.locator(".toast").last).to_contain_text("support@example.com is now support.")
    page.goto("/admin/audit")
    expect(page.locator("table.data tbody tr").first).to_contain_text("manager → support")
    screenshot(page, "audit-log")


def test_adding_a_person_with_errors_then_correctly(page, screenshot):
    sign_in(page, "admin")
    form = page.locator("#create-user")
    form.get_by_label("E-mail").fill("not-an-address")
    form.get_by_label("Password").fill("short")
    form.get_by_role("button", name="Add user").click()
    expect(form.get_by_role("alert")).to_contain_text("Please correct the following")
    expect(page.locator("#password-error")).to_have_text("At least 12 characters.")
    screenshot(page, "users-create-errors")
    form = page.locator("#create-user")
    form.get_by_label("E-mail").fill("new.ops@example.com")
    form.get_by_label("Password").fill("")
    page.locator("#create-user").get_by_label("Role").select_option("ops")
    page.locator("#create-user").get_by_role("button", name="Add user").click()
    expect(page.locator("#create-user .notice")).to_contain_text("new.ops@example.com")
    expect(page.locator("#users-table")).to_contain_text("new.ops@example.com")  # refreshed by HX-Trigger
    screenshot(page, "users-created")


def test_an_expired_session_sends_the_whole_browser_to_login(page):
    sign_in(page, "ops")
    page.goto("/stock")
    page.context.clear_cookies()
    page.get_by_label("Status").select_option("low_stock")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("heading", name="Dropdesk")).to_be_visible()
    expect(page.locator("#stock-table")).to_have_count(0)  # never the login page inside the table


def test_a_role_without_access_gets_a_plain_403_page(page, screenshot):
    sign_in(page, "support")
    response = page.goto("/admin/users")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    screenshot(page, "forbidden")


def test_a_stock_export_shows_progress_then_a_download_link(page, screenshot):
    sign_in(page, "manager")
    page.goto("/stock?supplier=MAPLE")
    page.get_by_role("button", name="Export CSV").click()
    progress = page.get_by_role("progressbar", name="Stock export")
    expect(progress).to_have_attribute("aria-valuenow", "100")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename.startswith("stock-")
    screenshot(page, "stock-export")


def test_the_overview_shows_stock_at_a_glance_and_supplier_freshness(page, screenshot):
    sign_in(page, "manager")
    expect(page.get_by_role("heading", name="Supplier freshness")).to_be_visible()
    expect(page.locator("#supplier-freshness tbody tr")).to_have_count(10)
    expect(page.get_by_role("img")).to_have_attribute("aria-label", re.compile(r"In stock \d"))
    screenshot(page, "overview")
    assert page.js_errors == []


def test_a_sku_page_shows_each_supplier_its_history_and_change_log(page, live_server, screenshot):
    from datetime import timedelta

    from sqlalchemy import select

    from app.domain.stock import ReportedStock
    from app.extensions import db
    from app.models import Product, Supplier, SupplierOffer
    from app.models.types import utcnow
    from app.services.stock_updates import apply_stock_report

    app = live_server["app"]
    with app.app_context():
        product = db.session.scalar(select(Product).join(SupplierOffer).group_by(Product.id)
                                    .having(db.func.count(SupplierOffer.id) >= 2).order_by(Product.sku))
        offers = db.session.scalars(select(SupplierOffer).where(SupplierOffer.product_id == product.id)).all()
        start = utcnow() - timedelta(days=6)
        from app.models import SupplierStock

        for offer in offers:  # the demo's figures are from today: make them older than this week's history
            db.session.execute(db.update(SupplierStock).where(SupplierStock.supplier_id == offer.supplier_id,
                                                              SupplierStock.supplier_sku == offer.supplier_sku)
                               .values(reported_at=start - timedelta(days=1)))
        db.session.commit()
        for day, quantities in enumerate([(120, 40), (80, 45), (30, 0), (200, 10), (150, 60)]):
            for offer, qty in zip(offers, quantities):
                supplier = db.session.get(Supplier, offer.supplier_id)
                status = "out_of_stock" if qty == 0 else "low_stock" if qty < 10 else "in_stock"
                at = start + timedelta(days=day, hours=offer.id % 5)
                apply_stock_report(supplier, [ReportedStock(offer.supplier_sku, qty, status, at)], source="delta", received_at=at)
        sku = product.sku
    sign_in(page, "buyer")
    page.goto(f"/stock/sku/{sku}")
    expect(page.get_by_role("heading", name="By supplier")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("On hand per supplier"))).to_be_visible()
    expect(page.locator("table.data").last).to_contain_text("delta")
    screenshot(page, "sku-detail")
    assert page.js_errors == []


def test_ops_sync_a_supplier_then_see_a_failing_one_in_the_exception_queue(page, live_server, screenshot):
    from app.models.types import utcnow
    from app.sandbox.faults import parse_faults, reset_supplier, set_faults

    with live_server["app"].app_context():
        from app.services import supplier_health

        supplier_health.reset("ACME")
    sign_in(page, "ops")
    # The demo's failed intakes wait in the queue too; this test watches the sync failures only.
    page.goto("/exceptions?kind=sync_failed")
    expect(page.get_by_text("No items match")).to_be_visible()
    expect(page.locator("#exception-badge")).to_have_text(re.compile(r"^\d+$"))  # it loads after the page
    open_before = int(page.locator("#exception-badge").inner_text())
    page.goto("/suppliers/ACME")
    page.get_by_role("button", name="Sync now").click()
    expect(page.get_by_role("progressbar", name="Stock sync")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#sync-runs tbody tr").first).to_contain_text("succeeded")
    screenshot(page, "supplier-synced")
    app = live_server["app"]
    with app.app_context():
        from app.services import supplier_health

        supplier_health.reset("PACIFIC")  # breakers live in the shared Redis: start closed whatever ran before
        set_faults("PACIFIC", parse_faults({"down": True}, utcnow()))
    try:
        page.goto("/suppliers/PACIFIC")
        page.get_by_role("button", name="Sync now").click()
        expect(page.get_by_role("progressbar", name="Stock sync")).to_have_attribute("aria-valuenow", "100")
        page.goto("/exceptions?kind=sync_failed")
        expect(page.locator(".exception-item").first).to_contain_text("Stock sync failed")
        expect(page.locator("#exception-badge")).to_have_text(str(open_before + 1))
        screenshot(page, "exception-queue")
        page.get_by_label("What was done").fill("Called Pacific: maintenance window")
        page.get_by_role("button", name="Resolve", exact=True).click()
        expect(page.locator(".toast").last).to_contain_text("resolved")
        expect(page.get_by_text("No items match")).to_be_visible()  # the open list refreshed itself
        expect(page.locator("#exception-badge")).to_have_text(str(open_before))
    finally:
        with app.app_context():
            reset_supplier("PACIFIC")
    assert page.js_errors == []
