"""An admin sets what a channel may sell and publishes it now, in Chromium: the empty state, a refused ratio,
then the listings the job published."""
from playwright.sync_api import expect

from tests.browser.test_supplier_settings_browser import script_errors, sign_in_as_admin


def test_an_admin_publishes_a_channel_s_quantities_and_reads_its_listings(page, screenshot):
    sign_in_as_admin(page)
    page.goto("/admin/channels/shopify")
    listings = page.locator("#channel-listings")
    expect(listings).to_contain_text("Nothing published yet")
    screenshot(page, "channel-publishing-empty")

    page.get_by_label("Share of what can be promised").fill("1.5")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("between 0 and 1")
    expect(page.get_by_label("Share of what can be promised")).to_have_value("1.5")
    screenshot(page, "channel-publishing-invalid-ratio")
    page.get_by_label("Share of what can be promised").fill("0.9")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").or_(page.locator(".toast")).first).to_be_visible()

    page.get_by_role("button", name="Publish now").click()
    # The test server runs the job inside the request: the whole catalogue's first run, over HTTP to its sandbox.
    expect(page.locator("#publish-progress")).to_contain_text("Done.", timeout=120_000)
    expect(page.locator("#channel-listings table")).to_be_visible(timeout=30_000)
    expect(page.locator("#channel-listings")).to_contain_text("listed")
    screenshot(page, "channel-publishing-listings")

    page.get_by_label("Show").select_option("delisted")
    expect(page.locator("#channel-listings tbody tr").first).to_contain_text("delisted")
    expect(page.locator("#channel-listings .pill-active")).to_have_count(0)
    page.locator("#channel-listings a[rel=next]").click()
    expect(page.locator("#channel-listings")).to_contain_text("First page")
    assert script_errors(page) == []
