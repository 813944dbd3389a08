"""OAuth2 client-credentials access tokens for the simulated suppliers that use them.

Pure (standard library only). A token is self-contained and signed with the client secret, so every
web worker can check it without shared state: `<supplier>.<issued, epoch ms>.<hmac>`.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from app.sandbox.connections import SANDBOX_SUPPLIERS, sandbox_credentials

TOKEN_LIFETIME = timedelta(hours=1)


def supplier_for_client(client_id: str) -> str | None:
    """The sandbox supplier whose OAuth client this is, if any."""
    for code, supplier in SANDBOX_SUPPLIERS.items():
        if supplier.auth == "oauth2_client_credentials" and hmac.compare_digest(
            sandbox_credentials(code)["client_id"], client_id
        ):
            return code
    return None


def client_secret_matches(code: str, client_secret: str) -> bool:
    return hmac.compare_digest(sandbox_credentials(code)["client_secret"], client_secret)


def issue_access_token(code: str, issued_at: datetime) -> str:
    issued_ms = int(issued_at.timestamp() * 1000)
    return f"{code}.{issued_ms}.{_signature(code, issued_ms)}"


def access_token_valid(token: str, code: str, now: datetime, revoked_at: datetime | None = None) -> bool:
    """True for an unexpired token this supplier issued after any revocation."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != code or not parts[1].isdigit():
        return False
    issued_ms = int(parts[1])
    if not hmac.compare_digest(parts[2], _signature(code, issued_ms)):
        return False
    issued_at = datetime.fromtimestamp(issued_ms / 1000, UTC)
    if revoked_at is not None and issued_at <= revoked_at:
        return False
    return issued_at <= now < issued_at + TOKEN_LIFETIME


def _signature(code: str, issued_ms: int) -> str:
    key = sandbox_credentials(code)["client_secret"].encode()
    return hmac.new(key, f"{code}.{issued_ms}".encode(), hashlib.sha256).hexdigest()
