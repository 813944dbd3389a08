"""Supplier XML parsed through defusedxml, so entity bombs and external entities are refused."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from app.domain.feeds import FeedParseError


def parse_supplier_xml(body: str | bytes) -> Element:
    """Parse an untrusted supplier XML body; FeedParseError when it is refused or not well-formed."""
    if isinstance(body, str):
        body = body.removeprefix("\ufeff")
    try:
        return fromstring(body)
    except DefusedXmlException as error:
        raise FeedParseError(f"supplier XML refused: {error}") from error
    except ParseError as error:
        raise FeedParseError(f"supplier XML is not well-formed: {error}") from error
