"""Paged JSON REST suppliers: page/offset, cursor or next-link pagination, delta pulls, realtime checks."""

from __future__ import annotations

import json

import httpx

from app.connectors.paged import PAGINATION_STYLES, FeedPage, HttpFeedConnector
from app.domain.feeds import FeedFormat, FeedMapping, FeedParseError, json_feed_records


def read_json_page(response: httpx.Response, mapping: FeedMapping) -> FeedPage:
    """A JSON page's records at the mapping's records path; the document is kept for cursors and next links."""
    try:
        # Bytes, not text: json detects UTF-8/16/32 and a byte-order mark itself.
        document = json.loads(response.content)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise FeedParseError(f"JSON cannot be parsed: {error}") from None
    return FeedPage(json_feed_records(document, mapping), document)


CONNECTOR = HttpFeedConnector("rest_json", FeedFormat.JSON, read_json_page, PAGINATION_STYLES)
