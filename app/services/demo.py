"""Demo data: users for each role, ~10 suppliers, ~2,000 SKUs with offers and stock. Idempotent."""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import select

from app.domain.stock import unified_stock_level
from app.extensions import db
from app.models import Product, Supplier, SupplierOffer, SupplierStock, User
from app.models.types import utcnow
from app.permissions import ROLES
from app.services import users

log = logging.getLogger(__name__)

DEMO_PASSWORD = "dropdesk-demo"
DEMO_USERS = [(f"{role}@example.com", role, f"Demo {role.title()}") for role in ROLES]

SUPPLIERS = [
    # code, name, warehouse, ships to, lead days, connection type
    ("ACME", "Acme Homeware", "US", ["US", "CA"], 1, "rest_json"),
    ("NORDIC", "Nordic Living AB", "SE", ["SE", "NO", "DK", "FI", "DE"], 2, "csv_http"),
    ("PACIFIC", "Pacific Goods Co", "US", ["US"], 2, "rest_json"),
    ("MAPLE", "Maple Supply Inc", "CA", ["CA", "US"], 3, "xml_http"),
    ("EUROHUB", "EuroHub Distribution", "DE", ["DE", "FR", "NL", "BE", "AT", "IT", "ES"], 1, "rest_json"),
    ("BRITBOX", "BritBox Wholesale", "GB", ["GB", "IE"], 2, "csv_http"),
    ("SUNRISE", "Sunrise Trading", "US", ["US", "CA", "MX"], 4, "push"),
    ("ALPINE", "Alpine Outdoor GmbH", "AT", ["AT", "DE", "CH", "IT"], 2, "xml_http"),
    ("HARBOR", "Harbor Kitchen Supply", "US", ["US"], 1, "upload"),
    ("ATLAS", "Atlas Fulfilment", "NL", ["NL", "BE", "DE", "FR", "GB"], 3, "rest_json"),
]
CATEGORIES = {
    "Kitchen": ["Mug", "Teapot", "Chef Knife", "Cutting Board", "Skillet", "Colander", "Whisk"],
    "Home": ["Throw Blanket", "Cushion", "Candle", "Vase", "Picture Frame", "Doormat"],
    "Outdoor": ["Camping Chair", "Lantern", "Water Bottle", "Daypack", "Hammock"],
    "Bath": ["Towel Set", "Bath Mat", "Soap Dish", "Shower Caddy"],
    "Office": ["Desk Lamp", "Notebook", "Pen Set", "Monitor Stand", "Desk Organizer"],
}
COLOURS = ["Black", "White", "Sage", "Navy", "Terracotta", "Oak", "Slate", "Sand"]
PRODUCT_COUNT = 2000
ASSUMED_QUANTITY = 25  # what the status-only demo supplier's mapping assumes for "in stock"


@dataclass(frozen=True)
class SeedResult:
    users: int
    suppliers: int
    products: int
    offers: int
    stock_rows: int
    connections: int = 0

    @property
    def changed(self) -> bool:
        return any((self.users, self.suppliers, self.products, self.offers, self.stock_rows, self.connections))


def _catalog(rng: random.Random) -> list[dict]:
    products = []
    names = [(category, item) for category, items in CATEGORIES.items() for item in items]
    for number in range(1, PRODUCT_COUNT + 1):
        category, item = names[number % len(names)]
        colour = COLOURS[(number // len(names)) % len(COLOURS)]
        size = ("S", "M", "L")[(number // (len(names) * len(COLOURS))) % 3]
        price = Decimal(rng.randint(900, 14900)) / 100
        products.append({"sku": f"{category[:3].upper()}-{number:05d}", "name": f"{colour} {item} ({size})",
                         "category": category, "price": price})
    return products


def seed(now=None) -> SeedResult:
    """Create whatever demo data is missing; running it again changes nothing."""
    now = now or utcnow()
    # Same data on every machine and every run: each part draws from its own seeded generator,
    # so skipping what already exists never shifts what is drawn for the rest.
    rng = random.Random(20261124)
    low = current_app.config["DROPDESK"].low_stock_threshold

    created_users = 0
    for email, role, name in DEMO_USERS:
        if users.find_by_email(email) is None:
            users.create_user(email, role, DEMO_PASSWORD, name=name, actor="demo")
            created_users += 1

    existing_suppliers = {s.code: s for s in db.session.scalars(select(Supplier))}
    created_suppliers = 0
    for position, (code, name, country, ships_to, lead, connection) in enumerate(SUPPLIERS):
        if code not in existing_suppliers:
            supplier_rng = random.Random(code)
            supplier = Supplier(code=code, name=name, warehouse_country=country, ships_to=ships_to,
                                lead_time_days=lead, priority=100 + position * 10, connection_type=connection,
                                contact_email=f"orders@{code.lower()}.example.com",
                                order_fee=Decimal(supplier_rng.choice(["0", "1.50", "2.00", "3.50"])),
                                status="paused" if code == "HARBOR" else "active")
            db.session.add(supplier)
            existing_suppliers[code] = supplier
            created_suppliers += 1
    db.session.flush()
    connected = _connect_to_sandbox(existing_suppliers.values())

    catalog = _catalog(rng)
    known_skus = set(db.session.scalars(select(Product.sku)))
    missing = [p for p in catalog if p["sku"] not in known_skus]
    if missing:
        db.session.execute(Product.__table__.insert(), [{**p, "active": True, "created_at": now} for p in missing])
    product_ids = dict(db.session.execute(select(Product.sku, Product.id)).all())

    known_offers = {tuple(row) for row in db.session.execute(select(SupplierOffer.supplier_id, SupplierOffer.supplier_sku))}
    known_stock = {tuple(row) for row in db.session.execute(select(SupplierStock.supplier_id, SupplierStock.supplier_sku))}
    offers, stock = [], []
    codes = [code for code, *_ in SUPPLIERS]
    for index, product in enumerate(catalog):
        # Each product is carried by 1-3 suppliers, chosen the same way on every run.
        carriers = rng.sample(codes, rng.choice((1, 2, 2, 3)))
        for code in carriers:
            supplier = existing_suppliers[code]
            supplier_sku = f"{code[:3]}{index + 1:06d}"
            cost = (product["price"] * Decimal(rng.randint(35, 70)) / 100).quantize(Decimal("0.01"))
            roll = rng.random()
            on_hand = 0 if roll < 0.08 else rng.randint(1, low - 1) if roll < 0.2 else rng.randint(low, 400)
            status_only = code == "SUNRISE"
            age = timedelta(minutes=rng.randint(1, 240))
            moq, weight_kg = rng.choice((1, 1, 1, 2, 5)), Decimal(rng.randint(100, 4000)) / 1000
            key = (supplier.id, supplier_sku)
            if key not in known_offers:
                offers.append({"supplier_id": supplier.id, "product_id": product_ids[product["sku"]],
                               "supplier_sku": supplier_sku, "cost": cost, "moq": moq,
                               "lead_time_days": None, "weight_kg": weight_kg, "active": True})
            if key not in known_stock:
                status = unified_stock_level(on_hand, None, threshold=low).status.value
                if status_only:  # it says only in or out: assumed quantity, as its feed mapping does
                    on_hand = ASSUMED_QUANTITY if on_hand else 0
                    status = unified_stock_level(on_hand, None, threshold=low).status.value
                stock.append({"supplier_id": supplier.id, "supplier_sku": supplier_sku,
                              "on_hand": on_hand, "status": status,
                              "reported_at": now - age, "received_at": now - age + timedelta(seconds=5)})
    if offers:
        db.session.execute(SupplierOffer.__table__.insert(), offers)
    if stock:
        db.session.execute(SupplierStock.__table__.insert(), stock)
    db.session.commit()
    result = SeedResult(created_users, created_suppliers, len(missing), len(offers), len(stock), connected)
    log.info("demo_seeded users=%s suppliers=%s products=%s offers=%s stock=%s connections=%s",
             result.users, result.suppliers, result.products, result.offers, result.stock_rows, result.connections)
    return result


def _connect_to_sandbox(suppliers) -> int:
    """With SANDBOX on, point each demo supplier at its simulated API (again only if the address moved)."""
    config = current_app.config["DROPDESK"]
    if not config.sandbox:
        return 0
    from app.sandbox import sandbox_connection, sandbox_credentials

    changed = 0
    for supplier in suppliers:
        if supplier.code not in {code for code, *_ in SUPPLIERS}:
            continue
        connection_type, options, mapping = sandbox_connection(supplier.code, config.sandbox_url)
        if (supplier.connection_type, supplier.connection_options, supplier.feed_mapping) == (connection_type, options, mapping):
            continue
        supplier.connection_type, supplier.connection_options, supplier.feed_mapping = connection_type, options, mapping
        supplier.credentials = sandbox_credentials(supplier.code)
        changed += 1
    return changed


def demo_logins() -> list[tuple[str, str]]:
    return [(email, role) for email, role, _ in DEMO_USERS
            if db.session.scalar(select(User.id).where(User.email == email)) is not None]
