"""Readiness: can this process reach everything it needs?"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import queues
from app.extensions import db


@dataclass(frozen=True)
class Check:
    part: str
    ok: bool
    detail: str


def readiness() -> list[Check]:
    checks = []
    try:
        db.session.execute(text("SELECT 1"))
        checks.append(Check("database", True, db.engine.dialect.name))
    except SQLAlchemyError as error:
        db.session.rollback()
        checks.append(Check("database", False, type(error).__name__))
    try:
        queues.ping()
        checks.append(Check("redis", True, "reachable"))
    except Exception as error:  # any failure to reach Redis means not ready; the kind is enough to act on
        checks.append(Check("redis", False, type(error).__name__))
    return checks
