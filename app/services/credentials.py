"""Credentials at rest across every aggregate that stores them."""
from __future__ import annotations

import logging

from sqlalchemy import select

from app import vault
from app.extensions import db
from app.models import Channel, Supplier
from app.services import ServiceError, audit

log = logging.getLogger(__name__)


def rotate_all() -> int:
    """Re-encrypt every stored credential set with the newest key, in one transaction."""
    count = 0
    for supplier in db.session.scalars(select(Supplier).where(Supplier.credentials_ciphertext.is_not(None))):
        try:
            supplier.credentials_ciphertext = vault.rotate(supplier.credentials_ciphertext)
        except vault.VaultError as problem:
            db.session.rollback()
            raise ServiceError(f"Supplier {supplier.code}: {problem}") from None
        count += 1
    for channel in db.session.scalars(select(Channel).where(Channel.credentials_ciphertext.is_not(None))):
        try:
            channel.credentials_ciphertext = vault.rotate(channel.credentials_ciphertext)
        except vault.VaultError as problem:
            db.session.rollback()
            raise ServiceError(f"Channel {channel.code}: {problem}") from None
        count += 1
    audit.record("cli", "secrets.rotated", "credentials", "all", {"sets": (None, count)})
    db.session.commit()
    log.info("credentials_rotated sets=%s", count)
    return count
