"""Supplier shipping data: terms, services, rates and surcharges edited by admins; rate tables imported from CSV."""
from __future__ import annotations

import io
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, ShippingRate, ShippingService
from app.services import ServiceError, shipping
from tests.helpers import csrf_token_from, login
from tests.integration import routing_world as world


@pytest.fixture
def acme(app):
    supplier = world.supplier("ACME", "US", ["US", "CA"])
    world.service(supplier, "UPS", "ground", {"US": ("5.00", "0.40", 3)})
    db.session.commit()
    return supplier


def rates_of(supplier) -> dict:
    return {(s.carrier, s.service, r.country): (r.base, r.per_kg, r.transit_days)
            for s in db.session.scalars(select(ShippingService).where(ShippingService.supplier_id == supplier.id))
            for r in s.rates}


def test_a_rate_table_upserts_rates_and_creates_the_services_it_names(acme):
    body = ("carrier,service,country,base,per_kg,transit_days,speed\n"
            "UPS,ground,US,5.50,0.40,3,\n"  # changed
            "UPS,ground,CA,9.00,1.00,5,\n"  # new
            "DHL,express,US,15.00,1.20,1,express\n")  # new service
    result = shipping.import_rates_csv("ACME", body.encode(), actor="test")
    assert (result.imported, result.rows, result.created, result.updated) == (True, 3, 2, 1)
    assert result.services_created == ("DHL express",)
    db.session.expire_all()
    assert rates_of(acme) == {("UPS", "ground", "US"): (Decimal("5.50"), Decimal("0.40"), 3),
                              ("UPS", "ground", "CA"): (Decimal("9.00"), Decimal("1.00"), 5),
                              ("DHL", "express", "US"): (Decimal("15.00"), Decimal("1.20"), 1)}
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "shipping.rates_imported")).one()
    assert entry.changes["rate UPS ground US"] == ["5.00 + 0.40/kg, 3 days", "5.50 + 0.40/kg, 3 days"]


def test_a_rate_table_with_bad_rows_imports_nothing_and_names_every_bad_row(acme):
    body = ("carrier;service;country;base;per_kg;transit_days\n"
            "UPS;ground;CA;9.00;1.00;5\n"
            "UPS;ground;USA;5.00;0.40;3\n"
            "UPS;ground;MX;twelve;0.40;3\n"
            "UPS;ground;CA;9.50;1.00;5\n"
            "UPS;ground;MX;7.00\n"
            ";ground;GB;7.00;0.50;-1\n")
    result = shipping.import_rates_csv("ACME", body, actor="test")
    assert not result.imported
    assert [(e.line, e.column) for e in result.errors] == [
        (3, "country"), (4, "base"), (5, "country"), (6, None), (7, "carrier"), (7, "transit_days")]
    assert result.errors[2].message == "UPS ground CA is also on line 2."
    db.session.expire_all()
    assert rates_of(acme) == {("UPS", "ground", "US"): (Decimal("5.00"), Decimal("0.40"), 3)}  # untouched
    assert db.session.scalar(select(AuditEntry.id).where(AuditEntry.action == "shipping.rates_imported")) is None


def test_a_rate_file_missing_columns_or_not_text_is_refused_with_a_reason(acme):
    assert "lacks per_kg, transit_days" in shipping.import_rates_csv(
        "ACME", b"carrier,service,country,base\nUPS,ground,US,1\n", actor="test").errors[0].message
    assert "not UTF-8" in shipping.import_rates_csv("ACME", b"\xff\xfe\x00bad", actor="test").errors[0].message
    assert "is empty" in shipping.import_rates_csv("ACME", b"", actor="test").errors[0].message


def test_terms_changes_are_validated_and_audited_old_to_new(acme, make_user):
    admin = make_user("admin")
    changed = shipping.save_terms("ACME", shipping.ShippingTerms(Decimal("2.5"), Decimal("1.5"), Decimal("20"), 2,
                                                                 "us", ("us", "CA", "mx")), admin)
    assert set(changed) == {"order_fee", "fee_pct", "min_order_value", "lead_time_days", "ships_to"}
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "supplier.shipping_terms_changed")).one()
    assert entry.changes["ships_to"] == [["CA", "US"], ["CA", "MX", "US"]]
    assert entry.changes["fee_pct"] == ["0.00", "1.50"]
    with pytest.raises(ServiceError, match="not a country code"):
        shipping.save_terms("ACME", shipping.ShippingTerms(0, 0, 0, 0, "USA", ("US",)), admin)


def test_an_admin_sets_a_rate_and_a_surcharge_on_the_page_and_sees_bad_input_beside_the_field(acme, make_user, client):
    make_user("admin")
    login(client, "admin@example.com")
    page = client.get("/suppliers/ACME/shipping")
    assert page.status_code == 200 and "Import a rate table" in page.text
    token = csrf_token_from(page.text)
    service_id = str(acme_service_id(acme))
    refused = client.post("/suppliers/ACME/shipping/rates", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "rate-service_id": service_id, "rate-country": "Canada", "rate-base": "9",
        "rate-per_kg": "1", "rate-transit_days": "5"})
    assert refused.status_code == 422 and "Two letters, like DE or US." in refused.text
    saved = client.post("/suppliers/ACME/shipping/rates", headers={"HX-Request": "true"}, data={
        "csrf_token": token, "rate-service_id": service_id, "rate-country": "ca", "rate-base": "9",
        "rate-per_kg": "1", "rate-transit_days": "5"})
    assert saved.status_code == 200 and saved.headers["HX-Trigger"] == '{"shipping-changed": null}'
    assert db.session.scalar(select(ShippingRate.base).where(ShippingRate.country == "CA")) == Decimal("9.00")
    uploaded = client.post("/suppliers/ACME/shipping/rates/import", headers={"HX-Request": "true"},
                           content_type="multipart/form-data", data={
                               "csrf_token": token,
                               "import-rates_file": (io.BytesIO(b"carrier,service,country,base,per_kg,transit_days\n"
                                                                b"UPS,ground,US,x,1,2\n"), "rates.csv")})
    assert uploaded.status_code == 422
    assert "Nothing was imported: 1 problem in the file" in uploaded.text and "Traceback" not in uploaded.text


def acme_service_id(supplier) -> int:
    return db.session.scalar(select(ShippingService.id).where(ShippingService.supplier_id == supplier.id))


def test_buyers_read_shipping_data_but_cannot_change_it(acme, make_user, client):
    make_user("buyer")
    login(client, "buyer@example.com")
    page = client.get("/suppliers/ACME/shipping")
    assert page.status_code == 200 and "UPS ground" in page.text and "Import a rate table" not in page.text
    assert client.post("/suppliers/ACME/shipping/terms", data={}).status_code in (400, 403)
