"""Record who changed what (invariant 6). Callers add the entry inside their own transaction."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, User
from app.services.paging import Page, keyset_page


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, (bool, int, float, str, list, dict)) else str(value)


def record(actor: User | str, action: str, entity_type: str, entity_id: object,
           changes: dict[str, tuple[Any, Any]] | None = None) -> AuditEntry:
    """Add an audit entry to the session; `actor` is a user, or a label such as "cli" or "system"."""
    entry = AuditEntry(
        actor_id=actor.id if isinstance(actor, User) else None,
        actor_label=actor.email if isinstance(actor, User) else actor,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        changes={name: [_plain(old), _plain(new)] for name, (old, new) in (changes or {}).items()},
    )
    db.session.add(entry)
    return entry


def list_entries(entity_type: str | None = None, actor: str | None = None, after: str | None = None,
                 per_page: int = 50) -> Page:
    """The audit log, newest first, a keyset page at a time (it only ever grows)."""
    query = select(AuditEntry, AuditEntry.at.label("sort_value"))
    if entity_type:
        query = query.where(AuditEntry.entity_type == entity_type)
    if actor:
        query = query.where(AuditEntry.actor_label == actor)
    return keyset_page(query, AuditEntry.at, AuditEntry.id, descending=True, after=after, per_page=per_page,
                       row_key=lambda row: (row.sort_value, row.AuditEntry.id))
