"""Ops triage failed intakes in Chromium: filter, assign by keyboard, open, fix the SKU alias and replay, see the
order accepted on its page; then bulk-resolve with the confirmation listing the items."""
import re

from playwright.sync_api import expect

from app.services.demo import DEMO_PASSWORD
from tests.browser.conftest import ARTIFACTS


def sign_in_as_ops(page):
    page.goto("/login")
    page.get_by_label("E-mail").fill("ops@example.com")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/exceptions"))
    page.wait_for_load_state("load")


def script_errors(page) -> list[str]:
    return [error for error in page.js_errors if "status of 422" not in error]


def test_ops_filter_assign_fix_an_alias_replay_and_see_the_order_accepted(page):
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in_as_ops(page)
    page.locator("#filter-reason").select_option("unknown_sku")
    expect(page).to_have_url(re.compile(r"reason=unknown_sku"))
    items = page.locator("#exception-list .exception-item")
    expect(items.first).to_contain_text("unknown_sku")
    first_id = items.first.get_attribute("id")
    page.locator("body").press("j")
    expect(page.locator(f"#{first_id}")).to_have_class(re.compile("is-current"))
    page.locator("body").press("a")  # assign to me, by keyboard
    expect(page.locator(f"#{first_id}")).to_contain_text("owner ops@example.com")
    page.goto("/exceptions?view=mine")
    expect(page.locator("#exception-list .exception-item")).to_have_count(1)
    page.locator("body").press("j")
    page.locator("body").press("r")  # fix and replay
    page.wait_for_url(re.compile(r"/exceptions/\d+"))
    label = page.locator("#replay-form label", has_text="Our SKU for").first
    channel_sku = label.locator("code").inner_text()
    label_for = label.get_attribute("for")
    page.locator(f"#{label_for}").fill("NO-SUCH-SKU")
    page.get_by_role("button", name="Replay through the checks").click()
    expect(page.locator("#replay-form [role=alert]")).to_contain_text("NO-SUCH-SKU is not one of our SKUs")
    page.locator(f"#{label_for}").fill(channel_sku.removeprefix("SHOP-"))
    page.get_by_role("button", name="Replay through the checks").click()
    page.wait_for_url(re.compile(r"/orders/\d+"))
    expect(page.locator("h1")).to_contain_text("accepted")
    expect(page.locator(".timeline")).to_contain_text("replayed")
    expect(page.locator("body")).to_contain_text(f"channel: {channel_sku}")
    page.screenshot(path=str(ARTIFACTS / "intake-order-accepted.png"), full_page=True, caret="initial")
    assert script_errors(page) == []


def test_ops_bulk_resolve_after_a_confirmation_that_lists_the_items(page):
    sign_in_as_ops(page)
    page.goto("/exceptions?view=failed-intake&reason=missing")
    boxes = page.locator("#exception-list .bulk-select")
    expect(boxes.first).to_be_visible()
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("button", name="Resolve…").click()
    panel = page.locator("#bulk-panel")
    expect(panel).to_contain_text("Resolve these 2 items?")
    panel.get_by_label("What was done").fill("customers gave their address by phone")
    page.screenshot(path=str(ARTIFACTS / "intake-bulk-confirm.png"), full_page=True, caret="initial")
    panel.get_by_role("button", name="Yes, resolve 2 items").click()
    expect(panel).to_contain_text("Done: 2 of 2 items")
    page.locator("body").press("?")
    expect(page.locator("#shortcut-help")).to_be_visible()
    assert script_errors(page) == []
