"""Supplier shipping data routing prices shipments with: terms, carrier services, rates, surcharges.

Admins edit it on the supplier page or import a rate table from CSV. An import is all or
nothing: a file with any bad row changes nothing and every bad row is reported with its line
and column, so no row is ever lost without a word. Every change is audited.
"""
from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import ShippingRate, ShippingService, ShippingSurcharge, Supplier
from app.models.shipping import SPEEDS
from app.services import ServiceError, audit

log = logging.getLogger(__name__)

COUNTRY = re.compile(r"^[A-Z]{2}$")
CSV_COLUMNS = ("carrier", "service", "country", "base", "per_kg", "transit_days")
CSV_OPTIONAL = ("speed", "max_kg")
CSV_MAX_BYTES = 2 * 1024 * 1024
ERRORS_SHOWN = 100


@dataclass(frozen=True)
class ShippingPage:
    supplier: Supplier
    services: list[ShippingService]
    surcharges: list[ShippingSurcharge]


def get_supplier(code: str) -> Supplier:
    supplier = db.session.scalar(select(Supplier).where(Supplier.code == code))
    if supplier is None:
        raise ServiceError(f"No supplier {code}.")
    return supplier


def shipping_page(code: str) -> ShippingPage:
    supplier = get_supplier(code)
    services = list(db.session.scalars(select(ShippingService).where(ShippingService.supplier_id == supplier.id)
                                       .options(selectinload(ShippingService.rates))
                                       .order_by(ShippingService.carrier, ShippingService.service)))
    surcharges = list(db.session.scalars(select(ShippingSurcharge).where(ShippingSurcharge.supplier_id == supplier.id)
                                         .order_by(ShippingSurcharge.country, ShippingSurcharge.region)))
    return ShippingPage(supplier, services, surcharges)


def country_code(value: str | None, field_name: str = "country") -> str:
    code = (value or "").strip().upper()
    if not COUNTRY.match(code):
        raise ServiceError(f"{value!r} is not a country code; write two letters, like DE or US.", field=field_name)
    return code


# --- terms --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShippingTerms:
    order_fee: Decimal
    fee_pct: Decimal
    min_order_value: Decimal
    lead_time_days: int
    warehouse_country: str
    ships_to: tuple[str, ...]


def save_terms(code: str, terms: ShippingTerms, actor) -> tuple[str, ...]:
    """Fees, minimum order value, lead time, warehouse and ships-to; returns what changed."""
    supplier = get_supplier(code)
    new = {
        "order_fee": Decimal(terms.order_fee).quantize(Decimal("0.01")),
        "fee_pct": Decimal(terms.fee_pct).quantize(Decimal("0.01")),
        "min_order_value": Decimal(terms.min_order_value).quantize(Decimal("0.01")),
        "lead_time_days": terms.lead_time_days,
        "warehouse_country": country_code(terms.warehouse_country, "warehouse_country"),
        "ships_to": sorted({country_code(c, "ships_to") for c in terms.ships_to}),
    }
    if not new["ships_to"]:
        raise ServiceError("Choose at least one country the supplier delivers to.", field="ships_to")
    if new["fee_pct"] > 100:
        raise ServiceError("A fee of more than 100% of the goods is surely a typo.", field="fee_pct")
    changes: dict[str, tuple[Any, Any]] = {}
    for name, value in new.items():
        old = getattr(supplier, name)
        if name == "ships_to":
            old = sorted(old or [])
        elif isinstance(value, Decimal):
            old = Decimal(old or 0).quantize(Decimal("0.01"))
        if old != value:
            changes[name] = (str(old) if isinstance(old, Decimal) else old,
                             str(value) if isinstance(value, Decimal) else value)
            setattr(supplier, name, value)
    if changes:
        audit.record(actor, "supplier.shipping_terms_changed", "supplier", supplier.id, changes)
        db.session.commit()
        log.info("shipping_terms_saved supplier=%s changed=%s", supplier.code, ",".join(changes))
    return tuple(changes)


# --- services and rates -------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceInput:
    carrier: str
    service: str
    speed: str
    max_kg: Decimal | None = None


def _check_service(data: ServiceInput) -> ServiceInput:
    carrier, service = (data.carrier or "").strip(), (data.service or "").strip()
    if not carrier:
        raise ServiceError("Name the carrier, e.g. UPS.", field="carrier")
    if not service:
        raise ServiceError("Name the service, e.g. ground.", field="service")
    if data.speed not in SPEEDS:
        raise ServiceError("Speed is standard or express.", field="speed")
    if data.max_kg is not None and data.max_kg <= 0:
        raise ServiceError("The weight limit must be above 0 kg; leave it empty for none.", field="max_kg")
    return ServiceInput(carrier, service, data.speed, data.max_kg)


def _service_name_taken(supplier_id: int, carrier: str, service: str, other_than: int | None = None) -> bool:
    query = select(ShippingService.id).where(ShippingService.supplier_id == supplier_id,
                                             ShippingService.carrier == carrier, ShippingService.service == service)
    found = db.session.scalar(query)
    return found is not None and found != other_than


def add_service(code: str, data: ServiceInput, actor) -> ShippingService:
    supplier = get_supplier(code)
    data = _check_service(data)
    if _service_name_taken(supplier.id, data.carrier, data.service):
        raise ServiceError(f"{supplier.code} already has {data.carrier} {data.service}.", field="service")
    created = ShippingService(supplier_id=supplier.id, carrier=data.carrier, service=data.service, speed=data.speed,
                              max_kg=data.max_kg)
    db.session.add(created)
    db.session.flush()
    audit.record(actor, "shipping.service_added", "supplier", supplier.id,
                 {f"service {data.carrier} {data.service}": (None, _describe_service(created))})
    db.session.commit()
    return created


def get_service(service_id: int) -> ShippingService:
    service = db.session.get(ShippingService, service_id)
    if service is None:
        raise ServiceError(f"No shipping service with id {service_id}.")
    return service


def update_service(service_id: int, data: ServiceInput, actor) -> ShippingService:
    existing = get_service(service_id)
    data = _check_service(data)
    if _service_name_taken(existing.supplier_id, data.carrier, data.service, other_than=existing.id):
        raise ServiceError(f"This supplier already has {data.carrier} {data.service}.", field="service")
    before = _describe_service(existing)
    existing.carrier, existing.service, existing.speed, existing.max_kg = data.carrier, data.service, data.speed, data.max_kg
    after = _describe_service(existing)
    if before != after:
        audit.record(actor, "shipping.service_changed", "supplier", existing.supplier_id,
                     {f"service {existing.carrier} {existing.service}": (before, after)})
    db.session.commit()
    return existing


def delete_service(service_id: int, actor) -> Supplier:
    service = get_service(service_id)
    supplier = service.supplier
    audit.record(actor, "shipping.service_removed", "supplier", supplier.id,
                 {f"service {service.carrier} {service.service}": (_describe_service(service), None)})
    db.session.delete(service)
    db.session.commit()
    return supplier


def _describe_service(service: ShippingService) -> str:
    limit = f", up to {service.max_kg} kg" if service.max_kg is not None else ""
    return f"{service.speed}{limit}"


@dataclass(frozen=True)
class RateInput:
    country: str
    base: Decimal
    per_kg: Decimal
    transit_days: int


def _check_rate(data: RateInput) -> RateInput:
    country = country_code(data.country)
    if data.base is None or data.base < 0:
        raise ServiceError("The base price must be zero or more.", field="base")
    if data.per_kg is None or data.per_kg < 0:
        raise ServiceError("The price per kg must be zero or more.", field="per_kg")
    if data.transit_days is None or data.transit_days < 0:
        raise ServiceError("Transit days must be zero or more.", field="transit_days")
    return RateInput(country, data.base, data.per_kg, data.transit_days)


def set_rate(service_id: int, data: RateInput, actor) -> ShippingRate:
    """Add the service's rate to a country, or replace the one it has."""
    service = get_service(service_id)
    data = _check_rate(data)
    rate = next((r for r in service.rates if r.country == data.country), None)
    before = _describe_rate(rate) if rate else None
    if rate is None:
        rate = ShippingRate(country=data.country)
        service.rates.append(rate)
    rate.base, rate.per_kg, rate.transit_days = data.base, data.per_kg, data.transit_days
    after = _describe_rate(rate)
    if before != after:
        audit.record(actor, "shipping.rate_set", "supplier", service.supplier_id,
                     {f"rate {service.carrier} {service.service} {data.country}": (before, after)})
    db.session.commit()
    return rate


def delete_rate(rate_id: int, actor) -> ShippingService:
    rate = db.session.get(ShippingRate, rate_id)
    if rate is None:
        raise ServiceError(f"No rate with id {rate_id}.")
    service = rate.shipping_service
    audit.record(actor, "shipping.rate_removed", "supplier", service.supplier_id,
                 {f"rate {service.carrier} {service.service} {rate.country}": (_describe_rate(rate), None)})
    service.rates.remove(rate)
    db.session.commit()
    return service


def _describe_rate(rate: ShippingRate) -> str:
    return (f"{Decimal(rate.base).quantize(Decimal('0.01'))} + {Decimal(rate.per_kg).quantize(Decimal('0.01'))}/kg, "
            f"{rate.transit_days} days")


# --- surcharges ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurchargeInput:
    country: str
    region: str | None
    amount: Decimal


def add_surcharge(code: str, data: SurchargeInput, actor) -> ShippingSurcharge:
    supplier = get_supplier(code)
    country = country_code(data.country)
    region = (data.region or "").strip() or None
    if data.amount is None or data.amount <= 0:
        raise ServiceError("A surcharge must be more than 0.", field="amount")
    surcharge = ShippingSurcharge(supplier_id=supplier.id, country=country, region=region, amount=data.amount)
    db.session.add(surcharge)
    db.session.flush()
    audit.record(actor, "shipping.surcharge_added", "supplier", supplier.id,
                 {f"surcharge {country}{'-' + region if region else ''}": (None, str(surcharge.amount))})
    db.session.commit()
    return surcharge


def delete_surcharge(surcharge_id: int, actor) -> Supplier:
    surcharge = db.session.get(ShippingSurcharge, surcharge_id)
    if surcharge is None:
        raise ServiceError(f"No surcharge with id {surcharge_id}.")
    supplier = surcharge.supplier
    where = f"{surcharge.country}{'-' + surcharge.region if surcharge.region else ''}"
    audit.record(actor, "shipping.surcharge_removed", "supplier", supplier.id,
                 {f"surcharge {where}": (str(surcharge.amount), None)})
    db.session.delete(surcharge)
    db.session.commit()
    return supplier


# --- CSV rate import ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    line: int  # line number in the file, header is line 1
    column: str | None
    message: str


@dataclass(frozen=True)
class RateImport:
    """What an import did, or (with errors) why it did nothing."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    services_created: tuple[str, ...] = ()
    errors: tuple[RowError, ...] = field(default_factory=tuple)
    error_count: int = 0

    @property
    def imported(self) -> bool:
        return not self.errors and self.rows > 0


def import_rates_csv(code: str, body: bytes | str, actor, filename: str = "the file") -> RateImport:
    """Read a rate table (carrier, service, country, base, per_kg, transit_days[, speed, max_kg]) and
    upsert every rate, creating services it names that do not exist yet. Any bad row: nothing changes."""
    supplier = get_supplier(code)
    if isinstance(body, bytes):
        if len(body) > CSV_MAX_BYTES:
            return _refused(RowError(0, None, f"{filename} is larger than {CSV_MAX_BYTES // 1_048_576} MB; "
                                              "a rate table is rarely more than a few thousand rows."))
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError:
            return _refused(RowError(0, None, f"{filename} is not UTF-8 text; save it as CSV UTF-8 and try again."))
    # The header names the columns, so it says which delimiter the spreadsheet used.
    header_line = body.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO(body), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        return _refused(RowError(0, None, f"{filename} is empty."))
    except csv.Error as error:
        return _refused(RowError(1, None, f"The header cannot be read: {error}."))
    missing = [name for name in CSV_COLUMNS if name not in header]
    if missing:
        return _refused(RowError(1, None, f"The header lacks {', '.join(missing)}; the columns are "
                                          f"{', '.join(CSV_COLUMNS)} (and optionally {', '.join(CSV_OPTIONAL)})."))

    existing = {(s.carrier, s.service): s for s in db.session.scalars(
        select(ShippingService).where(ShippingService.supplier_id == supplier.id)
        .options(selectinload(ShippingService.rates)))}
    errors: list[RowError] = []
    parsed: list[tuple[int, dict[str, Any]]] = []
    seen: dict[tuple[str, str, str], int] = {}
    line = 1
    try:
        for line, raw in enumerate(reader, start=2):
            if not any(cell.strip() for cell in raw):
                continue
            if len(raw) != len(header):
                errors.append(RowError(line, None, f"{len(raw)} values for {len(header)} columns."))
                continue
            row = {name: cell.strip() for name, cell in zip(header, raw)}
            problems, value = _read_rate_row(row, existing)
            errors.extend(RowError(line, column, message) for column, message in problems)
            if problems:
                continue
            key = (value["carrier"], value["service"], value["country"])
            if key in seen:
                errors.append(RowError(line, "country", f"{' '.join(key)} is also on line {seen[key]}."))
                continue
            seen[key] = line
            parsed.append((line, value))
    except csv.Error as error:
        errors.append(RowError(line, None, f"The file cannot be read past here: {error}."))
    if errors:
        return RateImport(rows=len(parsed) + len({e.line for e in errors}), errors=tuple(errors[:ERRORS_SHOWN]),
                          error_count=len(errors))
    if not parsed:
        return _refused(RowError(0, None, f"{filename} has a header but no rates."))

    created = updated = unchanged = 0
    new_services: list[str] = []
    changes: dict[str, tuple[Any, Any]] = {}
    for _line, value in parsed:
        service = existing.get((value["carrier"], value["service"]))
        if service is None:
            service = ShippingService(supplier_id=supplier.id, carrier=value["carrier"], service=value["service"],
                                      speed=value["speed"] or "standard", max_kg=value["max_kg"])
            db.session.add(service)
            existing[(service.carrier, service.service)] = service
            new_services.append(f"{service.carrier} {service.service}")
        rate = next((r for r in service.rates if r.country == value["country"]), None)
        before = _describe_rate(rate) if rate else None
        if rate is None:
            rate = ShippingRate(country=value["country"])
            service.rates.append(rate)
        rate.base, rate.per_kg, rate.transit_days = value["base"], value["per_kg"], value["transit_days"]
        after = _describe_rate(rate)
        if before is None:
            created += 1
        elif before != after:
            updated += 1
        else:
            unchanged += 1
        if before != after:
            changes[f"rate {value['carrier']} {value['service']} {value['country']}"] = (before, after)
    if changes:
        audit.record(actor, "shipping.rates_imported", "supplier", supplier.id, changes)
    db.session.commit()
    log.info("shipping_rates_imported supplier=%s rows=%s created=%s updated=%s", supplier.code, len(parsed),
             created, updated)
    return RateImport(rows=len(parsed), created=created, updated=updated, unchanged=unchanged,
                      services_created=tuple(new_services))


def _refused(error: RowError) -> RateImport:
    return RateImport(errors=(error,), error_count=1)


def _read_rate_row(row: dict[str, str], services: dict[tuple[str, str], ShippingService]):
    problems: list[tuple[str, str]] = []
    value: dict[str, Any] = {}
    for name in ("carrier", "service"):
        if not row.get(name):
            problems.append((name, f"The {name} is empty."))
        value[name] = row.get(name, "")
    country = row.get("country", "").upper()
    if not COUNTRY.match(country):
        problems.append(("country", f"{row.get('country')!r} is not a two-letter country code."))
    value["country"] = country
    for name in ("base", "per_kg"):
        amount = _amount(row.get(name, ""))
        if amount is None:
            problems.append((name, f"{row.get(name)!r} is not an amount of zero or more (write it like 4.90)."))
        value[name] = amount
    days = row.get("transit_days", "")
    if not days.isdigit():
        problems.append(("transit_days", f"{days!r} is not a whole number of days."))
    value["transit_days"] = int(days) if days.isdigit() else None
    speed = row.get("speed", "").lower() or None
    if speed is not None and speed not in SPEEDS:
        problems.append(("speed", f"{row.get('speed')!r}: speed is standard or express."))
    value["speed"] = speed
    max_kg = row.get("max_kg", "")
    value["max_kg"] = None
    if max_kg:
        value["max_kg"] = _amount(max_kg, places=None)
        if not value["max_kg"]:
            problems.append(("max_kg", f"{max_kg!r} is not a weight above 0 kg."))
    known = services.get((value["carrier"], value["service"]))
    if known is not None and speed is not None and speed != known.speed:
        problems.append(("speed", f"{known.carrier} {known.service} is {known.speed}; change the service itself "
                                  "to make it " + speed + "."))
    return problems, value


def _amount(text: str, places: str | None = "0.01") -> Decimal | None:
    try:
        amount = Decimal(text.replace(",", ".")) if text else None
    except InvalidOperation:
        return None
    if amount is None or not amount.is_finite() or amount < 0:
        return None
    return amount.quantize(Decimal(places)) if places else amount
