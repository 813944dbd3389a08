"""Demo data: users for each role, ~10 suppliers, ~2,000 SKUs with offers and stock, shipping,
routing rules and a few weeks of orders. Idempotent."""
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
    User,
)
from app.models.types import utcnow
from app.permissions import ROLES
from app.services import users
from app.services.stock_totals import refresh_product_totals

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
    shipping_services: int = 0
    rule_sets: int = 0
    orders: int = 0
    channels: int = 0
    intake_payloads: int = 0

    @property
    def changed(self) -> bool:
        return any((self.users, self.suppliers, self.products, self.offers, self.stock_rows, self.connections,
                    self.shipping_services, self.rule_sets, self.orders, self.channels, self.intake_payloads))


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
    if offers or stock:
        refresh_product_totals()
    services = _seed_shipping(existing_suppliers.values())
    rule_sets = _seed_rule_sets(catalog)
    orders = _seed_orders(now)
    channels = _seed_channels()
    db.session.commit()
    intake_payloads = _seed_intake(now)  # through the intake service, which commits each payload
    _seed_order_flow(now)
    result = SeedResult(created_users, created_suppliers, len(missing), len(offers), len(stock), connected,
                        services, rule_sets, orders, channels, intake_payloads)
    log.info("demo_seeded users=%s suppliers=%s products=%s offers=%s stock=%s connections=%s shipping_services=%s "
             "rule_sets=%s orders=%s", result.users, result.suppliers, result.products, result.offers,
             result.stock_rows, result.connections, result.shipping_services, result.rule_sets, result.orders)
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


# --- shipping, rules and orders, so routing has something to decide ----------------------------

CARRIERS = {"US": "UPS", "CA": "Canada Post", "SE": "PostNord", "DE": "DHL", "GB": "Royal Mail", "AT": "Post AT",
            "NL": "PostNL"}
EXPRESS = {"ACME", "EUROHUB", "ATLAS", "MAPLE", "BRITBOX"}  # suppliers that also ship express
SHIPPING_TERMS = {  # code: (fee %, minimum order value)
    "EUROHUB": ("2.5", "0"), "ATLAS": ("1.5", "0"), "MAPLE": ("0", "25.00"), "ALPINE": ("0", "30.00"),
}
SURCHARGES = {  # code: [(country, region, amount)]
    "ACME": [("US", "HI", "14.00"), ("US", "AK", "14.00")], "PACIFIC": [("US", "HI", "9.50")],
    "SUNRISE": [("US", "HI", "11.00"), ("MX", None, "6.00")], "ATLAS": [("GB", None, "6.50")],
    "ALPINE": [("CH", None, "9.00")],
}


def _seed_shipping(suppliers) -> int:
    """A ground service per supplier with a rate to every country it ships to, express for some; once."""
    with_services = set(db.session.scalars(select(ShippingService.supplier_id).distinct()))
    created = 0
    for supplier in suppliers:
        if supplier.id in with_services or supplier.code not in {code for code, *_ in SUPPLIERS}:
            continue
        rng = random.Random(f"shipping-{supplier.code}")
        carrier = CARRIERS.get(supplier.warehouse_country, "DHL")
        ground = ShippingService(supplier_id=supplier.id, carrier=carrier, service="ground", speed="standard",
                                 max_kg=Decimal("30"))
        services = [ground]
        if supplier.code in EXPRESS:
            services.append(ShippingService(supplier_id=supplier.id, carrier="DHL" if carrier != "DHL" else "UPS",
                                            service="express", speed="express"))
        for service in services:
            express = service.speed == "express"
            for country in supplier.ships_to:
                domestic = country == supplier.warehouse_country
                base = Decimal(rng.choice(("3.90", "4.50", "4.90", "5.40"))) if domestic else Decimal(
                    rng.choice(("7.90", "8.90", "9.90", "11.50")))
                per_kg = Decimal(rng.choice(("0.40", "0.55", "0.70"))) if domestic else Decimal(rng.choice(("0.90", "1.10", "1.30")))
                days = rng.randint(2, 3) if domestic else rng.randint(4, 7)
                if express:
                    base, per_kg, days = (base * Decimal("2.4")).quantize(Decimal("0.01")), per_kg * 2, max(1, days - 3)
                service.rates.append(ShippingRate(country=country, base=base, per_kg=per_kg, transit_days=days))
            db.session.add(service)
            created += 1
        fee_pct, minimum = SHIPPING_TERMS.get(supplier.code, ("0", "0"))
        supplier.fee_pct, supplier.min_order_value = Decimal(fee_pct), Decimal(minimum)
        for country, region, amount in SURCHARGES.get(supplier.code, []):
            db.session.add(ShippingSurcharge(supplier_id=supplier.id, country=country, region=region,
                                             amount=Decimal(amount)))
    db.session.flush()
    return created


EU = ["DE", "FR", "NL", "BE", "AT", "IT", "ES"]


def _seed_rule_sets(catalog: list[dict]) -> int:
    """Version 1 active with a few sensible rules, version 2 a draft that changes two of them; once."""
    if db.session.scalar(select(RuleSet.id).limit(1)) is not None:
        return 0
    fragile = [p["sku"] for p in catalog if "Teapot" in p["name"]][:3]
    active_rules = [
        ("Express orders go fastest", 10, {"service": ["express"]}, {"objective": "fastest"}),
        ("Large EU orders: lowest cost", 20, {"country": EU, "min_order_value": "150"}, {"objective": "lowest_cost"}),
        ("Prefer ACME in the US", 30, {"country": ["US"]}, {"prefer": ["ACME"], "prefer_tolerance_pct": "5"}),
        ("Teapots never from PACIFIC", 40, {"sku": fragile}, {"exclude": ["PACIFIC"]}),
        ("At most two parcels", 50, {}, {"max_shipments": 2}),
    ]
    changed = {"Prefer ACME in the US", "Large EU orders: lowest cost"}
    draft_rules = [
        *[rule for rule in active_rules if rule[0] not in changed],
        ("Large EU orders: lowest cost", 20, {"country": EU, "min_order_value": "80"}, {"objective": "lowest_cost"}),
        ("Prefer ACME in the US", 30, {"country": ["US"]}, {"prefer": ["ACME"], "prefer_tolerance_pct": "12"}),
        ("Express within four days", 15, {"service": ["express"]}, {"max_delivery_days": 4}),
    ]
    active = RuleSet(version=1, status="active", note="Demo rules", activated_at=utcnow())
    draft = RuleSet(version=2, status="draft", based_on=active,
                    note="Lowest cost from 80 in the EU, prefer ACME harder, express within 4 days")
    for rule_set, rules in ((active, active_rules), (draft, draft_rules)):
        for name, priority, when, then in sorted(rules, key=lambda rule: rule[1]):
            rule_set.rules.append(RoutingRule(name=name, priority=priority, enabled=True, when=when, then=then))
        db.session.add(rule_set)
    db.session.flush()
    return 2


ORDER_DAYS = 21
ORDERS_PER_DAY = 12
COUNTRIES = [("US", 40), ("CA", 10), ("DE", 14), ("GB", 10), ("FR", 6), ("NL", 6), ("SE", 5), ("AT", 4), ("IT", 3),
             ("MX", 2)]
US_STATES = ["CA", "NY", "TX", "WA", "FL", "IL", "HI"]
CURRENCIES = {"US": "USD", "CA": "CAD", "GB": "GBP", "SE": "SEK", "MX": "MXN"}
CITIES = {"US": "Springfield", "CA": "Toronto", "DE": "Berlin", "GB": "Leeds", "FR": "Lyon", "NL": "Utrecht",
          "SE": "Uppsala", "AT": "Graz", "IT": "Turin", "MX": "Puebla"}
NAMES = ["Ada Moreno", "Ben Okafor", "Chloé Martin", "Dev Patel", "Eva Lind", "Femi Adeyemi", "Grace Kim",
         "Hugo Weber", "Inès Dubois", "Jonas Berg"]


def _seed_orders(now) -> int:
    """Three weeks of orders from two stores, each line a SKU some supplier ships to that country; once."""
    if db.session.scalar(select(Order.id).where(Order.external_id.like("demo-%")).limit(1)) is not None:
        return 0
    rng = random.Random("orders")
    products = {sku: (price, name) for sku, price, name in db.session.execute(select(Product.sku, Product.price,
                                                                                    Product.name))}
    # Per country, per SKU: (moq, on hand) of each active supplier that ships there, so most orders can be routed.
    offered: dict[str, dict[str, list[tuple[int, int]]]] = {}
    for sku, ships_to, moq, on_hand in db.session.execute(
            select(Product.sku, Supplier.ships_to, SupplierOffer.moq, SupplierStock.on_hand)
            .join(SupplierOffer, SupplierOffer.product_id == Product.id)
            .join(Supplier, Supplier.id == SupplierOffer.supplier_id)
            .join(SupplierStock, (SupplierStock.supplier_id == SupplierOffer.supplier_id)
                  & (SupplierStock.supplier_sku == SupplierOffer.supplier_sku))
            .where(Supplier.status == "active").order_by(Product.sku, Supplier.code)):
        for country in ships_to or []:
            offered.setdefault(country, {}).setdefault(sku, []).append((moq, on_hand or 0))
    by_country = {country: sorted(skus) for country, skus in offered.items()}
    countries, weights = zip(*[(c, w) for c, w in COUNTRIES if by_country.get(c)])
    created = 0
    for number in range(ORDER_DAYS * ORDERS_PER_DAY):
        country = rng.choices(countries, weights)[0]
        channel = "shopify" if number % 3 else "woocommerce"
        placed_at = now - timedelta(minutes=rng.randint(10, ORDER_DAYS * 24 * 60))
        skus = rng.sample(by_country[country], rng.choice((1, 1, 2, 2, 3)))
        order = Order(
            channel=channel, external_id=f"demo-{number + 1:05d}",
            number=f"#{1001 + number}" if channel == "shopify" else str(5001 + number), placed_at=placed_at,
            currency=CURRENCIES.get(country, "EUR"), email=f"customer{number + 1}@example.com",
            ship_to_name=rng.choice(NAMES), ship_to_address1=f"{rng.randint(1, 200)} Demo Street",
            ship_to_city=CITIES.get(country, "Capital"), ship_to_region=rng.choice(US_STATES) if country == "US" else None,
            ship_to_postal_code=str(rng.randint(10000, 99999)), ship_to_country=country,
            service_level="express" if rng.random() < 0.15 else "standard", status="received",
        )
        total = Decimal(0)
        for position, sku in enumerate(skus):
            qty = rng.choice((1, 1, 1, 2, 3, 5))
            if not any(moq <= qty <= on_hand for moq, on_hand in offered[country][sku]) and rng.random() < 0.9:
                qty = min(moq for moq, _ in offered[country][sku])  # mostly what someone can ship; some are not
            price, title = products[sku]
            order.lines.append(OrderLine(position=position, external_id=f"{number + 1}-{position + 1}", sku=sku,
                                         title=title, qty=qty, unit_price=price))
            total += price * qty
        order.total = total
        db.session.add(order)
        created += 1
    db.session.flush()
    return created


CHANNELS = [
    # code, kind, name, allowed ship-to countries
    ("shopify", "shopify", "Dropdesk Shop (Shopify)", []),
    ("woocommerce", "woocommerce", "Dropdesk Outlet (WooCommerce)", ["US", "CA", "DE", "GB", "NL", "FR"]),
    ("api", "api", "Wholesale ERP (order API)", []),
]


def _seed_channels() -> int:
    """The three demo channels; with SANDBOX on they point at the simulated storefronts (again if the address moved)."""
    from app.models import Channel
    from app.sandbox.storefront import storefront_credentials

    config = current_app.config["DROPDESK"]
    existing = {channel.code: channel for channel in db.session.scalars(select(Channel))}
    created = 0
    for code, kind, name, countries in CHANNELS:
        channel = existing.get(code)
        if channel is None:
            channel = Channel(code=code, kind=kind, name=name, allowed_countries=countries,
                              required_fields=[], express_required_fields=["ship_to.phone"] if kind == "shopify" else [],
                              sku_aliases={}, publish_quantities=True, publish_ratio=Decimal("0.9"),
                              publish_safety_units=2 if kind == "woocommerce" else 0)  # the cron publishes every minute
            db.session.add(channel)
            created += 1
        if config.sandbox:
            base_url = f"{config.sandbox_url}/sandbox/storefront/{kind}" if kind != "api" else None
            if channel.base_url != base_url or not channel.credentials_ciphertext:
                channel.base_url = base_url
                channel.credentials = storefront_credentials(kind)
    db.session.flush()
    return created


def _seed_intake(now) -> int:
    """A few storefront orders taken in through intake: most accepted, some held in the queue (unknown SKU,
    no address, a country the channel does not ship to). Once."""
    import json

    from app.models import Channel, InboundPayload
    from app.sandbox.storefront import build_order_selling, save_order
    from app.services import intake

    if db.session.scalar(select(InboundPayload.id).where(InboundPayload.source == intake.SOURCE).limit(1)) is not None:
        return 0
    channels = {channel.kind: channel for channel in db.session.scalars(select(Channel))}
    routable = shippable_skus_by_country()
    created = 0
    for number in range(1, 25):
        kind = ("shopify", "woocommerce")[number % 2]
        channel = channels.get(kind)
        order = build_order_selling(kind, 900 + number, routable, now - timedelta(hours=number * 3),
                                    unknown_sku=number % 6 == 0)
        if channel is None or order is None:
            continue
        if number % 8 == 1:
            order["shipping_address" if kind == "shopify" else "shipping"] = None
        if number % 11 == 4 and kind == "woocommerce":
            order["shipping"]["country"] = "BR"
        if current_app.config["DROPDESK"].sandbox:
            save_order(kind, order)  # the shop knows its own orders: tracking is pushed back to them
        payload = InboundPayload(source=intake.SOURCE, channel_id=channel.id, delivery_id=f"{channel.code}:demo:{number}",
                                 headers={}, body=json.dumps(order), topic="orders/create" if kind == "shopify" else "order.created",
                                 received_at=now - timedelta(hours=number * 3), status="pending")
        db.session.add(payload)
        db.session.commit()
        intake.process_payload(payload.id)
        created += 1
    return created


# Order desks of the demo's sandbox suppliers: EUROHUB refuses (its lines are rerouted, or wait for a person),
# MAPLE ships slowly; the rest ship a minute after taking an order, and it arrives ten minutes later.
DEMO_ORDER_MODES = {"EUROHUB": {"mode": "reject"}, "MAPLE": {"ship_after_seconds": 1800}}
DEMO_FLOWING_ORDERS = 16


def _seed_order_flow(now) -> int:
    """With SANDBOX on and fulfilment running (not the test app): a few more shop orders, of SKUs some supplier
    ships to their country, taken in through intake, which hands them to fulfilment; the worker routes, reserves
    and dispatches them, so the console shows shipments and their tracking goes back to the shop. Once."""
    import json

    from app.models import Channel, InboundPayload
    from app.sandbox import supplier_orders
    from app.sandbox.storefront import build_order_selling, save_order
    from app.services import fulfilment, intake

    if not current_app.config["DROPDESK"].sandbox or not fulfilment.fulfils_on_accept():
        return 0
    if db.session.scalar(select(InboundPayload.id).where(InboundPayload.delivery_id.like("%:demo-flow:%"))
                         .limit(1)) is not None:
        return 0
    for code, wanted in DEMO_ORDER_MODES.items():
        supplier_orders.set_order_mode(code, supplier_orders.parse_order_mode(wanted))
    routable = shippable_skus_by_country()
    channels = {channel.kind: channel for channel in db.session.scalars(select(Channel))}
    created = 0
    for number in range(1, DEMO_FLOWING_ORDERS + 1):
        kind = ("shopify", "woocommerce")[number % 2]
        channel = channels.get(kind)
        placed_at = now - timedelta(minutes=number * 7)
        order = build_order_selling(kind, 950 + number, routable, placed_at)
        if channel is None or order is None:
            continue
        save_order(kind, order)  # the shop knows its own orders: tracking is pushed back to them
        payload = InboundPayload(source=intake.SOURCE, channel_id=channel.id, delivery_id=f"{channel.code}:demo-flow:{number}",
                                 headers={}, body=json.dumps(order), received_at=placed_at, status="pending",
                                 topic="orders/create" if kind == "shopify" else "order.created")
        db.session.add(payload)
        db.session.commit()
        intake.process_payload(payload.id)  # accepted: intake queues its fulfilment
        created += 1
    return created


def shippable_skus_by_country(min_on_hand: int = 5) -> dict[str, list[str]]:
    """Per country, the SKUs some active supplier shipping there has at least `min_on_hand` of (no MOQ): what a demo
    shop sells there, so most demo orders can be routed and the queue shows the exceptions, not the whole catalog."""
    routable: dict[str, set[str]] = {}
    for sku, ships_to in db.session.execute(
            select(Product.sku, Supplier.ships_to).join(SupplierOffer, SupplierOffer.product_id == Product.id)
            .join(Supplier, Supplier.id == SupplierOffer.supplier_id)
            .join(SupplierStock, (SupplierStock.supplier_id == SupplierOffer.supplier_id)
                  & (SupplierStock.supplier_sku == SupplierOffer.supplier_sku))
            .where(Supplier.status == "active", Product.active.is_(True), SupplierOffer.moq <= 1,
                   SupplierStock.on_hand >= min_on_hand)):
        for country in ships_to or []:
            routable.setdefault(country, set()).add(sku)
    return {country: sorted(skus)[:300] for country, skus in routable.items()}

