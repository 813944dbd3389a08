"""Applying reports to the database: bulk, logged, stale ignored, absences counted, alerts raised."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from app.domain.stock import ReportedStock
from app.extensions import db
from app.models import StockAlert, StockChange, Supplier, SupplierStock
from app.services.stock import confirmed_times
from app.services.stock_updates import apply_stock_report

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


def supplier(code="ACME") -> Supplier:
    s = Supplier(code=code, name=code.title(), warehouse_country="US", ships_to=["US"])
    db.session.add(s)
    db.session.commit()
    return s


def stock_of(s: Supplier) -> dict:
    rows = db.session.execute(select(SupplierStock).where(SupplierStock.supplier_id == s.id)).scalars()
    return {r.supplier_sku: (r.on_hand, r.status) for r in rows}


def feed(minutes: int, **quantities):
    at = T0 + timedelta(minutes=minutes)
    return [ReportedStock(sku, qty, "out_of_stock" if qty == 0 else "low_stock" if qty < 10 else "in_stock", at)
            for sku, qty in quantities.items()]


def test_a_first_full_feed_inserts_every_sku_and_logs_each(app):
    s = supplier()
    result = apply_stock_report(s, feed(0, A=40, B=3, C=0), source="full", received_at=T0, full_feed=True)
    assert result.changed == 3
    assert stock_of(s) == {"A": (40, "in_stock"), "B": (3, "low_stock"), "C": (0, "out_of_stock")}
    assert db.session.scalar(select(func.count()).select_from(StockChange)) == 3


def test_a_second_feed_writes_only_what_changed_and_confirms_the_rest(app):
    s = supplier()
    apply_stock_report(s, feed(0, A=40, B=3), source="full", received_at=T0, full_feed=True)
    later = T0 + timedelta(minutes=15)
    result = apply_stock_report(s, feed(10, A=40, B=12), source="full", received_at=later, full_feed=True)
    assert (result.changed, result.unchanged) == (1, 1)
    rows = {r.supplier_sku: r for r in db.session.scalars(select(SupplierStock))}
    assert rows["A"].received_at == T0 and rows["A"].reported_at == T0  # row untouched ...
    assert confirmed_times(s.id, ["A", "B"]) == {"A": later, "B": later}  # ... yet confirmed by the feed
    assert rows["B"].on_hand == 12 and rows["B"].reported_at == T0 + timedelta(minutes=10)


def test_a_full_feed_confirms_only_the_skus_it_listed(app):
    s = supplier()
    apply_stock_report(s, feed(0, A=40, B=3), source="full", received_at=T0, full_feed=True)
    later = T0 + timedelta(minutes=15)
    apply_stock_report(s, feed(10, A=40), source="full", received_at=later, full_feed=True)
    assert confirmed_times(s.id, ["A", "B"]) == {"A": later, "B": T0}  # B left out: its last confirmation stands
    pushed = T0 + timedelta(minutes=20)
    apply_stock_report(s, feed(12, B=3), source="push", received_at=pushed)  # B again, same figure
    assert confirmed_times(s.id, ["A", "B"]) == {"A": later, "B": pushed}
    last = T0 + timedelta(minutes=30)
    apply_stock_report(s, feed(25, A=40, B=3), source="full", received_at=last, full_feed=True)
    assert confirmed_times(s.id, ["A", "B"]) == {"A": last, "B": last}


def test_a_delta_confirms_the_unchanged_skus_it_reported_on_their_rows(app):
    s = supplier()
    apply_stock_report(s, feed(0, A=40, B=3), source="full", received_at=T0, full_feed=True)
    later = T0 + timedelta(minutes=15)
    apply_stock_report(s, feed(0, A=40), source="delta", received_at=later)
    assert confirmed_times(s.id, ["A", "B"]) == {"A": later, "B": T0}


def test_an_older_report_is_logged_and_ignored(app):
    s = supplier()
    apply_stock_report(s, feed(10, A=40), source="full", received_at=T0 + timedelta(minutes=10), full_feed=True)
    result = apply_stock_report(s, feed(5, A=0), source="push", received_at=T0 + timedelta(minutes=11))
    assert result.stale_ignored == 1 and stock_of(s) == {"A": (40, "in_stock")}
    ignored = db.session.scalars(select(StockChange).where(StockChange.applied.is_(False))).one()
    assert (ignored.source, ignored.new_on_hand) == ("push", 0)


def test_a_sku_missing_from_two_completed_full_feeds_becomes_unknown(app):
    s = supplier()
    apply_stock_report(s, feed(0, A=40, B=5), source="full", received_at=T0, full_feed=True)
    apply_stock_report(s, feed(15, A=40), source="full", received_at=T0 + timedelta(minutes=15), full_feed=True)
    assert stock_of(s)["B"] == (5, "low_stock")
    apply_stock_report(s, feed(30, A=40), source="delta", received_at=T0 + timedelta(minutes=30))  # deltas never count
    assert stock_of(s)["B"] == (5, "low_stock")
    result = apply_stock_report(s, feed(45, A=40), source="full", received_at=T0 + timedelta(minutes=45), full_feed=True)
    assert result.marked_unknown == 1 and stock_of(s)["B"] == (None, "unknown")


def test_alerts_are_raised_for_out_back_and_low(app):
    s = supplier()
    apply_stock_report(s, feed(0, A=40, B=0, C=30), source="full", received_at=T0, full_feed=True)
    apply_stock_report(s, feed(5, A=0, B=50, C=4), source="delta", received_at=T0 + timedelta(minutes=5))
    kinds = sorted((a.supplier_sku, a.kind) for a in db.session.scalars(select(StockAlert)))
    assert kinds == [("A", "went_out_of_stock"), ("B", "back_in_stock"), ("C", "fell_below_threshold")]


def test_reports_for_one_supplier_never_touch_another(app):
    acme, other = supplier("ACME"), supplier("OTHER")
    apply_stock_report(other, feed(0, A=7), source="full", received_at=T0, full_feed=True)
    apply_stock_report(acme, feed(0, A=40), source="full", received_at=T0, full_feed=True)
    apply_stock_report(acme, [], source="full", received_at=T0 + timedelta(minutes=5), full_feed=True)
    assert stock_of(other) == {"A": (7, "low_stock")}


def test_a_stale_report_does_not_count_as_a_confirmation(app):
    s = supplier()
    fresh = T0 + timedelta(minutes=10)
    apply_stock_report(s, feed(10, A=40), source="full", received_at=fresh, full_feed=True)
    apply_stock_report(s, feed(5, A=40), source="push", received_at=T0 + timedelta(minutes=6))
    row = db.session.scalars(select(SupplierStock)).one()
    assert row.received_at == fresh


def test_stock_set_by_hand_is_logged_as_manual_and_audited(app):
    from app.models import AuditEntry

    s = supplier()
    result = app.test_cli_runner().invoke(args=["stock", "set", "ACME", "MUG-1", "7"])
    assert result.exit_code == 0, result.output
    assert stock_of(s) == {"MUG-1": (7, "low_stock")}
    change = db.session.scalars(select(StockChange)).one()
    assert (change.source, change.new_on_hand) == ("manual", 7)
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "stock.set_manually")).one()
    assert entry.changes == {"on_hand": [None, 7]} and entry.actor_label == "cli"
    refused = app.test_cli_runner().invoke(args=["stock", "set", "NOPE", "MUG-1", "7"])
    assert refused.exit_code == 1 and "No supplier NOPE" in refused.output


def test_each_products_total_follows_every_stock_write_and_the_stock_page_sorts_by_it(app):
    from decimal import Decimal

    from app.models import Product, ProductStock, SupplierOffer
    from app.services.stock import StockFilter, list_skus

    acme, bolt = supplier("ACME"), supplier("BOLT")
    mug, cap = Product(sku="MUG", name="Mug", price=Decimal("9")), Product(sku="CAP", name="Cap", price=Decimal("5"))
    db.session.add_all([mug, cap])
    db.session.flush()
    db.session.add_all([SupplierOffer(supplier_id=acme.id, product_id=mug.id, supplier_sku="A-MUG", cost=Decimal("3")),
                        SupplierOffer(supplier_id=bolt.id, product_id=mug.id, supplier_sku="B-MUG", cost=Decimal("3")),
                        SupplierOffer(supplier_id=acme.id, product_id=cap.id, supplier_sku="A-CAP", cost=Decimal("2"))])
    db.session.commit()
    apply_stock_report(acme, feed(0, **{"A-MUG": 40, "A-CAP": 12}), source="full", received_at=T0, full_feed=True)
    apply_stock_report(bolt, feed(0, **{"B-MUG": 5}), source="full", received_at=T0, full_feed=True)

    def totals():
        return dict(db.session.execute(select(Product.sku, ProductStock.available)
                                       .join(ProductStock, ProductStock.product_id == Product.id)).all())

    assert totals() == {"MUG": 45, "CAP": 12}
    apply_stock_report(bolt, feed(5, **{"B-MUG": 0}), source="push", received_at=T0 + timedelta(minutes=5))
    assert totals() == {"MUG": 40, "CAP": 12}  # out of stock counts nothing
    apply_stock_report(acme, feed(10, **{"A-CAP": 50}), source="full", received_at=T0 + timedelta(minutes=10),
                       full_feed=True)  # A-MUG left out once: still counted until it is unknown
    assert totals() == {"MUG": 40, "CAP": 50}
    page = list_skus(StockFilter(sort="available", descending=True))
    assert [(row.sku, row.available, row.status) for row in page.items] == [("CAP", 50, "in_stock"), ("MUG", 40, "in_stock")]
    assert [row.figures for row in page.items][1] == [("ACME", 40, "in_stock"), ("BOLT", 0, "out_of_stock")]
    assert [row.sku for row in list_skus(StockFilter(status="in_stock", supplier="BOLT")).items] == ["MUG"]
    assert list_skus(StockFilter(status="out_of_stock")).items == []
