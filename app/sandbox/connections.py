"""Which API style each demo supplier's sandbox speaks, the credentials it accepts, and how Dropdesk connects to it.

Pure (standard library only), so the demo seed, connectors' tests and the sandbox routes share one truth.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

# Never a secret worth keeping: the sandbox is refused in production, and its credentials only
# need to be stable and different per supplier so a connector sending the wrong one is caught.
_CREDENTIAL_SALT = "dropdesk-sandbox-credentials"
TIMEOUT_SECONDS = 10
PAGE_SIZE = 100
ORDERS_PATH = "/orders"


@dataclass(frozen=True)
class SandboxSupplier:
    """One simulated supplier: its API style, wire format and how it checks who is calling."""

    code: str
    style: str  # page_json, cursor_json, semicolon_csv, xml, next_link_json, comma_csv, offset_json, push, upload_csv
    connection_type: str  # rest_json, csv_http, xml_http, push, upload
    auth: str  # none, api_key_header, api_key_query, basic, bearer, oauth2_client_credentials, webhook
    auth_header: str | None = None  # the header an API key travels in
    timezone: str = "UTC"  # the zone of the timestamps it sends


SANDBOX_SUPPLIERS: dict[str, SandboxSupplier] = {
    supplier.code: supplier
    for supplier in (
        SandboxSupplier("ACME", "page_json", "rest_json", "api_key_header", auth_header="X-Api-Key"),
        SandboxSupplier("EUROHUB", "cursor_json", "rest_json", "oauth2_client_credentials", timezone="Europe/Berlin"),
        SandboxSupplier("NORDIC", "semicolon_csv", "csv_http", "basic", timezone="Europe/Stockholm"),
        SandboxSupplier("MAPLE", "xml", "xml_http", "bearer"),
        SandboxSupplier("ALPINE", "xml", "xml_http", "bearer", timezone="Europe/Vienna"),
        SandboxSupplier("ATLAS", "next_link_json", "rest_json", "api_key_query"),
        SandboxSupplier("BRITBOX", "comma_csv", "csv_http", "api_key_header", auth_header="X-Auth-Token"),
        SandboxSupplier("PACIFIC", "offset_json", "rest_json", "api_key_header", auth_header="X-Api-Key"),
        SandboxSupplier("SUNRISE", "push", "push", "webhook"),
        SandboxSupplier("HARBOR", "upload_csv", "upload", "none"),
    )
}
OAUTH_SCOPE = "stock:read"
SIGNATURE_HEADER = "X-Signature"
SIGNATURE_PREFIX = "sha256="
DELIVERY_ID_HEADER = "X-Webhook-Id"


class UnknownSandboxSupplier(KeyError):
    """The code is not one of the simulated demo suppliers."""


def sandbox_supplier(code: str) -> SandboxSupplier:
    try:
        return SANDBOX_SUPPLIERS[code]
    except KeyError:
        raise UnknownSandboxSupplier(f"{code!r} is not a sandbox supplier; known: {', '.join(SANDBOX_SUPPLIERS)}") from None


def sandbox_credentials(code: str) -> dict[str, str]:
    """The credentials the sandbox accepts for this supplier, in the names Supplier.credentials uses."""
    supplier = sandbox_supplier(code)
    secret = _secret(code, "secret")
    if supplier.auth in ("api_key_header", "api_key_query"):
        return {"api_key": secret}
    if supplier.auth == "basic":
        return {"username": f"dropdesk-{code.lower()}", "password": secret}
    if supplier.auth == "bearer":
        return {"token": secret}
    if supplier.auth == "oauth2_client_credentials":
        return {"client_id": f"dropdesk-{code.lower()}-{_secret(code, 'client')[:8]}", "client_secret": secret}
    if supplier.auth == "webhook":
        return {"webhook_secret": secret}
    return {}


def sandbox_connection(code: str, base_url: str) -> tuple[str, dict, dict]:
    """(connection_type, options, mapping) that let a connector plus normalize_feed read this supplier.

    `base_url` is where the Dropdesk web app with SANDBOX on answers, e.g. http://127.0.0.1:5000.
    Paths in the options are appended to options["base_url"]; token_url is absolute. options["orders"]
    says where its order API is (app.connectors.orders).
    """
    supplier = sandbox_supplier(code)
    root = base_url.rstrip("/")
    options: dict = {
        "base_url": f"{root}/sandbox/suppliers/{code}",
        "stock_path": "/stock",
        "pagination": {"style": "none"},
        "auth": {"style": supplier.auth},
        "timeout_seconds": TIMEOUT_SECONDS,
    }
    if supplier.auth_header:
        options["auth"]["header"] = supplier.auth_header
    connection_type, options, mapping = _CONNECTIONS[supplier.style](supplier, root, options)
    options["orders"] = _orders(supplier, root, options)
    return connection_type, options, mapping


def _orders(supplier: SandboxSupplier, root: str, options: dict) -> dict:
    """Every sandbox supplier takes orders at <its base_url>/orders, with the auth of its stock API."""
    orders: dict = {"path": ORDERS_PATH, "timeout_seconds": TIMEOUT_SECONDS}
    if "base_url" not in options:  # it pushes its stock or sends files: only its order API is called
        orders["base_url"] = f"{root}/sandbox/suppliers/{supplier.code}"
    return orders


def _page_json(supplier: SandboxSupplier, root: str, options: dict) -> tuple[str, dict, dict]:
    options["pagination"] = {"style": "page", "page_param": "page", "size_param": "per_page",
                             "page_size": PAGE_SIZE, "first_page": 1}
    options["delta"] = {"param": "updated_since"}
    options["realtime"] = {"path": "/stock/check", "sku_param": "sku"}
    mapping = {"format": "json", "records": "items",
               "fields": {"sku": "sku", "quantity": "qty", "updated_at": "updated_at", "cost": "cost"}}
    return supplier.connection_type, options, mapping


def _cursor_json(supplier: SandboxSupplier, root: str, options: dict) -> tuple[str, dict, dict]:
    options["pagination"] = {"style": "cursor", "cursor_param": "cursor", "cursor_path": "meta.next_cursor",
                             "size_param": "limit", "page_size": PAGE_SIZE}
    options["auth"].update(token_url=f"{root}/sandbox/oauth/token", scope=OAUTH_SCOPE)
    mapping = {"format": "json", "records": "data.products",
               "fields": {"sku": "id", "quantity": "stock.available", "updated_at": "stock.updated",
                          "cost": "pricing.cost"}}
    return supplier.connection_type, options, mapping


def _semicolon_csv(supplier: SandboxSupplier, root: str, options: dict) -> tuple[str, dict, dict]:
    mapping = {"format": "csv", "csv": {"delimiter": ";"}, "timezone": supplier.timezone,
               "fields": {"sku": "Artikelnummer", "quantity": "Lagersaldo", "updated_at": "Senast ändrad",
                          "cost": "Inköpspris"}}
    return supplier.connection_type, options, mapping


def _xml(supplier: SandboxSupplier, root: str, options: dict) -> tuple[str, dict, dict]:
    mapping = {"format": "xml", "records": "product",
               "fields": {"sku": "@sku", "quantity": "available", "updated_at": "updated", "cost": "cost"}}
    return supplier.connection_type, options, mapping


def _next_link_json(supplier: SandboxSupplier, root: str, options: dict) -> tuple[str, dict, dict]:
    options["pagination"] = {"style": "next_link", "next_link_path": "links.next", "size_param": "page_size",
                             "page_size": PAGE_SIZE}
    options["auth"]["query_param"] = "api_key"
    mapping = {"format": "json", "records": "results",
               "fields": {"sku": "sku", "quantity": "on_hand", "updated_at": "last_modified", "cost": "unit_cost"}}
    return supplier.connection_type, options, mapping


def _comma_csv(supplier: SandboxSupplier, root: str, options: dict) -> tuple[str, dict, dict]:
    mapping = {"format": "csv", "status_map": _STATUS_MAP,
               "fields": {"sku": "SKU", "quantity": "Stock Level", "status": "Status", "updated_at": "Last Updated",
                          "cost": "Trade Price"}}
    return supplier.connection_type, options, mapping


def _offset_json(supplier: SandboxSupplier, root: str, options: dict) -> tuple[str, dict, dict]:
    options["pagination"] = {"style": "offset", "offset_param": "offset", "limit_param": "limit",
                             "page_size": PAGE_SIZE}
    mapping = {"format": "json", "records": "products",
               "fields": {"sku": "sku", "quantity": "quantity", "updated_at": "updated_at", "cost": "cost"}}
    return supplier.connection_type, options, mapping


def _push(supplier: SandboxSupplier, root: str, options: dict) -> tuple[str, dict, dict]:
    # A pushing supplier is never called: the options describe how its deliveries are signed.
    push_options = {"signature": {"header": SIGNATURE_HEADER, "prefix": SIGNATURE_PREFIX,
                                  "algorithm": "hmac-sha256"},
                    "delivery_id_header": DELIVERY_ID_HEADER}
    # It reports words only, so a figure must be assumed for "in stock" (FEEDS.md assume_quantity).
    mapping = {"format": "json", "records": "items", "status_map": _STATUS_MAP, "assume_quantity": 25,
               "fields": {"sku": "sku", "status": "status", "updated_at": "updated_at"}}
    return supplier.connection_type, push_options, mapping


def _upload_csv(supplier: SandboxSupplier, root: str, options: dict) -> tuple[str, dict, dict]:
    # Staff upload the supplier's file; the sandbox serves a sample at <base_url>/stock to download.
    mapping = {"format": "csv",
               "fields": {"sku": "sku", "quantity": "quantity", "updated_at": "updated_at", "cost": "cost"}}
    return supplier.connection_type, {}, mapping


_STATUS_MAP = {"In Stock": "in_stock", "Low Stock": "low_stock", "Out of Stock": "out_of_stock"}
_CONNECTIONS = {
    "page_json": _page_json,
    "cursor_json": _cursor_json,
    "semicolon_csv": _semicolon_csv,
    "xml": _xml,
    "next_link_json": _next_link_json,
    "comma_csv": _comma_csv,
    "offset_json": _offset_json,
    "push": _push,
    "upload_csv": _upload_csv,
}


def _secret(code: str, purpose: str) -> str:
    return hashlib.sha256(f"{_CREDENTIAL_SALT}:{code}:{purpose}".encode()).hexdigest()[:32]
