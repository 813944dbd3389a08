"""Every outbound call to a supplier goes through here: timeout, auth, retries with backoff, a record of each attempt.

Nothing that leaves this module (exchanges, error messages, log lines) carries a secret: URLs have
secret query values replaced with ***, every credential value sent on the wire is scrubbed from text,
and headers and bodies are never shown.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

import httpx

from app.connectors.auth import SupplierAuth
from app.connectors.base import (
    ConnectionSettings,
    ConnectorError,
    ErrorReason,
    HttpExchange,
    MemoryTokenCache,
    RetryPolicy,
    TokenCache,
)

logger = logging.getLogger("app.connectors")

DEFAULT_TIMEOUT_SECONDS = 10.0
# Busy, briefly broken or restarting: worth another try. Other answers will not change on retry.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# The only answers whose Retry-After we honour (RFC 9110 defines it for these and for redirects).
RETRY_AFTER_STATUSES = frozenset({429, 503})
REFUSED_STATUSES = frozenset({401, 403})
MASK = "***"
DEFAULT_RETRY_POLICY = RetryPolicy()
# Tokens outlive one pull but not the process; workers should pass a Redis-backed TokenCache.
PROCESS_TOKEN_CACHE = MemoryTokenCache()

Params = Sequence[tuple[str, str]]


class Redactor:
    """Removes secrets from URLs and text before they are shown, stored or logged."""

    def __init__(self, secrets: Iterable[str] = (), secret_params: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._secret_params = {name.casefold() for name in secret_params}
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Scrub this value too, as written and as it looks inside a URL."""
        if not secret:
            return
        self._secrets.update({secret, quote(secret, safe=""), quote_plus(secret), quote(secret)})
        self._secrets.discard("")

    def text(self, text: str) -> str:
        """Text with every known secret replaced by ***."""
        # Longest first, so a secret that contains another is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def url(self, url: str) -> str:
        """A URL fit to show: no user:password@, secret query parameters as ***, known secrets scrubbed."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.text(url)
        netloc = parts.netloc.rpartition("@")[2]
        query = "&".join(self._masked_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    def _masked_pair(self, pair: str) -> str:
        name, equals, _ = pair.partition("=")
        if equals and unquote_plus(name).casefold() in self._secret_params:
            return f"{name}={MASK}"
        return pair


class HttpxQueryMask(logging.Filter):
    """httpx logs every request URL at INFO; a query string may carry an API key, so its values are masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, httpx.URL) for arg in record.args):
            record.args = tuple(_masked_query(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args)
        return True


def _masked_query(url: httpx.URL) -> str:
    """The URL with user info dropped and every query value shown as ***."""
    query = "&".join(f"{name}={MASK}" for name, _ in url.params.multi_items())
    return str(url.copy_with(userinfo=b"", query=query.encode() or None))


def _install_httpx_query_mask() -> None:
    """Once per process: httpx's own request log must not undo the masking done here."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(existing, HttpxQueryMask) for existing in httpx_logger.filters):
        httpx_logger.addFilter(HttpxQueryMask())


_install_httpx_query_mask()


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds to wait: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return max(seconds, 0.0)


class SupplierHttp:
    """One pull's (or one order call's) requests to one supplier, with the exchanges and retried errors seen so far."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        client: httpx.Client,
        policy: RetryPolicy,
        sleep: Callable[[float], Any],
        rng: random.Random,
        token_cache: TokenCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.supplier_code = settings.supplier_code
        self.client = client
        self.policy = policy
        self.sleep = sleep
        self.rng = rng
        self.timeout = httpx.Timeout(timeout_seconds(settings))
        self.auth = SupplierAuth(settings, token_cache, clock)
        self.redactor = Redactor(settings.secret_values(), self.auth.secret_query_params)
        self.exchanges: list[HttpExchange] = []
        self.http_errors = 0

    def get(
        self, url: str, params: Params = (), *, page: int | None = None, answers: Collection[int] = ()
    ) -> httpx.Response:
        """An authenticated GET that succeeded (2xx), or answered with one of `answers`, after any retries;
        ConnectorError otherwise."""
        return self._send("GET", url, params=params, page=page, authenticated=True, answers=answers)

    def post_json(
        self, url: str, body: Any, *, idempotency_key: str | None, answers: Collection[int] = ()
    ) -> httpx.Response:
        """An authenticated JSON POST that succeeded (2xx) or answered with one of `answers`; ConnectorError otherwise.

        It is retried like a GET, timeouts included: a POST that timed out may have been taken, so the
        retry is only safe because every attempt carries the same Idempotency-Key (None only for calls
        that change nothing the second time, such as a cancellation).
        """
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
        return self._send("POST", url, json_body=body, headers=headers, authenticated=True, answers=answers)

    def post_form(self, url: str, form: dict[str, str]) -> httpx.Response:
        """An unauthenticated form POST (the OAuth2 token request); any 4xx is an auth failure."""
        return self._send("POST", url, form=form, authenticated=False)

    def safe_text(self, text: str) -> str:
        """Text with every secret this pull knows of scrubbed out."""
        return self.redactor.text(text)

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Params = (),
        form: dict[str, str] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        page: int | None = None,
        authenticated: bool,
        answers: Collection[int] = (),
    ) -> httpx.Response:
        attempt = 0  # requests sent for this call, each recorded as an exchange
        failures = 0  # retryable failures so far, against policy.attempts
        token_refreshed = False
        while True:
            attempt += 1
            request, shown_url = self._build(method, url, params, form, json_body, headers, authenticated, page)
            started = time.monotonic()
            response: httpx.Response | None = None
            failure: ErrorReason
            try:
                response = self.client.send(request)
            except httpx.TimeoutException as error:
                failure, detail = "timeout", f"timed out ({type(error).__name__})"
            except httpx.TransportError as error:
                failure, detail = "connection", f"connection failed ({type(error).__name__})"
            elapsed_ms = round((time.monotonic() - started) * 1000)
            where = f"{self.supplier_code}: {method} {shown_url}" + (f" (page {page})" if page else "")

            retry_after: float | None = None
            if response is not None:
                status = response.status_code
                if 200 <= status < 300:
                    self._record(method, shown_url, status, elapsed_ms, attempt, None, page)
                    self.http_errors += failures
                    return response
                detail = f"HTTP {status} {response.reason_phrase}".rstrip()
                self._record(method, shown_url, status, elapsed_ms, attempt, detail, page)
                if status == 401 and authenticated and self.auth.can_refresh and not token_refreshed:
                    # An access token can be revoked or expire early: fetch a new one, once, and try again.
                    token_refreshed = True
                    self.auth.refresh(self)
                    continue
                if status in REFUSED_STATUSES or (not authenticated and 400 <= status < 500):
                    raise self._error(
                        "auth", f"{where} was refused: {detail}; check the connection's credentials", page
                    )
                if status in answers:
                    # An answer the caller reads itself (a supplier refusing an order is not a failed call).
                    self.http_errors += failures
                    return response
                if status not in RETRYABLE_STATUSES:
                    raise self._error("http_status", f"{where} failed: {detail}", page)
                failure = "http_status"
                if status in RETRY_AFTER_STATUSES:
                    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            else:
                self._record(method, shown_url, None, elapsed_ms, attempt, detail, page)

            failures += 1
            if failures >= self.policy.attempts:
                raise self._error(
                    failure,
                    f"{where} failed after {failures} attempt(s): {detail}",
                    page,
                    retry_after=retry_after,
                )
            if retry_after is not None:
                delay = self.policy.retry_after_seconds(retry_after)
            else:
                delay = self.policy.backoff_seconds(failures - 1, self.rng)
            logger.warning(
                "supplier_retry supplier=%s page=%s attempt=%s reason=%s status=%s sleep_s=%.3f",
                self.supplier_code,
                page or "-",
                attempt,
                failure,
                response.status_code if response is not None else "-",
                delay,
            )
            self.sleep(delay)

    def _build(
        self,
        method: str,
        url: str,
        params: Params,
        form: dict[str, str] | None,
        json_body: Any,
        extra_headers: dict[str, str] | None,
        authenticated: bool,
        page: int | None,
    ) -> tuple[httpx.Request, str]:
        """The request with credentials attached, and its URL as staff may see it."""
        headers: dict[str, str] = dict(extra_headers or {})
        all_params = list(params)
        if authenticated:
            auth_headers, auth_params = self.auth.request_credentials(self)
            headers.update(auth_headers)
            all_params.extend(auth_params)
            # Whatever credential goes on the wire (an OAuth2 token included) is scrubbed from any text.
            for value in (*auth_headers.values(), *(value for _, value in auth_params)):
                self.redactor.add(value)
                self.redactor.add(value.partition(" ")[2])  # "Bearer <token>", "Basic <b64>"
        try:
            target = httpx.URL(url)
            if all_params:
                # httpx would replace a URL's query with `params`; a next link's own query must survive.
                replaced = {name for name, _ in all_params}
                kept = [(name, value) for name, value in target.params.multi_items() if name not in replaced]
                target = target.copy_with(params=kept + all_params)
            request = self.client.build_request(
                method,
                target,
                data=form,
                json=json_body,
                headers=headers,
                timeout=self.timeout,
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, TypeError) as error:
            raise self._error(
                "unsupported",
                f"{self.supplier_code}: {method} {self.redactor.url(url)} is not a usable URL ({type(error).__name__})",
                page,
            ) from None
        return request, self.redactor.url(str(request.url))

    def _record(
        self,
        method: str,
        shown_url: str,
        status: int | None,
        elapsed_ms: int,
        attempt: int,
        error: str | None,
        page: int | None,
    ) -> None:
        self.exchanges.append(HttpExchange(method, shown_url, status, elapsed_ms, attempt, error))
        logger.log(
            logging.INFO if error is None else logging.WARNING,
            "supplier_request supplier=%s method=%s status=%s page=%s attempt=%s ms=%s url=%s",
            self.supplier_code,
            method,
            status if status is not None else "-",
            page or "-",
            attempt,
            elapsed_ms,
            shown_url,
        )

    def _error(
        self, reason: ErrorReason, message: str, page: int | None, *, retry_after: float | None = None
    ) -> ConnectorError:
        message = self.redactor.text(message)
        logger.error(
            "supplier_request_failed supplier=%s reason=%s page=%s attempts=%s",
            self.supplier_code,
            reason,
            page or "-",
            len(self.exchanges),
        )
        return ConnectorError(
            reason, message, exchanges=tuple(self.exchanges), retry_after=retry_after, page=page
        )


def timeout_seconds(settings: ConnectionSettings) -> float:
    """The connection's timeout for connect and read, in seconds (default 10)."""
    raw = settings.options.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not 0 < raw <= 600:
        raise ConnectorError(
            "unsupported", f"{settings.supplier_code}: timeout_seconds must be a number of seconds in (0, 600]"
        )
    return float(raw)


@contextmanager
def open_supplier_http(
    settings: ConnectionSettings,
    client: httpx.Client | None,
    policy: RetryPolicy,
    sleep: Callable[[float], Any],
    token_cache: TokenCache | None,
    rng: random.Random | None,
) -> Iterator[SupplierHttp]:
    """The HTTP layer for one pull or call, on the caller's client or on one opened (and closed) here."""
    owned = client is None
    if client is None:
        # Redirects are not followed: a custom API-key header would travel to wherever they point.
        client = httpx.Client(timeout=timeout_seconds(settings), follow_redirects=False)
    try:
        yield SupplierHttp(
            settings,
            client=client,
            policy=policy,
            sleep=sleep,
            rng=rng or random.Random(),
            token_cache=token_cache if token_cache is not None else PROCESS_TOKEN_CACHE,
        )
    finally:
        if owned:
            client.close()
