"""Small helpers shared by integration and browser tests and the benchmarks."""
from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from app.config import Config

TEST_PASSWORD = "correct-horse-battery"


def make_config(database_url: str, redis_url: str, **settings: str) -> Config:
    environ = {"DROPDESK_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "LOGIN_RATE_LIMIT": "1000 per minute", **settings}
    return Config.from_environ(environ)


def ensure_postgres_database(url: str) -> None:
    """A new, empty PostgreSQL database (dropped first if it exists), through a connection to `postgres`: the
    migrations then build it from nothing, whatever an earlier run or branch left in it."""
    target = make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client, email: str, password: str = TEST_PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token_from(page.text)})
