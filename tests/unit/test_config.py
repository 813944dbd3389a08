import pytest
from cryptography.fernet import Fernet

from app.config import SETTINGS, Config, ConfigError

PRODUCTION = {
    "DROPDESK_ENV": "production",
    "DATABASE_URL": "postgresql://dropdesk@db/dropdesk",
    "REDIS_URL": "redis://cache:6379/0",
    "SECRET_KEY": "x" * 40,
    "SECRETS_KEYS": Fernet.generate_key().decode(),
}


def test_defaults_match_the_documented_settings():
    config = Config.from_environ({"DROPDESK_ENV": "test"})
    assert (config.low_stock_threshold, config.poll_interval_minutes, config.freshness_budget_minutes) == (10, 15, 5)
    assert config.sandbox is False
    assert config.database_url.startswith("sqlite:////") and config.database_url.endswith("instance/dropdesk.sqlite3")
    assert {s.name for s in SETTINGS} >= {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SECRETS_KEYS", "LOW_STOCK_THRESHOLD",
                                          "POLL_INTERVAL_MINUTES", "FRESHNESS_BUDGET_MINUTES", "SANDBOX"}


def test_production_starts_with_every_secret_set():
    config = Config.from_environ(PRODUCTION)
    assert config.database_url == "postgresql+psycopg://dropdesk@db/dropdesk"
    assert config.flask_settings()["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize("missing", ["SECRET_KEY", "SECRETS_KEYS", "DATABASE_URL", "REDIS_URL"])
def test_production_refuses_to_start_without_a_secret_and_names_it(missing):
    environ = {k: v for k, v in PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigError, match=missing):
        Config.from_environ(environ)


def test_production_refuses_the_sandbox():
    with pytest.raises(ConfigError, match="SANDBOX"):
        Config.from_environ({**PRODUCTION, "SANDBOX": "on"})


@pytest.mark.parametrize("name,value,message", [
    ("LOW_STOCK_THRESHOLD", "ten", "whole number"),
    ("POLL_INTERVAL_MINUTES", "0", "greater than zero"),
    ("SANDBOX", "maybe", "on or off"),
    ("SECRETS_KEYS", "not-a-key", "not a valid Fernet key"),
    ("DROPDESK_ENV", "staging", "must be one of"),
])
def test_a_malformed_setting_fails_at_start_with_a_clear_message(name, value, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_environ({"DROPDESK_ENV": "test", name: value})


def test_secret_keys_are_kept_newest_first():
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    config = Config.from_environ({"DROPDESK_ENV": "test", "SECRETS_KEYS": f"{new}, {old}"})
    assert config.secrets_keys == [new, old]


def test_a_unix_socket_redis_is_spelled_for_the_rate_limiter():
    config = Config.from_environ({"DROPDESK_ENV": "test", "REDIS_URL": "unix:///tmp/r/redis.socket"})
    assert config.flask_settings()["RATELIMIT_STORAGE_URI"] == "redis+unix:///tmp/r/redis.socket"
    assert config.flask_settings()["RQ_CONNECTION"] == "unix:///tmp/r/redis.socket"
