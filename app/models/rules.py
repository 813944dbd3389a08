"""Routing rule sets, versioned draft -> active -> archived, and their rules (ROUTING.md `rules[]`)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, utcnow
from app.models.user import User

RULE_SET_STATUSES = ("draft", "active", "archived")


class RuleSet(db.Model):
    __tablename__ = "rule_sets"
    __table_args__ = (
        # Exactly one active set: the database refuses a second, whatever a caller does.
        Index("uq_rule_sets_one_active", "status", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    note: Mapped[str | None] = mapped_column(String(200))  # what this version changes, in the author's words
    based_on_id: Mapped[int | None] = mapped_column(ForeignKey("rule_sets.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    activated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    rules: Mapped[list["RoutingRule"]] = relationship(back_populates="rule_set", cascade="all, delete-orphan",
                                                      order_by="RoutingRule.priority")
    based_on: Mapped["RuleSet | None"] = relationship(remote_side=[id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    activated_by: Mapped[User | None] = relationship(foreign_keys=[activated_by_id])

    def engine_rules(self) -> list[dict]:
        """The rules as ROUTING.md writes them, in priority order."""
        return [rule.as_scenario() for rule in self.rules]


class RoutingRule(db.Model):
    __tablename__ = "routing_rules"
    __table_args__ = (UniqueConstraint("rule_set_id", "priority"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_set_id: Mapped[int] = mapped_column(ForeignKey("rule_sets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    priority: Mapped[int] = mapped_column()
    enabled: Mapped[bool] = mapped_column(default=True)
    when: Mapped[dict] = mapped_column(JSON, default=dict)  # ROUTING.md conditions
    then: Mapped[dict] = mapped_column(JSON, default=dict)  # ROUTING.md actions

    rule_set: Mapped[RuleSet] = relationship(back_populates="rules")

    def as_scenario(self) -> dict:
        return {"name": self.name, "priority": self.priority, "enabled": self.enabled,
                "when": dict(self.when or {}), "then": dict(self.then or {})}
