"""Where each supplier's credential goes on a request: header, query, basic, bearer or an OAuth2 token."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from app.connectors.base import ConnectionSettings, ConnectorError, TokenCache

AUTH_STYLES = ("none", "api_key_header", "api_key_query", "basic", "bearer", "oauth2_client_credentials")
DEFAULT_API_KEY_HEADER = "X-Api-Key"
DEFAULT_API_KEY_PARAM = "api_key"
# A cached token is not used in its last minute: it could expire between our check and the supplier's.
TOKEN_REFRESH_MARGIN_SECONDS = 60.0
# RFC 6749 lets a server leave expires_in out; an hour is the common lifetime, and a 401 refreshes anyway.
DEFAULT_TOKEN_LIFETIME_SECONDS = 3600.0

CREDENTIALS_NEEDED = {
    "none": (),
    "api_key_header": ("api_key",),
    "api_key_query": ("api_key",),
    "basic": ("username", "password"),
    "bearer": ("token",),
    "oauth2_client_credentials": ("client_id", "client_secret"),
}


class TokenEndpoint(Protocol):
    """What the OAuth2 style needs from the HTTP layer: a retried, recorded form POST."""

    def post_form(self, url: str, form: dict[str, str]) -> httpx.Response: ...


class SupplierAuth:
    """One connection's auth style and credentials, checked up front so a bad setup fails before any call."""

    def __init__(self, settings: ConnectionSettings, token_cache: TokenCache, clock: Callable[[], float] = time.time):
        self.supplier_code = settings.supplier_code
        raw = settings.options.get("auth") or {}
        if not isinstance(raw, Mapping):
            raise self._unusable("options.auth must be an object")
        self.style = raw.get("style") or "none"
        if self.style not in AUTH_STYLES:
            raise self._unusable(f"auth style {self.style!r} is not one of {', '.join(AUTH_STYLES)}")
        missing = [name for name in CREDENTIALS_NEEDED[self.style] if not settings.credentials.get(name)]
        if missing:
            raise ConnectorError(
                "auth",
                f"{self.supplier_code}: auth style {self.style} needs the credential(s) {', '.join(missing)}",
            )
        self._credentials = dict(settings.credentials)
        self.header = str(raw.get("header") or DEFAULT_API_KEY_HEADER)
        self.query_param = str(raw.get("query_param") or DEFAULT_API_KEY_PARAM)
        self.token_url = raw.get("token_url")
        self.scope = raw.get("scope")
        if self.style == "oauth2_client_credentials" and not self.token_url:
            raise self._unusable("auth style oauth2_client_credentials needs options.auth.token_url")
        self._token_cache = token_cache
        self._clock = clock

    def __repr__(self) -> str:  # credentials stay out of tracebacks and debuggers' reprs
        return f"<SupplierAuth {self.supplier_code} {self.style}>"

    @property
    def secret_query_params(self) -> tuple[str, ...]:
        """Query parameter names whose values are masked wherever a URL is shown."""
        return (self.query_param,) if self.style == "api_key_query" else ()

    @property
    def can_refresh(self) -> bool:
        """True when a 401 may be cured by fetching a fresh credential."""
        return self.style == "oauth2_client_credentials"

    def request_credentials(self, endpoint: TokenEndpoint) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """The headers and query parameters that carry the credential on one request."""
        credentials = self._credentials
        if self.style == "api_key_header":
            return {self.header: credentials["api_key"]}, []
        if self.style == "api_key_query":
            return {}, [(self.query_param, credentials["api_key"])]
        if self.style == "basic":
            pair = f"{credentials['username']}:{credentials['password']}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}, []
        if self.style == "bearer":
            return {"Authorization": f"Bearer {credentials['token']}"}, []
        if self.style == "oauth2_client_credentials":
            return {"Authorization": f"Bearer {self._access_token(endpoint)}"}, []
        return {}, []

    def refresh(self, endpoint: TokenEndpoint) -> None:
        """Fetch a new access token, ignoring the cached one (the supplier refused it)."""
        self._fetch_token(endpoint)

    def _access_token(self, endpoint: TokenEndpoint) -> str:
        cached = self._token_cache.get(self._cache_key())
        if cached is not None:
            token, expires_at = cached
            if token and self._clock() < expires_at - TOKEN_REFRESH_MARGIN_SECONDS:
                return token
        return self._fetch_token(endpoint)

    def _fetch_token(self, endpoint: TokenEndpoint) -> str:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._credentials["client_id"],
            "client_secret": self._credentials["client_secret"],
        }
        if self.scope:
            form["scope"] = str(self.scope)
        response = endpoint.post_form(str(self.token_url), form)
        try:
            payload: Any = response.json()
        except ValueError:
            payload = None
        token = payload.get("access_token") if isinstance(payload, Mapping) else None
        if not isinstance(token, str) or not token:
            raise ConnectorError(
                "auth", f"{self.supplier_code}: the token endpoint answered without an access_token"
            )
        lifetime = _seconds(payload.get("expires_in"), DEFAULT_TOKEN_LIFETIME_SECONDS)
        self._token_cache.set(self._cache_key(), token, self._clock() + lifetime)
        return token

    def _cache_key(self) -> str:
        """Per supplier and account, holding no secret (it may become a Redis key name)."""
        account = "\n".join((str(self.token_url), self._credentials["client_id"], str(self.scope or "")))
        return f"oauth2:{self.supplier_code}:{hashlib.sha256(account.encode()).hexdigest()[:16]}"

    def _unusable(self, problem: str) -> ConnectorError:
        return ConnectorError("unsupported", f"{self.supplier_code}: {problem}")


def _seconds(raw: Any, default: float) -> float:
    """A token lifetime from JSON (a number or numeric text); the default when unreadable or not positive."""
    if isinstance(raw, bool):
        return default
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        return default
    return seconds if 0 < seconds < float("inf") else default
