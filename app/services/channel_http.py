"""Calls to a sales channel's own REST API (Shopify's Admin API, WooCommerce's wp-json), made one way for every
use: the reconciliation pull reads orders, publishing sets quantities, tracking is pushed to orders.

The channel's credentials are decrypted only to build the request; no message carries them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from app.models import Channel

SHOPIFY_API_VERSION = "2024-10"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Kinds with an API we call; "api" and "csv" channels only send to us.
OUTBOUND_KINDS = ("shopify", "woocommerce")
REST_PREFIX = {"shopify": f"/admin/api/{SHOPIFY_API_VERSION}", "woocommerce": "/wp-json/wc/v3"}


class ChannelCallError(RuntimeError):
    """The channel did not take a call. `retryable`: it was unreachable, slow or busy (a later try may work);
    otherwise it refused the call as it stands (a credential, an unknown order)."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None):
        super().__init__(message)
        self.message, self.retryable, self.status = message, retryable, status


@dataclass(frozen=True)
class ChannelApi:
    """Where and how one channel's REST API is reached."""

    code: str
    kind: str
    base_url: str
    headers: dict[str, str] = field(repr=False)
    auth: tuple[str, str] | None = field(default=None, repr=False)

    def url(self, path: str, *, prefix: str | None = None) -> str:
        """`path` under the channel's REST root (Shopify's versioned Admin API, WooCommerce's wc/v3)."""
        return f"{self.base_url}{REST_PREFIX[self.kind] if prefix is None else prefix}{path}"

    def call(self, client: httpx.Client, method: str, url: str, *, json: dict | None = None,
             params: dict | None = None) -> httpx.Response:
        """One call; any answer but 2xx raises ChannelCallError (429 and 5xx, like transport failures, retryable)."""
        try:
            response = client.request(method, url, json=json, params=params, headers=self.headers, auth=self.auth,
                                      timeout=TIMEOUT)
        except httpx.HTTPError as error:
            raise ChannelCallError(f"{self.code}: {type(error).__name__} reaching {self.base_url}", retryable=True) from None
        if not response.is_success:
            retryable = response.status_code == 429 or response.status_code >= 500
            raise ChannelCallError(f"{self.code}: {method} {url.removeprefix(self.base_url)} answered "
                                   f"{response.status_code}", retryable=retryable, status=response.status_code)
        return response


def channel_api(channel: Channel) -> ChannelApi | None:
    """The channel's REST API, or None when it has none we can call (order API and CSV channels, no address)."""
    if channel.kind not in OUTBOUND_KINDS or not channel.base_url:
        return None
    credentials = channel.credentials
    if channel.kind == "shopify":
        return ChannelApi(channel.code, channel.kind, channel.base_url.rstrip("/"),
                          {"X-Shopify-Access-Token": credentials.get("api_token", "")})
    return ChannelApi(channel.code, channel.kind, channel.base_url.rstrip("/"), {},
                      (credentials.get("api_key", ""), credentials.get("api_secret", "")))


def new_client() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT)
