"""Webhook signature checks: is this body really from the channel that holds our secret?"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from app.channels.canonical import UnknownChannel

SHOPIFY_SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
WOOCOMMERCE_SIGNATURE_HEADER = "X-WC-Webhook-Signature"

SIGNATURE_HEADERS = {
    "shopify": SHOPIFY_SIGNATURE_HEADER,
    "woocommerce": WOOCOMMERCE_SIGNATURE_HEADER,
}


def body_signature(raw_body: bytes, secret: str | bytes) -> str:
    """Base64 of the HMAC-SHA256 of the raw body: what Shopify and WooCommerce both send."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(key, raw_body, hashlib.sha256).digest()).decode("ascii")


def signature_is_valid(raw_body: bytes, signature: str | None, secret: str | bytes) -> bool:
    """True when the header value is the body's signature under our secret."""
    # An empty secret means the channel is not configured: anyone could forge that signature.
    if not signature or not secret:
        return False
    expected = body_signature(raw_body, secret).encode("ascii")
    # Bytes, not str: compare_digest refuses non-ASCII str, and a forged header may hold any.
    return hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace"))


def shopify_signature_is_valid(raw_body: bytes, headers: Mapping[str, str], secret: str | bytes) -> bool:
    """Check X-Shopify-Hmac-Sha256 against the raw request body."""
    return signature_is_valid(raw_body, header_value(headers, SHOPIFY_SIGNATURE_HEADER), secret)


def woocommerce_signature_is_valid(raw_body: bytes, headers: Mapping[str, str], secret: str | bytes) -> bool:
    """Check X-WC-Webhook-Signature against the raw request body."""
    return signature_is_valid(raw_body, header_value(headers, WOOCOMMERCE_SIGNATURE_HEADER), secret)


def webhook_signature_is_valid(
    channel: str, raw_body: bytes, headers: Mapping[str, str], secret: str | bytes
) -> bool:
    """Check a webhook's signature by the rules of the channel it claims to come from."""
    header = SIGNATURE_HEADERS.get(channel)
    if header is None:
        raise UnknownChannel(f"no webhook signature scheme for channel {channel!r}")
    return signature_is_valid(raw_body, header_value(headers, header), secret)


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, case-insensitively, from Werkzeug headers or a plain dict."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == wanted), None)
    return value if isinstance(value, str) else None
