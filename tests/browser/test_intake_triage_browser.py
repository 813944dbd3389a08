"""Ops triage failed intakes in Chromium: filter, assign by keyboard, open, fix the SKU alias and replay, see the
order accepted on its page; replay as it stands with `r`; then bulk-resolve with the confirmation listing the items."""
import json
import re
from datetime import datetime, timezone

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
    page.locator("body").press("e")  # fix and replay: the form
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


def hold_an_order(app, number: int, *, unknown_sku: bool = False, no_address: bool = False) -> tuple[int, str]:
    """A storefront order taken in and held, as the demo's are: (item id, its first line's channel SKU)."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Channel, ExceptionItem, InboundPayload, Product
    from app.sandbox.storefront import build_order
    from app.services import intake

    with app.app_context():
        channel = db.session.scalar(select(Channel).where(Channel.code == "shopify"))
        skus = list(db.session.scalars(select(Product.sku).order_by(Product.sku).limit(50)))
        order = build_order("shopify", number, skus, datetime.now(timezone.utc), unknown_sku=unknown_sku)
        if no_address:
            order["shipping_address"] = None
        payload = InboundPayload(source=intake.SOURCE, channel_id=channel.id, delivery_id=f"shopify:browser:{number}",
                                 headers={}, body=json.dumps(order), topic="orders/create", status="pending")
        db.session.add(payload)
        db.session.commit()
        intake.process_payload(payload.id)
        item = db.session.scalar(select(ExceptionItem).where(ExceptionItem.inbound_payload_id == payload.id))
        return item.id, order["line_items"][0]["sku"]


def test_r_replays_the_focused_item_as_it_stands(page, live_server):
    from app.extensions import db
    from app.models import Channel, ExceptionItem

    app = live_server["app"]
    fixed_id, channel_sku = hold_an_order(app, 7001, unknown_sku=True)
    held_id, _ = hold_an_order(app, 7003, no_address=True)
    with app.app_context():  # meanwhile an admin adds the alias on the channel's page
        channel = db.session.query(Channel).filter_by(code="shopify").one()
        channel.sku_aliases = {**channel.sku_aliases, channel_sku: channel_sku.removeprefix("SHOP-")}
        db.session.commit()
    sign_in_as_ops(page)
    page.goto("/exceptions?view=failed-intake&reason=unknown_sku&sort=-created")
    expect(page.locator("#exception-list .exception-item").first).to_have_id(f"exception-{fixed_id}")
    page.locator("body").press("j")
    page.locator("body").press("r")  # replay as it stands: the alias now maps its SKU
    expect(page.locator(".toast").last).to_contain_text("Replayed: order accepted")
    expect(page.locator(f"#exception-{fixed_id}")).to_have_count(0)  # the list refreshed without it
    page.goto("/exceptions?view=failed-intake&reason=missing&sort=-created")
    expect(page.locator("#exception-list .exception-item").first).to_have_id(f"exception-{held_id}")
    page.locator("body").press("j")
    page.locator("body").press("r")  # still no address: still held, and said so
    expect(page.locator(".toast").last).to_contain_text("still held (missing)")
    expect(page.locator(f"#exception-{held_id}")).to_contain_text("replay requested")
    with app.app_context():
        assert db.session.get(ExceptionItem, fixed_id).status == "resolved"
        assert db.session.get(ExceptionItem, held_id).status == "open"
    assert script_errors(page) == []
