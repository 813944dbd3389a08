"""How each simulated supplier writes its stock on the wire: JSON shapes, CSV dialects, XML, timestamps.

Pure (standard library only). Also the two ways a supplier's body goes wrong on purpose: schema
drift (the quantity field renamed) and a malformed body (cut short, and for CSV not even UTF-8).
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

from app.sandbox.catalog import SimulatedItem

# The quantity field's name as usual, and after the supplier's "new API version" (schema drift).
QUANTITY_FIELD = {
    "page_json": ("qty", "quantity_on_hand"),
    "cursor_json": ("available", "available_qty"),
    "semicolon_csv": ("Lagersaldo", "Saldo"),
    "xml": ("available", "in_stock"),
    "next_link_json": ("on_hand", "stock_on_hand"),
    "comma_csv": ("Stock Level", "Qty Available"),
    "offset_json": ("quantity", "qty_available"),
    "upload_csv": ("quantity", "qty"),
}
UTF8_BOM = "\ufeff"


def quantity_field(style: str, drifted: bool) -> str:
    usual, renamed = QUANTITY_FIELD[style]
    return renamed if drifted else usual


def json_body(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def page_json_item(item: SimulatedItem, drifted: bool) -> dict:
    """ACME: flat records, ISO UTC times, cost as a JSON number."""
    return {"sku": item.sku, quantity_field("page_json", drifted): item.quantity,
            "updated_at": iso_utc(item.updated_at), "cost": float(item.cost)}


def cursor_json_product(item: SimulatedItem, drifted: bool, zone: ZoneInfo) -> dict:
    """EUROHUB: nested records, ISO times with the warehouse's offset."""
    return {"id": item.sku,
            "stock": {quantity_field("cursor_json", drifted): item.quantity,
                      "updated": item.updated_at.astimezone(zone).isoformat(timespec="seconds")},
            "pricing": {"cost": float(item.cost), "currency": "EUR"}}


def next_link_json_result(item: SimulatedItem, drifted: bool) -> dict:
    """ATLAS: epoch-second timestamps, cost as a string."""
    return {"sku": item.sku, quantity_field("next_link_json", drifted): item.quantity,
            "last_modified": int(item.updated_at.timestamp()), "unit_cost": money_text(item.cost)}


def offset_json_product(item: SimulatedItem, drifted: bool) -> dict:
    """PACIFIC: flat records, cost as a string."""
    return {"sku": item.sku, quantity_field("offset_json", drifted): item.quantity,
            "updated_at": iso_utc(item.updated_at), "cost": money_text(item.cost)}


def semicolon_csv(items: Iterable[SimulatedItem], drifted: bool, zone: ZoneInfo) -> bytes:
    """NORDIC: Swedish headers, `;`, a UTF-8 byte-order mark, local wall-clock times."""
    header = ["Artikelnummer", quantity_field("semicolon_csv", drifted), "Senast ändrad", "Inköpspris"]
    rows = [[item.sku, str(item.quantity), item.updated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
             money_text(item.cost)] for item in items]
    return (UTF8_BOM + _csv_text(header, rows, delimiter=";")).encode()


def comma_csv(items: Iterable[SimulatedItem], drifted: bool) -> bytes:
    """BRITBOX: a plain CSV export with the supplier's status words alongside the figure."""
    header = ["SKU", quantity_field("comma_csv", drifted), "Status", "Last Updated", "Trade Price"]
    rows = [[item.sku, str(item.quantity), item.status_text, item.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
             money_text(item.cost)] for item in items]
    return _csv_text(header, rows, delimiter=",").encode()


def upload_csv(items: Iterable[SimulatedItem], drifted: bool) -> bytes:
    """HARBOR: the file its staff e-mail over, for the console's upload."""
    header = ["sku", quantity_field("upload_csv", drifted), "updated_at", "cost"]
    rows = [[item.sku, str(item.quantity), iso_utc(item.updated_at), money_text(item.cost)] for item in items]
    return _csv_text(header, rows, delimiter=",").encode()


def inventory_xml(items: Iterable[SimulatedItem], drifted: bool, zone: ZoneInfo, generated_at: datetime) -> bytes:
    """MAPLE and ALPINE: <inventory><product sku=".."><available/><updated/><cost/></product></inventory>."""
    inventory = ElementTree.Element("inventory", generated=iso_utc(generated_at))
    quantity_tag = quantity_field("xml", drifted)
    for item in items:
        product = ElementTree.SubElement(inventory, "product", sku=item.sku)
        ElementTree.SubElement(product, quantity_tag).text = str(item.quantity)
        updated = item.updated_at.astimezone(zone)
        ElementTree.SubElement(product, "updated").text = (
            iso_utc(updated) if zone.key == "UTC" else updated.isoformat(timespec="seconds"))
        ElementTree.SubElement(product, "cost").text = money_text(item.cost)
    return ElementTree.tostring(inventory, encoding="utf-8", xml_declaration=True)


# Python's csv module refuses a field longer than this (its default field_size_limit).
_CSV_FIELD_LIMIT = 131_072


def malformed(body: bytes, is_csv: bool) -> bytes:
    """The body cut off halfway, as a supplier's proxy dropping the connection would leave it.

    CSV parses almost anything, so a broken CSV page also carries bytes that are not UTF-8 and
    a quoted field that never closes and outgrows any sane cell: unreadable whether the client
    decodes the bytes strictly or, like httpx's `.text`, with replacement characters.
    """
    cut = body[: max(1, len(body) // 2)]
    if not is_csv:
        return cut
    return cut + b"\xff\xfe\xfa" + b'"' + b"#" * (_CSV_FIELD_LIMIT + 1)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def money_text(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01'))}"


def _csv_text(header: list[str], rows: list[list[str]], delimiter: str) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
