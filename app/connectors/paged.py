"""Paged stock pulls over HTTP, shared by the rest_json, csv_http and xml_http connectors.

A connector here is an API style's body reader plus the pagination styles it can follow. All pages
are read into raw records first and normalized once, so duplicates are resolved across pages and a
reject's index is its position across the whole pull (FEEDS.md rules).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from app.connectors.base import (
    ConnectionSettings,
    ConnectorError,
    FeedPull,
    read_mapping,
)
from app.connectors.http import SupplierHttp
from app.domain.feeds import (
    FeedFormat,
    FeedMapping,
    FeedParseError,
    RawRecord,
    format_utc_instant,
    normalize_records,
)

logger = logging.getLogger("app.connectors")

PAGINATION_STYLES = ("none", "page", "offset", "cursor", "next_link")
# A supplier whose paging never ends must not keep a worker forever; no real feed comes near this.
DEFAULT_MAX_PAGES = 10_000
# Realtime checks name SKUs in the query string; batches keep URLs well under common 8 KB limits.
REALTIME_BATCH_SIZE = 50


@dataclass(frozen=True)
class FeedPage:
    """One page's raw records, and its decoded document for cursor and next-link paths (JSON only)."""

    raw_records: list[RawRecord]
    document: Any = None


PageReader = Callable[[httpx.Response, FeedMapping], FeedPage]


@dataclass(frozen=True)
class Pagination:
    """How a supplier splits its feed into pages, read from options.pagination."""

    style: str = "none"
    page_param: str = "page"
    size_param: str = "per_page"
    page_size: int = 500
    offset_param: str = "offset"
    limit_param: str = "limit"
    cursor_param: str = "cursor"
    cursor_path: str = "meta.next_cursor"
    next_link_path: str = "links.next"
    first_page: int = 1
    max_pages: int = DEFAULT_MAX_PAGES
    # Cursor and next-link APIs get a page size only when the connection names its parameter.
    size_param_named: bool = False

    @classmethod
    def from_options(cls, raw: Any, supplier_code: str) -> Pagination:
        """Read options.pagination; ConnectorError("unsupported") names the first unusable value."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ConnectorError("unsupported", f"{supplier_code}: options.pagination must be an object")
        defaults = cls()
        values: dict[str, Any] = {}
        for name, default in defaults.__dict__.items():
            if name == "size_param_named":
                continue
            value = raw.get(name, default)
            if value is None:
                value = default
            if isinstance(default, int) and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConnectorError("unsupported", f"{supplier_code}: pagination.{name} must be a whole number")
            if isinstance(default, str) and (not isinstance(value, str) or not value):
                raise ConnectorError("unsupported", f"{supplier_code}: pagination.{name} must be non-empty text")
            values[name] = value
        pagination = cls(**values, size_param_named=raw.get("size_param") is not None)
        if pagination.style not in PAGINATION_STYLES:
            raise ConnectorError(
                "unsupported",
                f"{supplier_code}: pagination style {pagination.style!r} is not one of {', '.join(PAGINATION_STYLES)}",
            )
        if pagination.page_size < 1 or pagination.max_pages < 1 or pagination.first_page < 0:
            raise ConnectorError(
                "unsupported",
                f"{supplier_code}: pagination page_size and max_pages must be at least 1, first_page at least 0",
            )
        return pagination


class HttpFeedConnector:
    """Pulls a supplier's stock feed over HTTP in one body format, following its pagination."""

    def __init__(
        self,
        connection_type: str,
        feed_format: FeedFormat,
        read_page: PageReader,
        pagination_styles: Sequence[str],
    ) -> None:
        self.connection_type = connection_type
        self.feed_format = feed_format
        self.read_page = read_page
        self.pagination_styles = tuple(pagination_styles)

    def __repr__(self) -> str:
        return f"<HttpFeedConnector {self.connection_type}>"

    def supports_delta(self, settings: ConnectionSettings) -> bool:
        """True when options.delta names the supplier's updated-since parameter."""
        delta = settings.options.get("delta")
        return isinstance(delta, Mapping) and isinstance(delta.get("param"), str) and bool(delta["param"])

    def supports_realtime(self, settings: ConnectionSettings) -> bool:
        """True when options.realtime names the supplier's stock-check path."""
        realtime = settings.options.get("realtime")
        return isinstance(realtime, Mapping) and isinstance(realtime.get("path"), str) and bool(realtime["path"])

    def pull_stock(
        self, settings: ConnectionSettings, http: SupplierHttp, *, since: datetime | None, received_at: datetime
    ) -> FeedPull:
        """Every page of the stock feed, normalized as one feed: a delta when `since` is given and supported."""
        mapping = read_mapping(settings, self.feed_format)
        pagination = Pagination.from_options(settings.options.get("pagination"), settings.supplier_code)
        if pagination.style not in self.pagination_styles:
            raise ConnectorError(
                "unsupported",
                f"{settings.supplier_code}: a {self.connection_type} connection cannot follow"
                f" {pagination.style} pagination (it can: {', '.join(self.pagination_styles)})",
            )
        base_url = _base_url(settings)
        url = _joined(base_url, settings.options.get("stock_path") or "")
        fixed_params: list[tuple[str, str]] = []
        kind = "full"
        if since is not None and self.supports_delta(settings):
            fixed_params.append((settings.options["delta"]["param"], format_utc_instant(since)))
            kind = "delta"

        raw_records: list[RawRecord] = []
        page_number = 0
        params = fixed_params + _first_page_params(pagination)
        offset = 0
        seen_follow_ons: set[str] = set()
        while True:
            page_number += 1
            if page_number > pagination.max_pages:
                raise ConnectorError(
                    "malformed",
                    f"{settings.supplier_code}: the feed ran past {pagination.max_pages} pages;"
                    " stopped so a pagination loop cannot run forever",
                    exchanges=tuple(http.exchanges),
                    page=page_number,
                )
            response = http.get(url, params, page=page_number)
            page = self._read(response, mapping, settings, http, f"page {page_number}", page_number)
            raw_records.extend(page.raw_records)
            count = len(page.raw_records)

            if pagination.style == "none":
                break
            if pagination.style in ("page", "offset"):
                if count == 0 or count < pagination.page_size:
                    break
                offset += count
                params = fixed_params + _next_page_params(pagination, page_number, offset)
                continue
            follow_on = _follow_on(page.document, pagination)
            if follow_on is None:
                break
            if follow_on in seen_follow_ons:
                raise ConnectorError(
                    "malformed",
                    f"{settings.supplier_code}: page {page_number} repeats an earlier {pagination.style};"
                    " the feed would loop forever",
                    exchanges=tuple(http.exchanges),
                    page=page_number,
                )
            seen_follow_ons.add(follow_on)
            if pagination.style == "cursor":
                params = fixed_params + _size_params(pagination) + [(pagination.cursor_param, follow_on)]
            else:
                url, params = _next_link(base_url, follow_on, settings, http, page_number), []

        feed = normalize_records(raw_records, mapping, received_at, settings.low_stock_threshold)
        return FeedPull(kind, feed.records, feed.rejects, page_number, tuple(http.exchanges), http.http_errors)

    def check_stock(
        self, settings: ConnectionSettings, http: SupplierHttp, skus: Sequence[str], *, received_at: datetime
    ) -> FeedPull:
        """The supplier's current figures for a few SKUs, normalized with the same mapping."""
        if not self.supports_realtime(settings):
            raise ConnectorError(
                "unsupported", f"{settings.supplier_code}: this connection has no realtime stock check"
            )
        mapping = read_mapping(settings, self.feed_format)
        realtime = settings.options["realtime"]
        url = _joined(_base_url(settings), realtime["path"])
        sku_param = realtime.get("sku_param") or "sku"
        raw_records: list[RawRecord] = []
        batches = [skus[start : start + REALTIME_BATCH_SIZE] for start in range(0, len(skus), REALTIME_BATCH_SIZE)]
        for number, batch in enumerate(batches, start=1):
            response = http.get(url, [(sku_param, sku) for sku in batch], page=number)
            raw_records.extend(
                self._read(response, mapping, settings, http, "the realtime stock check", number).raw_records
            )
        feed = normalize_records(raw_records, mapping, received_at, settings.low_stock_threshold)
        return FeedPull(
            "realtime", feed.records, feed.rejects, len(batches), tuple(http.exchanges), http.http_errors
        )

    def _read(
        self,
        response: httpx.Response,
        mapping: FeedMapping,
        settings: ConnectionSettings,
        http: SupplierHttp,
        what: str,
        page_number: int,
    ) -> FeedPage:
        """One response body's records; an unreadable body is ConnectorError("malformed") naming the page."""
        try:
            return self.read_page(response, mapping)
        except (FeedParseError, RecursionError) as error:
            logger.error(
                "supplier_page_malformed supplier=%s page=%s format=%s",
                settings.supplier_code,
                page_number,
                self.feed_format,
            )
            raise ConnectorError(
                "malformed",
                http.safe_text(f"{settings.supplier_code}: {what} of the stock feed cannot be read: {error}"),
                exchanges=tuple(http.exchanges),
                page=page_number,
            ) from None


def response_text(response: httpx.Response) -> str | bytes:
    """A text body as the supplier declared it: decoded by its charset if it names one, else raw bytes (UTF-8)."""
    return response.text if response.charset_encoding else response.content


def _base_url(settings: ConnectionSettings) -> str:
    base_url = settings.options.get("base_url")
    parts = urlsplit(base_url) if isinstance(base_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConnectorError("unsupported", f"{settings.supplier_code}: options.base_url must be an http(s) URL")
    return base_url


def _joined(base_url: str, path: str) -> str:
    """base_url + path, with exactly one slash between them."""
    if not path:
        return base_url
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def _first_page_params(pagination: Pagination) -> list[tuple[str, str]]:
    if pagination.style == "page":
        return [(pagination.page_param, str(pagination.first_page)), (pagination.size_param, str(pagination.page_size))]
    if pagination.style == "offset":
        return [(pagination.offset_param, "0"), (pagination.limit_param, str(pagination.page_size))]
    return _size_params(pagination)


def _size_params(pagination: Pagination) -> list[tuple[str, str]]:
    """The page size for a cursor or next-link API that takes one (a next link carries it on from page 2)."""
    return [(pagination.size_param, str(pagination.page_size))] if pagination.size_param_named else []


def _next_page_params(pagination: Pagination, pages_read: int, offset: int) -> list[tuple[str, str]]:
    if pagination.style == "page":
        return [
            (pagination.page_param, str(pagination.first_page + pages_read)),
            (pagination.size_param, str(pagination.page_size)),
        ]
    return [(pagination.offset_param, str(offset)), (pagination.limit_param, str(pagination.page_size))]


def _follow_on(document: Any, pagination: Pagination) -> str | None:
    """The next cursor or next link in a page's document; None (the last page) when null, missing or empty."""
    path = pagination.cursor_path if pagination.style == "cursor" else pagination.next_link_path
    value: Any = document
    for step in path.split("."):
        value = value.get(step) if isinstance(value, Mapping) else None
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _next_link(base_url: str, link: str, settings: ConnectionSettings, http: SupplierHttp, page_number: int) -> str:
    """The next page's absolute URL; only ever on the supplier's own host, where its credential may go."""
    # Relative links are taken relative to base_url as a folder ("stock?page=2" → base_url/stock?page=2).
    absolute = urljoin(base_url if base_url.endswith("/") else base_url + "/", link)
    here, there = urlsplit(base_url), urlsplit(absolute)
    if (there.scheme, there.netloc) != (here.scheme, here.netloc):
        raise ConnectorError(
            "malformed",
            http.safe_text(
                f"{settings.supplier_code}: page {page_number} links to another host ({there.scheme}://{there.netloc});"
                " credentials are only sent to base_url's host"
            ),
            exchanges=tuple(http.exchanges),
            page=page_number,
        )
    return absolute
