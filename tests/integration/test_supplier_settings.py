"""Admins edit a supplier's connection (credentials write-only) and its feed mapping with a live preview."""
from __future__ import annotations

import dataclasses
import html
import io
import json
import logging
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, Supplier
from app.sandbox.faults import parse_faults, reset_supplier, set_faults, supplier_stats
from app.services import demo, supplier_health
from app.web.suppliers.forms import ConnectionForm, MappingForm
from tests.helpers import csrf_token_from, login

SECRET = "sk_live_5f3a9c1e-do-not-show-me"
NEW_SECRET = "sk_live_77d0b4aa-rotated-key"
HTMX = {"HX-Request": "true"}


def add_supplier(**overrides) -> Supplier:
    settings = {"code": "VAULT", "name": "Vault Supplies", "warehouse_country": "US", "ships_to": ["US"],
                    "connection_type": "rest_json",
                    "connection_options": {"base_url": "https://api.vault.example.com/v1", "stock_path": "/stock",
                                        "pagination": {"style": "page", "page_size": 100},
                                        "auth": {"style": "api_key_header", "header": "X-Api-Key"},
                                        "realtime": {"path": "/stock/check", "sku_param": "item"},
                                        "signature": {"header": "X-Signature"}},
                    "feed_mapping": {"format": "json", "records": "items", "fields": {"sku": "sku", "quantity": "qty"}}}
    settings.update(overrides)
    supplier = Supplier(**settings)
    supplier.credentials = {"api_key": SECRET}
    db.session.add(supplier)
    db.session.commit()
    return supplier


@pytest.fixture
def admin(client, make_user):
    make_user("admin")
    login(client, "admin@example.com")
    return client


def csrf(client, code="VAULT") -> dict[str, str]:
    return {**HTMX, "X-CSRFToken": csrf_token_from(client.get(f"/suppliers/{code}").text)}


def form_data(app, form_class, supplier, **overrides) -> dict[str, str]:
    """What the browser would send for the form as the page shows it, with some inputs changed."""
    with app.test_request_context():
        form = form_class.for_supplier(supplier)
        data = {}
        for field in form:
            if field.type in ("CSRFTokenField", "PasswordField", "FileField") or (field.type == "BooleanField" and not field.data):
                continue
            data[field.name] = "y" if field.type == "BooleanField" else ("" if field.data is None else str(field.data))
    prefix = "connection-" if form_class is ConnectionForm else "mapping-"
    data.update({prefix + name: value for name, value in overrides.items()})
    return data


def post_connection(app, client, supplier, **overrides):
    return client.post(f"/suppliers/{supplier.code}/connection", headers=csrf(client, supplier.code),
                       data=form_data(app, ConnectionForm, supplier, **overrides))


def audit_entries(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def stored(code="VAULT") -> Supplier:
    db.session.expire_all()
    return db.session.scalar(select(Supplier).where(Supplier.code == code))


# --- the connection form ----------------------------------------------------------------------


def test_the_admin_sees_the_connection_form_with_credentials_write_only(app, admin):
    add_supplier()
    page = admin.get("/suppliers/VAULT").text
    assert 'id="connection-form"' in page and 'id="mapping-editor"' in page
    assert "set ••••••••" in page and SECRET not in page
    assert 'name="connection-api_key"' in page and 'type="password"' in page
    assert 'value="https://api.vault.example.com/v1"' in page


def test_saving_the_connection_audits_every_non_secret_change_and_never_the_secret(app, admin, caplog):
    supplier = add_supplier()
    before = (supplier.last_run_at, supplier.delta_since, supplier.feed_mapping)
    with caplog.at_level(logging.DEBUG):
        response = post_connection(app, admin, supplier, base_url="https://stock.vault.example.com/v2",
                                   page_size="250", poll_interval_minutes="30", guard_max_drop_pct="40",
                                   api_key=NEW_SECRET)
        page = admin.get("/suppliers/VAULT").text
        audit_page = admin.get("/admin/audit").text
    assert response.status_code == 200, response.text
    assert "Connection saved" in response.text and response.headers["HX-Trigger"] == '{"connection-saved": null}'
    supplier = stored()
    assert supplier.connection_options["base_url"] == "https://stock.vault.example.com/v2"
    assert supplier.connection_options["pagination"] == {"style": "page", "page_size": 250}
    # What the form does not edit is kept, and nothing else is reset.
    assert supplier.connection_options["signature"] == {"header": "X-Signature"}
    assert supplier.connection_options["realtime"] == {"path": "/stock/check", "sku_param": "item"}
    assert (supplier.last_run_at, supplier.delta_since, supplier.feed_mapping) == before
    assert (supplier.poll_interval_minutes, supplier.guard_max_drop_pct) == (30, 40)
    assert supplier.credentials == {"api_key": NEW_SECRET}

    [entry] = audit_entries("supplier.connection_changed")
    assert entry.actor_label == "admin@example.com" and entry.entity_id == str(supplier.id)
    assert entry.changes == {
        "options.base_url": ["https://api.vault.example.com/v1", "https://stock.vault.example.com/v2"],
        "options.pagination.page_size": [100, 250],
        "poll_interval_minutes": [None, 30],
        "guard_max_drop_pct": [50, 40],
        "credentials.api_key": ["set", "changed"],
    }
    for text in (response.text, page, audit_page, json.dumps(entry.changes), caplog.text):
        assert SECRET not in text and NEW_SECRET not in text
    assert "credentials.api_key" in audit_page
    assert "supplier_connection_saved supplier=VAULT" in caplog.text  # the logs were captured, and hold no secret


def test_an_empty_credential_field_keeps_the_stored_one(app, admin):
    supplier = add_supplier()
    response = post_connection(app, admin, supplier, stock_path="/inventory")
    assert response.status_code == 200
    assert stored().credentials == {"api_key": SECRET}
    [entry] = audit_entries("supplier.connection_changed")
    assert entry.changes == {"options.stock_path": ["/stock", "/inventory"]}


def test_the_form_as_shown_saves_as_nothing_changed_and_writes_no_audit_entry(app, admin):
    supplier = add_supplier()
    ciphertext = supplier.credentials_ciphertext
    response = post_connection(app, admin, supplier)
    assert response.status_code == 200 and "Nothing changed." in response.text
    assert audit_entries("supplier.connection_changed") == []
    assert stored().credentials_ciphertext == ciphertext


def test_the_clear_box_removes_a_stored_credential_and_the_audit_says_only_cleared(app, admin):
    supplier = add_supplier(connection_options={"base_url": "https://api.vault.example.com", "auth": {"style": "none"}})
    response = post_connection(app, admin, supplier, clear_api_key="y")
    assert response.status_code == 200, response.text
    assert stored().credentials == {} and stored().credentials_ciphertext is None
    [entry] = audit_entries("supplier.connection_changed")
    assert entry.changes == {"credentials.api_key": ["set", "cleared"]}


def test_an_invalid_address_and_numbers_out_of_range_give_422_with_the_message_beside_each_field(app, admin):
    supplier = add_supplier()
    response = post_connection(app, admin, supplier, base_url="ftp://files.vault.example.com", page_size="0",
                               guard_max_out_flip_pct="250", timeout_seconds="900", api_key=SECRET + "-typed")
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert 'id="connection-base_url-error"' in text and "Enter an address that starts with http:// or https://." in text
    assert 'id="connection-page_size-error"' in text and 'id="connection-guard_max_out_flip_pct-error"' in text
    assert 'id="connection-timeout_seconds-error"' in text
    assert 'aria-invalid="true"' in text and "Please correct the following" in text
    assert SECRET not in text  # a typed secret is not echoed back, even when the form is refused
    assert stored().connection_options["base_url"] == "https://api.vault.example.com/v1"
    assert audit_entries("supplier.connection_changed") == []


def test_an_auth_style_without_its_credentials_is_refused_beside_the_missing_one(app, admin):
    supplier = add_supplier()
    response = post_connection(app, admin, supplier, auth_style="basic", username="vault-user")
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert 'id="connection-password-error"' in text and "needs the password" in text
    assert "vault-user" not in text
    assert stored().credentials == {"api_key": SECRET}


def test_oauth2_needs_a_token_url_and_a_pulled_connection_needs_an_address(app, admin):
    supplier = add_supplier()
    response = post_connection(app, admin, supplier, auth_style="oauth2_client_credentials", base_url="",
                               client_id="id", client_secret="shh")
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert "OAuth2 needs the supplier's token URL." in text
    assert "Enter the supplier's address" in text


def test_a_connection_type_that_cannot_follow_the_pagination_is_refused(app, admin):
    supplier = add_supplier()
    response = post_connection(app, admin, supplier, connection_type="csv_http", pagination_style="cursor")
    assert response.status_code == 422
    assert 'id="connection-pagination_style-error"' in response.text


def test_choosing_a_sign_in_redraws_the_credential_inputs_it_needs_and_saves_nothing(app, admin):
    supplier = add_supplier()
    response = admin.post("/suppliers/VAULT/connection/credentials", headers=csrf(admin),
                          data=form_data(app, ConnectionForm, supplier, auth_style="basic", api_key=NEW_SECRET))
    assert response.status_code == 200
    inputs = {re.search(r'name="connection-(\w+)"', tag).group(1)
              for tag in re.findall(r"<input[^>]*>", response.text) if 'type="password"' in tag}
    assert inputs == {"api_key", "username", "password"}  # the stored key, and what basic sign-in needs
    assert NEW_SECRET not in response.text
    assert stored().connection_options["auth"]["style"] == "api_key_header"
    assert audit_entries("supplier.connection_changed") == []


def test_switching_to_a_type_the_mapping_does_not_fit_saves_with_a_warning(app, admin):
    supplier = add_supplier()
    response = post_connection(app, admin, supplier, connection_type="csv_http")
    assert response.status_code == 200, response.text
    assert "The feed mapping reads JSON, but this connection sends CSV" in html.unescape(response.text)
    assert stored().connection_type == "csv_http"


@pytest.mark.parametrize("role", ["ops", "manager", "buyer"])
def test_other_roles_see_the_supplier_without_the_editors_and_get_403_on_every_change(app, client, make_user, role):
    supplier = add_supplier()
    make_user(role)
    login(client, f"{role}@example.com")
    page = client.get("/suppliers/VAULT")
    assert page.status_code == 200
    assert 'id="connection-form"' not in page.text and 'id="mapping-editor"' not in page.text
    headers = {**HTMX, "X-CSRFToken": csrf_token_from(page.text)}
    for path in ("connection", "connection/credentials", "mapping", "mapping/preview", "mapping/sample"):
        response = client.post(f"/suppliers/VAULT/{path}", headers=headers,
                               data=form_data(app, ConnectionForm, supplier, base_url="https://evil.example.com"))
        assert response.status_code == 403, path
    assert stored().connection_options["base_url"] == "https://api.vault.example.com/v1"


def test_an_unknown_supplier_is_404(app, admin):
    add_supplier()
    response = admin.post("/suppliers/NOPE/connection", headers=csrf(admin), data={})
    assert response.status_code == 404


# --- the mapping editor ---------------------------------------------------------------------

JSON_SAMPLE = json.dumps({"items": [
    {"sku": "A-1", "qty": 12, "updated_at": "2026-01-05T10:00:00Z", "cost": "4.50"},
    {"sku": "A-2", "qty": "n/a"},
    {"qty": 3},
    {"sku": "A-3", "qty": 0},
]})
CSV_SAMPLE = "Artikel;Lager;Status\nB-1;1,200;\nB-2;;Slut\n;5;\nB-3;>50;\nB-4;many;\n"
XML_SAMPLE = ('<?xml version="1.0"?><stock><product sku="C-1"><available>7</available></product>'
              '<product sku="C-2"><available>lots</available></product><product><available>2</available></product></stock>')
SAMPLES = {
    "json": ({"format": "json", "records": "items", "sku": "sku", "quantity": "qty", "updated_at": "updated_at", "cost": "cost"},
             JSON_SAMPLE, {"A-1", "A-3"}, {"bad_quantity", "missing_sku"}),
    "csv": ({"format": "csv", "records": "", "sku": "Artikel", "quantity": "Lager", "status": "Status", "csv_delimiter": ";",
                 "status_map": "Slut = out_of_stock"},
            CSV_SAMPLE, {"B-1", "B-2", "B-3"}, {"bad_quantity", "missing_sku"}),
    "xml": ({"format": "xml", "records": "product", "sku": "@sku", "quantity": "available"},
            XML_SAMPLE, {"C-1"}, {"bad_quantity", "missing_sku"}),
}


def preview(app, client, supplier, sample=None, **fields):
    data = form_data(app, MappingForm, supplier, **fields)
    if sample is not None:
        data["mapping-sample_text"] = sample
    return client.post(f"/suppliers/{supplier.code}/mapping/preview", headers=csrf(client, supplier.code), data=data)


@pytest.mark.parametrize("feed_format", SAMPLES)
def test_a_pasted_sample_previews_its_records_and_rejects_side_by_side(app, admin, feed_format):
    supplier = add_supplier(connection_type="upload", connection_options={})
    fields, sample, skus, reasons = SAMPLES[feed_format]
    response = preview(app, admin, supplier, sample, **fields)
    assert response.status_code == 200, response.text
    text = html.unescape(response.text)
    assert text.lstrip().startswith('<div id="mapping-preview"')
    assert f"Stock records ({len(skus)})" in text and "Rejects (2)" in text
    for sku in skus:
        assert f"<code>{sku}</code>" in text
    for reason in reasons:
        assert f"<code>{reason}</code>" in text
    assert audit_entries("supplier.mapping_changed") == []  # a preview saves nothing


def test_the_preview_shows_only_the_first_50_records_with_the_full_counts(app, admin):
    supplier = add_supplier()
    body = json.dumps({"items": [{"sku": f"S-{n:03d}", "qty": n} for n in range(120)] + [{"qty": 1}] * 60})
    response = preview(app, admin, supplier, body)
    text = response.text
    assert "Stock records (120)" in text and "Rejects (60)" in text and "The first 50 of each are shown." in text
    assert text.count("<code>S-") == 50 and "<code>missing_sku</code>" in text


def test_an_uploaded_sample_file_is_previewed(app, admin):
    supplier = add_supplier(connection_type="upload", connection_options={})
    data = form_data(app, MappingForm, supplier, **SAMPLES["csv"][0])
    data["mapping-sample_file"] = (io.BytesIO(CSV_SAMPLE.encode("utf-8")), "stock.csv")
    response = admin.post("/suppliers/VAULT/mapping/preview", headers=csrf(admin), data=data,
                          content_type="multipart/form-data")
    assert response.status_code == 200
    assert "the file stock.csv" in response.text and "Stock records (3)" in response.text


def test_a_bad_mapping_shows_its_message_in_the_preview(app, admin):
    supplier = add_supplier()
    response = preview(app, admin, supplier, JSON_SAMPLE, sku="", timezone="Mars/Olympus")
    assert response.status_code == 422
    assert "mapping.fields.sku is required" in html.unescape(response.text)
    response = preview(app, admin, supplier, JSON_SAMPLE, timezone="Mars/Olympus")
    assert "mapping.timezone 'Mars/Olympus' is not a known IANA zone" in html.unescape(response.text)


def test_a_sample_that_cannot_be_parsed_says_so_without_quoting_it(app, admin):
    supplier = add_supplier()
    response = preview(app, admin, supplier, '{"items": [ {"sku": "unfinished-secret-looking-thing"')
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert "The sample cannot be read as json" in text and "unfinished-secret-looking-thing" not in text
    assert "Traceback" not in text


def test_saving_the_mapping_stores_it_and_audits_old_to_new(app, admin):
    supplier = add_supplier()
    response = admin.post("/suppliers/VAULT/mapping", headers=csrf(admin), data={
        **form_data(app, MappingForm, supplier, quantity="stock.available", status="state",
                    status_map="Sold out = out_of_stock\nPlenty = in_stock", assume_quantity="20"),
        "mapping-sample_text": json.dumps({"items": [{"sku": "A-1", "stock": {"available": 4}},
                                                     {"sku": "A-2", "state": "Plenty"}]}),
    })
    assert response.status_code == 200, response.text
    assert response.headers["HX-Trigger"] == '{"mapping-saved": null}'
    assert response.text.lstrip().startswith('<section id="mapping-editor"')
    assert "Feed mapping saved." in response.text and "Stock records (2)" in response.text
    assert stored().feed_mapping == {
        "format": "json", "records": "items", "assume_quantity": 20,
        "fields": {"sku": "sku", "quantity": "stock.available", "status": "state"},
        "status_map": {"Sold out": "out_of_stock", "Plenty": "in_stock"},
    }
    [entry] = audit_entries("supplier.mapping_changed")
    assert entry.changes == {
        "assume_quantity": [None, 20],
        "fields.quantity": ["qty", "stock.available"],
        "fields.status": [None, "state"],
        "status_map": [None, {"Sold out": "out_of_stock", "Plenty": "in_stock"}],
    }


def test_saving_a_bad_mapping_is_refused_with_the_message_beside_its_field(app, admin):
    supplier = add_supplier()
    response = admin.post("/suppliers/VAULT/mapping", headers=csrf(admin),
                          data=form_data(app, MappingForm, supplier, status_map="Sold out = gone"))
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert 'id="mapping-status_map-error"' in text and "mapping.status_map['Sold out'] must be one of" in text
    response = admin.post("/suppliers/VAULT/mapping", headers=csrf(admin),
                          data=form_data(app, MappingForm, supplier, status_map="no equals sign here"))
    assert response.status_code == 422 and "Line 1: write it as supplier text = status." in response.text
    response = admin.post("/suppliers/VAULT/mapping", headers=csrf(admin),
                          data=form_data(app, MappingForm, supplier, format="csv"))
    assert response.status_code == 422 and 'id="mapping-format-error"' in response.text
    assert stored().feed_mapping["fields"] == {"sku": "sku", "quantity": "qty"}
    assert audit_entries("supplier.mapping_changed") == []


def test_fetch_is_refused_politely_for_a_supplier_that_uploads(app, admin):
    supplier = add_supplier(connection_type="upload", connection_options={})
    response = admin.post("/suppliers/VAULT/mapping/sample", headers=csrf(admin),
                          data=form_data(app, MappingForm, supplier))
    assert response.status_code == 422 and "There is nothing to fetch" in response.text


# --- fetch one page, against the sandbox over real HTTP --------------------------------------


@pytest.fixture
def sandbox_suppliers(app, sandbox_url):
    config = app.config["DROPDESK"]
    app.config["DROPDESK"] = dataclasses.replace(config, sandbox_url=sandbox_url)
    demo.seed()
    for code in ("ACME", "EUROHUB"):
        reset_supplier(code)
        supplier_health.reset(code)
    yield {s.code: s for s in db.session.scalars(select(Supplier))}
    for code in ("ACME", "EUROHUB"):
        reset_supplier(code)
        supplier_health.reset(code)
    app.config["DROPDESK"] = config


@pytest.mark.parametrize("code", ["ACME", "EUROHUB"])  # page numbers + API key; cursor + OAuth2
def test_fetch_one_page_asks_the_supplier_for_its_first_page_only_and_previews_it(app, admin, sandbox_suppliers, code,
                                                                                    caplog):
    supplier = sandbox_suppliers[code]
    secrets = list(supplier.credentials.values())
    with caplog.at_level(logging.DEBUG):
        response = admin.post(f"/suppliers/{code}/mapping/sample", headers=csrf(admin, code),
                              data=form_data(app, MappingForm, supplier))
    assert response.status_code == 200, response.text
    text = html.unescape(response.text)
    assert "the first page, fetched from the supplier just now" in text
    assert "Stock records (100)" in text  # one page of the sandbox's 100, of several hundred SKUs
    assert re.search(r'<textarea[^>]*name="mapping-sample_text"[^>]*>\s*\{', text)  # the page, ready to edit against
    stock_calls = [call for call in supplier_stats(code)["recent"] if call["path"].endswith("/stock")]
    assert len(stock_calls) == 1
    for secret in secrets:
        assert secret not in text and secret not in caplog.text


def test_fetch_from_a_supplier_that_is_down_shows_the_reason_not_a_stack_trace(app, admin, sandbox_suppliers):
    supplier = sandbox_suppliers["ACME"]
    set_faults("ACME", parse_faults({"down": True}, datetime.now(UTC)))
    response = admin.post("/suppliers/ACME/mapping/sample", headers=csrf(admin, "ACME"),
                          data=form_data(app, MappingForm, supplier))
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert "The supplier could not be asked:" in text and "Traceback" not in text
    assert supplier.credentials["api_key"] not in text
    assert 'id="mapping-editor"' in text  # the editor stays, with its inputs
