"""The pushing supplier's side: POST changed stock, status only, signed with HMAC-SHA256 of the raw body."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from datetime import datetime, timezone

import httpx

from app.sandbox import catalog
from app.sandbox.connections import (
    DELIVERY_ID_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_PREFIX,
)
from app.sandbox.formats import iso_utc

log = logging.getLogger(__name__)
PUSH_TIMEOUT_SECONDS = 10


def push_stock_updates(code: str, target_url: str, secret: str, now: datetime, client: httpx.Client | None = None,
                       *, since: datetime | None = None, skus: Iterable[str] | None = None) -> int:
    """Send the supplier's changed SKUs to `target_url`; returns how many were sent (0: nothing posted).

    Changed means updated at or after `since`, by default the start of the 5-minute bucket holding
    `now`, so calling this every minute re-sends the same changes (receivers must treat repeats as
    duplicates, as real suppliers' retries require). `skus` default to the supplier's offers in the
    database (needs an app context). A refused delivery raises httpx.HTTPStatusError.
    """
    if skus is None:
        from app.sandbox.offers import supplier_skus

        skus = supplier_skus(code)
    since = since or catalog.bucket_start(catalog.bucket_number(now))
    changed = catalog.changed_since(catalog.stock_at(code, skus, now), since)
    if not changed:
        return 0
    body = stock_update_body(changed)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret),
               DELIVERY_ID_HEADER: hashlib.sha256(code.encode() + b"\x1f" + body).hexdigest()[:32]}
    if client is None:
        with httpx.Client(timeout=PUSH_TIMEOUT_SECONDS) as own_client:
            response = own_client.post(target_url, content=body, headers=headers)
    else:
        response = client.post(target_url, content=body, headers=headers)
    log.info("sandbox_push supplier=%s items=%s status=%s", code, len(changed), response.status_code)
    response.raise_for_status()
    return len(changed)


def stock_update_body(items: Iterable[catalog.SimulatedItem]) -> bytes:
    """{"items": [{"sku", "status", "updated_at"}]}: the supplier says whether it has stock, not how much."""
    payload = {"items": [{"sku": item.sku, "status": item.status_text, "updated_at": iso_utc(item.updated_at)}
                         for item in items]}
    return json.dumps(payload, separators=(",", ":")).encode()


def sign(body: bytes, secret: str) -> str:
    """The X-Signature value: sha256=<hex HMAC-SHA256 of the raw body with the webhook secret>."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def push_demo_updates() -> int:
    """The demo's pushing supplier (SUNRISE) sends its latest changes to this console's webhook."""
    from flask import current_app

    from app.sandbox.connections import sandbox_credentials

    config = current_app.config["DROPDESK"]
    if not config.sandbox:
        return 0
    return push_stock_updates("SUNRISE", f"{config.sandbox_url}/api/v1/suppliers/SUNRISE/stock-push",
                              sandbox_credentials("SUNRISE")["webhook_secret"], datetime.now(timezone.utc))
