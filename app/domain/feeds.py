"""Supplier feed normalization: one raw feed (JSON, CSV or XML) plus its mapping → stock records.

The rules follow ../shared/conformance/FEEDS.md. Normalization is total per record: a record
that breaks a rule becomes a reject with the first reason that applies, never an exception.
Only a body that cannot be parsed at all raises FeedParseError; a bad mapping raises
FeedMappingError when it is read (both are ValueErrors). Parsing untrusted XML bytes is the caller's choice of parser
(`parse_xml`); connectors pass defusedxml's (app/connectors/xml.py).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from operator import attrgetter
from types import MappingProxyType
from typing import Any
from xml.etree import ElementTree
from xml.parsers import expat
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.batching import collector_paused
from app.domain.stock import (
    DEFAULT_LOW_STOCK_THRESHOLD,
    SELLABLE_STATUSES,
    UNSELLABLE_STATUSES,
    StockStatus,
    unified_stock_level,
)

CENTS = Decimal("0.01")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# A supplier clock may run a little ahead of ours; beyond this its timestamp is not believed.
CLOCK_AHEAD_ALLOWANCE = timedelta(minutes=5)
# Epoch figures this large are milliseconds: 10**11 seconds is the year 5138.
MILLISECOND_EPOCH_FROM = 10**11
# Figures beyond 10**1000 are not stock or prices; refusing them keeps Decimal work cheap on junk.
_LARGEST_EXPONENT = 1000

# A plain decimal number as text ("12", "-4", " 7.9", "1e3"); Decimal() alone would also
# accept "1_000", "NaN" and non-ASCII digits, which no supplier means as a figure.
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_NUMBER_TEXT = re.compile(_NUMBER)
# ">50", ">= 50" and "50+" all mean "at least 50", which we take as 50.
_AT_LEAST_TEXT = re.compile(rf">\s*=?\s*(?P<before>{_NUMBER})|(?P<after>{_NUMBER})\s*\+")
_EPOCH_DIGITS = re.compile(r"[0-9]+")
# fromisoformat() takes any character between date and time; ISO 8601 and RFC 3339 allow these.
_DATE_THEN_ODD_SEPARATOR = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[^Tt ]")


class FeedParseError(ValueError):
    """The feed body cannot be parsed at all (broken JSON or XML, records path not a list)."""


class FeedMappingError(ValueError):
    """A supplier mapping (or the scenario around it) that cannot be used; the message says why."""


class FeedFormat(StrEnum):
    """The body formats suppliers send stock in."""

    JSON = "json"
    CSV = "csv"
    XML = "xml"


class RejectReason(StrEnum):
    """Why a feed record did not become a stock record, in the order the checks run."""

    MISSING_SKU = "missing_sku"
    BAD_QUANTITY = "bad_quantity"
    MISSING_QUANTITY = "missing_quantity"
    BAD_TIMESTAMP = "bad_timestamp"
    DUPLICATE_SKU = "duplicate_sku"


FIELD_NAMES = ("sku", "quantity", "updated_at", "status", "cost")
_MAPPING_KEYS = frozenset({"format", "records", "fields", "csv", "status_map", "timezone", "assume_quantity"})
_CSV_KEYS = frozenset({"delimiter"})


# --- decisions as data -------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldLocations:
    """Where each value sits in one supplier record (a path, column or XML location); None = not sent."""

    sku: str
    quantity: str | None = None
    updated_at: str | None = None
    status: str | None = None
    cost: str | None = None


@dataclass(frozen=True)
class FeedMapping:
    """How one supplier's feed turns into stock records, as staff edit it in the console."""

    format: FeedFormat
    fields: FieldLocations
    records: str = ""
    csv_delimiter: str = ","
    # Supplier status text, trimmed and casefolded → unified status.
    status_map: Mapping[str, StockStatus] = field(default_factory=lambda: MappingProxyType({}))
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    assume_quantity: int | None = None

    @classmethod
    def from_dict(cls, raw: Any) -> FeedMapping:
        """Read a mapping as stored or uploaded; a FeedMappingError names the first thing wrong with it."""
        if not isinstance(raw, Mapping):
            raise FeedMappingError(f"mapping must be an object, got {_type_name(raw)}")
        unknown = sorted(str(key) for key in raw if key not in _MAPPING_KEYS)
        if unknown:
            raise FeedMappingError(
                f"mapping has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_MAPPING_KEYS))}"
            )
        feed_format = _read_format(raw.get("format"))
        return cls(
            format=feed_format,
            fields=_read_fields(raw.get("fields"), feed_format),
            records=_read_records_path(raw.get("records"), feed_format),
            csv_delimiter=_read_csv_options(raw.get("csv")),
            status_map=_read_status_map(raw.get("status_map")),
            timezone=_read_timezone(raw.get("timezone")),
            assume_quantity=_read_assume_quantity(raw.get("assume_quantity")),
        )

    def supplier_status(self, text: Any) -> StockStatus | None:
        """The unified status a supplier's status text maps to; None when it maps to nothing."""
        if isinstance(text, bool):
            text = "true" if text else "false"
        elif isinstance(text, (int, float, Decimal)):
            text = str(text)
        if not isinstance(text, str):
            return None
        return self.status_map.get(_status_key(text))


@dataclass(frozen=True)
class StockRecord:
    """One supplier SKU's stock as the feed reported it, on the unified scale."""

    sku: str
    quantity: int
    status: StockStatus
    updated_at: datetime  # UTC, whole seconds
    cost: Decimal | None = None  # cents

    def to_json(self) -> dict[str, Any]:
        """The record as FEEDS.md prints it; cost is left out when the supplier gave none usable."""
        printed: dict[str, Any] = {
            "sku": self.sku,
            "quantity": self.quantity,
            "status": str(self.status),
            "updated_at": format_utc_instant(self.updated_at),
        }
        if self.cost is not None:
            printed["cost"] = float(self.cost)
        return printed


@dataclass(frozen=True)
class FeedReject:
    """A feed record that did not become stock: its 0-based position in the feed and why."""

    index: int
    reason: RejectReason
    sku: str | None = None  # when known, so the console preview can name the row
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """The reject as FEEDS.md prints it."""
        return {"index": self.index, "reason": str(self.reason)}


@dataclass(frozen=True)
class NormalizedFeed:
    """What one feed said: stock records sorted by sku, rejects sorted by feed position."""

    records: tuple[StockRecord, ...]
    rejects: tuple[FeedReject, ...]

    def to_json(self) -> dict[str, Any]:
        """The result as FEEDS.md prints it (the CLI adds the scenario name)."""
        return {
            "records": [record.to_json() for record in self.records],
            "rejects": [reject.to_json() for reject in self.rejects],
        }


XmlParser = Callable[[str | bytes], ElementTree.Element]


# --- public entry points -----------------------------------------------------------------------


def normalize_feed(
    body: Any,
    mapping: FeedMapping | Mapping[str, Any],
    received_at: datetime,
    *,
    threshold: int = DEFAULT_LOW_STOCK_THRESHOLD,
    parse_xml: XmlParser | None = None,
) -> NormalizedFeed:
    """Normalize one supplier feed into stock records and rejects.

    body: JSON as text/bytes or an already-decoded value; CSV as text/bytes; XML as text/bytes
    (parsed by `parse_xml`, which is required then) or an already-parsed Element.
    """
    if not isinstance(mapping, FeedMapping):
        mapping = FeedMapping.from_dict(mapping)
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise ValueError(f"threshold must be a whole number ≥ 0, got {threshold!r}")
    with collector_paused():
        if mapping.format is FeedFormat.JSON:
            raw_records = json_feed_records(body, mapping)
        elif mapping.format is FeedFormat.CSV:
            raw_records = csv_feed_records(body, mapping)
        else:
            raw_records = xml_feed_records(body, mapping, parse_xml)
        return normalize_records(raw_records, mapping, received_at.astimezone(UTC), threshold)


def normalize_scenario(scenario: Mapping[str, Any], *, parse_xml: XmlParser | None = None) -> dict[str, Any]:
    """Run one FEEDS.md scenario (`mapping`, `received_at`, `threshold?`, `input`) → {"records", "rejects"}.

    Raises FeedMappingError for a bad scenario or mapping, FeedParseError for an unparseable body
    (both ValueErrors). Without `parse_xml`, XML is read by the standard library with entity
    declarations refused.
    """
    if not isinstance(scenario, Mapping):
        raise FeedMappingError(f"scenario must be an object, got {_type_name(scenario)}")
    for key in ("mapping", "received_at", "input"):
        if key not in scenario:
            raise FeedMappingError(f"scenario has no {key}")
    mapping = FeedMapping.from_dict(scenario["mapping"])
    received_at = _read_received_at(scenario["received_at"])
    threshold = scenario.get("threshold")
    if threshold is None:
        threshold = DEFAULT_LOW_STOCK_THRESHOLD
    feed = normalize_feed(
        scenario["input"],
        mapping,
        received_at,
        threshold=threshold,
        parse_xml=parse_xml or parse_xml_refusing_entities,
    )
    return feed.to_json()


def format_utc_instant(instant: datetime) -> str:
    """An instant as FEEDS.md prints it: YYYY-MM-DDTHH:MM:SSZ, UTC, whole seconds rounded down."""
    utc = instant.astimezone(UTC).replace(microsecond=0, tzinfo=None)
    return utc.isoformat(timespec="seconds") + "Z"


# --- from body to raw records ------------------------------------------------------------------
# A raw record is {field name: raw value or None}, for the fields the mapping locates.

RawRecord = dict[str, Any]


def json_feed_records(body: Any, mapping: FeedMapping) -> list[RawRecord]:
    """The raw records of a JSON feed, located by the mapping's dotted paths."""
    if isinstance(body, (str, bytes, bytearray)):
        body = _decode_json(body)
    located = _follow_dotted_path(body, mapping.records)
    # Paged APIs often send null or leave the list out on an empty page: that is no records.
    if located is None:
        return []
    if not isinstance(located, list):
        where = f"records path {mapping.records!r}" if mapping.records else "the JSON body"
        raise FeedParseError(f"{where} holds {_type_name(located)}, not a list of records")
    fields = _located_fields(mapping)
    # A feed of 200,000 records is mostly flat objects: look plain keys up directly, dotted paths step by step.
    if all(path and "." not in path for _, path in fields):
        return [
            {name: item.get(path) for name, path in fields}
            if type(item) is dict
            else {name: _follow_dotted_path(item, path) for name, path in fields}
            for item in located
        ]
    return [{name: _follow_dotted_path(item, path) for name, path in fields} for item in located]


def csv_feed_records(body: str | bytes, mapping: FeedMapping) -> list[RawRecord]:
    """The raw records of a CSV feed: one per data row, columns matched by trimmed, case-insensitive header."""
    text = _decode_text(body, "CSV")
    try:
        rows = [
            row
            for row in csv.reader(io.StringIO(text, newline=""), delimiter=mapping.csv_delimiter)
            if not _is_blank_row(row)
        ]
    except csv.Error as error:
        raise FeedParseError(f"CSV cannot be read: {error}") from error
    if not rows:
        return []
    header, data_rows = rows[0], rows[1:]
    column_of: dict[str, int] = {}
    for position, title in enumerate(header):
        column_of.setdefault(_column_key(title), position)
    # A column the header lacks leaves that value missing on every row (the rejects show it).
    columns = [(name, column_of.get(_column_key(column))) for name, column in _located_fields(mapping)]
    return [
        {
            name: row[position] if position is not None and position < len(row) else None
            for name, position in columns
        }
        for row in data_rows
    ]


def xml_feed_records(body: Any, mapping: FeedMapping, parse_xml: XmlParser | None) -> list[RawRecord]:
    """The raw records of an XML feed: the elements at the records path under the document element."""
    if isinstance(body, ElementTree.ElementTree):
        body = body.getroot()
    if not isinstance(body, ElementTree.Element):
        if parse_xml is None:
            raise TypeError(
                "an XML feed needs parse_xml (app.connectors.xml.parse_supplier_xml) or a parsed Element"
            )
        if isinstance(body, str):
            body = body.removeprefix("\ufeff")
        elif not isinstance(body, (bytes, bytearray)):
            raise FeedParseError(f"an XML feed body must be text, got {_type_name(body)}")
        body = parse_xml(body)
    locations = [(name, _split_xml_location(path)) for name, path in _located_fields(mapping)]
    return [
        {name: _xml_value(element, path, attribute) for name, (path, attribute) in locations}
        for element in body.findall(mapping.records)
    ]


def parse_xml_refusing_entities(body: str | bytes) -> ElementTree.Element:
    """Parse XML with the standard library only, refusing entity declarations and external references.

    Entity declarations are what expansion bombs and external-entity reads are built from;
    suppliers' stock feeds never need them. Connectors use defusedxml instead.
    """
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.StartElementHandler = lambda tag, attributes: builder.start(
        _expat_name(tag), {_expat_name(name): value for name, value in attributes.items()}
    )
    parser.EndElementHandler = lambda tag: builder.end(_expat_name(tag))
    parser.CharacterDataHandler = builder.data
    parser.EntityDeclHandler = _refuse_entity_declaration
    parser.UnparsedEntityDeclHandler = _refuse_entity_declaration
    parser.ExternalEntityRefHandler = _refuse_entity_declaration
    try:
        parser.Parse(body, True)
    except expat.ExpatError as error:
        raise FeedParseError(f"XML is not well-formed: {error}") from error
    return builder.close()


# --- from raw record to stock record -----------------------------------------------------------


class _Rejected(Exception):
    """Internal: this record breaks a rule; carries the reason to report."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class _QuantityReading:
    """What the quantity field said: a count, or no count but perhaps a status in words."""

    count: int | None
    status_in_words: StockStatus | None = None


def normalize_records(
    raw_records: Iterable[RawRecord],
    mapping: FeedMapping,
    received_at: datetime,
    threshold: int = DEFAULT_LOW_STOCK_THRESHOLD,
) -> NormalizedFeed:
    """Apply the value rules to each raw record, then keep the latest report of each sku."""
    with collector_paused():
        return _normalize_records(raw_records, mapping, received_at, threshold)


def _normalize_records(
    raw_records: Iterable[RawRecord], mapping: FeedMapping, received_at: datetime, threshold: int
) -> NormalizedFeed:
    rejects: list[FeedReject] = []
    read_time = _timestamp_reader(mapping.timezone, received_at)
    # Latest normalized updated_at wins; on a tie the later record in the feed does. Decided as the records
    # come, so a feed without duplicates (the usual one) is walked once.
    winners: dict[str, tuple[int, StockRecord]] = {}
    beaten: list[tuple[int, StockRecord]] = []
    for index, raw in enumerate(raw_records):
        try:
            record = _stock_record(raw, mapping, received_at, threshold, read_time)
        except _Rejected as rejected:
            sku = _read_sku(raw.get("sku"))
            rejects.append(FeedReject(index, rejected.reason, sku, rejected.detail))
            continue
        held = winners.get(record.sku)
        if held is None:
            winners[record.sku] = (index, record)
        elif record.updated_at >= held[1].updated_at:
            winners[record.sku] = (index, record)
            beaten.append(held)
        else:
            beaten.append((index, record))
    for index, record in beaten:
        winner_index = winners[record.sku][0]
        detail = f"sku {record.sku!r} has a later report at index {winner_index}"
        rejects.append(FeedReject(index, RejectReason.DUPLICATE_SKU, record.sku, detail))

    records = sorted((record for _, record in winners.values()), key=attrgetter("sku"))
    return NormalizedFeed(tuple(records), tuple(sorted(rejects, key=lambda reject: reject.index)))


def _stock_record(
    raw: RawRecord,
    mapping: FeedMapping,
    received_at: datetime,
    threshold: int,
    read_time: Callable[[Any], datetime] | None = None,
) -> StockRecord:
    """One raw record → stock record; raises _Rejected with the first rule broken (sku, quantity, time)."""
    raw_sku = raw.get("sku")
    sku = (raw_sku.strip() or None) if type(raw_sku) is str else _read_sku(raw_sku)
    if sku is None:
        raise _Rejected(RejectReason.MISSING_SKU, f"no usable sku in {_short(raw.get('sku'))}")
    if read_time is None:
        read_time = _timestamp_reader(mapping.timezone, received_at)

    raw_quantity = raw.get("quantity")
    if type(raw_quantity) is int and raw.get("status") is None:
        # The common record: a whole count and no status words. What the general path below decides for it,
        # without its intermediate objects (a full feed runs this 200,000 times).
        quantity = raw_quantity if raw_quantity > 0 else 0
        updated_at = read_time(raw.get("updated_at"))
        status = (StockStatus.OUT_OF_STOCK if quantity == 0
                  else StockStatus.LOW_STOCK if quantity < threshold else StockStatus.IN_STOCK)
        raw_cost = raw.get("cost")
        return StockRecord(sku, quantity, status, updated_at, None if raw_cost is None else _read_cost(raw_cost))

    reading = _read_quantity(raw_quantity, mapping)
    # Status words in the quantity field stand in only when the status field says nothing we know.
    supplier_status = mapping.supplier_status(raw.get("status")) or reading.status_in_words
    quantity_assumed = False
    if reading.count is not None:
        quantity = reading.count
    elif supplier_status in UNSELLABLE_STATUSES:
        quantity = 0
    elif supplier_status in SELLABLE_STATUSES and mapping.assume_quantity is not None:
        quantity, quantity_assumed = mapping.assume_quantity, True
    elif supplier_status in SELLABLE_STATUSES:
        raise _Rejected(
            RejectReason.MISSING_QUANTITY, "in stock with no figure, and the mapping assumes none"
        )
    else:
        raise _Rejected(RejectReason.MISSING_QUANTITY, "no quantity and no status that implies one")

    updated_at = read_time(raw.get("updated_at"))
    level = unified_stock_level(
        quantity, supplier_status, threshold=threshold, quantity_assumed=quantity_assumed
    )
    return StockRecord(sku, level.quantity, level.status, updated_at, _read_cost(raw.get("cost")))


def _read_sku(raw: Any) -> str | None:
    """A sku from a string or number, trimmed; None when empty or of any other type."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, float) and not math.isfinite(raw):
        return None
    if isinstance(raw, (int, float, Decimal)):
        return str(raw)
    if isinstance(raw, str):
        return raw.strip() or None
    return None


def _read_quantity(raw: Any, mapping: FeedMapping) -> _QuantityReading:
    """The supplier's figure as a non-negative count, or the status its words imply."""
    if raw is None:
        return _QuantityReading(None)
    if isinstance(raw, bool):
        # true says only "in stock"; the assumed quantity (or a reject) follows from that.
        return _QuantityReading(None, StockStatus.IN_STOCK) if raw else _QuantityReading(0)
    if isinstance(raw, int):
        return _QuantityReading(max(raw, 0))
    if isinstance(raw, (float, Decimal)):
        count = _count_from_number(Decimal(str(raw)) if isinstance(raw, float) else raw)
        if count is None:
            raise _Rejected(RejectReason.BAD_QUANTITY, f"quantity {raw!r} is not a finite number")
        return _QuantityReading(count)
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return _QuantityReading(None)
        count = _count_from_text(text)
        if count is not None:
            return _QuantityReading(count)
        status = mapping.status_map.get(_status_key(text))
        if status is not None:
            return _QuantityReading(None, status)
        raise _Rejected(
            RejectReason.BAD_QUANTITY, f"quantity {_short(raw)} is neither a number nor a mapped status"
        )
    raise _Rejected(RejectReason.BAD_QUANTITY, f"quantity is {_type_name(raw)}")


def _count_from_text(text: str) -> int | None:
    """A count from supplier text: "12", " 7.9 ", "1,200", ">50", ">= 50", "50+", "-4"; None if not a number."""
    # Commas are only ever thousands separators in stock figures; there is no decimal comma.
    text = text.replace(",", "")
    if _NUMBER_TEXT.fullmatch(text):
        return _count_from_number(Decimal(text))
    at_least = _AT_LEAST_TEXT.fullmatch(text)
    if at_least:
        return _count_from_number(Decimal(at_least.group("before") or at_least.group("after")))
    return None


def _count_from_number(number: Decimal) -> int | None:
    """A number rounded down and floored at 0; None when not finite or absurdly large."""
    if not number.is_finite() or number.adjusted() > _LARGEST_EXPONENT:
        return None
    return max(int(number.to_integral_value(rounding=ROUND_FLOOR)), 0)


def _timestamp_reader(zone: ZoneInfo, received_at: datetime) -> Callable[[Any], datetime]:
    """_read_updated_at for one feed, remembering each timestamp text it has read: feeds repeat them a lot."""
    memo: dict[str, datetime | _Rejected] = {}

    def read(raw: Any) -> datetime:
        if type(raw) is not str:
            return _read_updated_at(raw, zone, received_at)
        found = memo.get(raw)
        if found is None:
            try:
                found = _read_updated_at(raw, zone, received_at)
            except _Rejected as rejected:
                found = rejected
            memo[raw] = found
        if type(found) is _Rejected:
            raise _Rejected(found.reason, found.detail)
        return found

    return read


def _read_updated_at(raw: Any, zone: ZoneInfo, received_at: datetime) -> datetime:
    """When the supplier says the figure was true, in UTC whole seconds; received_at when unsaid or ahead."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        instant = received_at
    elif isinstance(raw, bool):
        raise _Rejected(RejectReason.BAD_TIMESTAMP, f"updated_at {raw!r} is not a time")
    elif isinstance(raw, int):
        instant = _instant_from_epoch(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        instant = (
            _instant_from_epoch(text) if _EPOCH_DIGITS.fullmatch(text) else _instant_from_iso(text, zone)
        )
    else:
        raise _Rejected(RejectReason.BAD_TIMESTAMP, f"updated_at is {_type_name(raw)}")
    # Compared at full precision: a supplier clock running ahead is not believed.
    if instant > received_at + CLOCK_AHEAD_ALLOWANCE:
        instant = received_at
    return instant.astimezone(UTC).replace(microsecond=0)


def _instant_from_epoch(figure: int | str) -> datetime:
    """An epoch figure (a number or digits) in seconds, or in milliseconds when it is at least 10**11."""
    try:
        figure = int(figure)  # digits past Python's int-from-text limit raise ValueError: not a time either
        if figure >= MILLISECOND_EPOCH_FROM:
            return EPOCH + timedelta(milliseconds=figure)
        return EPOCH + timedelta(seconds=figure)
    except (OverflowError, ValueError) as error:
        raise _Rejected(RejectReason.BAD_TIMESTAMP, f"epoch {_short(figure)} is out of range") from error


def _instant_from_iso(text: str, zone: ZoneInfo) -> datetime:
    """ISO 8601 (or YYYY-MM-DD HH:MM:SS); without an offset it is read in the mapping's timezone."""
    if _DATE_THEN_ODD_SEPARATOR.match(text):
        raise _Rejected(RejectReason.BAD_TIMESTAMP, f"updated_at {_short(text)} is not ISO 8601")
    try:
        instant = datetime.fromisoformat(text)
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=zone)
        return instant.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise _Rejected(RejectReason.BAD_TIMESTAMP, f"updated_at {_short(text)} is not a time") from error


def _read_cost(raw: Any) -> Decimal | None:
    """A cost from a number or numeric string, half-up to cents; None (no reject) for anything else."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, Decimal)):
        cost = Decimal(raw)
    elif isinstance(raw, float):
        # str() first: Decimal(2.675) is 2.67499…, but the supplier wrote 2.675.
        cost = Decimal(str(raw))
    elif isinstance(raw, str) and _NUMBER_TEXT.fullmatch(raw.strip()):
        cost = Decimal(raw.strip())
    else:
        return None
    if not cost.is_finite() or cost.adjusted() > _LARGEST_EXPONENT:
        return None
    try:
        return cost.quantize(CENTS, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than Decimal's context holds: not a price
        return None


# --- reading the mapping -----------------------------------------------------------------------


def _read_format(raw: Any) -> FeedFormat:
    """The mapping's body format."""
    try:
        return FeedFormat(raw)
    except ValueError:
        raise FeedMappingError(f"mapping.format must be one of json, csv, xml; got {raw!r}") from None


def _read_fields(raw: Any, feed_format: FeedFormat) -> FieldLocations:
    """Where each value sits; sku is required, the rest are optional."""
    if not isinstance(raw, Mapping):
        raise FeedMappingError(f"mapping.fields must be an object naming at least sku, got {_type_name(raw)}")
    unknown = sorted(str(name) for name in raw if name not in FIELD_NAMES)
    if unknown:
        raise FeedMappingError(
            f"mapping.fields has unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELD_NAMES)}"
        )
    locations: dict[str, str | None] = {}
    for name in FIELD_NAMES:
        location = raw.get(name)
        if location is not None and not isinstance(location, str):
            raise FeedMappingError(f"mapping.fields.{name} must be a string, got {_type_name(location)}")
        if location is not None and feed_format is FeedFormat.XML:
            _check_xml_location(location, f"mapping.fields.{name}")
        locations[name] = location
    if locations["sku"] is None:
        raise FeedMappingError("mapping.fields.sku is required")
    return FieldLocations(**locations)


def _read_records_path(raw: Any, feed_format: FeedFormat) -> str:
    """Where the list of records sits; for XML a path under the document element (default: its children)."""
    if raw is not None and not isinstance(raw, str):
        raise FeedMappingError(f"mapping.records must be a string, got {_type_name(raw)}")
    if feed_format is FeedFormat.XML:
        path = (raw or "").strip() or "*"
        _check_element_path(path, "mapping.records")
        return path
    return raw or ""


def _read_csv_options(raw: Any) -> str:
    """The CSV delimiter (default a comma)."""
    if raw is None:
        return ","
    if not isinstance(raw, Mapping):
        raise FeedMappingError(f"mapping.csv must be an object, got {_type_name(raw)}")
    unknown = sorted(str(key) for key in raw if key not in _CSV_KEYS)
    if unknown:
        raise FeedMappingError(f"mapping.csv has unknown key(s) {', '.join(unknown)}; known: delimiter")
    delimiter = raw.get("delimiter")
    if delimiter is None:
        return ","
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n':
        raise FeedMappingError(
            f"mapping.csv.delimiter must be one character other than a quote or line break, got {delimiter!r}"
        )
    return delimiter


def _read_status_map(raw: Any) -> Mapping[str, StockStatus]:
    """Supplier status text → unified status, keyed trimmed and case-insensitive."""
    if raw is None:
        return MappingProxyType({})
    if not isinstance(raw, Mapping):
        raise FeedMappingError(f"mapping.status_map must be an object, got {_type_name(raw)}")
    statuses: dict[str, StockStatus] = {}
    allowed = ", ".join(status.value for status in StockStatus)
    for text, status in raw.items():
        if not isinstance(text, str) or not text.strip():
            raise FeedMappingError(f"mapping.status_map keys must be non-empty supplier texts, got {text!r}")
        try:
            unified = StockStatus(status)
        except ValueError:
            raise FeedMappingError(
                f"mapping.status_map[{text!r}] must be one of {allowed}; got {status!r}"
            ) from None
        key = _status_key(text)
        if statuses.get(key, unified) is not unified:
            raise FeedMappingError(
                f"mapping.status_map maps {text!r} twice (case and spaces are ignored) to different statuses"
            )
        statuses[key] = unified
    return MappingProxyType(statuses)


def _read_timezone(raw: Any) -> ZoneInfo:
    """The IANA zone for timestamps sent without an offset (default UTC)."""
    if raw is None:
        return ZoneInfo("UTC")
    if not isinstance(raw, str) or not raw.strip():
        raise FeedMappingError(
            f"mapping.timezone must be an IANA zone name such as Europe/Berlin, got {raw!r}"
        )
    try:
        return ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise FeedMappingError(
            f"mapping.timezone {raw!r} is not a known IANA zone (e.g. Europe/Berlin)"
        ) from None


def _read_assume_quantity(raw: Any) -> int | None:
    """The quantity to assume when a supplier says only "in stock"."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise FeedMappingError(f"mapping.assume_quantity must be a whole number ≥ 0, got {raw!r}")
    return raw


def _read_received_at(raw: Any) -> datetime:
    """A scenario's received_at: an ISO 8601 instant, UTC when it carries no offset."""
    if isinstance(raw, datetime):
        instant = raw
    elif isinstance(raw, str):
        try:
            instant = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise FeedMappingError(f"scenario.received_at must be an ISO 8601 instant, got {raw!r}") from None
    else:
        raise FeedMappingError(f"scenario.received_at must be an ISO 8601 instant, got {_type_name(raw)}")
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def _check_xml_location(location: str, where: str) -> None:
    """An XML field location is `child`, `child/grandchild`, `@attr` or `child@attr`."""
    path, attribute = _split_xml_location(location)
    if attribute == "":
        raise FeedMappingError(f"{where} {location!r} names no attribute after @")
    if path is not None:
        _check_element_path(path, where)


def _check_element_path(path: str, where: str) -> None:
    """Fail now, with the mapping's name for it, on an ElementTree path that cannot be searched."""
    try:
        ElementTree.Element("record").findall(path)
    except (SyntaxError, TypeError, KeyError) as error:  # what ElementPath raises on a path it cannot compile
        raise FeedMappingError(
            f"{where} {path!r} is not a valid ElementTree path: {error or type(error).__name__}"
        ) from None


# --- small helpers -----------------------------------------------------------------------------


def _located_fields(mapping: FeedMapping) -> list[tuple[str, str]]:
    """(field name, location) for each field the mapping locates."""
    return [
        (name, getattr(mapping.fields, name))
        for name in FIELD_NAMES
        if getattr(mapping.fields, name) is not None
    ]


def _follow_dotted_path(value: Any, path: str) -> Any:
    """The value at a dotted path (`stock.available`, `variants.0.sku`); "" is the value itself; None if absent."""
    if path == "":
        return value
    for step in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(step)
        elif isinstance(value, list) and step.isascii() and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


def _split_xml_location(location: str) -> tuple[str | None, str | None]:
    """`child@attr` → ("child", "attr"); `@attr` → (None, "attr"); `child/grandchild` → (path, None).

    The @ that names an attribute is the last one outside {namespace} and [predicate] brackets.
    """
    depth, split_at = 0, -1
    for position, char in enumerate(location):
        if char in "{[":
            depth += 1
        elif char in "}]":
            depth = max(depth - 1, 0)
        elif char == "@" and depth == 0:
            split_at = position
    if split_at < 0:
        return location, None
    return (location[:split_at] or None), location[split_at + 1 :]


def _xml_value(record: ElementTree.Element, path: str | None, attribute: str | None) -> str | None:
    """The text or attribute at a location in one XML record; None when absent."""
    element = record if path is None else record.find(path)
    if element is None:
        return None
    return element.get(attribute) if attribute is not None else element.text


def _decode_json(body: str | bytes | bytearray) -> Any:
    """JSON text → value; FeedParseError when it is not JSON."""
    if isinstance(body, str):
        body = body.removeprefix("\ufeff")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise FeedParseError(f"JSON cannot be parsed: {error}") from error


def _decode_text(body: Any, kind: str) -> str:
    """A text body as str, UTF-8 byte-order mark removed."""
    if isinstance(body, (bytes, bytearray)):
        try:
            return bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise FeedParseError(f"{kind} is not UTF-8: {error}") from error
    if not isinstance(body, str):
        raise FeedParseError(f"a {kind} feed body must be text, got {_type_name(body)}")
    return body.removeprefix("\ufeff")


def _is_blank_row(row: list[str]) -> bool:
    """A CSV line whose cells are all empty or blank: skipped and not counted."""
    return all(not cell.strip() for cell in row)


def _column_key(title: str) -> str:
    """CSV headers match trimmed and case-insensitively."""
    return title.strip().casefold()


def _status_key(text: str) -> str:
    """Supplier status texts match trimmed and case-insensitively."""
    return text.strip().casefold()


def _expat_name(name: str) -> str:
    """expat's `uri}local` → ElementTree's `{uri}local`."""
    return "{" + name if "}" in name else name


def _refuse_entity_declaration(*_: Any) -> None:
    """Entity declarations and external references are how XML bombs and file reads are made."""
    raise FeedParseError("XML with entity declarations or external references is refused")


def _type_name(value: Any) -> str:
    """A JSON-ish name for a value's type, for messages."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _short(value: Any) -> str:
    """A value cut short enough for a reject detail."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
