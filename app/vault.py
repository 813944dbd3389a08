"""Credentials at rest: MultiFernet with the keys of SECRETS_KEYS, newest first."""
from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class VaultError(RuntimeError):
    """Stored credentials cannot be read with the configured keys (the message never holds them)."""


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in current_app.config["DROPDESK"].secrets_keys])


def encrypt(credentials: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()


def decrypt(ciphertext: str) -> dict[str, str]:
    try:
        return json.loads(_fernet().decrypt(ciphertext.encode()))
    except InvalidToken:
        raise VaultError(
            "Stored credentials cannot be decrypted with SECRETS_KEYS; "
            "was a retired key removed before `flask secrets rotate`?"
        ) from None


def rotate(ciphertext: str) -> str:
    """Re-encrypt with the newest key (reads with any configured key)."""
    try:
        return _fernet().rotate(ciphertext.encode()).decode()
    except InvalidToken:
        raise VaultError("Stored credentials cannot be decrypted with SECRETS_KEYS.") from None


def mask(secret: str) -> str:
    """Show that a secret is set without showing it."""
    return "••••••••" if secret else ""
