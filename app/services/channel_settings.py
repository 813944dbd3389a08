"""Sales channels as admins keep them: validated, audited, secrets write-only (invariant 7)."""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, update

from app.extensions import db
from app.models import Channel, ChannelListing, Product, User
from app.models.channel import CHANNEL_KINDS, CHANNEL_SECRETS, REQUIRABLE_FIELDS
from app.services import ServiceError, audit

log = logging.getLogger(__name__)

KIND_LABELS = {"shopify": "Shopify", "woocommerce": "WooCommerce", "api": "Order API (custom storefront, ERP)",
               "csv": "CSV upload"}
SECRET_LABELS = {"webhook_secret": "Webhook signing secret", "api_token": "Bearer token (order API / Shopify access token)",
                 "api_key": "REST API key (WooCommerce consumer key)", "api_secret": "REST API secret (consumer secret)"}
SECRETS_OF_KIND = {"shopify": ("webhook_secret", "api_token"), "woocommerce": ("webhook_secret", "api_key", "api_secret"),
                   "api": ("api_token",), "csv": ()}
_CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass
class ChannelChange:
    """What an admin submitted; empty secrets keep the stored value, names in `clear` remove one."""

    name: str
    kind: str
    active: bool = True
    allowed_countries: str = ""
    accept_test_orders: bool = False
    required_fields: list[str] = field(default_factory=list)
    express_required_fields: list[str] = field(default_factory=list)
    sku_aliases: str = ""  # one "channel SKU = our SKU" a line
    base_url: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    clear: list[str] = field(default_factory=list)
    # What the channel may sell (None: keep what is stored): floor(available to promise x ratio) - safety units.
    publish_quantities: bool | None = None
    publish_ratio: str | None = None
    publish_safety_units: str | None = None


def list_channels() -> list[Channel]:
    return list(db.session.scalars(select(Channel).order_by(Channel.code)))


def get_channel(code: str) -> Channel:
    channel = db.session.scalar(select(Channel).where(Channel.code == code))
    if channel is None:
        raise ServiceError(f"No channel {code}.")
    return channel


def channel_codes() -> list[str]:
    return list(db.session.scalars(select(Channel.code).order_by(Channel.code)))


def parse_aliases(text: str) -> dict[str, str]:
    """`channel SKU = our SKU` (or `→`, `,`) one a line; raises ServiceError naming the bad line."""
    aliases: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = re.split(r"\s*(?:=|→|->|,)\s*", line.strip(), maxsplit=1)
        if len(parts) != 2 or not all(parts):
            raise ServiceError(f"Alias line {number} should read `channel SKU = our SKU`.", field="sku_aliases")
        aliases[parts[0]] = parts[1]
    return aliases


def aliases_text(aliases: dict[str, str]) -> str:
    return "\n".join(f"{theirs} = {ours}" for theirs, ours in sorted(aliases.items()))


def save_channel(code: str | None, change: ChannelChange, actor: User | str) -> Channel:
    """Create (code given, not yet stored) or update a channel; one audit entry, secrets only as "changed"."""
    if change.kind not in CHANNEL_KINDS:
        raise ServiceError(f"Kind must be one of {', '.join(CHANNEL_KINDS)}.", field="kind")
    if not change.name.strip():
        raise ServiceError("Give the channel a name people recognise.", field="name")
    countries = sorted({c.strip().upper() for c in re.split(r"[\s,]+", change.allowed_countries) if c.strip()})
    bad = [c for c in countries if not _COUNTRY.fullmatch(c)]
    if bad:
        raise ServiceError(f"{', '.join(bad)}: countries are two-letter ISO codes (US, DE, GB).", field="allowed_countries")
    for name in (*change.required_fields, *change.express_required_fields):
        if name not in REQUIRABLE_FIELDS:
            raise ServiceError(f"{name} cannot be required; choose from {', '.join(REQUIRABLE_FIELDS)}.",
                               field="required_fields")
    aliases = parse_aliases(change.sku_aliases)
    missing = sorted(set(aliases.values()) - set(db.session.scalars(select(Product.sku).where(Product.sku.in_(aliases.values())))))
    if missing:
        raise ServiceError(f"{', '.join(missing)} is not one of our SKUs.", field="sku_aliases")
    publishing = _publishing(change)
    base_url = change.base_url.strip().rstrip("/") or None
    if base_url and not base_url.startswith(("http://", "https://")):
        raise ServiceError("The store address starts with https:// (or http:// for a test shop).", field="base_url")
    channel = db.session.scalar(select(Channel).where(Channel.code == code)) if code else None
    created = channel is None
    if created:
        code = (code or "").strip().lower()
        if not _CODE.fullmatch(code):
            raise ServiceError("A code is lower-case letters, digits, - or _ (up to 32).", field="code")
        channel = Channel(code=code, kind=change.kind, name=change.name.strip())
        db.session.add(channel)
    before = _snapshot(channel) if not created else {}
    channel.kind, channel.name, channel.active = change.kind, change.name.strip(), change.active
    channel.allowed_countries, channel.accept_test_orders = countries, change.accept_test_orders
    channel.required_fields = list(dict.fromkeys(change.required_fields))
    channel.express_required_fields = list(dict.fromkeys(change.express_required_fields))
    channel.sku_aliases, channel.base_url = aliases, base_url
    for name, value in publishing.items():
        setattr(channel, name, value)
    stored = channel.credentials if not created else {}
    updated = {**stored, **{k: v.strip() for k, v in change.secrets.items() if k in CHANNEL_SECRETS and v and v.strip()}}
    for name in change.clear:
        updated.pop(name, None)
    secrets_changed = sorted(name for name in CHANNEL_SECRETS if stored.get(name) != updated.get(name))
    if secrets_changed:
        channel.credentials = updated
    after = _snapshot(channel)
    changes = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
    changes.update({name: ("set" if stored.get(name) else None, "changed" if updated.get(name) else "cleared")
                    for name in secrets_changed})
    audit.record(actor, "channel.created" if created else "channel.updated", "channel", channel.code, changes)
    if not created and "sku_aliases" in changes:
        _republish_realiased(channel, *changes["sku_aliases"])
    db.session.commit()
    log.info("channel_saved channel=%s created=%s fields=%s", channel.code, created, ",".join(sorted(changes)))
    return channel


def _republish_realiased(channel: Channel, before: dict, after: dict) -> None:
    """Products whose channel SKU changed are published afresh under the new one at the next run."""
    def theirs_by_ours(aliases: dict) -> dict[str, set[str]]:
        mapped: dict[str, set[str]] = {}
        for theirs, ours in (aliases or {}).items():
            mapped.setdefault(ours, set()).add(theirs)
        return mapped

    old, new = theirs_by_ours(before), theirs_by_ours(after)
    moved = sorted(sku for sku in set(old) | set(new) if old.get(sku) != new.get(sku))
    if moved:
        db.session.execute(update(ChannelListing).where(ChannelListing.channel_id == channel.id,
                                                        ChannelListing.sku.in_(moved)).values(published_qty=None)
                           .execution_options(synchronize_session=False))


def _publishing(change: ChannelChange) -> dict:
    """The publishing settings submitted, checked: a ratio from 0 to 1 (up to three decimals), whole safety units."""
    settings: dict = {}
    if change.publish_quantities is not None:
        settings["publish_quantities"] = change.publish_quantities
    if change.publish_ratio is not None:
        text = change.publish_ratio.strip().replace(",", ".").removesuffix("%").strip()
        try:
            ratio = Decimal(text)
        except InvalidOperation:
            ratio = None
        if ratio is None or not ratio.is_finite():
            raise ServiceError(f"The share to publish should be a number between 0 and 1, such as 0.9 (got "
                               f"“{change.publish_ratio.strip()}”).", field="publish_ratio")
        if change.publish_ratio.strip().endswith("%"):
            ratio = ratio / 100
        if not Decimal(0) <= ratio <= Decimal(1):
            raise ServiceError(f"The share to publish should be between 0 and 1 (0.9 is 90%); {ratio.normalize()} is not.",
                               field="publish_ratio")
        if ratio != ratio.quantize(Decimal("0.001")):
            raise ServiceError("The share to publish takes up to three decimals (0.875, not 0.8755).", field="publish_ratio")
        settings["publish_ratio"] = ratio.quantize(Decimal("0.001"))
    if change.publish_safety_units is not None:
        text = change.publish_safety_units.strip() or "0"
        if not re.fullmatch(r"-?\d+", text):
            raise ServiceError(f"Safety units are a whole number of units (got “{text}”).", field="publish_safety_units")
        units = int(text)
        if not 0 <= units <= 1_000_000:
            raise ServiceError("Safety units are 0 or more (and at most 1,000,000).", field="publish_safety_units")
        settings["publish_safety_units"] = units
    return settings


def new_token() -> str:
    """A bearer token for an API channel, shown once to the admin who generated it."""
    return "dd_" + secrets.token_urlsafe(24)


def _snapshot(channel: Channel) -> dict:
    return {"kind": channel.kind, "name": channel.name, "active": channel.active,
            "allowed_countries": list(channel.allowed_countries or []), "accept_test_orders": channel.accept_test_orders,
            "required_fields": list(channel.required_fields or []),
            "express_required_fields": list(channel.express_required_fields or []),
            "sku_aliases": dict(channel.sku_aliases or {}), "base_url": channel.base_url,
            "publish_quantities": channel.publish_quantities,
            "publish_ratio": None if channel.publish_ratio is None else str(Decimal(channel.publish_ratio).quantize(Decimal("0.001"))),
            "publish_safety_units": channel.publish_safety_units}
