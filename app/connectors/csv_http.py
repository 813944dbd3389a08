"""CSV files served over HTTP(S): one file, or numbered pages of one (cursors need a JSON body)."""

from __future__ import annotations

import httpx

from app.connectors.paged import FeedPage, HttpFeedConnector, response_text
from app.domain.feeds import FeedFormat, FeedMapping, csv_feed_records


def read_csv_page(response: httpx.Response, mapping: FeedMapping) -> FeedPage:
    """A CSV page's data rows; the header is not counted."""
    return FeedPage(csv_feed_records(response_text(response), mapping))


CONNECTOR = HttpFeedConnector("csv_http", FeedFormat.CSV, read_csv_page, ("none", "page", "offset"))
