"""Reservations (invariants 1 and 2): never more held than a supplier has, all or nothing, each step once."""
from __future__ import annotations

import multiprocessing
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.domain.stock import ReportedStock
from app.extensions import db
from app.models import Reservation, ReservationEvent, Supplier, SupplierStock
from app.services import inventory
from app.services.inventory import Hold, ReservationRefused
from app.services.stock_updates import apply_stock_report

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


def stocked(code: str = "ACME", **figures: int) -> Supplier:
    supplier = Supplier(code=code, name=code.title(), warehouse_country="US", ships_to=["US"])
    db.session.add(supplier)
    db.session.commit()
    apply_stock_report(supplier, [ReportedStock(sku, qty, "in_stock" if qty >= 10 else "low_stock" if qty else "out_of_stock", T0)
                                  for sku, qty in figures.items()], source="full", received_at=T0, full_feed=True)
    return supplier


def reserved(supplier: Supplier, sku: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(SupplierStock.reserved).where(SupplierStock.supplier_id == supplier.id,
                                                                  SupplierStock.supplier_sku == sku))


def held_units(supplier: Supplier, sku: str) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Reservation.qty), 0)).where(
        Reservation.supplier_id == supplier.id, Reservation.supplier_sku == sku, Reservation.state.in_(("held", "confirmed"))))


def _reserve_in_thread(app, supplier_id: int, barrier: threading.Barrier, outcomes: list) -> None:
    with app.app_context():
        barrier.wait()
        try:
            inventory.reserve_plan([Hold(supplier_id, "LAST", 1)], order_id=None, cause="concurrency test")
            outcomes.append(True)
        except ReservationRefused:
            outcomes.append(False)
        finally:
            db.session.remove()


def test_the_last_units_are_reserved_once_under_200_concurrent_attempts(app):
    supplier = stocked(LAST=10)
    outcomes: list[bool] = []
    barrier = threading.Barrier(50)
    for _ in range(4):  # 4 waves of 50 threads, each wave released at once
        threads = [threading.Thread(target=_reserve_in_thread, args=(app, supplier.id, barrier, outcomes)) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert len(outcomes) == 200 and outcomes.count(True) == 10
    assert reserved(supplier, "LAST") == 10 == held_units(supplier, "LAST")


def _reserve_in_process(database_url: str, redis_url: str, keys: list[str], supplier_id: int, start, results) -> None:
    from app import create_app
    from tests.helpers import make_config

    app = create_app(make_config(database_url, redis_url, SECRETS_KEYS=",".join(keys)))
    won = 0
    with app.app_context():
        start.wait()
        for _ in range(10):
            try:
                inventory.reserve_plan([Hold(supplier_id, "LAST", 1)], order_id=None, cause="process test")
                won += 1
            except ReservationRefused:
                pass
        db.session.remove()
    results.put(won)


def test_processes_racing_for_the_last_units_never_oversell(app, database_url, redis_url):
    supplier = stocked(LAST=10)
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    keys = app.config["DROPDESK"].secrets_keys
    processes = [context.Process(target=_reserve_in_process, args=(database_url, redis_url, keys, supplier.id, start, results))
                 for _ in range(4)]
    for process in processes:
        process.start()
    start.set()
    won = sum(results.get(timeout=180) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    assert won == 10 and reserved(supplier, "LAST") == 10 == held_units(supplier, "LAST")


def test_a_plan_is_held_whole_or_not_at_all(app):
    supplier = stocked(MUG=5, CAP=2)
    with pytest.raises(ReservationRefused) as refused:
        inventory.reserve_plan([Hold(supplier.id, "MUG", 3), Hold(supplier.id, "CAP", 3)], order_id=None, cause="order 1")
    assert refused.value.hold.supplier_sku == "CAP" and refused.value.available == 2
    assert (reserved(supplier, "MUG"), reserved(supplier, "CAP")) == (0, 0)
    assert db.session.scalar(select(func.count()).select_from(Reservation)) == 0
    ids = inventory.reserve_plan([Hold(supplier.id, "MUG", 3), Hold(supplier.id, "CAP", 2)], order_id=None, cause="order 2")
    assert len(ids) == 2 and (reserved(supplier, "MUG"), reserved(supplier, "CAP")) == (3, 2)
    with pytest.raises(ReservationRefused):  # 2 of MUG left to promise
        inventory.reserve_plan([Hold(supplier.id, "MUG", 3)], order_id=None, cause="order 3")


def test_nothing_is_reserved_from_a_supplier_that_reports_the_sku_out_or_unknown(app):
    supplier = stocked(GONE=0)
    with pytest.raises(ReservationRefused):
        inventory.reserve_plan([Hold(supplier.id, "GONE", 1)], order_id=None, cause="order")
    with pytest.raises(ReservationRefused):
        inventory.reserve_plan([Hold(supplier.id, "NEVER-HEARD-OF", 1)], order_id=None, cause="order")


def test_a_release_retried_or_duplicated_gives_the_units_back_once(app):
    supplier = stocked(MUG=5)
    [reservation_id] = inventory.reserve_plan([Hold(supplier.id, "MUG", 4)], order_id=None, cause="order 1")
    assert inventory.release([reservation_id], cause="order cancelled") == 1
    assert inventory.release([reservation_id], cause="order cancelled (retried job)") == 0
    assert inventory.consume([reservation_id], cause="late shipment notice") == 0
    assert reserved(supplier, "MUG") == 0
    kinds = db.session.scalars(select(ReservationEvent.kind).where(ReservationEvent.reservation_id == reservation_id)
                               .order_by(ReservationEvent.id)).all()
    assert kinds == ["created", "released"]


def test_a_confirmed_reservation_counts_until_a_report_made_after_the_confirmation(app):
    supplier = stocked(MUG=10)
    [reservation_id] = inventory.reserve_plan([Hold(supplier.id, "MUG", 4)], order_id=None, cause="order 1")
    confirmed_at = T0 + timedelta(minutes=10)
    assert inventory.confirm([reservation_id], at=confirmed_at, cause="supplier ack ACME-991") == 1
    # A report the supplier made before it confirmed our order does not know about it: still held.
    apply_stock_report(supplier, [ReportedStock("MUG", 9, "low_stock", confirmed_at - timedelta(minutes=1))],
                       source="push", received_at=confirmed_at + timedelta(minutes=1))
    assert reserved(supplier, "MUG") == 4
    # One made after it does (the supplier's figure now carries our 4): the reservation stops counting, once.
    apply_stock_report(supplier, [ReportedStock("MUG", 6, "low_stock", confirmed_at + timedelta(minutes=5))],
                       source="push", received_at=confirmed_at + timedelta(minutes=6))
    apply_stock_report(supplier, [ReportedStock("MUG", 6, "low_stock", confirmed_at + timedelta(minutes=9))],
                       source="delta", received_at=confirmed_at + timedelta(minutes=10))
    assert reserved(supplier, "MUG") == 0
    assert db.session.get(Reservation, reservation_id).state == "reflected"
    assert inventory.release([reservation_id], cause="cancelled after it shipped") == 0  # nothing left to give back
    assert reserved(supplier, "MUG") == 0


def test_interleaved_reports_reservations_confirmations_shipments_and_cancellations_keep_the_count_exact(app):
    from hypothesis import settings
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

    made = iter(range(10_000))

    class ReservationLife(RuleBasedStateMachine):
        """A model of on_hand and of each reservation's state beside the real service on a real database."""

        def __init__(self):
            super().__init__()
            self.supplier = stocked(f"SM{next(made):04d}", SKU=10)
            self.now, self.on_hand, self.newest_report = T0, 10, T0
            self.counting: dict[int, tuple[int, datetime | None]] = {}  # id -> (qty, confirmed_at)

        def tick(self) -> datetime:
            self.now += timedelta(minutes=1)
            return self.now

        @rule(qty=st.integers(0, 15), minutes_old=st.integers(0, 4))
        def supplier_reports(self, qty, minutes_old):
            at = self.tick() - timedelta(minutes=minutes_old)
            status = "in_stock" if qty >= 10 else "low_stock" if qty else "out_of_stock"
            apply_stock_report(self.supplier, [ReportedStock("SKU", qty, status, at)], source="push", received_at=self.now)
            if at >= self.newest_report:  # older than the stored figure: logged, ignored (invariant 4)
                self.on_hand, self.newest_report = qty, at
            for reservation_id, (held, confirmed_at) in list(self.counting.items()):
                if confirmed_at is not None and at > confirmed_at:
                    del self.counting[reservation_id]

        @rule(qty=st.integers(1, 6))
        def an_order_reserves(self, qty):
            self.tick()
            available = max(self.on_hand - sum(q for q, _ in self.counting.values()), 0)
            try:
                [reservation_id] = inventory.reserve_plan([Hold(self.supplier.id, "SKU", qty)], order_id=None, cause="order")
            except ReservationRefused:
                assert qty > available
                return
            assert qty <= available
            self.counting[reservation_id] = (qty, None)

        @rule(data=st.data())
        def the_supplier_confirms(self, data):
            held = sorted(rid for rid, (_, confirmed_at) in self.counting.items() if confirmed_at is None)
            if held:
                reservation_id = data.draw(st.sampled_from(held))
                assert inventory.confirm([reservation_id], at=self.tick(), cause="ack") == 1
                self.counting[reservation_id] = (self.counting[reservation_id][0], self.now)

        @rule(data=st.data(), ships=st.booleans(), repeats=st.integers(1, 2))
        def a_line_ships_or_is_cancelled(self, data, ships, repeats):
            if self.counting:
                reservation_id = data.draw(st.sampled_from(sorted(self.counting)))
                close = inventory.consume if ships else inventory.release
                assert [close([reservation_id], cause="test") for _ in range(repeats)][0] == 1
                del self.counting[reservation_id]

        @invariant()
        def reserved_is_exactly_what_still_counts(self):
            expected = sum(q for q, _ in self.counting.values())
            assert reserved(self.supplier, "SKU") == expected == held_units(self.supplier, "SKU")

    run_state_machine_as_test(ReservationLife, settings=settings(max_examples=25, stateful_step_count=15, deadline=None))


def test_what_orders_hold_shows_on_the_stock_pages_and_leaves_the_total_available(client, make_user):
    from decimal import Decimal

    from app.models import Product, SupplierOffer
    from app.services.stock import StockFilter, list_skus
    from tests.helpers import login

    supplier = stocked(**{"A-MUG": 40})
    mug = Product(sku="MUG", name="Mug", price=Decimal("9"))
    db.session.add(mug)
    db.session.flush()
    db.session.add(SupplierOffer(supplier_id=supplier.id, product_id=mug.id, supplier_sku="A-MUG", cost=Decimal("3")))
    db.session.commit()
    from app.services.stock_totals import refresh_product_totals

    refresh_product_totals(product_ids=[mug.id])
    db.session.commit()
    [reservation_id] = inventory.reserve_plan([Hold(supplier.id, "A-MUG", 15)], order_id=None, cause="order 7")
    assert [row.available for row in list_skus(StockFilter()).items] == [25]
    make_user("support")
    login(client, "support@example.com")
    page = client.get("/stock/sku/MUG").text
    assert "25 units available" in page and ">15</td>" in page
    assert "15 reserved" in client.get("/stock/by-supplier?supplier=ACME").text
    inventory.release([reservation_id], cause="order 7 cancelled")
    assert [row.available for row in list_skus(StockFilter()).items] == [40]
