"""Routing decisions: what the engine decided for an order, on which input and rule-set version, and why."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.order import Order
from app.models.rules import RuleSet
from app.models.types import Money, UTCDateTime, utcnow
from app.models.user import User

PREVIEW_STATUSES = ("queued", "running", "finished", "failed")


class RoutingDecision(db.Model):
    """Invariant 5: every candidate with the reason it was passed over, the rules that fired, the plan's costs."""

    __tablename__ = "routing_decisions"
    __table_args__ = (Index("ix_routing_decisions_order_created", "order_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    rule_set_id: Mapped[int | None] = mapped_column(ForeignKey("rule_sets.id"))
    rule_set_version: Mapped[int | None] = mapped_column()
    input_hash: Mapped[str] = mapped_column(String(64), index=True)  # sha256 of the canonical engine input
    engine_input: Mapped[dict] = mapped_column(JSON)  # the scenario the engine was given: re-run it to compare
    plan: Mapped[dict] = mapped_column(JSON)  # Decision.to_dict()
    trace: Mapped[list] = mapped_column(JSON, default=list)  # structured TraceEntry dicts, stale stock marked
    status: Mapped[str] = mapped_column(String(16))  # routed | manual_review
    reason: Mapped[str | None] = mapped_column(String(32))
    objective: Mapped[str] = mapped_column(String(24))
    optimal: Mapped[bool] = mapped_column(default=True)
    landed_cost: Mapped[Decimal | None] = mapped_column(Money())
    shipments: Mapped[int] = mapped_column(default=0)
    trigger: Mapped[str] = mapped_column(String(16), default="manual")  # manual, cli, order flow
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    order: Mapped[Order] = relationship()
    rule_set: Mapped[RuleSet | None] = relationship()


class RoutingPreview(db.Model):
    """A draft rule set replayed over recent orders against the active one, by a background job."""

    __tablename__ = "routing_previews"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_set_id: Mapped[int] = mapped_column(ForeignKey("rule_sets.id", ondelete="CASCADE"), index=True)
    baseline_rule_set_id: Mapped[int | None] = mapped_column(ForeignKey("rule_sets.id"))
    days: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="queued")
    job_id: Mapped[str | None] = mapped_column(String(64))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    summary: Mapped[dict] = mapped_column(JSON, default=dict)  # totals: orders, changed, cost delta, splits, unroutable
    rows: Mapped[list] = mapped_column(JSON, default=list)  # one per order whose outcome changes
    error: Mapped[str | None] = mapped_column(Text)

    rule_set: Mapped[RuleSet] = relationship(foreign_keys=[rule_set_id])
    requested_by: Mapped[User | None] = relationship()
