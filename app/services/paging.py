"""Keyset pagination: pages stay fast however far down a list grows (no OFFSET scans)."""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, func, or_, select

from app.extensions import db
from app.services import ServiceError

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1)  # stands in for a missing time so sort keys are never NULL


# Lists count their rows only this far: a count is the one part of a page whose cost grows with the table
# (a filtered count of 200,000 stock rows took most of a page), and past this "10,000+" says enough.
COUNT_LIMIT = 10_000


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    per_page: int
    next_cursor: str | None
    first: bool
    total_is_at_least: bool = False  # the list holds more than `total` rows (counting stopped at COUNT_LIMIT)

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, Decimal):
        return {"dec": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and "dt" in value:
        return datetime.fromisoformat(value["dt"])
    if isinstance(value, dict) and "dec" in value:
        return Decimal(value["dec"])
    return value


def encode_cursor(sort_value: Any, row_id: int) -> str:
    raw = json.dumps([_encode_value(sort_value), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort_value, row_id = json.loads(raw)
        return _decode_value(sort_value), int(row_id)
    except (binascii.Error, ValueError, TypeError):
        raise ServiceError("That page link is no longer valid; start again from the first page.", field="after") from None


def keyset_page(query: Select, sort_expr, id_column, *, descending: bool, after: str | None,
                per_page: int, row_key=None) -> Page:
    """One page of `query` ordered by (`sort_expr`, `id_column`), starting after `after`.

    `sort_expr` must never be NULL (wrap nullable columns in coalesce); `row_key(row)` gives
    the (sort value, id) of a result row for the next cursor.
    """
    counted = db.session.scalar(select(func.count()).select_from(query.order_by(None).limit(COUNT_LIMIT + 1).subquery()))
    total, more = min(counted, COUNT_LIMIT), counted > COUNT_LIMIT
    page_query = query
    if after:
        value, row_id = decode_cursor(after)
        if descending:
            page_query = page_query.where(or_(sort_expr < value, and_(sort_expr == value, id_column < row_id)))
        else:
            page_query = page_query.where(or_(sort_expr > value, and_(sort_expr == value, id_column > row_id)))
    order = (sort_expr.desc(), id_column.desc()) if descending else (sort_expr.asc(), id_column.asc())
    rows = list(db.session.execute(page_query.order_by(*order).limit(per_page + 1)))
    next_cursor = None
    if len(rows) > per_page:
        rows = rows[:per_page]
        next_cursor = encode_cursor(*row_key(rows[-1]))
    return Page(items=rows, total=total, per_page=per_page, next_cursor=next_cursor, first=not after,
                total_is_at_least=more)
