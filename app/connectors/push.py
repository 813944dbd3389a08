"""Suppliers that push stock to a webhook URL of ours, each body HMAC-SHA256 signed with a per-supplier secret."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime
from typing import Any

from app.connectors.base import ConnectionSettings, ConnectorError, FeedPull
from app.connectors.upload import normalize_body

# The header suppliers sign pushes in, unless options.signature.header names another.
DEFAULT_SIGNATURE_HEADER = "X-Signature"
# The credential that holds a push supplier's signing secret.
SECRET_CREDENTIAL = "webhook_secret"
_PREFIX = "sha256="


def push_signature_header(settings: ConnectionSettings) -> str:
    """The request header that carries this supplier's push signature (options.signature.header)."""
    signature = settings.options.get("signature")
    header = signature.get("header") if isinstance(signature, dict) else None
    return str(header or DEFAULT_SIGNATURE_HEADER)


def push_secret(settings: ConnectionSettings) -> str:
    """The supplier's webhook signing secret ("" when none is set, and then every push is refused)."""
    return str(settings.credentials.get(SECRET_CREDENTIAL) or "")


def sign_push(raw_body: bytes, secret: str) -> str:
    """The hex HMAC-SHA256 of a body: what a supplier (or the sandbox) sends in the signature header."""
    return hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()


def verify_push(raw_body: bytes, signature_header: str | None, secret: str) -> bool:
    """True when the header is the body's HMAC-SHA256 under our secret, as hex or base64 (optionally "sha256=…")."""
    # No secret means push is not set up: any signature "matches" an empty key, so nothing is accepted.
    if not signature_header or not secret:
        return False
    claimed = _signature_bytes(signature_header.strip().removeprefix(_PREFIX))
    if claimed is None:
        return False
    expected = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return hmac.compare_digest(expected, claimed)


def parse_push(raw_body: bytes, settings: ConnectionSettings, received_at: datetime) -> FeedPull:
    """A verified push body as one feed, normalized with the supplier's mapping."""
    return normalize_body(raw_body, settings, received_at, kind="push", what="the pushed body")


def _signature_bytes(text: str) -> bytes | None:
    """The 32 digest bytes a hex or base64 signature spells; None when it spells neither."""
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        decoded = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return decoded if len(decoded) == hashlib.sha256().digest_size else None


class PushConnector:
    """Suppliers that push: stock arrives at our webhook, so there is nothing to pull or check."""

    connection_type = "push"

    def supports_delta(self, settings: ConnectionSettings) -> bool:
        return False

    def supports_realtime(self, settings: ConnectionSettings) -> bool:
        return False

    def pull_stock(self, settings: ConnectionSettings, http: Any, *, since: datetime | None, received_at: datetime) -> FeedPull:
        raise ConnectorError("unsupported", f"{settings.supplier_code}: this supplier pushes its stock; it is not pulled")

    def check_stock(self, settings: ConnectionSettings, http: Any, skus: Any, *, received_at: datetime) -> FeedPull:
        raise ConnectorError("unsupported", f"{settings.supplier_code}: this connection has no realtime stock check")


CONNECTOR = PushConnector()
