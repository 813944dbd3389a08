"""An admin edits a supplier's connection and feed mapping in Chromium, watching the preview update."""
import re

from playwright.sync_api import expect

from app.services.demo import DEMO_PASSWORD
from tests.browser.conftest import ARTIFACTS

SECRET = "harbor-key-0f9e8d7c6b5a"
CSV_SAMPLE = "sku,qty,state\nHAR000001,12,\nHAR000002,,Sold out\n,4,\nHAR000003,plenty,\n"


def sign_in_as_admin(page):
    page.goto("/login")
    page.get_by_label("E-mail").fill("admin@example.com")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    page.wait_for_load_state("load")


def script_errors(page) -> list[str]:
    """What went wrong in the page, less Chromium's note on each 422 (a refused form is answered so on purpose)."""
    return [error for error in page.js_errors if "status of 422" not in error]


def snap(locator, name: str) -> None:
    """A screenshot of one region, next to the full-page ones in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    # Hiding the caret puts style attributes on every input; htmx's settle would copy them onto the swapped-in
    # form, and the CSP (no inline styles) would refuse each one. Screenshots must not change what they show.
    locator.screenshot(path=str(ARTIFACTS / f"{name}.png"), caret="initial")


def test_an_admin_fixes_connection_errors_then_saves_a_write_only_secret(page):
    sign_in_as_admin(page)
    page.goto("/suppliers/HARBOR")
    form = page.locator("#connection-form")
    expect(form.get_by_label("Connection type")).to_have_value("upload")
    expect(form.locator("#connection-credentials")).to_contain_text("This sign-in needs none.")
    form.get_by_label("Address").fill("ftp://files.harbor.example.com")
    form.get_by_label("Poll every (minutes)").fill("0")
    form.get_by_role("button", name="Save connection").click()
    form = page.locator("#connection-form")
    expect(form.get_by_role("alert")).to_contain_text("Please correct the following")
    expect(page.locator("#connection-base_url-error")).to_have_text("Enter an address that starts with http:// or https://.")
    expect(page.locator("#connection-poll_interval_minutes-error")).to_be_visible()
    snap(form, "supplier-connection-errors")

    form.get_by_label("Address").fill("")
    form.get_by_label("Poll every (minutes)").fill("45")
    # A pushing supplier signs its pushes: choosing it brings up that secret's input, and only that one.
    form.get_by_label("Connection type").evaluate("element => element.dataset.before = 'yes'")
    form.get_by_label("Connection type").select_option("push")
    secret_input = form.get_by_label("Webhook signing secret", exact=True)
    expect(secret_input).to_be_visible()
    expect(page.locator("#connection-connection_type[data-before]")).to_have_count(1)  # only the credentials redrawn
    expect(form.locator("#connection-credentials input[type=password]")).to_have_count(1)
    secret_input.fill(SECRET)
    form.get_by_role("button", name="Save connection").click()
    expect(page.locator(".toast").last).to_contain_text("Connection saved: 3 change(s).")
    expect(page.locator("#connection-facts")).to_contain_text("45 min")  # refreshed by the connection-saved event
    expect(page.locator("#connection-facts")).to_contain_text("Pushes to")
    form = page.locator("#connection-form")
    expect(form.locator(".field-error")).to_have_count(0)
    # Write-only: the input is empty again, the page says a secret is set, and the secret is nowhere in it.
    expect(form.get_by_label("Webhook signing secret", exact=True)).to_have_value("")
    expect(form.get_by_text("set ••••••••")).to_have_count(1)
    expect(form.get_by_label("Clear the stored webhook signing secret")).not_to_be_checked()
    assert SECRET not in page.content()
    snap(form, "supplier-connection-form")
    assert script_errors(page) == []


def test_an_admin_edits_the_mapping_watches_the_preview_and_saves(page, screenshot):
    sign_in_as_admin(page)
    page.goto("/suppliers/HARBOR")
    editor = page.locator("#mapping-editor")
    expect(editor.get_by_text("Nothing to preview yet")).to_be_visible()
    snap(editor, "supplier-mapping-empty")

    editor.get_by_label("Format").select_option("csv")
    editor.get_by_label("SKU", exact=True).fill("sku")
    editor.get_by_label("Quantity", exact=True).fill("qty")
    editor.get_by_label("Status", exact=True).fill("state")
    editor.get_by_label("Timezone").fill("")
    editor.get_by_label("Paste a sample").fill(CSV_SAMPLE)
    preview = page.locator("#mapping-preview")
    # "Sold out" means nothing yet, so that row has no quantity; "plenty" is no number either.
    expect(preview).to_contain_text("Stock records (1)")
    expect(preview).to_contain_text("Rejects (3)")
    editor.get_by_label("Status words").fill("Sold out = out_of_stock\nplenty = in_stock")
    editor.get_by_label("Assume quantity").fill("25")
    expect(preview).to_contain_text("Stock records (3)")  # updated as the admin typed, without a click
    expect(preview).to_contain_text("Rejects (1)")
    expect(preview.locator("tbody tr", has_text="HAR000002")).to_contain_text("out of stock")
    expect(preview.locator("tbody tr", has_text="HAR000003")).to_contain_text("25")
    snap(editor, "supplier-mapping-preview")

    editor.get_by_label("Timezone").fill("Mars/Olympus")
    expect(preview.get_by_role("alert")).to_contain_text("is not a known IANA zone")
    snap(preview, "supplier-mapping-bad")
    editor.get_by_label("Timezone").fill("Europe/Stockholm")
    expect(preview).to_contain_text("Stock records (3)")

    editor.get_by_role("button", name="Save mapping").click()
    expect(page.locator(".toast").last).to_contain_text("Feed mapping saved.")
    expect(page.locator("#connection-facts")).to_contain_text(re.compile(r"Feed format\s*csv"))
    expect(page.locator("#mapping-preview")).to_contain_text("Stock records (3)")  # the saved mapping, same sample
    page.reload()
    expect(page.locator("#mapping-editor").get_by_label("Status words")).to_have_value(
        re.compile(r"Sold out = out_of_stock\s+plenty = in_stock"))
    screenshot(page, "supplier-settings-page")  # last, as the fixture's caret hiding would upset later swaps
    page.goto("/admin/audit")
    expect(page.locator("table.data tbody tr").first).to_contain_text("supplier.mapping_changed")
    assert script_errors(page) == []
