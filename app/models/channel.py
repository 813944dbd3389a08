"""Sales channels: where orders come from, how they are verified and what each one accepts."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import EncryptedCredentials, UTCDateTime, utcnow

CHANNEL_KINDS = ("shopify", "woocommerce", "api", "csv")
# Fields a channel may require on every order (or only on express orders) beyond CHANNELS.md's own checks.
REQUIRABLE_FIELDS = ("email", "ship_to.name", "ship_to.phone", "ship_to.postal_code", "ship_to.region")
# Stored encrypted (app/vault): the webhook secret, the API bearer token, the REST credentials for the pull.
CHANNEL_SECRETS = ("webhook_secret", "api_token", "api_key", "api_secret")


class Channel(EncryptedCredentials, db.Model):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # what orders carry as their `channel`
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(default=True)
    credentials_ciphertext: Mapped[str | None] = mapped_column(Text)
    sku_aliases: Mapped[dict] = mapped_column(JSON, default=dict)  # channel SKU -> our SKU
    allowed_countries: Mapped[list] = mapped_column(JSON, default=list)  # empty: every country
    accept_test_orders: Mapped[bool] = mapped_column(default=False)
    required_fields: Mapped[list] = mapped_column(JSON, default=list)
    express_required_fields: Mapped[list] = mapped_column(JSON, default=list)
    base_url: Mapped[str | None] = mapped_column(String(300))  # the store's REST API, for the reconciliation pull
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # newest change the pull has seen
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_poll_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # What the channel may sell (issue 6): floor(available-to-promise x ratio) - safety units, 0 delists.
    publish_quantities: Mapped[bool] = mapped_column(default=True)
    publish_ratio: Mapped[Decimal] = mapped_column(Numeric(4, 3), default=Decimal("0.9"))
    publish_safety_units: Mapped[int] = mapped_column(default=0)
    last_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def credential_names(self) -> tuple[str, ...]:
        """Which secrets are set (names only: what the settings form shows as "set ••••••••")."""
        return tuple(sorted(name for name, value in self.credentials.items() if value))

    def __repr__(self) -> str:  # never includes credentials
        return f"<Channel {self.code}>"
