"""Sandbox credentials and connections: stable per supplier, and each mapping is one FEEDS.md accepts."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.feeds import FeedMapping
from app.sandbox import (
    SANDBOX_SUPPLIERS,
    oauth,
    sandbox_connection,
    sandbox_credentials,
)
from app.sandbox.connections import UnknownSandboxSupplier

PULL_STYLES = {"none", "page", "offset", "cursor", "next_link"}
AUTH_STYLES = {"none", "api_key_header", "api_key_query", "basic", "bearer", "oauth2_client_credentials"}


def test_credentials_are_the_same_every_time_and_differ_between_suppliers():
    assert sandbox_credentials("ACME") == sandbox_credentials("ACME")
    secrets = [value for code in SANDBOX_SUPPLIERS for value in sandbox_credentials(code).values()]
    assert len(secrets) == len(set(secrets))


@pytest.mark.parametrize("code, names", [
    ("ACME", {"api_key"}), ("ATLAS", {"api_key"}), ("BRITBOX", {"api_key"}), ("PACIFIC", {"api_key"}),
    ("NORDIC", {"username", "password"}), ("MAPLE", {"token"}), ("ALPINE", {"token"}),
    ("EUROHUB", {"client_id", "client_secret"}), ("SUNRISE", {"webhook_secret"}), ("HARBOR", set()),
])
def test_each_supplier_gets_the_credentials_its_auth_style_needs(code, names):
    assert set(sandbox_credentials(code)) == names


@pytest.mark.parametrize("code", sorted(SANDBOX_SUPPLIERS))
def test_each_connection_follows_the_connector_contract_and_its_mapping_reads(code):
    connection_type, options, mapping = sandbox_connection(code, "http://127.0.0.1:5000/")
    assert connection_type in {"rest_json", "csv_http", "xml_http", "push", "upload"}
    FeedMapping.from_dict(mapping)
    if connection_type in {"rest_json", "csv_http", "xml_http"}:
        assert options["base_url"] == f"http://127.0.0.1:5000/sandbox/suppliers/{code}"
        assert options["stock_path"] == "/stock"
        assert options["pagination"]["style"] in PULL_STYLES
        assert options["auth"]["style"] in AUTH_STYLES
        assert options["timeout_seconds"] > 0


def test_oauth_supplier_names_its_token_url():
    _, options, _ = sandbox_connection("EUROHUB", "http://127.0.0.1:5000")
    assert options["auth"] == {"style": "oauth2_client_credentials", "token_url": "http://127.0.0.1:5000/sandbox/oauth/token",
                               "scope": "stock:read"}


def test_unknown_code_is_refused():
    with pytest.raises(UnknownSandboxSupplier):
        sandbox_connection("NOPE", "http://x")


def test_an_access_token_is_good_for_an_hour_and_not_after_revocation():
    issued = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    token = oauth.issue_access_token("EUROHUB", issued)
    assert oauth.access_token_valid(token, "EUROHUB", issued + timedelta(minutes=59))
    assert not oauth.access_token_valid(token, "EUROHUB", issued + timedelta(hours=1))
    assert not oauth.access_token_valid(token, "EUROHUB", issued, revoked_at=issued)
    assert not oauth.access_token_valid(token[:-1] + ("0" if token[-1] != "0" else "1"), "EUROHUB", issued)
    assert not oauth.access_token_valid(token, "ACME", issued)
