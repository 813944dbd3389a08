"""XML documents served over HTTP(S), parsed with defusedxml so entity bombs and external entities are refused."""

from __future__ import annotations

import httpx

from app.connectors.paged import FeedPage, HttpFeedConnector
from app.connectors.xml import parse_supplier_xml
from app.domain.feeds import FeedFormat, FeedMapping, xml_feed_records


def read_xml_page(response: httpx.Response, mapping: FeedMapping) -> FeedPage:
    """An XML page's records at the mapping's records path."""
    # Bytes, not text: the XML declaration names the encoding, and the parser honours it.
    return FeedPage(xml_feed_records(response.content, mapping, parse_supplier_xml))


CONNECTOR = HttpFeedConnector("xml_http", FeedFormat.XML, read_xml_page, ("none", "page", "offset"))
