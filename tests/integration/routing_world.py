"""A small, fully known routing world in the database: three suppliers, three products, one order."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from app.extensions import db
from app.models import (
    Order,
    OrderLine,
    Product,
    RoutingRule,
    RuleSet,
    ShippingRate,
    ShippingService,
    ShippingSurcharge,
    Supplier,
    SupplierOffer,
    SupplierStock,
)
from app.models.types import utcnow


def supplier(code: str, country: str, ships_to: list[str], *, priority: int = 100, status: str = "active",
             fee: str = "0", fee_pct: str = "0", minimum: str = "0", lead: int = 1) -> Supplier:
    row = Supplier(code=code, name=f"{code} Ltd", warehouse_country=country, ships_to=ships_to, priority=priority,
                   status=status, order_fee=Decimal(fee), fee_pct=Decimal(fee_pct), min_order_value=Decimal(minimum),
                   lead_time_days=lead)
    db.session.add(row)
    db.session.flush()
    return row


def service(owner: Supplier, carrier: str, name: str, rates: dict[str, tuple[str, str, int]], speed: str = "standard",
            max_kg: str | None = None) -> ShippingService:
    row = ShippingService(supplier_id=owner.id, carrier=carrier, service=name, speed=speed,
                          max_kg=Decimal(max_kg) if max_kg else None)
    for country, (base, per_kg, days) in rates.items():
        row.rates.append(ShippingRate(country=country, base=Decimal(base), per_kg=Decimal(per_kg), transit_days=days))
    db.session.add(row)
    return row


def offer(owner: Supplier, product: Product, cost: str, on_hand: int | None, *, moq: int = 1, weight: str = "0.5",
          age: timedelta = timedelta(minutes=1), status: str = "in_stock") -> SupplierOffer:
    supplier_sku = f"{owner.code}-{product.sku}"
    row = SupplierOffer(supplier_id=owner.id, product_id=product.id, supplier_sku=supplier_sku, cost=Decimal(cost),
                        moq=moq, weight_kg=Decimal(weight))
    at = utcnow() - age
    db.session.add_all([row, SupplierStock(supplier_id=owner.id, supplier_sku=supplier_sku, on_hand=on_hand,
                                           status=status, reported_at=at, received_at=at)])
    return row


def product(sku: str, price: str = "20.00") -> Product:
    row = Product(sku=sku, name=f"Product {sku}", price=Decimal(price))
    db.session.add(row)
    db.session.flush()
    return row


def order(number: str, country: str, lines: list[tuple[str, int, str]], *, region: str | None = None,
          service_level: str = "standard", channel: str = "shopify", age: timedelta = timedelta(hours=1)) -> Order:
    row = Order(channel=channel, external_id=number.strip("#"), number=number, placed_at=utcnow() - age,
                currency="USD", email="buyer@example.com", ship_to_name="Ada Moreno", ship_to_address1="1 Main St",
                ship_to_city="Springfield", ship_to_region=region, ship_to_country=country, service_level=service_level)
    for position, (sku, qty, price) in enumerate(lines):
        row.lines.append(OrderLine(position=position, sku=sku, title=sku, qty=qty, unit_price=Decimal(price)))
    row.total = sum((Decimal(price) * qty for _, qty, price in lines), Decimal(0))
    db.session.add(row)
    db.session.flush()
    return row


def rule_set(version: int, status: str, rules: list[dict]) -> RuleSet:
    row = RuleSet(version=version, status=status, activated_at=utcnow() if status == "active" else None)
    for rule in rules:
        row.rules.append(RoutingRule(name=rule["name"], priority=rule["priority"], enabled=rule.get("enabled", True),
                                     when=rule.get("when", {}), then=rule.get("then", {})))
    db.session.add(row)
    db.session.flush()
    return row


def small_world() -> dict:
    """ACME (US, cheap, fresh), MAPLE (CA, dearer, stale stock), PACIFIC (paused); MUG and LAMP; order #1001 to the US."""
    acme = supplier("ACME", "US", ["US", "CA"], priority=100, fee="1.50")
    maple = supplier("MAPLE", "CA", ["CA", "US"], priority=110, fee_pct="2")
    pacific = supplier("PACIFIC", "US", ["US"], status="paused")
    mug, lamp = product("MUG-1", "12.00"), product("LAMP-1", "40.00")
    service(acme, "UPS", "ground", {"US": ("5.00", "0.40", 3), "CA": ("9.00", "1.00", 5)}, max_kg="20")
    service(maple, "Canada Post", "ground", {"US": ("6.00", "0.50", 4), "CA": ("4.00", "0.30", 2)})
    service(maple, "DHL", "express", {"US": ("15.00", "1.00", 1)}, speed="express")
    db.session.add(ShippingSurcharge(supplier_id=acme.id, country="US", region="HI", amount=Decimal("14.00")))
    offer(acme, mug, "4.00", 50)
    offer(acme, lamp, "21.00", 3)
    offer(maple, mug, "4.50", 80, age=timedelta(hours=3))
    offer(maple, lamp, "19.00", 10, age=timedelta(hours=3))
    offer(pacific, mug, "3.00", 500)
    first = order("#1001", "US", [("MUG-1", 2, "12.00"), ("LAMP-1", 1, "40.00")])
    db.session.commit()
    return {"acme": acme, "maple": maple, "pacific": pacific, "order": first}
