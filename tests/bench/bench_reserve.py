"""Benchmark reservations on PostgreSQL: 8 concurrent clients holding routing plans, against the practical limit.

usage: PYTHONPATH=. .venv/bin/python tests/bench/bench_reserve.py [--clients 8] [--plans 400] [--rounds 2]
                                                                  [--only hot|spread]

On PostgreSQL (BENCH_RESERVE_DATABASE_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/dropdesk_bench_reserve,
created anew and built by the migrations): two suppliers, 10,000 spread SKUs (1,000 units each, one product each)
and one hot SKU. Each client is a process (on 2 cores the GIL would serialise threads), with its own connection,
started and warmed up before a common start signal; it holds --plans plans, one after another:

  (a) Dropdesk: inventory.reserve_plan, what routing calls: every line of the plan by a conditional UPDATE in
      (supplier, SKU) order, a reservation and a "created" ledger row per line, the product totals refreshed,
      one transaction, the log line (written to a file);
  (b) the practical limit: through psycopg, per line in the same order `UPDATE supplier_stock SET reserved =
      reserved + q WHERE supplier_id = ... AND supplier_sku = ... AND on_hand - reserved >= q`, one transaction
      per plan (rolled back if a line is not covered): no ledger, no totals;
  (c) for scale, (a)'s writes as hand-written SQL through psycopg: the reservations and ledger rows (one INSERT
      each), the conditional UPDATEs, the products' totals (one upsert), one transaction per plan: the same work
      as (a) without the Python service around it, so (a)/(c) is what the service costs and (c)/(b) what the
      ledger and the totals cost.

Workloads, the same plans for both methods: "hot", every plan takes 1 unit of the one hot SKU, stocked with 80% of
the units asked for, so the last fifth is refused; "spread", plans of 1-3 lines (1-3 units each) over the 10,000
SKUs, about a third across both suppliers. Between methods the stock, reservations and totals are reset (untimed,
then VACUUM ANALYZE and a checkpoint).

Each method runs --rounds times, alternating with the other (the machine is shared: the best round of each is
compared). Prints per workload, method and round: plans held and refused, reservations/s (plans, held or refused,
per second from the start signal to the last client's end) and lines/s, the CPU per plan of the clients and of
their PostgreSQL backends (what a busy neighbour does not change much), and the ratio (a)/(b) of the best rounds;
and the checks, which must all be 0:
oversold units (sum over rows of max(0, reserved - on_hand)), for (a) rows whose reserved differs from the units
of their "created" ledger rows and products whose stored total differs from a recomputation, and for both, held
units that differ from what the plans that succeeded asked for. Target: (a) >= 0.5x (b) on spread SKUs. Prints;
asserts nothing but exits 1 if a check fails.
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import random
import sys
import tempfile
import time
from decimal import Decimal

import psutil
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.helpers import ensure_postgres_database

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/dropdesk_bench_reserve"
SPREAD_SKUS = 10_000
SPREAD_ON_HAND = 1_000
HOT_SKU = "HOT-0001"
WARM_SKU = "WARM-{}"  # one per client, for the untimed warm-up plans
WARM_PLANS = 20
HOT_SHARE = 0.8

Plan = list[tuple[int, str, int]]  # (supplier id, supplier SKU, units) per line


# --- the database -----------------------------------------------------------------------------



def make_app(url: str):
    from app import create_app
    from tests.helpers import make_config

    return create_app(make_config(url, "redis://127.0.0.1:1/0"))  # reservations never touch Redis


def build(url: str, clients: int) -> tuple[list[int], int]:
    """Schema, two suppliers, the products, offers and stock rows; returns the supplier ids and the hot supplier."""
    from flask_migrate import upgrade

    from app.extensions import db
    from app.models import Product, ProductStock, Supplier, SupplierOffer, SupplierStock

    app = make_app(url)
    with app.app_context():
        upgrade()
        suppliers = [Supplier(code=f"BENCH{n}", name=f"Bench supplier {n}", warehouse_country="US", ships_to=["US"])
                     for n in (1, 2)]
        db.session.add_all(suppliers)
        db.session.commit()
        supplier_ids = [supplier.id for supplier in suppliers]
        skus = [(supplier_ids[n % 2], f"SP-{n:05d}") for n in range(SPREAD_SKUS)]
        skus += [(supplier_ids[0], HOT_SKU)] + [(supplier_ids[1], WARM_SKU.format(n)) for n in range(clients)]
        connection = db.session.connection()
        connection.execute(sa.insert(Product.__table__), [
            {"sku": f"P-{sku}", "name": sku, "price": Decimal("9.90"), "active": True} for _, sku in skus])
        product_ids = dict(connection.execute(sa.select(Product.name, Product.id)).all())
        connection.execute(sa.insert(SupplierOffer.__table__), [
            {"supplier_id": sid, "product_id": product_ids[sku], "supplier_sku": sku, "cost": Decimal("4.00"),
             "moq": 1, "active": True} for sid, sku in skus])
        connection.execute(sa.insert(SupplierStock.__table__), [
            {"supplier_id": sid, "supplier_sku": sku, "on_hand": SPREAD_ON_HAND, "status": "in_stock",
             "missing_runs": 0} for sid, sku in skus])
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ProductStock)) == 0
        db.session.remove()
        db.engine.dispose()
    return supplier_ids, supplier_ids[0]


def reset(url: str, hot_on_hand: int) -> None:
    """Nothing reserved, no ledger, every product's total recomputed; then fresh statistics and a checkpoint."""
    from app.extensions import db
    from app.services.stock_totals import refresh_product_totals

    app = make_app(url)
    with app.app_context():
        db.session.execute(sa.text("TRUNCATE reservation_events, reservations RESTART IDENTITY"))
        db.session.execute(sa.text("UPDATE supplier_stock SET reserved = 0, on_hand = CASE WHEN supplier_sku = :hot "
                                   "THEN :hot_on_hand ELSE :on_hand END"),
                           {"hot": HOT_SKU, "hot_on_hand": hot_on_hand, "on_hand": SPREAD_ON_HAND})
        refresh_product_totals()
        db.session.commit()
        engine = db.engine
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE supplier_stock, reservations, reservation_events, product_stock"))
            connection.execute(sa.text("CHECKPOINT"))
        db.session.remove()
        engine.dispose()


def checks(url: str, held_by_sku: dict[str, int], *, ledger: bool) -> dict[str, int]:
    """What must all be 0 after a method's run."""
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        oversold = connection.scalar(sa.text("SELECT coalesce(sum(greatest(0, reserved - on_hand)), 0) "
                                             "FROM supplier_stock"))
        reserved = dict(connection.execute(sa.text(
            "SELECT supplier_sku, reserved FROM supplier_stock WHERE supplier_sku NOT LIKE 'WARM-%'")).all())
        found = {"oversold units": oversold,
                 "rows reserved != units the held plans asked": sum(
                     1 for sku, units in reserved.items() if units != held_by_sku.get(sku, 0))}
        if ledger:
            found["rows reserved != ledger created units"] = connection.scalar(sa.text("""
                SELECT count(*) FROM supplier_stock s LEFT JOIN (
                    SELECT r.supplier_id, r.supplier_sku, sum(e.qty) AS units
                    FROM reservations r JOIN reservation_events e ON e.reservation_id = r.id AND e.kind = 'created'
                    GROUP BY r.supplier_id, r.supplier_sku) l
                  ON l.supplier_id = s.supplier_id AND l.supplier_sku = s.supplier_sku
                WHERE s.reserved <> coalesce(l.units, 0)"""))
            found["product totals != recomputed"] = connection.scalar(sa.text("""
                SELECT count(*) FROM product_stock p JOIN (
                    SELECT o.product_id, sum(CASE WHEN s.status IN ('in_stock', 'low_stock')
                                                   AND s.on_hand - s.reserved > 0 THEN s.on_hand - s.reserved
                                                   ELSE 0 END) AS available
                    FROM supplier_offers o JOIN supplier_stock s
                      ON s.supplier_id = o.supplier_id AND s.supplier_sku = o.supplier_sku
                    GROUP BY o.product_id) t ON t.product_id = p.product_id
                WHERE p.available <> t.available"""))
    engine.dispose()
    return found


# --- the plans --------------------------------------------------------------------------------

def make_plans(workload: str, clients: int, per_client: int, supplier_ids: list[int], hot_supplier: int,
               seed: int = 20261202) -> list[list[Plan]]:
    rng = random.Random(seed)
    if workload == "hot":
        return [[[(hot_supplier, HOT_SKU, 1)] for _ in range(per_client)] for _ in range(clients)]
    plans = []
    for _ in range(clients):
        mine = []
        for _ in range(per_client):
            numbers = rng.sample(range(SPREAD_SKUS), rng.choice((1, 2, 2, 3)))
            mine.append([(supplier_ids[n % 2], f"SP-{n:05d}", rng.randint(1, 3)) for n in numbers])
        plans.append(mine)
    return plans


def warm_plans(client: int, warm_supplier: int) -> list[Plan]:
    return [[(warm_supplier, WARM_SKU.format(client), 1)] for _ in range(WARM_PLANS)]


# --- the clients (each a process) -------------------------------------------------------------

def cpu_seconds(backend_pid: int) -> tuple[float, float]:
    """CPU used so far by this client process and by its PostgreSQL backend (same machine)."""
    backend = psutil.Process(backend_pid).cpu_times()
    return time.process_time(), backend.user + backend.system


def timed_plans(hold, plans: list[Plan], backend: int, client: int, ready, start) -> tuple:
    """A warm client's measured run: say it is ready, wait for the others, hold every plan; (client, outcomes,
    started, finished, CPU seconds of this process and of its PostgreSQL backend)."""
    ready.put(client)
    start.wait()
    started, cpu = time.monotonic(), cpu_seconds(backend)
    outcomes = [hold(plan) for plan in plans]
    finished, cpu = time.monotonic(), [after - before for after, before in zip(cpu_seconds(backend), cpu)]
    return client, outcomes, started, finished, cpu


def dropdesk_client(url: str, client: int, plans: list[Plan], warm: list[Plan], folder: str, ready, start, results):
    """(a): inventory.reserve_plan per plan, in this process's app context; the log goes to a file."""
    logging.basicConfig(level=logging.INFO, filename=os.path.join(folder, f"client-{client}.log"))
    from app.extensions import db
    from app.services import inventory
    from app.services.inventory import Hold, ReservationRefused

    app = make_app(url)
    with app.app_context():
        def hold(plan: Plan) -> bool:
            try:
                inventory.reserve_plan([Hold(sid, sku, qty) for sid, sku, qty in plan], order_id=None,
                                       cause=f"bench client {client}")
                return True
            except ReservationRefused:
                return False

        for plan in warm:
            hold(plan)
        backend = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        db.session.commit()
        measured = timed_plans(hold, plans, backend, client, ready, start)
        db.session.remove()
    results.put(measured)


def raw_client(url: str, client: int, plans: list[Plan], warm: list[Plan], folder: str, ready, start, results):
    """(b): one conditional UPDATE per line through psycopg, in (supplier, SKU) order; one transaction per plan."""
    import psycopg

    statement = ("UPDATE supplier_stock SET reserved = reserved + %s "
                 "WHERE supplier_id = %s AND supplier_sku = %s AND on_hand - reserved >= %s")
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as connection:
        def hold(plan: Plan) -> bool:
            with connection.cursor() as cursor:
                for supplier_id, sku, qty in sorted(plan):
                    cursor.execute(statement, (qty, supplier_id, sku, qty))
                    if cursor.rowcount != 1:
                        connection.rollback()
                        return False
            connection.commit()
            return True

        for plan in warm:
            hold(plan)
        results.put(timed_plans(hold, plans, connection.info.backend_pid, client, ready, start))


def raw_same_work_client(url: str, client: int, plans: list[Plan], warm: list[Plan], folder: str, ready, start,
                         results):
    """(c): what (a) writes, as hand-written SQL through psycopg: the conditional UPDATEs, the reservations and
    their ledger rows in one INSERT each, the products' totals in one upsert; one transaction per plan."""
    import psycopg

    take = ("UPDATE supplier_stock SET reserved = reserved + %s "
            "WHERE supplier_id = %s AND supplier_sku = %s AND status IN ('in_stock', 'low_stock') "
            "AND on_hand - reserved >= %s")
    totals = """
        INSERT INTO product_stock (product_id, available, updated_at)
        SELECT o.product_id, coalesce(sum(CASE WHEN s.status IN ('in_stock', 'low_stock')
                                                AND coalesce(s.on_hand, 0) - s.reserved > 0
                                               THEN coalesce(s.on_hand, 0) - s.reserved ELSE 0 END), 0), now()
        FROM supplier_offers o LEFT JOIN supplier_stock s ON s.supplier_id = o.supplier_id
                                                         AND s.supplier_sku = o.supplier_sku
        WHERE o.product_id IN (SELECT product_id FROM supplier_offers WHERE (supplier_id, supplier_sku) IN ({keys}))
        GROUP BY o.product_id
        ON CONFLICT (product_id) DO UPDATE SET available = excluded.available, updated_at = excluded.updated_at"""
    cause = f"bench client {client}"
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as connection:
        def hold(plan: Plan) -> bool:
            n = len(plan)
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO reservations (supplier_id, supplier_sku, qty, state, created_at) VALUES "
                               + ", ".join(["(%s, %s, %s, 'held', now())"] * n) + " RETURNING id",
                               [value for line in plan for value in line])
                ids = [row[0] for row in cursor.fetchall()]
                cursor.execute("INSERT INTO reservation_events (reservation_id, kind, qty, cause, at) VALUES "
                               + ", ".join(["(%s, 'created', %s, %s, now())"] * n),
                               [value for reservation_id, (_, _, qty) in zip(ids, plan)
                                for value in (reservation_id, qty, cause)])
                for supplier_id, sku, qty in sorted(plan):
                    cursor.execute(take, (qty, supplier_id, sku, qty))
                    if cursor.rowcount != 1:
                        connection.rollback()
                        return False
                cursor.execute(totals.format(keys=", ".join(["(%s, %s)"] * n)),
                               [value for supplier_id, sku, _ in plan for value in (supplier_id, sku)])
            connection.commit()
            return True

        for plan in warm:
            hold(plan)
        results.put(timed_plans(hold, plans, connection.info.backend_pid, client, ready, start))


def run_method(client_fn, url: str, plans: list[list[Plan]], warm_supplier: int, folder: str):
    """Start the clients, wait until each is warm, release them together; (outcomes per plan, seconds)."""
    context = multiprocessing.get_context("spawn")
    ready, start, results = context.Queue(), context.Event(), context.Queue()
    processes = [context.Process(target=client_fn, args=(url, n, mine, warm_plans(n, warm_supplier), folder,
                                                         ready, start, results))
                 for n, mine in enumerate(plans)]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=300)
    start.set()
    finished = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    outcomes = {client: flags for client, flags, *_ in finished}
    seconds = max(end for _, _, _, end, _ in finished) - min(begin for _, _, begin, _, _ in finished)
    cpu = [sum(used[part] for *_, used in finished) for part in (0, 1)]
    return [outcomes[n] for n in range(len(plans))], seconds, cpu


def held_units(plans: list[list[Plan]], outcomes: list[list[bool]]) -> dict[str, int]:
    units: dict[str, int] = {}
    for mine, flags in zip(plans, outcomes):
        for plan, held in zip(mine, flags):
            if held:
                for _, sku, qty in plan:
                    units[sku] = units.get(sku, 0) + qty
    return units


# --- running and printing ---------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--plans", type=int, default=400, help="plans per client")
    parser.add_argument("--only", choices=("hot", "spread"))
    parser.add_argument("--rounds", type=int, default=2, help="each method this many times, alternating; best rate kept")
    options = parser.parse_args()
    url = os.environ.get("BENCH_RESERVE_DATABASE_URL", DEFAULT_PG_URL).replace("postgresql://", "postgresql+psycopg://", 1)
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before the run; "
          f"{options.clients} client processes x {options.plans} plans; {make_url(url).database}", flush=True)
    ensure_postgres_database(url)
    supplier_ids, hot_supplier = build(url, options.clients)
    folder = tempfile.mkdtemp(prefix="bench-reserve-")
    total = options.clients * options.plans
    hot_on_hand = int(total * HOT_SHARE)
    failed = False
    print(f"{'workload':<8} {'method':<27} {'round':>5} {'held':>6} {'refused':>7} {'plans/s':>8} {'lines/s':>8} "
          f"{'CPU ms/plan: client':>20} {'database':>8}  checks (each must be 0)")
    methods = (("(a) Dropdesk reserve_plan", dropdesk_client, True), ("(b) raw conditional UPDATE", raw_client, False),
               ("(c) raw SQL, (a)'s writes", raw_same_work_client, True))
    for workload in ("hot", "spread"):
        if options.only not in (None, workload):
            continue
        plans = make_plans(workload, options.clients, options.plans, supplier_ids, hot_supplier)
        lines = sum(len(plan) for mine in plans for plan in mine)
        best: dict[str, float] = {}
        for round_ in range(1, options.rounds + 1):
            for name, client_fn, ledger in methods:
                reset(url, hot_on_hand)
                outcomes, seconds, (client_cpu, database_cpu) = run_method(client_fn, url, plans, supplier_ids[1], folder)
                held = sum(flag for flags in outcomes for flag in flags)
                found = checks(url, held_units(plans, outcomes), ledger=ledger)
                failed |= any(found.values())
                best[name] = max(best.get(name, 0.0), total / seconds)
                print(f"{workload:<8} {name:<27} {round_:>5} {held:>6} {total - held:>7} {total / seconds:>8.0f} "
                      f"{lines / seconds:>8.0f} {client_cpu * 1000 / total:>20.2f} {database_cpu * 1000 / total:>8.2f}  "
                      + ", ".join(f"{label} {value}" for label, value in found.items()), flush=True)
        a, b, c = (best[name] for name, _, _ in methods)
        target = " (target >= 0.50x)" if workload == "spread" else ""
        print(f"{workload:<8} best of {options.rounds}: (a) {a:.0f} plans/s, (b) {b:.0f}, (c) {c:.0f}; "
              f"(a)/(b) = {a / b:.2f}x{target}, (a)/(c) = {a / c:.2f}x, (c)/(b) = {c / b:.2f}x", flush=True)
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} after the run; client logs in {folder}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
