"""Stock pushed by suppliers: verify, store before anything else, then apply in a job."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import connectors, queues
from app.connectors import ConnectorError
from app.extensions import db
from app.models import InboundPayload, Supplier, SyncRun
from app.models.types import utcnow
from app.services import exceptions
from app.services.sync import apply_pull, connection_settings, record_pull

log = logging.getLogger(__name__)
SOURCE = "supplier_push"
KEPT_HEADERS = ("content-type", "user-agent", "x-webhook-id")
REQUEUE_AFTER = timedelta(minutes=2)
MAX_BODY = 5 * 1024 * 1024


@dataclass(frozen=True)
class PushAnswer:
    status: int
    body: dict


def receive_push(code: str, raw_body: bytes, headers) -> PushAnswer:
    """Answer a supplier's push at once: 401 on a bad signature, 200 for a duplicate, 202 once stored."""
    supplier = db.session.scalar(select(Supplier).where(Supplier.code == code))
    if supplier is None or supplier.connection_type != "push":
        return PushAnswer(404, {"error": f"no supplier {code} sends stock by push"})
    if len(raw_body) > MAX_BODY:
        return PushAnswer(413, {"error": "body larger than 5 MB"})
    settings = connection_settings(supplier)
    signature = headers.get(connectors.push_signature_header(settings))
    kept = {name: headers.get(name) for name in KEPT_HEADERS if headers.get(name)}
    body_text = raw_body.decode("utf-8", errors="replace")
    if not connectors.verify_push(raw_body, signature, connectors.push_secret(settings)):
        # Recorded, so a misconfigured secret shows up in the console, but never applied.
        db.session.add(InboundPayload(source=SOURCE, supplier_id=supplier.id, headers=kept, body=body_text,
                                      status="rejected", error="signature missing or wrong"))
        db.session.commit()
        log.warning("push_rejected supplier=%s reason=bad_signature", code)
        return PushAnswer(401, {"error": "signature missing or wrong"})
    delivery_id = headers.get(settings.options.get("delivery_id_header") or "X-Webhook-Id")
    payload = InboundPayload(source=SOURCE, delivery_id=delivery_id, supplier_id=supplier.id, headers=kept,
                             body=body_text, status="pending")
    db.session.add(payload)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        log.info("push_duplicate supplier=%s delivery=%s", code, delivery_id)
        return PushAnswer(200, {"status": "duplicate", "delivery_id": delivery_id})
    queues.enqueue("process_supplier_push", payload.id, queue=queues.HIGH)
    return PushAnswer(202, {"status": "accepted", "id": payload.id})


def process_push(payload_id: int) -> SyncRun | None:
    """Apply one stored push; a push that cannot be read becomes an exception item, its body kept."""
    payload = db.session.get(InboundPayload, payload_id)
    if payload is None or payload.status != "pending":
        return None  # processed already: a retried job changes nothing
    supplier = db.session.get(Supplier, payload.supplier_id)
    started = time.monotonic()
    payload.attempts += 1
    run = SyncRun(supplier_id=supplier.id, kind="push", trigger="push", started_at=utcnow())
    db.session.add(run)
    db.session.flush()
    try:
        pull = connectors.parse_push(payload.body.encode("utf-8"), connection_settings(supplier), payload.received_at)
    except ConnectorError as error:
        payload.status, payload.error = "failed", error.message
        run.outcome, run.error_reason, run.error_message = "failed", error.reason, error.message
        exceptions.raise_item("push_failed", error.reason, f"A stock push from {supplier.code} could not be read: {error.message}",
                              supplier=supplier, sync_run_id=run.id, payload={"inbound_payload_id": payload.id})
    else:
        record_pull(run, pull)
        apply_pull(supplier, run, pull, source="push", received_at=payload.received_at, guard=False)
        run.outcome = "succeeded"
        payload.status = "processed"
    run.finished_at = payload.processed_at = utcnow()
    run.duration_ms = int((time.monotonic() - started) * 1000)
    db.session.commit()
    return run


def requeue_forgotten() -> int:
    """Sweeper: stored pushes never processed (Redis lost the job, a worker died) are queued again."""
    cutoff = utcnow() - REQUEUE_AFTER
    ids = list(db.session.scalars(select(InboundPayload.id).where(InboundPayload.status == "pending",
                                                                  InboundPayload.received_at < cutoff)))
    for payload_id in ids:
        queues.enqueue("process_supplier_push", payload_id, queue=queues.HIGH)
    return len(ids)
