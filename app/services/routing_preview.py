"""Preview impact: replay recent orders under a draft rule set and under the active one, and compare.

Both sides are routed on the same live data in the same run, so every difference comes from the
rules and nothing else. Runs in a background job; the page shows its progress, then the table.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import queues
from app.extensions import db
from app.models import Order, RoutingPreview, RuleSet
from app.models.types import utcnow
from app.services import ServiceError, routing
from app.services.rule_sets import get_rule_set

log = logging.getLogger(__name__)

DEFAULT_DAYS = 14
MAX_DAYS = 90
JOB_SECONDS = 15 * 60
PER_PAGE = 50


def start_preview(rule_set_id: int, days: int, actor) -> RoutingPreview:
    """Queue the replay of the last `days` days of orders under this draft."""
    rule_set = get_rule_set(rule_set_id)
    if rule_set.status != "draft":
        raise ServiceError("Only a draft is previewed: the active set is what the preview compares with.")
    if not 1 <= days <= MAX_DAYS:
        raise ServiceError(f"Replay between 1 and {MAX_DAYS} days of orders.", field="days")
    active = routing.active_rule_set()
    preview = RoutingPreview(rule_set_id=rule_set.id, baseline_rule_set_id=active.id if active else None, days=days,
                             requested_by_id=getattr(actor, "id", None))
    db.session.add(preview)
    db.session.commit()
    # Commit first: the worker (another process) must find the row.
    preview.job_id = queues.enqueue("preview_rule_set", preview.id, timeout=JOB_SECONDS,
                                    description=f"Preview rule set v{rule_set.version}, {days} days")
    db.session.commit()
    return preview


def get_preview(preview_id: int) -> RoutingPreview:
    preview = db.session.get(RoutingPreview, preview_id)
    if preview is None:
        raise ServiceError(f"No preview with id {preview_id}.")
    return preview


def latest_preview(rule_set_id: int) -> RoutingPreview | None:
    return db.session.scalar(select(RoutingPreview).where(RoutingPreview.rule_set_id == rule_set_id)
                             .order_by(RoutingPreview.id.desc()).limit(1))


def run_preview(preview_id: int, progress: Callable[[int, str], None]) -> dict:
    """Route every order of the window under both sets and store what changes."""
    preview = get_preview(preview_id)
    draft = get_rule_set(preview.rule_set_id)
    baseline = db.session.get(RuleSet, preview.baseline_rule_set_id) if preview.baseline_rule_set_id else None
    preview.status = "running"
    db.session.commit()
    since = utcnow() - timedelta(days=preview.days)
    orders = list(db.session.scalars(select(Order).where(Order.placed_at >= since)
                                     .options(selectinload(Order.lines)).order_by(Order.placed_at, Order.id)))
    progress(2, f"Reading supplier data for {len(orders):,} orders…")
    skus = {line.sku for order in orders for line in order.lines if line.sku}
    network = routing.load_network(skus)
    before_rules = baseline.engine_rules() if baseline else []
    after_rules = draft.engine_rules()

    rows: list[dict[str, Any]] = []
    totals = {"orders": len(orders), "compared": 0, "skipped": 0, "changed": 0, "changed_supplier": 0,
              "became_unroutable": 0, "became_routable": 0, "split_before": 0, "split_after": 0,
              "cost_before": Decimal(0), "cost_after": Decimal(0)}
    for index, order in enumerate(orders, start=1):
        try:
            engine_order = routing.order_input(order)
        except ServiceError:
            totals["skipped"] += 1
            continue
        before = routing.decide(engine_order, before_rules, network).plan
        after = routing.decide(engine_order, after_rules, network).plan
        totals["compared"] += 1
        row = compare(order, before, after)
        totals["split_before"] += len(before.get("shipments") or []) > 1
        totals["split_after"] += len(after.get("shipments") or []) > 1
        if before["status"] == after["status"] == "routed":
            totals["cost_before"] += Decimal(str(before["landed_cost"]))
            totals["cost_after"] += Decimal(str(after["landed_cost"]))
        if row["changes"]:
            totals["changed"] += 1
            totals["changed_supplier"] += "supplier" in row["changes"]
            totals["became_unroutable"] += "unroutable" in row["changes"]
            totals["became_routable"] += "routable" in row["changes"]
            rows.append(row)
        if index % 20 == 0 or index == len(orders):
            progress(2 + int(96 * index / max(len(orders), 1)), f"Replayed {index:,} of {len(orders):,} orders")
    totals["cost_delta"] = totals["cost_after"] - totals["cost_before"]
    preview.summary = {key: str(value) if isinstance(value, Decimal) else value for key, value in totals.items()}
    preview.rows = rows
    preview.status, preview.finished_at = "finished", utcnow()
    db.session.commit()
    message = (f"{totals['compared']:,} orders replayed: {totals['changed']:,} change, "
               f"{totals['became_unroutable']:,} become unroutable.")
    log.info("routing_preview_finished preview=%s rule_set=%s orders=%s changed=%s", preview.id, draft.id,
             totals["compared"], totals["changed"])
    return {"message": message, "preview": preview.id}


def compare(order: Order, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """One order's outcome under the active set and under the draft, and what kinds of change it shows."""
    changes = []
    routed_before, routed_after = before["status"] == "routed", after["status"] == "routed"
    if routed_before and not routed_after:
        changes.append("unroutable")
    elif routed_after and not routed_before:
        changes.append("routable")
    elif routed_before and routed_after:
        if routing.line_suppliers(before) != routing.line_suppliers(after):
            changes.append("supplier")
        if len(before["shipments"]) != len(after["shipments"]):
            changes.append("split")
        if before["landed_cost"] != after["landed_cost"]:
            changes.append("cost")
        if before["delivery_days"] != after["delivery_days"]:
            changes.append("days")
    elif before.get("reason") != after.get("reason"):
        changes.append("reason")
    delta = None
    if routed_before and routed_after:
        delta = str(Decimal(str(after["landed_cost"])) - Decimal(str(before["landed_cost"])))
    return {
        "order_id": order.id, "order": order.label, "country": order.ship_to_country,
        "placed_at": order.placed_at.isoformat() if order.placed_at else None,
        "before": _outcome(before), "after": _outcome(after), "cost_delta": delta, "changes": changes,
    }


def _outcome(plan: dict[str, Any]) -> dict[str, Any]:
    if plan["status"] != "routed":
        return {"status": plan["status"], "reason": plan.get("reason"), "suppliers": "", "shipments": 0,
                "landed_cost": None, "delivery_days": None}
    return {"status": "routed", "reason": None, "suppliers": routing.suppliers_of(plan),
            "shipments": len(plan["shipments"]), "landed_cost": str(plan["landed_cost"]),
            "delivery_days": plan["delivery_days"]}


def preview_rows(preview: RoutingPreview, page: int = 1) -> tuple[list[dict[str, Any]], int]:
    """One page of the changed orders (the list is bounded by the window, so pages by number), and the page count."""
    rows = preview.rows or []
    pages = max(1, -(-len(rows) // PER_PAGE))
    page = min(max(page, 1), pages)
    return rows[(page - 1) * PER_PAGE:page * PER_PAGE], pages
