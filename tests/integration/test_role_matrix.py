"""Every route x every role (and logged out): the allowed page, 403, or the way to login.

Built from the app's URL map, so a new route fails here until it is given an expectation below.
"""
from __future__ import annotations

import pytest

from app.permissions import ROLES
from tests.helpers import login

PUBLIC = "public"
ALL = set(ROLES)
# endpoint -> roles allowed (or PUBLIC). Written out by hand on purpose: it is the specification.
EXPECTED: dict[str, set[str] | str] = {
    "static": PUBLIC,
    "auth.login": PUBLIC,
    "auth.root": PUBLIC,
    "auth.logout": ALL,
    "health.healthz": PUBLIC,
    "health.readyz": PUBLIC,
    "overview.index": ALL,
    "stock.index": ALL,
    "stock.sku": ALL,
    "stock.by_supplier": ALL,
    "stock.start_export": {"admin", "ops", "buyer", "manager"},
    "stock.download_export": {"admin", "ops", "buyer", "manager"},
    "suppliers.index": {"admin", "ops", "buyer", "manager"},
    "suppliers.show": {"admin", "ops", "buyer", "manager"},
    "suppliers.sync_now": {"admin", "ops"},
    "suppliers.apply_held": {"admin", "ops"},
    "suppliers.discard_held": {"admin", "ops"},
    "suppliers.link_sku": {"admin"},
    "suppliers.set_stock": {"admin", "ops"},
    "suppliers.save_connection": {"admin"},
    "suppliers.connection_credentials": {"admin"},
    "suppliers.preview_mapping": {"admin"},
    "suppliers.fetch_sample": {"admin"},
    "suppliers.save_mapping": {"admin"},
    "jobs.progress": ALL,
    "admin.users_index": {"admin"},
    "admin.create_user": {"admin"},
    "admin.change_role": {"admin"},
    "admin.set_active": {"admin"},
    "admin.audit_log": {"admin", "manager"},
    "api.supplier_stock_push": PUBLIC,
    "exceptions.index": {"admin", "ops", "manager", "support"},
    "exceptions.count": {"admin", "ops", "manager", "support"},
    "exceptions.retry": {"admin", "ops"},
    "exceptions.close": {"admin", "ops"},
    "exceptions.show": {"admin", "ops", "manager", "support"},
    "exceptions.replay": {"admin", "ops"},
    "exceptions.assign": {"admin", "ops"},
    "exceptions.snooze": {"admin", "ops"},
    "exceptions.bulk": {"admin", "ops"},
    "exceptions.reroute": {"admin", "ops"},
    "orders.index": {"admin", "ops", "support", "manager"},
    "orders.show": {"admin", "ops", "support", "manager"},
    "orders.cancel": {"admin", "ops", "support"},
    "orders.upload_form": {"admin", "ops"},
    "orders.upload": {"admin", "ops"},
    "channels.index": {"admin"},
    "channels.new": {"admin"},
    "channels.edit": {"admin"},
    "channels.save": {"admin"},
    "stock.alerts": ALL,  # signed by the supplier, not a session
}
EXPECTED.update({endpoint: {"admin", "manager"} for endpoint in (
    "routing.index", "routing.start_draft", "routing.show", "routing.new_rule", "routing.create_rule",
    "routing.edit_rule", "routing.update_rule", "routing.check_rule", "routing.set_enabled", "routing.move_rule",
    "routing.delete_rule", "routing.trial", "routing.start_preview", "routing.preview_results", "routing.activate",
    "routing.discard")})
EXPECTED["suppliers.shipping_page"] = {"admin", "ops", "buyer", "manager"}
EXPECTED.update({endpoint: {"admin"} for endpoint in (
    "suppliers.save_shipping_terms", "suppliers.add_shipping_service", "suppliers.delete_shipping_service",
    "suppliers.set_shipping_rate", "suppliers.delete_shipping_rate", "suppliers.add_shipping_surcharge",
    "suppliers.delete_shipping_surcharge", "suppliers.import_shipping_rates")})
# The sandbox plays the suppliers' side (mounted only with SANDBOX on, as in these tests): no login, like a supplier's API.
SANDBOX_ENDPOINTS = ("sandbox.supplier_stock", "sandbox.supplier_stock_check", "sandbox.oauth_token",
                     "sandbox.supplier_faults", "sandbox.supplier_stats", "sandbox.sandbox_clock")
EXPECTED.update({endpoint: PUBLIC for endpoint in SANDBOX_ENDPOINTS})
# Channels sign their webhooks and the order API takes a channel's bearer token; the sandbox storefront plays the shop.
EXPECTED.update({endpoint: PUBLIC for endpoint in (
    "api.shopify_webhook", "api.woocommerce_webhook", "api.create_order", "api.openapi",
    "sandbox_storefront.shopify_orders", "sandbox_storefront.woocommerce_orders", "sandbox_storefront.place_orders",
    "sandbox_storefront.cancel_order", "sandbox_storefront.order_rate",
    # what the console tells the shop (quantities, tracking) and the test controls that read it back
    "sandbox_storefront.shopify_set_inventory", "sandbox_storefront.shopify_update_product",
    "sandbox_storefront.shopify_create_fulfilment", "sandbox_storefront.woocommerce_update_product",
    "sandbox_storefront.woocommerce_add_tracking", "sandbox_storefront.published", "sandbox_storefront.order_fulfilments",
    "sandbox_storefront.mode")})
# The suppliers' order desks: dispatch places, polls and cancels supplier orders there; tests switch their mode.
EXPECTED.update({endpoint: PUBLIC for endpoint in (
    "sandbox_supplier_orders.place_order", "sandbox_supplier_orders.order_status", "sandbox_supplier_orders.cancel_order",
    "sandbox_supplier_orders.ship_order", "sandbox_supplier_orders.order_mode", "sandbox_supplier_orders.orders_taken")})
EXPECTED["channels.publish_now"] = {"admin"}
SAMPLE_ARGS = {"filename": "css/app.css", "code": "ACME", "job_id": "no-such-job", "user_id": "1", "run_id": "1", "sku": "KIT-00001", "item_id": "1",
               "rule_set_id": "1", "rule_id": "1", "preview_id": "1",
               "service_id": "1", "rate_id": "1", "surcharge_id": "1", "version": "2024-10", "kind": "shopify",
               "order_id": "1",
               "name": "stock-00000000000000000000000000000000.csv"}


def requests_for(app):
    for rule in app.url_map.iter_rules():
        method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        url = rule.rule
        for argument in rule.arguments:
            url = url.replace(f"<{argument}>", SAMPLE_ARGS[argument]).replace(f"<int:{argument}>", SAMPLE_ARGS[argument])
            url = url.replace(f"<path:{argument}>", SAMPLE_ARGS[argument])
        yield rule.endpoint, method, url


def test_every_route_has_an_expectation(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(EXPECTED) == set(), "new routes need a line in EXPECTED"
    assert set(EXPECTED) - endpoints == set(), "EXPECTED names routes that no longer exist"


@pytest.mark.parametrize("role", [None, *ROLES], ids=lambda role: role or "anonymous")
def test_each_role_gets_exactly_what_the_permission_table_allows(app, make_user, role):
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF has its own tests; here only the permission decides
    make_user("admin", email="first-admin@example.com")
    client = app.test_client()
    if role:
        make_user(role, email=f"matrix-{role}@example.com")
        assert login(client, f"matrix-{role}@example.com").status_code == 302
    problems = []
    for endpoint, method, url in requests_for(app):
        if endpoint == "auth.logout":
            continue  # it would end the session the rest of this loop needs; checked below
        allowed = EXPECTED[endpoint]
        response = client.open(url, method=method)
        status, location = response.status_code, response.headers.get("Location", "")
        if allowed == PUBLIC:
            ok = status != 403 and not location.startswith("/login?")
        elif role is None:
            ok = status == 302 and location.startswith("/login")
        elif role in allowed:
            ok = status not in (401, 403) and not location.startswith("/login")
        else:
            ok = status == 403
        if not ok:
            problems.append(f"{role or 'anonymous'} {method} {url} -> {status} {location}")
    logout = app.test_client().post("/logout")
    assert logout.status_code == 302 and logout.headers["Location"].startswith("/login")
    assert problems == []
