"""The order's life after intake: routed and reserved, placed at each supplier, followed to the parcel.

An accepted order is routed under the active rule set, its plan reserved all or nothing and split into one
supplier order per shipment, in one transaction. A job sends each supplier order through the supplier's
connector under an idempotency key fixed when the row was made, so a retried or duplicated job never places
it twice. A refusal, or no answer after DISPATCH_ATTEMPTS, releases that shipment's reservations and
reroutes its lines without that supplier; when nothing can take them the order waits for a person
(manual review), with the routing trace on its exception item. Periodic jobs follow acknowledged orders
to shipment and delivery, put unanswered or mismatched ones in front of a person, and resend dispatches a
dead worker left behind.

Every transition is a conditional UPDATE from the states it may come from, taken after the order's row is
locked (FOR UPDATE on PostgreSQL; SQLite serializes writers), so duplicate jobs and concurrent shipments of
one order change each thing once. The supplier is never called inside a transaction.
"""
from __future__ import annotations

import logging
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select, update

from app import connectors, queues
from app.connectors import ConnectorError, RetryPolicy
from app.connectors.orders import SupplierOrderAnswer, SupplierOrderRequest
from app.domain import fulfilment as flow
from app.domain.fulfilment import LIVE_STATES
from app.extensions import db
from app.models import (
    ExceptionItem,
    Order,
    OrderEvent,
    OrderLine,
    Reservation,
    ReservationEvent,
    RuleSet,
    Supplier,
    SupplierOrder,
)
from app.models.fulfilment import FAILED_SUPPLIER_ORDER_STATES, OPEN_SUPPLIER_ORDER_STATES
from app.models.types import utcnow
from app.services import ServiceError, audit, exceptions, inventory, leases, routing, sync
from app.services.inventory import Hold, ReservationRefused
from app.services.routing import RoutedOrder, RoutingNetwork

log = logging.getLogger(__name__)

# Exception kinds that hold an order for a person (manual review): reroute by hand or cancel from the item.
MANUAL_REVIEW_KINDS = ("unroutable", "supplier_rejected", "supplier_timeout")
ORDER_ITEM_KINDS = (*MANUAL_REVIEW_KINDS, "stockout_reroute", "reconciliation")
# Orders whose unplaced lines may be routed again (not cancelled, not before intake finished).
REROUTABLE = ("routed", "awaiting_supplier", "confirmed", "partially_shipped", "shipped", "manual_review")
RESERVE_ATTEMPTS = 3  # a plan refused at reservation is routed again on fresh figures this many times
STUCK_AFTER = timedelta(minutes=10)  # a dispatch with no attempt for this long was lost with its worker
FOLLOW_SHIPPED_FOR = timedelta(days=30)  # a shipped parcel is asked about until delivered, this long at most
RECONCILE_LOOKBACK = timedelta(days=2)  # acknowledgements the hourly reconciliation compares with what we sent
LEASE_KEY = "dropdesk:dispatch:{}"


@dataclass(frozen=True)
class FulfilmentOutcome:
    status: str  # routed, manual_review, skipped
    order_id: int
    supplier_order_ids: tuple[int, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class FallBack:
    status: str  # rerouted, manual_review, skipped (already handled by another job)
    supplier_order_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class CancelOutcome:
    status: str  # cancelled, already_cancelled
    order_id: int
    cancelled: tuple[int, ...] = ()  # supplier orders cancelled (at the supplier, or before they were sent)
    kept: tuple[int, ...] = ()  # already shipped: they stay, their reservations are consumed when they ship
    failed: tuple[int, ...] = ()  # the supplier could not be reached: a reconciliation item says so


@dataclass(frozen=True)
class RerouteOption:
    """One supplier ops may choose for the lines waiting on a person, with what it would cost and why not."""

    supplier_code: str
    supplier_name: str
    landed_cost: Decimal | None
    delivery_days: int | None
    lines: tuple[dict, ...]
    trace: list[dict]
    feasible: bool
    reason: str | None


@dataclass(frozen=True)
class FlowCounts:
    """The ops home's flow panel."""

    received_today: int
    routed_today: int
    awaiting_supplier: int
    shipped_today: int
    manual_review: int
    exceptions_by_kind: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Placement:
    status: str  # placed, unroutable, skipped
    supplier_order_ids: tuple[int, ...] = ()
    routed: RoutedOrder | None = None
    rule_set: RuleSet | None = None
    reason: str | None = None
    message: str = ""


def _settings():
    return current_app.config["DROPDESK"]


# --- routing and reserving -----------------------------------------------------------------------


# One placement attempt tries twice at most: the resends with backoff (DISPATCH_ATTEMPTS) are what carry a
# supplier through a bad patch, and a worker must not sit through four 10-second timeouts per attempt.
SUPPLIER_CALL_POLICY = RetryPolicy(attempts=2, base_seconds=0.5, cap_seconds=5.0, retry_after_cap_seconds=10.0)


def supplier_call_policy() -> RetryPolicy:
    """How hard one call to a supplier's order desk tries (tests make every supplier call quick through
    SYNC_RETRY_POLICY)."""
    return current_app.config.get("SYNC_RETRY_POLICY") or SUPPLIER_CALL_POLICY


def fulfils_on_accept() -> bool:
    """Whether intake hands accepted orders on. The test app (TESTING) does only when FULFIL_ON_ACCEPT is set:
    its queue runs jobs inline, so every test of intake alone would route, reserve and dispatch as well."""
    return bool(current_app.config.get("FULFIL_ON_ACCEPT", not current_app.testing))


def fulfil_later(order_id: int) -> None:
    """Intake accepted an order (and committed): queue its fulfilment. An enqueue lost to Redis is picked up
    by the sweeper."""
    if not fulfils_on_accept():
        return
    try:
        queues.enqueue("fulfil_order", order_id, description=f"Fulfil order {order_id}")
    except RedisError as error:
        log.warning("fulfil_enqueue_failed order=%s error=%s", order_id, type(error).__name__)


def fulfil_order(order_id: int) -> FulfilmentOutcome:
    """An accepted order: route it, check stale figures live, reserve the plan and make its supplier orders,
    then queue their dispatch. Anything but an accepted order is left alone (a repeated job changes nothing)."""
    order = db.session.get(Order, order_id)
    if order is None or order.status != "accepted":
        db.session.rollback()
        return FulfilmentOutcome("skipped", order_id, message="Not an accepted order.")
    line_ids = [line.id for line in order.lines]
    placed = _place_lines(order_id, line_ids, exclude=_failed_suppliers(order_id), allowed=("accepted",),
                          actor="job fulfil", trigger="order flow", event_kind="routed")
    if placed.status == "placed":
        _dispatch_soon(placed.supplier_order_ids)
        return FulfilmentOutcome("routed", order_id, placed.supplier_order_ids, placed.message)
    if placed.status == "skipped":
        return FulfilmentOutcome("skipped", order_id, message=placed.message)
    _hold_for_review(order_id, line_ids, placed, kind="unroutable", allowed=("accepted",))
    return FulfilmentOutcome("manual_review", order_id, message=placed.message)


def _place_lines(order_id: int, line_ids: list[int], *, exclude: set[str], allowed: tuple[str, ...], actor: str,
                 trigger: str, event_kind: str, only: str | None = None) -> _Placement:
    """Route these lines and hold the plan, routing again on fresh figures when a reservation is refused."""
    last: _Placement | None = None
    for attempt in range(1, RESERVE_ATTEMPTS + 1):
        db.session.expire_all()
        order = db.session.get(Order, order_id)
        lines = [line for line in order.lines if line.id in set(line_ids)]
        try:
            rule_set, routed, network = _decide(order, lines, exclude=exclude, only=only)
            if routed.decision.plan is not None and _checked_live(routed, network):
                rule_set, routed, network = _decide(order, lines, exclude=exclude, only=only)
        except ServiceError as problem:
            return _Placement("unroutable", reason="not_routable", message=problem.message)
        if routed.decision.plan is None:
            return _Placement("unroutable", routed=routed, rule_set=rule_set, reason=str(routed.decision.reason),
                              message=f"No supplier can take it ({routed.decision.reason}).")
        try:
            ids = _reserve_and_create(order_id, line_ids, rule_set, routed, network, allowed=allowed, actor=actor,
                                      trigger=trigger, event_kind=event_kind)
        except ReservationRefused as refused:
            db.session.rollback()
            last = _Placement("unroutable", routed=routed, rule_set=rule_set, reason="reservation_refused",
                              message=refused.message)
            _add_event(order_id, "reserve_retry", "system",
                       f"Reservation refused ({refused.message}); routing again on fresh figures "
                       f"(attempt {attempt} of {RESERVE_ATTEMPTS}).",
                       {"supplier_id": refused.hold.supplier_id, "supplier_sku": refused.hold.supplier_sku,
                        "wanted": refused.hold.qty, "available": refused.available, "attempt": attempt})
            db.session.commit()
            log.info("reserve_retry order=%s attempt=%s sku=%s", order_id, attempt, refused.hold.supplier_sku)
            continue
        if ids is None:
            return _Placement("skipped", message="Another job routed these lines first.")
        return _Placement("placed", tuple(ids), routed=routed, rule_set=rule_set,
                          message=f"Routed to {routing.suppliers_of(routed.plan)}.")
    return last


def _decide(order: Order, lines: list[OrderLine], *, exclude: set[str], only: str | None
            ) -> tuple[RuleSet | None, RoutedOrder, RoutingNetwork]:
    """The engine's decision for some lines of an order, without the suppliers that failed it (or with one only)."""
    engine_order = routing.order_input(order)
    wanted = Counter()
    for line in lines:
        wanted[line.sku] += line.qty
    engine_order["lines"] = [{**line, "qty": wanted[line["sku"]]} for line in engine_order["lines"] if line["sku"] in wanted]
    if not engine_order["lines"]:
        raise ServiceError(f"Order {order.label} has no lines left to route.")
    rule_set = routing.active_rule_set()
    rules = rule_set.engine_rules() if rule_set else []
    if exclude and only is None:
        rules = [*rules, {"name": "Suppliers that refused or did not answer this order", "then": {"exclude": sorted(exclude)}}]
    network = routing.load_network(wanted)
    if only is not None:
        network = RoutingNetwork({code: supplier for code, supplier in network.suppliers.items() if code == only},
                                 {key: stale for key, stale in network.stale.items() if key[0] == only},
                                 network.taken_at, network.offer_keys)
    return rule_set, routing.decide(engine_order, rules, network), network


def _checked_live(routed: RoutedOrder, network: RoutingNetwork) -> bool:
    """Figures the plan relies on that are older than the freshness budget, checked live where the supplier
    can answer for a few SKUs: True when a check changed any figure (the order is routed again)."""
    stale: dict[int, list[str]] = {}
    for shipment in routed.decision.plan.shipments:
        for line in shipment.lines:
            if (shipment.supplier, line.sku) in network.stale:
                supplier_id, supplier_sku = network.offer_keys[(shipment.supplier, line.sku)]
                stale.setdefault(supplier_id, []).append(supplier_sku)
    changed = False
    for supplier_id, skus in stale.items():
        run = sync.ensure_fresh(supplier_id, skus)
        changed = changed or (run is not None and run.outcome == "succeeded" and bool(run.changed))
    return changed


def _reserve_and_create(order_id: int, line_ids: list[int], rule_set: RuleSet | None, routed: RoutedOrder,
                        network: RoutingNetwork, *, allowed: tuple[str, ...], actor: str, trigger: str,
                        event_kind: str) -> list[int] | None:
    """In one transaction: the decision, one supplier order per shipment, every line held. None (nothing
    written) when the order left `allowed` or its lines were placed by someone else meanwhile."""
    order = _locked_order(order_id)
    if order is None or order.status not in allowed or not set(line_ids) <= {line.id for line in _unplaced(order)}:
        db.session.rollback()
        return None
    decision = routing.store_decision(order, rule_set, routed, trigger)
    by_sku: dict[str, list[OrderLine]] = {}
    for line in order.lines:
        if line.id in set(line_ids):
            by_sku.setdefault(line.sku, []).append(line)
    created: list[SupplierOrder] = []
    holds: list[Hold] = []
    entries: list[tuple[SupplierOrder, OrderLine, str]] = []
    for shipment in routed.decision.plan.shipments:
        supplier_id = network.offer_keys[(shipment.supplier, shipment.lines[0].sku)][0]
        supplier_order = SupplierOrder(order_id=order.id, routing_decision_id=decision.id, supplier_id=supplier_id,
                                       idempotency_key=f"new-{secrets.token_hex(8)}", status="pending",
                                       carrier=shipment.carrier, service=shipment.service,
                                       landed_cost=shipment.landed_cost, lines=[])
        db.session.add(supplier_order)
        db.session.flush()
        supplier_order.idempotency_key = f"DD-{order.id}-{supplier_order.id}"  # fixed for good: every attempt sends it
        created.append(supplier_order)
        for planned in shipment.lines:
            _, supplier_sku = network.offer_keys[(shipment.supplier, planned.sku)]
            for line in by_sku[planned.sku]:
                holds.append(Hold(supplier_id, supplier_sku, line.qty, order_line_id=line.id,
                                  supplier_order_id=supplier_order.id))
                entries.append((supplier_order, line, supplier_sku))
    suppliers = routing.suppliers_of(routed.plan)
    reservation_ids = inventory.hold_plan(holds, order_id=order.id, cause=f"order {order.label} routed to {suppliers}")
    for (supplier_order, line, supplier_sku), reservation_id in zip(entries, reservation_ids):
        supplier_order.lines = [*supplier_order.lines, {"order_line_id": line.id, "sku": line.sku,
                                                        "supplier_sku": supplier_sku, "qty": line.qty,
                                                        "reservation_id": reservation_id}]
    plan = routed.decision.plan
    verb = "Routed" if event_kind == "routed" else "Rerouted"
    _add_event(order.id, event_kind, actor,
               f"{verb} to {suppliers}: landed cost {plan.landed_cost:.2f}, {len(plan.shipments)} shipment(s)"
               + (f", rule set v{rule_set.version}" if rule_set else ""),
               {"decision": decision.id, "supplier_orders": [s.id for s in created],
                "suppliers": [s.supplier for s in plan.shipments]})
    units = sum(hold.qty for hold in holds)
    _add_event(order.id, "reserved", "system",
               f"{units} unit{'' if units == 1 else 's'} held: "
               + ", ".join(f"{hold.qty} × {hold.supplier_sku}" for hold in holds),
               {"reservations": reservation_ids})
    _settle(order)
    db.session.commit()
    log.info("order_placed order=%s decision=%s supplier_orders=%s suppliers=%s", order.id, decision.id,
             [s.id for s in created], suppliers)
    return [s.id for s in created]


def _hold_for_review(order_id: int, line_ids: list[int], placed: _Placement, *, kind: str,
                     allowed: tuple[str, ...], failed: list[dict] | None = None) -> bool:
    """Nothing can take these lines: the order waits for a person, the trace on its exception item."""
    order = _locked_order(order_id)
    if order is None or order.status not in allowed:
        db.session.rollback()
        return False
    decision = None
    if placed.routed is not None:
        decision = routing.store_decision(order, placed.rule_set, placed.routed, "order flow")
    lines = [{"order_line_id": line.id, "sku": line.sku, "qty": line.qty} for line in order.lines if line.id in set(line_ids)]
    reason_code = placed.reason or "no_plan"
    failed = failed or []
    because = "; ".join(f"{entry['supplier']} {entry['status'].replace('_', ' ')}" for entry in failed)
    reason = (f"Order {order.label}: {placed.message}" + (f" After: {because}." if because else "")
              + " Reroute by hand or cancel.")
    payload = {"order_id": order.id, "lines": lines, "failed": failed, "decision_id": decision.id if decision else None,
               "trace": placed.routed.trace if placed.routed else [],
               "plan": placed.routed.plan if placed.routed else {"status": "manual_review", "reason": reason_code}}
    item = _raise_order_item(order, kind, reason_code, reason, payload,
                             supplier_id=_supplier_id(failed[-1]["supplier"]) if failed else None)
    order.status = "manual_review"
    _add_event(order.id, "manual_review", "system", reason, {"item": item.id, "reason": reason_code, "lines": lines})
    db.session.commit()
    log.info("order_manual_review order=%s reason=%s kind=%s", order.id, reason_code, kind)
    return True


# --- dispatch ------------------------------------------------------------------------------------


def _dispatch_soon(supplier_order_ids) -> None:
    for supplier_order_id in supplier_order_ids:
        queues.enqueue("dispatch_supplier_order", supplier_order_id, description=f"Dispatch supplier order {supplier_order_id}")


def dispatch_supplier_order(supplier_order_id: int) -> str:
    """One attempt to place a supplier order. No answer: resend later with backoff (same key); refused or out
    of attempts: fall back. Returns what happened (acknowledged, retrying, refused, timed_out, in_flight, …)."""
    with leases.exclusive(LEASE_KEY.format(supplier_order_id)) as mine:
        if not mine:  # another worker is sending it right now; it finishes the job
            return "in_flight"
        step = _attempt(supplier_order_id)
    if step.retry_in is not None:
        queues.enqueue("dispatch_supplier_order", supplier_order_id, delay_seconds=step.retry_in,
                       description=f"Dispatch supplier order {supplier_order_id} (again)")
    if step.fall_back is not None:
        reason, cause = step.fall_back
        fall_back(supplier_order_id, reason, cause)
    if step.cancel_ref is not None:
        _cancel_late_acceptance(supplier_order_id, step.cancel_ref)
    return step.outcome


@dataclass(frozen=True)
class _Step:
    outcome: str
    retry_in: float | None = None
    fall_back: tuple[str, str] | None = None
    cancel_ref: str | None = None


def _attempt(supplier_order_id: int) -> _Step:
    db.session.expire_all()
    supplier_order = db.session.get(SupplierOrder, supplier_order_id)
    if supplier_order is None:
        return _Step("missing")
    if supplier_order.status not in ("pending", "sent"):
        return _Step(supplier_order.status)  # answered already: a duplicate or retried job changes nothing
    supplier = supplier_order.supplier
    settings = sync.connection_settings(supplier)
    if not connectors.supports_orders(settings):
        return _no_order_api(supplier_order_id)
    order = _locked_order(supplier_order.order_id)
    if order is None:
        db.session.rollback()
        return _Step("missing")
    claimed = db.session.execute(
        update(SupplierOrder).where(SupplierOrder.id == supplier_order_id, SupplierOrder.status.in_(("pending", "sent")))
        .values(status="sent", attempts=SupplierOrder.attempts + 1, sent_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    if not claimed or order.status == "cancelled":
        db.session.rollback()
        return _Step("skipped")
    db.session.refresh(supplier_order)
    attempt = supplier_order.attempts
    if attempt == 1:
        _add_event(order.id, "sent_to_supplier", "job dispatch",
                   f"Sent to {supplier.code} under key {supplier_order.idempotency_key}.",
                   {"supplier_order": supplier_order_id, "supplier": supplier.code, "attempt": 1})
    _settle(order)
    db.session.commit()
    request = SupplierOrderRequest(key=supplier_order.idempotency_key, ship_to=_ship_to(order),
                                   service=supplier_order.service, lines=flow.supplier_lines(supplier_order.lines))
    try:
        answer = connectors.place_supplier_order(settings, request, policy=supplier_call_policy(),
                                                 token_cache=sync.RedisTokenCache())
    except ConnectorError as error:
        return _no_answer(supplier_order_id, attempt, error)
    if answer.outcome == "accepted":
        return _acknowledge(supplier_order_id, answer)
    if answer.outcome == "refused":
        return _Step("refused", fall_back=("refused", answer.message))
    # "cancelled": the supplier had this key and cancelled it since; it is not coming.
    return _Step("refused", fall_back=("refused", answer.message))


def _ship_to(order: Order) -> dict[str, Any]:
    return {name: getattr(order, f"ship_to_{name}") for name in
            ("name", "address1", "address2", "city", "region", "postal_code", "country", "phone")}


def _acknowledge(supplier_order_id: int, answer: SupplierOrderAnswer) -> _Step:
    supplier_order = db.session.get(SupplierOrder, supplier_order_id)
    order = _locked_order(supplier_order.order_id)
    now = utcnow()
    moved = db.session.execute(
        update(SupplierOrder).where(SupplierOrder.id == supplier_order_id, SupplierOrder.status.in_(("pending", "sent")))
        .values(status="acknowledged", supplier_ref=answer.supplier_ref, acknowledged_at=now, last_error=None,
                acknowledged_lines=[{"sku": sku, "qty": qty} for sku, qty in answer.lines])
        .execution_options(synchronize_session=False)).rowcount
    if not moved:
        db.session.rollback()
        db.session.refresh(supplier_order)
        if supplier_order.status == "cancelled":  # cancelled while the supplier was taking it: undo it there
            return _Step("cancelled", cancel_ref=answer.supplier_ref)
        return _Step(supplier_order.status)
    code = supplier_order.supplier.code
    inventory.confirm(_reservation_ids(supplier_order_id), at=now, cause=f"{code} acknowledged {answer.supplier_ref}",
                      commit=False)
    db.session.refresh(supplier_order)
    _add_event(order.id, "acknowledged", f"supplier {code}", f"{code} took the order as {answer.supplier_ref}.",
               {"supplier_order": supplier_order_id, "supplier_ref": answer.supplier_ref, "supplier": code})
    _settle(order)
    db.session.commit()
    log.info("supplier_order_acknowledged supplier_order=%s supplier=%s ref=%s", supplier_order_id, code,
             answer.supplier_ref)
    return _Step("acknowledged")


def _no_answer(supplier_order_id: int, attempt: int, error: ConnectorError) -> _Step:
    supplier_order = db.session.get(SupplierOrder, supplier_order_id)
    db.session.refresh(supplier_order)
    if supplier_order.status != "sent":
        db.session.rollback()
        return _Step(supplier_order.status)
    settings = _settings()
    supplier_order.last_error = f"{error.reason}: {error.message}"[:2000]
    code = supplier_order.supplier.code
    if attempt >= settings.dispatch_attempts:
        db.session.commit()
        return _Step("timed_out", fall_back=("timed_out", f"no answer after {attempt} attempts ({error.reason}): "
                                                          f"{error.message}"))
    delay = flow.resend_delay(attempt, settings.dispatch_backoff_seconds)
    _add_event(supplier_order.order_id, "sent_to_supplier", "job dispatch",
               f"Attempt {attempt} of {settings.dispatch_attempts} to {code} got no answer ({error.reason}); "
               f"sending again in {delay} s under the same key.",
               {"supplier_order": supplier_order_id, "attempt": attempt, "error": error.reason, "supplier": code})
    db.session.commit()
    log.warning("dispatch_no_answer supplier_order=%s supplier=%s attempt=%s reason=%s", supplier_order_id, code,
                attempt, error.reason)
    return _Step("retrying", retry_in=delay)


def _no_order_api(supplier_order_id: int) -> _Step:
    """A supplier we cannot send orders to by API: a person places it and records the reference."""
    supplier_order = db.session.get(SupplierOrder, supplier_order_id)
    order = _locked_order(supplier_order.order_id)
    db.session.refresh(supplier_order)
    code = supplier_order.supplier.code
    if supplier_order.last_error == "no order API":
        db.session.rollback()
        return _Step("manual")
    supplier_order.last_error = "no order API"
    _raise_order_item(order, "reconciliation", "no_order_api",
                      f"{code} takes no orders over an API: place supplier order {supplier_order.idempotency_key} "
                      f"for order {order.label} by hand.",
                      {"supplier_order": supplier_order.id, "lines": supplier_order.lines}, supplier_id=supplier_order.supplier_id)
    db.session.commit()
    return _Step("manual")


def _cancel_late_acceptance(supplier_order_id: int, supplier_ref: str) -> None:
    """The order was cancelled while the supplier was taking its shipment: cancel it there too."""
    supplier_order = db.session.get(SupplierOrder, supplier_order_id)
    supplier_order.supplier_ref = supplier_order.supplier_ref or supplier_ref
    db.session.commit()
    _cancel_at_supplier(supplier_order, "job dispatch")


# --- falling back --------------------------------------------------------------------------------


def fall_back(supplier_order_id: int, reason: str, cause: str) -> FallBack:
    """The supplier refused (reason "refused") or did not answer ("timed_out"): release the shipment's
    reservations, leave that supplier out for this order, and reroute its lines, or hold them for a person."""
    if reason not in FAILED_SUPPLIER_ORDER_STATES:
        raise ServiceError(f"Fall back because a supplier refused or timed out, not {reason!r}.")
    supplier_order = db.session.get(SupplierOrder, supplier_order_id)
    if supplier_order is None:
        raise ServiceError(f"No supplier order with id {supplier_order_id}.")
    order = _locked_order(supplier_order.order_id)
    moved = db.session.execute(
        update(SupplierOrder).where(SupplierOrder.id == supplier_order_id,
                                    SupplierOrder.status.in_(OPEN_SUPPLIER_ORDER_STATES))
        .values(status=reason, closed_at=utcnow(), last_error=cause[:2000])
        .execution_options(synchronize_session=False)).rowcount
    if not moved:
        db.session.rollback()
        return FallBack("skipped")
    db.session.refresh(supplier_order)
    code = supplier_order.supplier.code
    released = inventory.release(_reservation_ids(supplier_order_id), cause=f"{code} {reason.replace('_', ' ')}: {cause}"[:200],
                                 commit=False)
    words = "refused" if reason == "refused" else "did not answer"
    _add_event(order.id, reason, f"supplier {code}" if reason == "refused" else "job dispatch",
               f"{code} {words} ({cause}); {released} reservation(s) released.",
               {"supplier_order": supplier_order_id, "supplier": code, "cause": cause[:300]})
    if order.status == "cancelled":
        db.session.commit()
        return FallBack("skipped")
    db.session.commit()
    log.info("supplier_order_failed supplier_order=%s supplier=%s reason=%s", supplier_order_id, code, reason)

    return _reroute(order.id, [int(line["order_line_id"]) for line in supplier_order.lines], supplier_order)


def reroute_unplaced(order_id: int) -> FallBack:
    """Lines a failed shipment left without a supplier order (the worker died between a fall back's two steps):
    routed again without the suppliers that failed, or held for a person."""
    order = db.session.get(Order, order_id)
    if order is None or order.status not in REROUTABLE or order.status == "manual_review":
        db.session.rollback()
        return FallBack("skipped")
    lines = _unplaced(order)
    failed = db.session.scalar(select(SupplierOrder).where(SupplierOrder.order_id == order_id,
                                                           SupplierOrder.status.in_(FAILED_SUPPLIER_ORDER_STATES))
                               .order_by(SupplierOrder.closed_at.desc(), SupplierOrder.id.desc()).limit(1))
    if not lines or failed is None:
        db.session.rollback()
        return FallBack("skipped")
    return _reroute(order_id, [line.id for line in lines], failed)


def _reroute(order_id: int, line_ids: list[int], failed_order: SupplierOrder) -> FallBack:
    reason, code, cause = failed_order.status, failed_order.supplier.code, failed_order.last_error or ""
    words = "refused" if reason == "refused" else "did not answer"
    failed = _failed_entries(order_id)
    placed = _place_lines(order_id, line_ids, exclude={entry["supplier"] for entry in failed}, allowed=REROUTABLE,
                          actor="job dispatch", trigger="reroute", event_kind="rerouted")
    if placed.status == "placed":
        order = _locked_order(order_id)
        new_suppliers = routing.suppliers_of(placed.routed.plan)
        _raise_order_item(order, "stockout_reroute", reason,
                          f"{code} {words} for order {order.label}; its lines were rerouted to {new_suppliers}.",
                          {"order_id": order.id, "from": code, "to": new_suppliers, "cause": cause[:300],
                           "supplier_orders": list(placed.supplier_order_ids), "failed": failed},
                          supplier_id=failed_order.supplier_id)
        db.session.commit()
        _dispatch_soon(placed.supplier_order_ids)
        return FallBack("rerouted", placed.supplier_order_ids)
    if placed.status == "skipped":
        return FallBack("skipped")
    kind = "supplier_rejected" if reason == "refused" else "supplier_timeout"
    _hold_for_review(order_id, line_ids, placed, kind=kind, allowed=REROUTABLE, failed=failed)
    return FallBack("manual_review")


def reroute_options(order_id: int) -> list[RerouteOption]:
    """For the lines waiting on a person: what each supplier offering them would cost, or why it cannot."""
    order = routing.get_order(order_id)
    lines = _unplaced(order)
    if not lines:
        return []
    failed = {entry["supplier"]: entry["status"] for entry in _failed_entries(order.id)}
    network = routing.load_network(line.sku for line in lines)
    offering = sorted(code for code, supplier in network.suppliers.items()
                      if any(offer["sku"] in {line.sku for line in lines} for offer in supplier["offers"]))
    names = dict(db.session.execute(select(Supplier.code, Supplier.name).where(Supplier.code.in_(offering or [""]))).all())
    options = []
    for code in offering:
        _, routed, _ = _decide(order, lines, exclude=set(), only=code)
        plan = routed.decision.plan
        reason = None if plan else str(routed.decision.reason)
        if code in failed:
            reason = f"{failed[code]} this order" + (f"; {reason}" if reason else "")
        options.append(RerouteOption(
            supplier_code=code, supplier_name=names.get(code, code),
            landed_cost=plan.landed_cost if plan else None, delivery_days=plan.delivery_days if plan else None,
            lines=tuple({"sku": line.sku, "qty": line.qty} for shipment in (plan.shipments if plan else ())
                        for line in shipment.lines),
            trace=routed.trace, feasible=plan is not None, reason=reason))
    return sorted(options, key=lambda option: (not option.feasible, option.landed_cost or Decimal(0), option.supplier_code))


def reroute_by_hand(order_id: int, supplier_code: str, actor, *, exception_item_id: int | None = None) -> list[SupplierOrder]:
    """Ops chose the supplier for the lines waiting on a person: reserve there, close the item, dispatch."""
    if db.session.scalar(select(Supplier.id).where(Supplier.code == supplier_code)) is None:
        raise ServiceError(f"No supplier {supplier_code}.", field="supplier")
    return _route_waiting_lines(order_id, actor, only=supplier_code, exception_item_id=exception_item_id)


def route_again(order_id: int, actor, *, exception_item_id: int | None = None) -> list[SupplierOrder]:
    """Ops: route the lines waiting on a person again on today's figures, the suppliers that failed left out
    (stock came back, a supplier was resumed)."""
    return _route_waiting_lines(order_id, actor, only=None, exception_item_id=exception_item_id)


def _route_waiting_lines(order_id: int, actor, *, only: str | None, exception_item_id: int | None) -> list[SupplierOrder]:
    order = routing.get_order(order_id)
    if order.status == "cancelled":
        raise ServiceError(f"Order {order.label} is cancelled.")
    lines = _unplaced(order)
    if not lines:
        raise ServiceError(f"Every line of order {order.label} is already with a supplier.")
    who = getattr(actor, "email", str(actor))
    placed = _place_lines(order.id, [line.id for line in lines], exclude=set() if only else _failed_suppliers(order.id),
                          only=only, allowed=("accepted", *REROUTABLE), actor=who, trigger="by hand",
                          event_kind="rerouted")
    if placed.status != "placed":
        if only:
            raise ServiceError(f"{only} cannot take these lines: {placed.message}", field="supplier")
        raise ServiceError(f"Still no supplier can take these lines: {placed.message}")
    order = _locked_order(order.id)
    suppliers = routing.suppliers_of(placed.routed.plan)
    items = db.session.scalars(select(ExceptionItem).where(
        ExceptionItem.order_id == order.id, ExceptionItem.status == "open",
        (ExceptionItem.id == exception_item_id) if exception_item_id else ExceptionItem.kind.in_(MANUAL_REVIEW_KINDS))).all()
    for item in items:
        exceptions.close(item, actor, f"Rerouted by hand to {suppliers}." if only else f"Routed again: {suppliers}.")
    audit.record(actor, "order.rerouted", "order", order.id, {"suppliers": (None, suppliers)})
    _settle(order)
    db.session.commit()
    _dispatch_soon(placed.supplier_order_ids)
    return [db.session.get(SupplierOrder, supplier_order_id) for supplier_order_id in placed.supplier_order_ids]


# --- cancelling ----------------------------------------------------------------------------------


def cancel_order(order_id: int, actor, reason: str, *, data: dict | None = None) -> CancelOutcome:
    """Cancel an order (the channel or support): its unsent supplier orders at once, sent ones at the supplier
    unless shipped, every reservation that still counts released; each step on the timeline."""
    who = getattr(actor, "email", str(actor))
    order = _locked_order(order_id)
    if order is None:
        raise ServiceError(f"No order with id {order_id}.")
    if order.status == "cancelled":
        db.session.rollback()
        return CancelOutcome("already_cancelled", order_id)
    before = order.status
    order.status, order.cancelled_at, order.cancel_reason = "cancelled", utcnow(), reason
    by = "the channel" if who.startswith("channel ") else who
    _add_event(order.id, "cancelled", who, f"Cancelled by {by}: {reason}", dict(data or {}))
    if not isinstance(actor, str) or not who.startswith(("channel ", "system", "job ")):
        audit.record(actor, "order.cancelled", "order", order.id, {"status": (before, "cancelled")})
    unsent = list(db.session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order.id,
                                                                 SupplierOrder.status == "pending")))
    cancelled = []
    for supplier_order in unsent:
        if _close_supplier_order(supplier_order.id, ("pending",), "cancelled"):
            inventory.release(_reservation_ids(supplier_order.id), cause=f"order {order.label} cancelled", commit=False)
            cancelled.append(supplier_order.id)
    for open_item in db.session.scalars(select(ExceptionItem).where(
            ExceptionItem.order_id == order.id, ExceptionItem.status == "open", ExceptionItem.kind.in_(MANUAL_REVIEW_KINDS))):
        exceptions.close(open_item, who, f"Order cancelled: {reason}", status="cancelled")
    db.session.commit()
    kept, failed = [], []
    for supplier_order in db.session.scalars(select(SupplierOrder).where(
            SupplierOrder.order_id == order_id, SupplierOrder.status.in_(("sent", "acknowledged", "shipped", "delivered")))
            .order_by(SupplierOrder.id)).all():
        outcome = _cancel_at_supplier(supplier_order, who)
        {"cancelled": cancelled, "kept": kept, "failed": failed}[outcome].append(supplier_order.id)
    # Whatever still counts and belongs to no shipment that stays (lines never placed) is given back.
    order = _locked_order(order_id)
    stays = {s.id for s in db.session.scalars(select(SupplierOrder).where(
        SupplierOrder.order_id == order_id, SupplierOrder.status.in_(("acknowledged", "shipped", "delivered"))))}
    loose = db.session.scalars(select(Reservation.id).where(
        Reservation.order_id == order_id, Reservation.state.in_(("held", "confirmed")),
        Reservation.supplier_order_id.is_(None) | Reservation.supplier_order_id.not_in(sorted(stays) or [0]))).all()
    if loose:
        inventory.release(loose, cause=f"order {order.label} cancelled", commit=False)
    db.session.commit()
    log.info("order_cancelled order=%s by=%s cancelled=%s kept=%s failed=%s", order_id, who, cancelled, kept, failed)
    return CancelOutcome("cancelled", order_id, tuple(cancelled), tuple(kept), tuple(failed))


def _cancel_at_supplier(supplier_order: SupplierOrder, who: str) -> str:
    """cancelled, kept (already shipped) or failed (an item asks a person to cancel it with the supplier)."""
    code = supplier_order.supplier.code
    order_id = supplier_order.order_id
    if supplier_order.status in ("shipped", "delivered"):
        _add_event(order_id, "cancel_at_supplier", who, f"{code} had already shipped it: kept.",
                   {"supplier_order": supplier_order.id, "outcome": "already_shipped"})
        db.session.commit()
        return "kept"
    if not supplier_order.supplier_ref:
        # Sent, no answer yet: if the supplier takes it, dispatch sees the cancellation and cancels it there.
        if _close_supplier_order(supplier_order.id, ("sent",), "cancelled"):
            inventory.release(_reservation_ids(supplier_order.id), cause="order cancelled", commit=False)
        _add_event(order_id, "cancel_at_supplier", who,
                   f"{code} had not answered yet; cancelled here (if it takes the order, it is cancelled there too).",
                   {"supplier_order": supplier_order.id, "outcome": "cancelled"})
        db.session.commit()
        return "cancelled"
    try:
        answer = connectors.cancel_supplier_order(sync.connection_settings(supplier_order.supplier),
                                                  supplier_order.supplier_ref, policy=supplier_call_policy(),
                                                  token_cache=sync.RedisTokenCache())
    except ConnectorError as error:
        order = _locked_order(order_id)
        _add_event(order_id, "cancel_at_supplier", who, f"{code} could not be reached to cancel "
                   f"{supplier_order.supplier_ref} ({error.reason}); a person must cancel it there.",
                   {"supplier_order": supplier_order.id, "outcome": "failed", "error": error.reason})
        _raise_order_item(order, "reconciliation", "cancel_failed",
                          f"Order {order.label} was cancelled but {code} could not be reached to cancel "
                          f"{supplier_order.supplier_ref}: cancel it with the supplier.",
                          {"supplier_order": supplier_order.id, "error": error.message}, supplier_id=supplier_order.supplier_id)
        db.session.commit()
        return "failed"
    if answer.outcome == "already_shipped":
        _add_event(order_id, "cancel_at_supplier", f"supplier {code}",
                   f"{code} had already shipped {supplier_order.supplier_ref}: kept.",
                   {"supplier_order": supplier_order.id, "outcome": "already_shipped"})
        db.session.commit()
        return "kept"
    _locked_order(order_id)
    if _close_supplier_order(supplier_order.id, OPEN_SUPPLIER_ORDER_STATES, "cancelled"):
        inventory.release(_reservation_ids(supplier_order.id), cause=f"cancelled at {code}", commit=False)
    _add_event(order_id, "cancel_at_supplier", f"supplier {code}", f"{code} cancelled {supplier_order.supplier_ref}.",
               {"supplier_order": supplier_order.id, "outcome": "cancelled"})
    db.session.commit()
    return "cancelled"


def _close_supplier_order(supplier_order_id: int, from_states, status: str) -> bool:
    return bool(db.session.execute(
        update(SupplierOrder).where(SupplierOrder.id == supplier_order_id, SupplierOrder.status.in_(tuple(from_states)))
        .values(status=status, closed_at=utcnow()).execution_options(synchronize_session=False)).rowcount)


# --- following shipments -------------------------------------------------------------------------


def _followed():
    """Supplier orders still worth asking about: acknowledged, or shipped within FOLLOW_SHIPPED_FOR (a supplier
    that never reports delivery is not asked forever)."""
    return (SupplierOrder.supplier_ref.is_not(None)
            & ((SupplierOrder.status == "acknowledged")
               | ((SupplierOrder.status == "shipped") & (SupplierOrder.shipped_at >= utcnow() - FOLLOW_SHIPPED_FOR))))


def enqueue_supplier_order_polls() -> int:
    """The cron tick's fan-out: one poll job per supplier with orders to follow (acknowledged or shipped)."""
    supplier_ids = list(db.session.scalars(select(SupplierOrder.supplier_id).distinct().where(_followed())
                                           .order_by(SupplierOrder.supplier_id)))
    db.session.rollback()
    for supplier_id in supplier_ids:
        queues.enqueue("poll_supplier_orders", supplier_id, description=f"Follow supplier {supplier_id}'s orders")
    return len(supplier_ids)


def poll_supplier_orders(supplier_id: int | None = None) -> int:
    """Periodic: ask each supplier about its acknowledged and shipped orders; a new shipment brings its
    tracking, consumes its reservations and queues the push to the channel. Returns how many changed."""
    query = select(SupplierOrder.id).where(_followed()).order_by(SupplierOrder.id)
    if supplier_id is not None:
        query = query.where(SupplierOrder.supplier_id == supplier_id)
    ids = list(db.session.scalars(query))
    db.session.rollback()
    changed = 0
    for supplier_order_id in ids:
        supplier_order = db.session.get(SupplierOrder, supplier_order_id)
        try:
            status = connectors.supplier_order_status(sync.connection_settings(supplier_order.supplier),
                                                      supplier_order.supplier_ref, policy=supplier_call_policy(),
                                                      token_cache=sync.RedisTokenCache())
        except ConnectorError as error:
            log.warning("supplier_order_poll_failed supplier_order=%s reason=%s", supplier_order_id, error.reason)
            continue
        changed += _apply_status(supplier_order_id, status)
    return changed


def _apply_status(supplier_order_id: int, status) -> int:
    if status.status == "cancelled":
        outcome = fall_back(supplier_order_id, "refused", "the supplier cancelled the order")
        return int(outcome.status != "skipped")
    changed = 0
    if status.status in ("shipped", "delivered") and status.shipments:
        changed += _mark_shipped(supplier_order_id, status.shipments[-1])
    if status.status == "delivered":
        changed += _mark_delivered(supplier_order_id)
    return changed


def _mark_shipped(supplier_order_id: int, shipment) -> int:
    supplier_order = db.session.get(SupplierOrder, supplier_order_id)
    order = _locked_order(supplier_order.order_id)
    now = utcnow()
    moved = db.session.execute(
        update(SupplierOrder).where(SupplierOrder.id == supplier_order_id,
                                    SupplierOrder.status.in_(("sent", "acknowledged")))
        .values(status="shipped", shipped_at=shipment.shipped_at or now, tracking_carrier=shipment.carrier or None,
                tracking_number=shipment.tracking_number, tracking_url=shipment.tracking_url)
        .execution_options(synchronize_session=False)).rowcount
    if not moved:
        db.session.rollback()
        return 0
    code = supplier_order.supplier.code
    inventory.consume(_reservation_ids(supplier_order_id), cause=f"shipped by {code}: {shipment.tracking_number}",
                      commit=False)
    _add_event(order.id, "shipped", f"supplier {code}",
               f"{code} shipped it with {shipment.carrier or 'a carrier'}: {shipment.tracking_number}.",
               {"supplier_order": supplier_order_id, "carrier": shipment.carrier,
                "tracking_number": shipment.tracking_number, "tracking_url": shipment.tracking_url})
    _settle(order)
    db.session.commit()
    log.info("supplier_order_shipped supplier_order=%s supplier=%s tracking=%s", supplier_order_id, code,
             shipment.tracking_number)
    queues.enqueue("push_tracking_to_channel", supplier_order_id, retries=5,
                   description=f"Tracking of supplier order {supplier_order_id} to the channel")
    return 1


def _mark_delivered(supplier_order_id: int) -> int:
    supplier_order = db.session.get(SupplierOrder, supplier_order_id)
    order = _locked_order(supplier_order.order_id)
    moved = db.session.execute(
        update(SupplierOrder).where(SupplierOrder.id == supplier_order_id, SupplierOrder.status == "shipped")
        .values(status="delivered", delivered_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if not moved:
        db.session.rollback()
        return 0
    code = supplier_order.supplier.code
    _add_event(order.id, "delivered", f"supplier {code}", f"{supplier_order.tracking_number or 'The parcel'} from "
               f"{code} was delivered.", {"supplier_order": supplier_order_id})
    _settle(order)
    db.session.commit()
    return 1


# --- reconciliation and the sweeper ----------------------------------------------------------------


def reconcile_supplier_orders(now: datetime | None = None) -> int:
    """Periodic: orders the supplier has not acknowledged within ACK_DEADLINE_HOURS of sending, and
    acknowledged ones whose lines differ from ours, become reconciliation items (once each). Returns how many."""
    now = now or utcnow()
    deadline = now - timedelta(hours=_settings().ack_deadline_hours)
    raised = 0
    late = db.session.scalars(select(SupplierOrder).where(
        SupplierOrder.status.in_(("pending", "sent")),
        func.coalesce(SupplierOrder.sent_at, SupplierOrder.created_at) <= deadline).order_by(SupplierOrder.id)).all()
    for supplier_order in late:
        hours = _settings().ack_deadline_hours
        raised += _reconciliation(supplier_order, "no_acknowledgement",
                                  f"{supplier_order.supplier.code} has not acknowledged supplier order "
                                  f"{supplier_order.idempotency_key} within {hours} h of sending it.")
    # Acknowledgements since the last runs (hourly): a mismatch is found the first time, then it is an item.
    for supplier_order in db.session.scalars(select(SupplierOrder).where(
            SupplierOrder.status.in_(("acknowledged", "shipped", "delivered")),
            SupplierOrder.acknowledged_at >= now - RECONCILE_LOOKBACK,
            SupplierOrder.acknowledged_lines.is_not(None)).order_by(SupplierOrder.id)).all():
        differences = flow.line_differences(flow.supplier_lines(supplier_order.lines),
                                            ((line["sku"], int(line["qty"])) for line in supplier_order.acknowledged_lines))
        if differences:
            raised += _reconciliation(supplier_order, "lines_differ",
                                      f"{supplier_order.supplier.code} acknowledged {supplier_order.supplier_ref} with "
                                      f"other lines than we sent: {', '.join(differences)}.")
    db.session.commit()
    return raised


def _reconciliation(supplier_order: SupplierOrder, reason_code: str, reason: str) -> int:
    said = db.session.scalars(select(OrderEvent.data).where(OrderEvent.order_id == supplier_order.order_id,
                                                            OrderEvent.kind == "reconciliation"))
    if any((data or {}).get("supplier_order") == supplier_order.id and (data or {}).get("reason") == reason_code
           for data in said):
        return 0  # flagged once; the item (open or closed) carries it from here
    order = _locked_order(supplier_order.order_id)
    _raise_order_item(order, "reconciliation", reason_code, f"Order {order.label}: {reason}",
                      {"supplier_order": supplier_order.id, "supplier_ref": supplier_order.supplier_ref,
                       "ours": supplier_order.lines, "theirs": supplier_order.acknowledged_lines},
                      supplier_id=supplier_order.supplier_id)
    _add_event(order.id, "reconciliation", "system", reason, {"supplier_order": supplier_order.id, "reason": reason_code})
    log.info("supplier_order_reconciliation supplier_order=%s reason=%s", supplier_order.id, reason_code)
    return 1


def requeue_stuck_dispatches(older_than: timedelta = STUCK_AFTER) -> int:
    """Sweeper: supplier orders pending or sent with no attempt for a while (a worker died mid-dispatch, Redis
    lost the job) are dispatched again, the same key making the resend safe; accepted orders never fulfilled,
    and lines a cut-short fall back left without a supplier, are queued again. Returns how many jobs it queued."""
    cutoff = utcnow() - older_than
    ids = list(db.session.scalars(select(SupplierOrder.id).where(
        SupplierOrder.status.in_(("pending", "sent")),
        func.coalesce(SupplierOrder.sent_at, SupplierOrder.created_at) <= cutoff,
        (SupplierOrder.last_error.is_(None)) | (SupplierOrder.last_error != "no order API")).order_by(SupplierOrder.id)))
    connection = queues.connection()
    stuck = [supplier_order_id for supplier_order_id in ids if not connection.exists(LEASE_KEY.format(supplier_order_id))]
    waiting = []
    if fulfils_on_accept():
        # Accepted orders whose fulfilment job was lost (Redis down when intake queued it, a worker died).
        waiting = list(db.session.scalars(select(Order.id).where(
            Order.status == "accepted", Order.created_at <= cutoff,
            ~select(SupplierOrder.id).where(SupplierOrder.order_id == Order.id).exists()).order_by(Order.id)))
    # A fall back cut short after its shipment was closed: lines of a live order that no supplier order carries.
    recently_failed = db.session.scalars(select(SupplierOrder.order_id).distinct().join(Order).where(
        SupplierOrder.status.in_(FAILED_SUPPLIER_ORDER_STATES), SupplierOrder.closed_at <= cutoff,
        SupplierOrder.closed_at > cutoff - timedelta(days=1),
        Order.status.in_([status for status in REROUTABLE if status != "manual_review"]))).all()
    orphaned = [order_id for order_id in recently_failed if _unplaced(db.session.get(Order, order_id))]
    db.session.rollback()
    _dispatch_soon(stuck)
    for order_id in waiting:
        queues.enqueue("fulfil_order", order_id, description=f"Fulfil order {order_id}")
    for order_id in orphaned:
        queues.enqueue("reroute_unplaced", order_id, description=f"Reroute order {order_id}'s unplaced lines")
    if stuck or waiting or orphaned:
        log.info("dispatch_requeued supplier_orders=%s orders=%s reroutes=%s", stuck, waiting, orphaned)
    return len(stuck) + len(waiting) + len(orphaned)


# --- what the pages read -------------------------------------------------------------------------


def shipments_of(order_id: int) -> list[SupplierOrder]:
    return list(db.session.scalars(select(SupplierOrder).where(SupplierOrder.order_id == order_id)
                                   .order_by(SupplierOrder.id)))


def ledger_of(order_id: int) -> list[tuple[Reservation, list[ReservationEvent]]]:
    """Each reservation of the order with its ledger rows, oldest first."""
    reservations = list(db.session.scalars(select(Reservation).where(Reservation.order_id == order_id)
                                           .order_by(Reservation.id)))
    return [(reservation, list(reservation.events)) for reservation in reservations]


def order_flow_counts(now: datetime | None = None) -> FlowCounts:
    now = now or utcnow()
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    by_status = dict(db.session.execute(select(Order.status, func.count()).group_by(Order.status)).all())
    received = db.session.scalar(select(func.count()).select_from(Order).where(Order.created_at >= day))
    routed = db.session.scalar(select(func.count(func.distinct(OrderEvent.order_id))).where(
        OrderEvent.kind == "routed", OrderEvent.at >= day))
    shipped = db.session.scalar(select(func.count()).select_from(SupplierOrder).where(SupplierOrder.shipped_at >= day))
    kinds = dict(db.session.execute(select(ExceptionItem.kind, func.count()).where(ExceptionItem.status == "open")
                                    .group_by(ExceptionItem.kind)).all())
    return FlowCounts(received_today=received, routed_today=routed,
                      awaiting_supplier=by_status.get("awaiting_supplier", 0), shipped_today=shipped,
                      manual_review=by_status.get("manual_review", 0), exceptions_by_kind=kinds, by_status=by_status)


# --- small helpers -------------------------------------------------------------------------------


def _locked_order(order_id: int) -> Order | None:
    """The order's row, locked until commit, read after the lock: every change to an order's shipments goes
    through it, in this order (order, then its supplier orders), so two jobs never wait on each other in a
    circle. A write takes the lock (a row lock on PostgreSQL, the writer's lock on SQLite, where a SELECT ...
    FOR UPDATE would lock nothing and a status read before it could be stale by the time we write)."""
    locked = db.session.execute(update(Order).where(Order.id == order_id).values(status=Order.status)
                                .execution_options(synchronize_session=False)).rowcount
    if not locked:
        return None
    return db.session.execute(select(Order).where(Order.id == order_id)
                              .execution_options(populate_existing=True)).scalar_one()


def _unplaced(order: Order) -> list[OrderLine]:
    """Lines no live supplier order carries (a new order's every line; a refused shipment's lines)."""
    placed = set()
    for lines in db.session.scalars(select(SupplierOrder.lines).where(SupplierOrder.order_id == order.id,
                                                                      SupplierOrder.status.in_(LIVE_STATES))):
        placed.update(int(line["order_line_id"]) for line in lines or [])
    return [line for line in order.lines if line.id not in placed]


def _settle(order: Order) -> None:
    """The order's status from its supplier orders, read under the order's lock (the caller holds it)."""
    states = db.session.scalars(select(SupplierOrder.status).where(SupplierOrder.order_id == order.id)).all()
    order.status = flow.order_status(order.status, states,
                                     lines_unplaced=order.status == "manual_review" and bool(_unplaced(order)))


def _reservation_ids(supplier_order_id: int) -> list[int]:
    return list(db.session.scalars(select(Reservation.id).where(Reservation.supplier_order_id == supplier_order_id)
                                   .order_by(Reservation.id)))


def _failed_entries(order_id: int) -> list[dict]:
    rows = db.session.execute(select(SupplierOrder.id, SupplierOrder.status, SupplierOrder.last_error, Supplier.code)
                              .join(Supplier, Supplier.id == SupplierOrder.supplier_id)
                              .where(SupplierOrder.order_id == order_id,
                                     SupplierOrder.status.in_(FAILED_SUPPLIER_ORDER_STATES))
                              .order_by(SupplierOrder.id)).all()
    return [{"supplier_order": row.id, "supplier": row.code, "status": row.status, "reason": row.last_error}
            for row in rows]


def _failed_suppliers(order_id: int) -> set[str]:
    return {entry["supplier"] for entry in _failed_entries(order_id)}


def _supplier_id(code: str) -> int | None:
    return db.session.scalar(select(Supplier.id).where(Supplier.code == code))


def _add_event(order_id: int, kind: str, actor: str, detail: str, data: dict | None = None) -> None:
    db.session.add(OrderEvent(order_id=order_id, kind=kind, actor=actor, detail=detail, data=data or {}))


def _raise_order_item(order: Order, kind: str, reason_code: str, reason: str, payload: dict, *,
                      supplier_id: int | None = None) -> ExceptionItem:
    """One open item per order and kind (a repeat adds to its history), in the caller's transaction."""
    item = db.session.scalar(select(ExceptionItem).where(ExceptionItem.kind == kind, ExceptionItem.order_id == order.id,
                                                         ExceptionItem.status == "open"))
    if item is None:
        item = ExceptionItem(kind=kind, reason_code=reason_code, reason=reason, order_id=order.id, order_ref=order.label,
                             channel=order.channel, order_value=order.total, orders_affected=1, supplier_id=supplier_id,
                             payload=payload, history=[exceptions.history_entry("system", reason)])
        db.session.add(item)
        db.session.flush()
        log.info("exception_raised kind=%s reason=%s order=%s", kind, reason_code, order.id)
        return item
    item.reason_code, item.reason, item.payload = reason_code, reason, payload
    item.supplier_id = supplier_id or item.supplier_id
    item.history = [*item.history, exceptions.history_entry("system", f"happened again: {reason}")]
    return item
