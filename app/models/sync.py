"""Every stock sync run with a supplier: what was asked, what came back, what changed."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.supplier import Supplier
from app.models.types import UTCDateTime, utcnow

RUN_KINDS = ("full", "delta", "push", "upload", "realtime")
RUN_OUTCOMES = ("running", "succeeded", "failed", "held", "discarded", "skipped")


class SyncRun(db.Model):
    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_supplier_started", "supplier_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    kind: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))  # schedule, manual, push, upload, order
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_ms: Mapped[int | None] = mapped_column()
    pages: Mapped[int] = mapped_column(default=0)
    records_seen: Mapped[int] = mapped_column(default=0)
    changed: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    http_errors: Mapped[int] = mapped_column(default=0)
    error_reason: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    requests: Mapped[list] = mapped_column(JSON, default=list)  # request summaries, never secrets
    rejects: Mapped[list] = mapped_column(JSON, default=list)  # first rejects, for the supplier page
    held_records: Mapped[list | None] = mapped_column(JSON)  # a full feed held by the sanity guard

    supplier: Mapped[Supplier] = relationship()
