"""Orders as support and ops look them up: the list, one order end to end, and orders uploaded as CSV."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from app.channels.context import load_payload, mask_payment_data, plain_payload
from app.extensions import db
from app.models import (
    Channel,
    ExceptionItem,
    InboundPayload,
    Order,
    Reservation,
    ReservationEvent,
    RoutingDecision,
    Supplier,
    SupplierOrder,
    User,
)
from app.services import ServiceError, audit, fulfilment, intake
from app.services.paging import Page, keyset_page

# The order's life (issue 6's contract): intake, routing, the suppliers, the parcel; and its side states.
ORDER_STATUSES = ("received", "accepted", "routed", "awaiting_supplier", "confirmed", "partially_shipped", "shipped",
                  "delivered", "manual_review", "cancelled")
# Nothing left to cancel once every parcel is on its way.
FINAL_STATUSES = ("cancelled", "shipped", "delivered")
# A supplier may still answer, ship or deliver: the order page follows these by itself.
FOLLOWED_STATUSES = ("routed", "awaiting_supplier", "confirmed", "partially_shipped", "shipped")
MAX_UPLOAD_ROWS = 5000
# One row per order line; the order's own columns repeat on each of its lines.
CSV_COLUMNS = ("order_id", "number", "placed_at", "currency", "email", "total", "ship_to_name", "ship_to_company",
               "ship_to_address1", "ship_to_address2", "ship_to_city", "ship_to_region", "ship_to_postal_code",
               "ship_to_country", "ship_to_phone", "service_level", "sku", "title", "qty", "unit_price")
REQUIRED_COLUMNS = ("order_id", "currency", "sku", "qty")


@dataclass(frozen=True)
class OrderFilter:
    channel: str = ""
    status: str = ""
    q: str = ""
    after: str | None = None


@dataclass(frozen=True)
class LedgerEntry:
    """One reservation of the order's lines with its append-only ledger rows, oldest first."""

    reservation: Reservation
    events: list[ReservationEvent]
    supplier_code: str
    sku: str | None  # our SKU: the order line it holds stock for


@dataclass(frozen=True)
class OrderDetail:
    order: Order
    received: object | None  # the payload as the channel sent it, payment data masked
    received_topic: str | None
    items: list[ExceptionItem]
    decision: RoutingDecision | None  # the latest
    earlier_decisions: list[RoutingDecision] = field(default_factory=list)  # newest first (reroutes, retries)
    shipments: list[SupplierOrder] = field(default_factory=list)  # one supplier order per shipment
    ledger: list[LedgerEntry] = field(default_factory=list)

    @property
    def cancellable(self) -> bool:
        return self.order.status not in FINAL_STATUSES


def list_orders(filters: OrderFilter, per_page: int = 50) -> Page:
    """Newest first, a keyset page at a time (orders only ever grow)."""
    if filters.status and filters.status not in ORDER_STATUSES:
        raise ServiceError(f"Unknown status {filters.status!r}.", field="status")
    query = select(Order)
    if filters.channel:
        query = query.where(Order.channel == filters.channel)
    if filters.status:
        query = query.where(Order.status == filters.status)
    if filters.q:
        term = filters.q.strip()
        query = query.where(or_(Order.number == term, Order.external_id == term, Order.email == term.lower(),
                                Order.ship_to_name.ilike(f"%{term}%")))
    return keyset_page(query, Order.id, Order.id, descending=True, after=filters.after, per_page=per_page,
                       row_key=lambda row: (row.Order.id, row.Order.id))


def order_detail(order_id: int) -> OrderDetail:
    order = db.session.get(Order, order_id)
    if order is None:
        raise ServiceError(f"No order {order_id}.")
    payload = db.session.get(InboundPayload, order.inbound_payload_id) if order.inbound_payload_id else None
    received = None
    if payload is not None:
        try:
            received = plain_payload(mask_payment_data(load_payload(payload.body)))
        except ValueError:
            received = payload.body[:2000]
    items = list(db.session.scalars(select(ExceptionItem).where(
        or_(ExceptionItem.order_id == order.id,
            (ExceptionItem.channel == order.channel) & (ExceptionItem.order_ref == order.external_id)))
        .order_by(ExceptionItem.created_at)))
    decisions = list(db.session.scalars(select(RoutingDecision).where(RoutingDecision.order_id == order.id)
                                        .order_by(RoutingDecision.created_at.desc(), RoutingDecision.id.desc())))
    return OrderDetail(order, received, payload.topic if payload else None, items,
                       decisions[0] if decisions else None, decisions[1:], fulfilment.shipments_of(order.id),
                       _ledger(order))


def _ledger(order: Order) -> list[LedgerEntry]:
    held = fulfilment.ledger_of(order.id)
    codes = dict(db.session.execute(select(Supplier.id, Supplier.code).where(
        Supplier.id.in_({reservation.supplier_id for reservation, _ in held} or {0}))).all())
    skus = {line.id: line.sku for line in order.lines}
    return [LedgerEntry(reservation, events, codes.get(reservation.supplier_id, "?"), skus.get(reservation.order_line_id))
            for reservation, events in held]


def cancel(order_id: int, actor: User, reason: str) -> fulfilment.CancelOutcome:
    """Support or ops cancel an order with a reason: at each supplier not yet shipped, its stock given back."""
    if not reason.strip():
        raise ServiceError("Say why the order is cancelled (the customer asked, a duplicate, …).", field="reason")
    order = db.session.get(Order, order_id)
    if order is None:
        raise ServiceError(f"No order {order_id}.")
    if order.status in ("shipped", "delivered"):
        raise ServiceError(f"Order {order.label} has {order.status}: nothing is left to cancel at the suppliers.")
    return fulfilment.cancel_order(order_id, actor, reason.strip())


def cancel_summary(outcome: fulfilment.CancelOutcome) -> str:
    """What a cancellation did, in words for the toast."""
    if outcome.status == "already_cancelled":
        return "The order was already cancelled."
    parts = ["Order cancelled"]
    if outcome.cancelled:
        parts.append(f"{len(outcome.cancelled)} supplier order(s) cancelled")
    if outcome.kept:
        parts.append(f"{len(outcome.kept)} already shipped (kept)")
    if outcome.failed:
        parts.append(f"{len(outcome.failed)} supplier(s) not reached: an exception item asks a person to follow up")
    return "; ".join(parts) + "."


def channel_codes() -> list[str]:
    return list(db.session.scalars(select(Order.channel).distinct().order_by(Order.channel)))


# --- CSV upload -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowProblem:
    line: int  # the file's line number (the header is line 1)
    column: str
    message: str


@dataclass
class UploadReport:
    accepted: list[Order] = field(default_factory=list)
    held: list[tuple[str, ExceptionItem]] = field(default_factory=list)  # (order id, item)
    duplicates: list[str] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)  # rows that could not be read at all


def upload_orders_csv(channel_code: str, raw: bytes, actor: User) -> UploadReport:
    """Orders from a CSV file: each order stored as a payload, then taken in like any other (held or accepted).

    A row that cannot be read (a missing column, an unreadable quantity) is reported by its line and
    column and its order is not taken; every other order in the file goes through.
    """
    channel = db.session.scalar(select(Channel).where(Channel.code == channel_code, Channel.active.is_(True)))
    if channel is None:
        raise ServiceError("Choose the channel these orders come from.", field="channel")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ServiceError("The file is not UTF-8 text; save it as CSV UTF-8 and upload again.", field="file") from None
    if not text.strip():
        raise ServiceError("The file is empty.", field="file")
    dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t") if text.count("\n") else csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ServiceError(f"The header lacks the column(s) {', '.join(missing)}. Expected: {', '.join(CSV_COLUMNS)}.",
                           field="file")
    report = UploadReport()
    orders: dict[str, dict] = {}
    broken: set[str] = set()
    for line, row in enumerate(reader, start=2):
        if line - 1 > MAX_UPLOAD_ROWS:
            raise ServiceError(f"At most {MAX_UPLOAD_ROWS} rows per file; split it.", field="file")
        row = {(key or "").strip(): (value or "").strip() for key, value in row.items() if key}
        order_id = row.get("order_id")
        if not order_id:
            report.problems.append(RowProblem(line, "order_id", "empty: every row names its order"))
            continue
        qty_text = row.get("qty", "")
        if not qty_text.lstrip("-").isdigit():
            report.problems.append(RowProblem(line, "qty", f"{qty_text!r} is not a whole number"))
            broken.add(order_id)
            continue
        order = orders.setdefault(order_id, _csv_order(row))
        order["lines"].append({"external_id": str(len(order["lines"]) + 1), "sku": row.get("sku") or None,
                               "title": row.get("title") or None, "qty": int(qty_text),
                               "unit_price": row.get("unit_price") or None, "_line": line})
    for order_id, order in orders.items():
        if order_id in broken:
            continue
        lines = [entry.pop("_line") for entry in order["lines"]]
        body = json.dumps(order)
        digest = hashlib.sha256(body.encode()).hexdigest()[:16]
        payload = InboundPayload(source=intake.SOURCE, channel_id=channel.id, topic="csv", headers={},
                                 delivery_id=f"{channel.code}:csv:{order_id}:{digest}", body=body, status="pending")
        db.session.add(payload)
        try:
            db.session.commit()
        except IntegrityError:  # the same order uploaded before, unchanged
            db.session.rollback()
            report.duplicates.append(order_id)
            continue
        outcome = intake.process_payload(payload.id)
        if outcome is None or outcome.status == "duplicate":
            report.duplicates.append(order_id)
        elif outcome.status == "held":
            report.held.append((order_id, outcome.item))
            for error in outcome.errors:
                report.problems.append(RowProblem(_line_of(error.path, lines), error.path, error.message))
        else:
            report.accepted.append(outcome.order)
    report.problems.sort(key=lambda problem: problem.line)
    audit.record(actor, "orders.uploaded", "channel", channel.code,
                 {"accepted": (None, len(report.accepted)), "held": (None, len(report.held)),
                  "duplicates": (None, len(report.duplicates)), "row problems": (None, len(report.problems))})
    db.session.commit()
    return report


def _csv_order(row: dict) -> dict:
    ship = {name: row.get(f"ship_to_{name}") or None for name in intake.SHIP_TO_FIELDS}
    return {"external_id": row.get("order_id"), "number": row.get("number") or row.get("order_id"),
            "placed_at": row.get("placed_at") or None, "currency": row.get("currency") or None,
            "email": row.get("email") or None, "total": row.get("total") or None,
            "service_level": row.get("service_level") or "standard",
            "ship_to": ship if any(ship.values()) else None, "lines": []}


def _line_of(path: str, lines: list[int]) -> int:
    if path.startswith("lines[") and lines:
        index = int(path[6:path.index("]")])
        return lines[min(index, len(lines) - 1)]
    return lines[0] if lines else 1

