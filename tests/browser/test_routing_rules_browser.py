"""A manager edits a routing rule in Chromium, fixes what the live check flags, tests it on an order,
previews its impact, activates it, and finds the change in the audit log."""
import re

from playwright.sync_api import expect

from app.services.demo import DEMO_PASSWORD
from tests.browser.test_supplier_settings_browser import script_errors, snap


def sign_in_as_manager(page):
    page.goto("/login")
    page.get_by_label("E-mail").fill("manager@example.com")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.wait_for_load_state("load")


def test_a_manager_edits_a_rule_tests_it_previews_its_impact_activates_it_and_the_audit_log_shows_it(page, screenshot):
    sign_in_as_manager(page)
    page.get_by_role("link", name="Routing rules").click()
    page.get_by_role("button", name="Open the draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Version 2")
    page.get_by_role("link", name="Prefer ACME in the US").click()
    page.wait_for_load_state("load")

    # A priority another rule holds: the live check says so beside the field, before any save.
    page.get_by_label("Priority", exact=True).fill("10")
    expect(page.locator("#rule-priority-error")).to_have_text(
        "Priority 10 is taken by “Express orders go fastest”; each rule needs its own.")
    expect(page.locator("#rule-check")).to_contain_text("1 problem to fix before saving")
    snap(page.locator("form.rule-form"), "routing-rule-inline-error")
    page.get_by_label("Priority", exact=True).fill("35")
    page.get_by_label("…even when dearer by up to (%)").fill("15")
    expect(page.locator("#rule-check")).to_contain_text("This rule can be saved.")
    expect(page.locator("#rule-priority-error")).to_have_text("")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator(".toast").last).to_contain_text("Rule “Prefer ACME in the US” saved.")
    row = page.locator("#rules-table tr", has_text="Prefer ACME in the US")
    expect(row).to_contain_text("35")
    expect(row).to_contain_text("prefer tolerance pct 15")
    expect(page.locator(".changes")).to_contain_text("prefer_tolerance_pct 15")

    # Test against a recent order: every supplier per line, and the plan's cost.
    page.get_by_label("A recent order").select_option(index=1)
    page.get_by_role("button", name="Test", exact=True).click()
    trace = page.locator("#trial-result")
    expect(trace.get_by_role("table", name="Every supplier for every line")).to_be_visible()
    expect(trace).to_contain_text(re.compile(r"Routed: \d+ shipment|Manual review"))
    expect(trace.locator("table.trace tbody tr").first).to_be_visible()

    # Preview impact: the job runs, its bar fills, and the results table arrives.
    page.get_by_role("button", name="Preview impact").click()
    expect(page.get_by_role("progressbar", name="Preview impact")).to_have_attribute("aria-valuenow", "100")
    results = page.locator("#preview-results")
    expect(results).to_contain_text("orders replayed")
    expect(results).to_contain_text("become unroutable")
    snap(page.locator("#preview-results"), "routing-preview-results")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Activate version 2").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("active")
    expect(page.locator(".toast").last).to_contain_text("Version 2 is now active")
    screenshot(page, "routing-rule-set-activated")

    page.get_by_role("link", name="Audit log").click()
    activated = page.locator("#audit-table tr", has_text="rule_set.activated")
    expect(activated).to_contain_text("manager@example.com")
    expect(activated).to_contain_text("active version: 1 → 2")
    expect(activated).to_contain_text("rule Prefer ACME in the US")
    expect(page.locator("#audit-table tr", has_text="rule.changed").first).to_contain_text("prefer_tolerance_pct 15")
    assert script_errors(page) == []
