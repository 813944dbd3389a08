"""Supplier credentials: encrypted at rest, masked on pages, rotated to a new key (invariant 7)."""
import dataclasses
import logging

from cryptography.fernet import Fernet
from sqlalchemy import select, text

from app.extensions import db
from app.models import Supplier
from tests.helpers import login

SECRET = "sk_live_0123456789abcdef-very-secret"


def add_supplier() -> Supplier:
    supplier = Supplier(code="VAULT", name="Vault Test", warehouse_country="US", ships_to=["US"],
                        connection_type="rest_json", connection_options={"base_url": "https://api.vault.example.com"})
    supplier.credentials = {"api_key": SECRET}
    db.session.add(supplier)
    db.session.commit()
    return supplier


def test_credentials_are_stored_encrypted_and_read_back(app):
    supplier = add_supplier()
    raw = db.session.execute(text("SELECT credentials_ciphertext FROM suppliers WHERE code = 'VAULT'")).scalar_one()
    assert SECRET not in raw and "api_key" not in raw
    db.session.expire_all()
    assert db.session.get(Supplier, supplier.id).credentials == {"api_key": SECRET}


def test_the_supplier_page_shows_that_a_secret_is_set_never_the_secret(client, make_user, app, caplog):
    add_supplier()
    make_user("admin")
    login(client, "admin@example.com")
    with caplog.at_level(logging.DEBUG):
        html = client.get("/suppliers/VAULT").text
    assert "api_key" in html and "••••••••" in html
    assert SECRET not in html and SECRET[-6:] not in html
    assert SECRET not in caplog.text
    assert SECRET not in repr(db.session.scalar(select(Supplier).where(Supplier.code == "VAULT")))


def test_rotation_re_encrypts_with_the_newest_key_so_the_old_one_can_be_retired(app):
    supplier = add_supplier()
    config = app.config["DROPDESK"]
    old_key, new_key = config.secrets_keys[0], Fernet.generate_key().decode()
    try:
        app.config["DROPDESK"] = dataclasses.replace(config, secrets_keys=[new_key, old_key])
        result = app.test_cli_runner().invoke(args=["secrets", "rotate"])
        assert result.exit_code == 0 and "Re-encrypted 1" in result.output
        app.config["DROPDESK"] = dataclasses.replace(config, secrets_keys=[new_key])  # old key retired
        db.session.expire_all()
        assert db.session.get(Supplier, supplier.id).credentials == {"api_key": SECRET}
    finally:
        app.config["DROPDESK"] = config


def test_rotation_without_the_key_that_wrote_them_fails_clearly_and_changes_nothing(app):
    supplier = add_supplier()
    before = supplier.credentials_ciphertext
    config = app.config["DROPDESK"]
    try:
        app.config["DROPDESK"] = dataclasses.replace(config, secrets_keys=[Fernet.generate_key().decode()])
        result = app.test_cli_runner().invoke(args=["secrets", "rotate"])
    finally:
        app.config["DROPDESK"] = config
    assert result.exit_code == 1 and "cannot be decrypted" in result.output and SECRET not in result.output
    db.session.expire_all()
    assert db.session.get(Supplier, supplier.id).credentials_ciphertext == before
