"""Benchmark applying one supplier's 200,000-record JSON stock feed, against baselines measured in the same run.

usage: PYTHONPATH=. .venv/bin/python tests/bench/bench_ingest.py [--records 200000] [--only sqlite|postgresql]

On PostgreSQL (BENCH_DATABASE_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/dropdesk_bench,
created anew and built by the migrations) and on SQLite (a temp file), a first full feed is
applied to empty stock, then a second full feed in which ~5% of the records changed, by:

  (a) Dropdesk: what a sync run does with a fetched full feed: normalize_feed on the JSON body (the sandbox
      ACME mapping), then the sync's apply_pull (sanity guard, plan, bulk write, supplier confirmation), committed;
  (b) a naive loop: per record select the row, update it if changed, insert a change-log row
      (SQLAlchemy Core, one statement at a time, one transaction);
  (c) PostgreSQL only, the practical limit: COPY into a temp table, then one UPDATE ... FROM and one
      INSERT ... SELECT for the log (plus one INSERT ... SELECT for new rows on the first load).
      "(c) figures only" writes only changed rows, as (b) does, and is the limit the targets name.
      "(c) same job" also refreshes received_at on every row the feed confirmed unchanged: the freshness the
      stock pages show, which (a) records once, on the supplier (stock_confirmed_at); both end in the same
      confirmation times (checked).

Every method starts from the same bytes and the same empty tables (reset between methods; the
first load is followed by VACUUM ANALYZE / ANALYZE and a checkpoint, untimed, so each 5% run starts
from the same state); each run is checked to end in the same stock figures and the same change log.
Records/s count every record of the feed, changed or not, from the JSON bytes to the commit; the
"parse" part is not the same work: (a) validates every record as FEEDS.md says (normalize_feed),
(b) only decodes the JSON and the timestamps, (c) only decodes the JSON. So "write only" ratios,
from parsed records to the commit, are printed beside the end-to-end ones. Prints; asserts nothing. Peak memory: the process's
peak RSS (ru_maxrss, an upper bound: it includes the feeds and everything else this script holds)
and, for (a) alone, a fresh process (like a worker) that applies both feeds: its own peak RSS, and in another
such process tracemalloc's peak (tracemalloc slows Python down, so those runs are untimed).
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app import create_app
from app.connectors import FeedPull
from app.domain.feeds import normalize_feed
from app.domain.stock import unified_stock_level
from app.extensions import db
from app.models import StockAlert, StockChange, Supplier, SupplierStock, SyncRun
from app.services.stock import confirmed_at
from app.services.stock_updates import threshold_for
from app.services.sync import apply_pull
from tests.helpers import ensure_postgres_database, make_config

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/dropdesk_bench"
# The sandbox ACME supplier's mapping, without cost: flat records under "items".
MAPPING = {"format": "json", "records": "items", "fields": {"sku": "sku", "quantity": "qty", "updated_at": "updated_at"}}
SUPPLIER_CODE = "BENCH"
CHANGED_SHARE = 0.05
T1 = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)  # the first feed's reports are from before this
RECEIVED_1 = T1 + timedelta(minutes=5)
T2 = T1 + timedelta(hours=1)  # the changed records of the second feed were updated here
RECEIVED_2 = T2 + timedelta(minutes=5)


# --- the feeds --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Feeds:
    first: bytes
    second: bytes
    records: int
    changed: int


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_feeds(records: int, seed: int = 20261124) -> Feeds:
    """Two full feeds of the same SKUs; the second changes ~5% of the figures, with newer timestamps."""
    rng = random.Random(seed)
    items = []
    for i in range(records):
        qty = 0 if rng.random() < 0.08 else rng.randint(1, 400)
        items.append({"sku": f"BX-{i:07d}", "qty": qty, "updated_at": iso(T1 - timedelta(seconds=rng.randint(60, 86_400)))})
    first = json.dumps({"items": items}, separators=(",", ":")).encode()
    changed = rng.sample(range(records), int(records * CHANGED_SHARE))
    for i in changed:
        old = items[i]["qty"]
        new = old
        while new == old:
            new = 0 if rng.random() < 0.1 else rng.randint(1, 400)
        items[i] = {"sku": items[i]["sku"], "qty": new, "updated_at": iso(T2 - timedelta(seconds=rng.randint(0, 3000)))}
    second = json.dumps({"items": items}, separators=(",", ":")).encode()
    return Feeds(first, second, records, len(changed))


# --- the database -----------------------------------------------------------------------------



def build_app(url: str):
    from flask_migrate import upgrade

    app = create_app(make_config(url, "redis://127.0.0.1:1/0"))  # the bench never touches Redis
    with app.app_context():
        upgrade()
        supplier = db.session.scalar(sa.select(Supplier).where(Supplier.code == SUPPLIER_CODE))
        if supplier is None:
            supplier = Supplier(code=SUPPLIER_CODE, name="Bench supplier", warehouse_country="US", ships_to=["US"],
                                connection_type="rest_json", feed_mapping=MAPPING)
            db.session.add(supplier)
        supplier.missing_runs_before_unknown = 2
        supplier.low_stock_threshold = None
        db.session.commit()
        app.config["BENCH_SUPPLIER_ID"] = supplier.id
        app.config["BENCH_THRESHOLD"] = threshold_for(supplier)
        db.session.remove()
    return app


STOCK_TABLES = (StockAlert.__tablename__, StockChange.__tablename__, SupplierStock.__tablename__)


def reset_stock(app) -> None:
    """Empty the stock tables, so each method starts from the same state.

    No ANALYZE here: statistics saying "empty" would make PostgreSQL's cached generic plan for the naive
    loop's per-record SELECT a sequential scan, which turns its first load quadratic. After TRUNCATE the
    planner knows nothing and takes the unique index, as it would on a table holding other suppliers.
    """
    with app.app_context():
        engine = db.engine
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(sa.text(f"TRUNCATE {', '.join(STOCK_TABLES)} RESTART IDENTITY"))
            else:
                for table in STOCK_TABLES:
                    connection.execute(sa.text(f"DELETE FROM {table}"))
            # What (a)'s sync runs leave on the supplier, which the other methods must not inherit.
            connection.execute(sa.update(Supplier).values(stock_confirmed_at=None, delta_since=None,
                                                          last_full_pull_at=None, last_success_at=None))
        checkpoint(engine)
    gc.collect()


def settle(app) -> None:
    """Untimed, after a first load: fresh statistics, no dead rows, nothing left to flush."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text(f"VACUUM ANALYZE {', '.join(STOCK_TABLES)}"))
        else:
            with engine.begin() as connection:
                connection.execute(sa.text("ANALYZE"))
        checkpoint(engine)
    gc.collect()


def checkpoint(engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("CHECKPOINT"))
        else:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def end_state(app, *, with_received: bool) -> tuple[str, int]:
    """A digest of the supplier's stock figures (and when each was last confirmed, if asked) and the change-log size.

    "Confirmed" is what the stock pages show: (a) confirms a full feed's unchanged SKUs through the supplier's
    stock_confirmed_at, (c) "same job" by rewriting received_at on each of their rows; both must agree.
    """
    table, changes = SupplierStock.__table__, StockChange.__table__
    columns = [table.c.supplier_sku, table.c.on_hand, table.c.status, table.c.reported_at, table.c.missing_runs]
    if with_received:
        columns.append(confirmed_at().label("confirmed_at"))
    digest = hashlib.sha256()
    with app.app_context():
        with db.engine.connect() as connection:
            query = sa.select(*columns).join(Supplier, Supplier.id == table.c.supplier_id)
            for row in connection.execute(query.order_by(table.c.supplier_sku)):
                digest.update(repr(tuple(row)).encode())
            logged = connection.scalar(sa.select(sa.func.count()).select_from(changes))
    return digest.hexdigest()[:12], logged


# --- (a) Dropdesk -----------------------------------------------------------------------------

@dataclass
class Timing:
    seconds: float
    parts: dict[str, float] = field(default_factory=dict)


def apply_with_dropdesk(app, body: bytes, received_at: datetime) -> Timing:
    """What a sync run does with a fetched full feed: normalize it, then apply_pull (sanity guard included)."""
    with app.app_context():
        supplier = db.session.get(Supplier, app.config["BENCH_SUPPLIER_ID"])
        run = SyncRun(supplier_id=supplier.id, kind="full", trigger="manual", started_at=received_at)
        db.session.add(run)
        db.session.commit()
        started = time.perf_counter()
        feed = normalize_feed(body, supplier.feed_mapping, received_at, threshold=threshold_for(supplier))
        parsed = time.perf_counter()
        pull = FeedPull(kind="full", records=feed.records, rejects=feed.rejects, pages=1)
        result = apply_pull(supplier, run, pull, source="full", received_at=received_at, guard=True)
        db.session.commit()
        finished = time.perf_counter()
        assert not feed.rejects, feed.rejects[:3]
        assert result is not None, "the sanity guard held the bench feed"
        db.session.remove()
    return Timing(finished - started, {"parse": parsed - started, "write": finished - parsed})


# --- (b) the naive loop -----------------------------------------------------------------------

def apply_naively(app, body: bytes, received_at: datetime) -> Timing:
    """Per record: select the row, update it if changed, insert a log row. One transaction."""
    table, changes = SupplierStock.__table__, StockChange.__table__
    supplier_id, threshold = app.config["BENCH_SUPPLIER_ID"], app.config["BENCH_THRESHOLD"]
    find = sa.select(table.c.id, table.c.on_hand, table.c.status, table.c.reported_at).where(
        table.c.supplier_id == sa.bindparam("s"), table.c.supplier_sku == sa.bindparam("sku"))
    change = table.update().where(table.c.id == sa.bindparam("b_id"))
    with app.app_context():
        started = time.perf_counter()
        records = [(r["sku"], int(r["qty"]), datetime.fromisoformat(r["updated_at"]),
                    str(unified_stock_level(int(r["qty"]), None, threshold=threshold).status))
                   for r in json.loads(body)["items"]]
        parsed = time.perf_counter()
        with db.engine.begin() as connection:
            for sku, qty, reported_at, status in records:
                row = connection.execute(find, {"s": supplier_id, "sku": sku}).first()
                applied = True
                if row is None:
                    connection.execute(table.insert(), {"supplier_id": supplier_id, "supplier_sku": sku, "on_hand": qty,
                                                        "status": status, "reported_at": reported_at,
                                                        "received_at": received_at, "missing_runs": 0})
                elif row.reported_at is not None and reported_at < row.reported_at:
                    applied = False
                elif (row.on_hand, row.status) == (qty, status):
                    continue
                else:
                    connection.execute(change, {"b_id": row.id, "on_hand": qty, "status": status, "reported_at": reported_at,
                                                "received_at": received_at, "missing_runs": 0})
                connection.execute(changes.insert(), {
                    "supplier_id": supplier_id, "supplier_sku": sku, "previous_on_hand": row.on_hand if row else None,
                    "new_on_hand": qty, "previous_status": row.status if row else None, "new_status": status,
                    "source": "full", "applied": applied, "reported_at": reported_at, "received_at": received_at,
                    "at": received_at})
        finished = time.perf_counter()
    return Timing(finished - started, {"parse": parsed - started, "write": finished - parsed})


# --- (c) the practical limit on PostgreSQL ----------------------------------------------------

def apply_by_copy(app, body: bytes, received_at: datetime, *, confirm: bool) -> Timing:
    """COPY into a temp table; one INSERT ... SELECT for the log, one UPDATE ... FROM, one INSERT ... SELECT
    for SKUs not stored yet. With `confirm`, the UPDATE also refreshes received_at of unchanged rows."""
    supplier_id, threshold = app.config["BENCH_SUPPLIER_ID"], int(app.config["BENCH_THRESHOLD"])
    status = (f"CASE WHEN qty = 0 THEN 'out_of_stock' WHEN qty < {threshold} THEN 'low_stock' "
              "ELSE 'in_stock' END")
    differs = "(s.on_hand, s.status) IS DISTINCT FROM (f.qty, f.status)"
    not_stale = "(s.reported_at IS NULL OR f.reported_at >= s.reported_at)"
    if confirm:
        update = f"""
            UPDATE supplier_stock s SET on_hand = f.qty, status = f.status,
                reported_at = CASE WHEN {differs} THEN f.reported_at ELSE s.reported_at END,
                received_at = %(now)s, missing_runs = 0
            FROM bench_feed f
            WHERE s.supplier_id = %(sid)s AND s.supplier_sku = f.sku AND {not_stale}
              AND ({differs} OR s.received_at IS NULL OR s.received_at < %(now)s OR s.missing_runs <> 0)"""
    else:
        update = f"""
            UPDATE supplier_stock s SET on_hand = f.qty, status = f.status, reported_at = f.reported_at,
                received_at = %(now)s, missing_runs = 0
            FROM bench_feed f
            WHERE s.supplier_id = %(sid)s AND s.supplier_sku = f.sku AND {not_stale} AND {differs}"""
    log = f"""
        INSERT INTO stock_changes (supplier_id, supplier_sku, previous_on_hand, new_on_hand, previous_status,
                                   new_status, source, applied, reported_at, received_at, at)
        SELECT %(sid)s, f.sku, s.on_hand, f.qty, s.status, f.status, 'full', {not_stale}, f.reported_at, %(now)s, %(now)s
        FROM bench_feed f LEFT JOIN supplier_stock s ON s.supplier_id = %(sid)s AND s.supplier_sku = f.sku
        WHERE s.id IS NULL OR NOT {not_stale} OR {differs}"""
    insert = """
        INSERT INTO supplier_stock (supplier_id, supplier_sku, on_hand, status, reported_at, received_at, missing_runs)
        SELECT %(sid)s, f.sku, f.qty, f.status, f.reported_at, %(now)s, 0 FROM bench_feed f
        ON CONFLICT (supplier_id, supplier_sku) DO NOTHING"""
    params = {"sid": supplier_id, "now": received_at}
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            connection = raw.driver_connection  # psycopg 3
            started = time.perf_counter()
            items = json.loads(body)["items"]
            parsed = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(f"""CREATE TEMP TABLE bench_feed (sku text NOT NULL, qty integer NOT NULL,
                                   reported_at timestamptz NOT NULL, status text GENERATED ALWAYS AS ({status}) STORED)
                                   ON COMMIT DROP""")
                with cursor.copy("COPY bench_feed (sku, qty, reported_at) FROM STDIN") as copy:
                    for record in items:
                        copy.write_row((record["sku"], record["qty"], record["updated_at"]))
                cursor.execute("ANALYZE bench_feed")
                cursor.execute(log, params)
                cursor.execute(update, params)
                cursor.execute(insert, params)
            connection.commit()
            finished = time.perf_counter()
        finally:
            raw.close()
    return Timing(finished - started, {"parse": parsed - started, "write": finished - parsed})


# --- running and printing ---------------------------------------------------------------------

@dataclass
class Outcome:
    name: str
    first: Timing
    second: Timing
    state: tuple[str, int]
    received_state: tuple[str, int]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def own_peak_rss_mb() -> float:
    """This process's own peak RSS: Linux carries ru_maxrss over from the parent through fork and exec,
    while VmHWM belongs to the address space the process was started with."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def rate(records: int, seconds: float) -> str:
    return f"{records / seconds:>9,.0f}/s"


def run_method(app, name: str, method, feeds: Feeds) -> Outcome:
    reset_stock(app)
    first = method(app, feeds.first, RECEIVED_1)
    settle(app)
    second = method(app, feeds.second, RECEIVED_2)
    outcome = Outcome(name, first, second, end_state(app, with_received=False), end_state(app, with_received=True))
    n = feeds.records
    print(f"  {name:<24}" + "".join(
        f" | {rate(n, t.seconds)} {t.seconds:6.2f} s  (parse {t.parts['parse']:5.2f} s, write {rate(n, t.parts['write'])})"
        for t in (first, second)), flush=True)
    return outcome


def dropdesk_memory_child(url: str, first: str, second: str, trace: bool) -> None:
    """In a fresh process, like a worker's: apply both feeds (read from files) by (a); print the peaks as JSON."""
    app = build_app(url)
    reset_stock(app)
    report = {"before": own_peak_rss_mb()}
    for key, path, received_at in (("first", first, RECEIVED_1), ("second", second, RECEIVED_2)):
        body = Path(path).read_bytes()
        if trace:
            tracemalloc.start()
        apply_with_dropdesk(app, body, received_at)
        if trace:
            report[key] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        else:
            report[key] = own_peak_rss_mb()
        del body
        settle(app)
    print(json.dumps(report))


def measure_dropdesk_memory(url: str, feed_files: tuple[Path, Path], *, trace: bool) -> dict[str, float]:
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))}
    command = [sys.executable, __file__, "--memory-child", url, *map(str, feed_files)] + (["--trace"] if trace else [])
    child = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def bench_database(label: str, url: str, feeds: Feeds, feed_files: tuple[Path, Path], *, trace: bool) -> None:
    app = build_app(url)
    is_postgres = make_url(url).get_backend_name() == "postgresql"
    with app.app_context():
        server = db.session.execute(sa.text("SELECT version()" if is_postgres else "SELECT sqlite_version()")).scalar()
        db.session.remove()
    print(f"\n{label} {server.split(' on ')[0]}: {feeds.records:,} records, {feeds.changed:,} changed in the second feed")
    print(f"  {'records/s':<24} | {'first load (empty stock)':<54} | 5% changed")
    outcomes = [run_method(app, "(a) Dropdesk", apply_with_dropdesk, feeds),
                run_method(app, "(b) naive loop", apply_naively, feeds)]
    if is_postgres:
        outcomes.append(run_method(app, "(c) COPY, same job", lambda *a: apply_by_copy(*a, confirm=True), feeds))
        outcomes.append(run_method(app, "(c) COPY, figures only", lambda *a: apply_by_copy(*a, confirm=False), feeds))
    dropdesk = outcomes[0]
    same = all(o.state == dropdesk.state for o in outcomes)
    print(f"  same end state for every method (figures, reported_at, missing_runs, {dropdesk.state[1]:,} log rows): "
          f"{'yes' if same else 'NO ' + repr([(o.name, o.state) for o in outcomes])}")
    for other in outcomes[1:]:
        if other.received_state == dropdesk.received_state:
            print(f"  {other.name} also leaves every SKU confirmed when (a) does")
    print("  ratios, (a) records/s over the other's:       5% changed: end to end   write only | first load: end to end")
    for other in outcomes[1:]:
        print(f"    (a) / {other.name:<38} {other.second.seconds / dropdesk.second.seconds:17.2f}x"
              f" {other.second.parts['write'] / dropdesk.second.parts['write']:11.2f}x"
              f" | {other.first.seconds / dropdesk.first.seconds:21.2f}x")
    rss = measure_dropdesk_memory(url, feed_files, trace=False)
    print(f"  memory of (a) alone, in a fresh process (interpreter, app, feed body, normalize, apply): peak RSS "
          f"{max(rss['first'], rss['second']):,.0f} MB ({rss['before']:,.0f} MB before the first feed)", flush=True)
    if trace:
        traced = measure_dropdesk_memory(url, feed_files, trace=True)
        print(f"  tracemalloc peak of (a), normalize + apply: first load {traced['first']:,.0f} MB, "
              f"5% changed {traced['second']:,.0f} MB", flush=True)
    with app.app_context():
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--only", choices=("postgresql", "sqlite"))
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the tracemalloc measurement of (a)")
    parser.add_argument("--memory-child", nargs=3, metavar=("URL", "FIRST", "SECOND"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.memory_child:
        dropdesk_memory_child(*options.memory_child, trace=options.trace)
        return
    feeds = make_feeds(options.records)
    print(f"stock feed ingest: {options.records:,} records, {len(feeds.first) / 2**20:.1f} MB of JSON per feed; "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="dropdesk-bench-") as folder:
        feed_files = (Path(folder) / "first.json", Path(folder) / "second.json")
        feed_files[0].write_bytes(feeds.first)
        feed_files[1].write_bytes(feeds.second)
        trace = not options.no_tracemalloc
        if options.only != "sqlite":
            url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL).replace("postgresql://", "postgresql+psycopg://", 1)
            ensure_postgres_database(url)
            bench_database("PostgreSQL", url, feeds, feed_files, trace=trace)
        if options.only != "postgresql":
            bench_database("SQLite", f"sqlite:///{Path(folder) / 'bench.sqlite3'}", feeds, feed_files, trace=trace)
    print(f"\npeak RSS of this whole bench process (ru_maxrss; it also held both feeds and ran every method): "
          f"{peak_rss_mb():,.0f} MB")
    print("targets on the 5%-changed run: (a) >= 20x (b), (a) >= 0.3x (c), peak memory < 500 MB")


if __name__ == "__main__":
    main()
