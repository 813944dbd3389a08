"""Column types shared by every model: UTC-aware time and money."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import DateTime, Numeric
from sqlalchemy.types import TypeDecorator

from app import vault

CENT = Decimal("0.01")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Stores UTC and always hands back an aware datetime (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Dropdesk stores aware UTC times only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Money(TypeDecorator):
    """A Decimal quantized to cents in NUMERIC(12, 2); sorts numerically on every database."""

    impl = Numeric(12, 2)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        amount = Decimal(value).quantize(CENT)
        # SQLite has no decimal type: hand it text and let its NUMERIC affinity store the number.
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(str(value)).quantize(CENT)


def render_migration_type(kind: str, obj, _autogen_context):
    """Alembic autogenerate writes our column types as plain SQLAlchemy types, so migrations never import app code."""
    if kind == "type" and isinstance(obj, Money):
        return "sa.Numeric(precision=12, scale=2)"
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


class EncryptedCredentials:
    """For a model with a `credentials_ciphertext` column: its secrets, encrypted at rest (MultiFernet, app/vault).

    Only the code that must use a secret reads `credentials` (connectors, intake's signature checks); pages and
    logs never do.
    """

    credentials_ciphertext: str | None

    @property
    def credentials(self) -> dict[str, str]:
        return vault.decrypt(self.credentials_ciphertext) if self.credentials_ciphertext else {}

    @credentials.setter
    def credentials(self, value: dict[str, str]) -> None:
        self.credentials_ciphertext = vault.encrypt(value) if value else None
