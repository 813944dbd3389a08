"""Routing rule sets: versioned draft -> active -> archived, edited by managers, every change audited.

Only a draft is edited. "Edit" on the active set copies it into the draft (there is at most one);
activating the draft archives the set it replaces, in one transaction, with an audit entry holding
the difference. Rules are checked against ROUTING.md's constraints before they are saved, and
again, all together, before a set goes live.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.domain.routing import LINE_SCOPED_ACTIONS, THEN_KEYS, parse_scenario
from app.extensions import db
from app.models import Order, RoutingRule, RuleSet, Supplier
from app.models.types import utcnow
from app.services import ServiceError, audit, routing
from app.services.paging import Page, keyset_page

log = logging.getLogger(__name__)

LIST_FIELDS = ("channel", "country", "region", "service", "sku")
SUPPLIER_ACTIONS = ("exclude", "only", "prefer")
RECENT_ORDERS = 50
_TEMPORARY_PRIORITY = -(2**31)  # a rule's priority while two rules swap places (priorities are unique)


@dataclass(frozen=True)
class RuleInput:
    """A rule as the editor submits it: ROUTING.md's when/then, already typed."""

    name: str
    priority: int | None
    enabled: bool = True
    when: dict[str, Any] = field(default_factory=dict)
    then: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleProblem:
    field: str  # the editor's field: name, priority, when_country, then_exclude, ... or "" for the rule
    message: str


def get_rule_set(rule_set_id: int) -> RuleSet:
    rule_set = db.session.scalar(select(RuleSet).where(RuleSet.id == rule_set_id)
                                 .options(selectinload(RuleSet.rules)))
    if rule_set is None:
        raise ServiceError(f"No rule set with id {rule_set_id}.")
    return rule_set


def get_rule(rule_id: int) -> RoutingRule:
    rule = db.session.get(RoutingRule, rule_id)
    if rule is None:
        raise ServiceError(f"No rule with id {rule_id}.")
    return rule


def list_rule_sets(after: str | None = None, per_page: int = 50) -> Page:
    """Every version, newest first."""
    query = select(RuleSet, RuleSet.version.label("sort_value"))
    return keyset_page(query, RuleSet.version, RuleSet.id, descending=True, after=after, per_page=per_page,
                       row_key=lambda row: (row.sort_value, row.RuleSet.id))


def current_draft() -> RuleSet | None:
    return db.session.scalar(select(RuleSet).where(RuleSet.status == "draft"))


def start_draft(actor) -> RuleSet:
    """The draft to edit: the existing one, else a copy of the active set (else an empty set)."""
    draft = current_draft()
    if draft is not None:
        return draft
    active = routing.active_rule_set()
    version = (db.session.scalar(select(func.max(RuleSet.version))) or 0) + 1
    draft = RuleSet(version=version, status="draft", based_on_id=active.id if active else None,
                    created_by_id=getattr(actor, "id", None),
                    note=f"Changes to version {active.version}" if active else "First rule set")
    for rule in active.rules if active else []:
        draft.rules.append(RoutingRule(name=rule.name, priority=rule.priority, enabled=rule.enabled,
                                       when=dict(rule.when or {}), then=dict(rule.then or {})))
    db.session.add(draft)
    db.session.flush()
    audit.record(actor, "rule_set.draft_started", "rule_set", draft.id,
                 {"version": (active.version if active else None, version)})
    db.session.commit()
    log.info("rule_set_draft_started rule_set=%s version=%s", draft.id, version)
    return draft


def _editable(rule_set: RuleSet) -> RuleSet:
    if rule_set.status != "draft":
        raise ServiceError(f"Version {rule_set.version} is {rule_set.status}; only a draft can be edited. "
                           "Use “Edit rules” to start one.")
    return rule_set


# --- checking a rule ----------------------------------------------------------------------------


def check_rule(rule_set: RuleSet, rule: RuleInput, rule_id: int | None = None) -> list[RuleProblem]:
    """Everything ROUTING.md and this set refuse in a rule, beside the editor field it concerns."""
    problems: list[RuleProblem] = []
    others = [r for r in rule_set.rules if r.id != rule_id]
    name = (rule.name or "").strip()
    if not name:
        problems.append(RuleProblem("name", "Give the rule a name people will recognise in the trace."))
    elif any(r.name == name for r in others):
        problems.append(RuleProblem("name", f"Another rule in this set is called “{name}”."))
    if rule.priority is None:
        problems.append(RuleProblem("priority", "Enter a whole number; lower numbers apply first."))
    else:
        clash = next((r for r in others if r.priority == rule.priority), None)
        if clash is not None:
            problems.append(RuleProblem("priority", f"Priority {rule.priority} is taken by “{clash.name}”; "
                                                    "each rule needs its own."))

    when, then = rule.when, rule.then
    for key in LIST_FIELDS:
        if key in when and not when[key]:
            problems.append(RuleProblem(f"when_{key}", "An empty list matches nothing; leave it out instead."))
    low, high = when.get("min_order_value"), when.get("max_order_value")
    if low is not None and high is not None and Decimal(str(low)) > Decimal(str(high)):
        problems.append(RuleProblem("when_max_order_value", f"The maximum ({high}) is below the minimum ({low})."))

    actions = [key for key in THEN_KEYS if key != "prefer_tolerance_pct" and then.get(key) is not None]
    if not actions:
        problems.append(RuleProblem("", "The rule does nothing yet: choose at least one action."))
    if "sku" in when:
        extra = [key for key in actions if key not in LINE_SCOPED_ACTIONS]
        for key in extra:
            problems.append(RuleProblem(f"then_{key}", "A rule for particular SKUs may only exclude suppliers or "
                                                       "allow only some; remove this or the SKU condition."))
        if not any(key in then for key in LINE_SCOPED_ACTIONS) and actions:
            problems.append(RuleProblem("when_sku", "A rule for particular SKUs must exclude suppliers or allow only some."))
    if then.get("prefer_tolerance_pct") is not None and not then.get("prefer"):
        problems.append(RuleProblem("then_prefer_tolerance_pct", "A tolerance needs suppliers to prefer."))
    if then.get("max_shipments") is not None and then["max_shipments"] < 1:
        problems.append(RuleProblem("then_max_shipments", "At least 1 shipment."))

    known = set(db.session.scalars(select(Supplier.code)))
    for key in SUPPLIER_ACTIONS:
        unknown = [code for code in then.get(key) or [] if code not in known]
        if unknown:
            problems.append(RuleProblem(f"then_{key}", f"No supplier {', '.join(unknown)}."))

    if not problems:
        # Last, the engine's own reading: a saved rule is one it accepts.
        try:
            parse_scenario({"suppliers": [], "rules": [_scenario_rule(rule)],
                            "order": {"id": "check", "ship_to": {"country": "US"},
                                      "lines": [{"sku": "CHECK", "qty": 1, "price": 0}]}})
        except ValueError as error:
            problems.append(RuleProblem("", f"The routing engine refuses this rule: {error}"))
    return problems


def _scenario_rule(rule: RuleInput) -> dict[str, Any]:
    return {"name": rule.name.strip(), "priority": rule.priority, "enabled": rule.enabled,
            "when": _plain(rule.when), "then": _plain(rule.then)}


def _plain(mapping: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe: decimals as text (the engine reads numbers in text exactly)."""
    return {key: str(value) if isinstance(value, Decimal) else value for key, value in mapping.items()
            if value is not None}


def _refuse(problems: list[RuleProblem]) -> None:
    if problems:
        first = problems[0]
        error = ServiceError(first.message, field=first.field or None)
        error.problems = problems  # type: ignore[attr-defined]
        raise error


def describe_rule(rule: RoutingRule | dict[str, Any]) -> str:
    """One line for the audit log and the diff: when … then …."""
    data = rule.as_scenario() if isinstance(rule, RoutingRule) else rule
    when = "; ".join(f"{key} {_shown(value)}" for key, value in (data.get("when") or {}).items()) or "always"
    then = "; ".join(f"{key} {_shown(value)}" for key, value in (data.get("then") or {}).items())
    state = "" if data.get("enabled", True) else " (disabled)"
    return f"#{data.get('priority')} when {when} then {then}{state}"


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


# --- editing a draft ----------------------------------------------------------------------------


def add_rule(rule_set_id: int, rule: RuleInput, actor) -> RoutingRule:
    rule_set = _editable(get_rule_set(rule_set_id))
    _refuse(check_rule(rule_set, rule))
    data = _scenario_rule(rule)
    created = RoutingRule(rule_set_id=rule_set.id, name=data["name"], priority=data["priority"],
                          enabled=data["enabled"], when=data["when"], then=data["then"])
    db.session.add(created)
    db.session.flush()
    audit.record(actor, "rule.added", "rule_set", rule_set.id, {f"rule {created.name}": (None, describe_rule(created))})
    db.session.commit()
    return created


def update_rule(rule_id: int, rule: RuleInput, actor) -> RoutingRule:
    existing = get_rule(rule_id)
    rule_set = _editable(existing.rule_set)
    _refuse(check_rule(rule_set, rule, rule_id=rule_id))
    before = describe_rule(existing)
    old_name = existing.name
    data = _scenario_rule(rule)
    existing.name, existing.priority, existing.enabled = data["name"], data["priority"], data["enabled"]
    existing.when, existing.then = data["when"], data["then"]
    after = describe_rule(existing)
    if (old_name, before) != (existing.name, after):
        label = f"rule {old_name}" if old_name == existing.name else f"rule {old_name} → {existing.name}"
        audit.record(actor, "rule.changed", "rule_set", rule_set.id, {label: (before, after)})
    db.session.commit()
    return existing


def delete_rule(rule_id: int, actor) -> RuleSet:
    rule = get_rule(rule_id)
    rule_set = _editable(rule.rule_set)
    audit.record(actor, "rule.removed", "rule_set", rule_set.id, {f"rule {rule.name}": (describe_rule(rule), None)})
    db.session.delete(rule)
    db.session.commit()
    db.session.expire(rule_set)
    return rule_set


def set_enabled(rule_id: int, enabled: bool, actor) -> RoutingRule:
    rule = get_rule(rule_id)
    _editable(rule.rule_set)
    if rule.enabled != enabled:
        audit.record(actor, "rule.enabled" if enabled else "rule.disabled", "rule_set", rule.rule_set_id,
                     {f"rule {rule.name}.enabled": (rule.enabled, enabled)})
        rule.enabled = enabled
        db.session.commit()
    return rule


def move_rule(rule_id: int, direction: str, actor) -> RuleSet:
    """Swap a rule's priority with its neighbour's: up applies it earlier, down later."""
    if direction not in ("up", "down"):
        raise ServiceError("Move a rule up or down.")
    rule = get_rule(rule_id)
    rule_set = _editable(rule.rule_set)
    ordered = sorted(rule_set.rules, key=lambda r: r.priority)
    index = ordered.index(rule)
    other_index = index - 1 if direction == "up" else index + 1
    if not 0 <= other_index < len(ordered):
        raise ServiceError(f"“{rule.name}” is already {'first' if direction == 'up' else 'last'}.")
    other = ordered[other_index]
    mine, theirs = rule.priority, other.priority
    rule.priority = _TEMPORARY_PRIORITY
    db.session.flush()
    other.priority = mine
    db.session.flush()
    rule.priority = theirs
    audit.record(actor, "rule.moved", "rule_set", rule_set.id,
                 {f"rule {rule.name}.priority": (mine, theirs), f"rule {other.name}.priority": (theirs, mine)})
    db.session.commit()
    db.session.expire(rule_set)
    return rule_set


def discard_draft(rule_set_id: int, actor) -> None:
    rule_set = _editable(get_rule_set(rule_set_id))
    audit.record(actor, "rule_set.draft_discarded", "rule_set", rule_set.id, {"version": (rule_set.version, None)})
    db.session.delete(rule_set)
    db.session.commit()


# --- going live ---------------------------------------------------------------------------------


def diff(old: RuleSet | None, new: RuleSet) -> dict[str, tuple[str | None, str | None]]:
    """Rule by rule (matched by name), what the new set changes: {rule name: (before, after)}."""
    before = {rule.name: describe_rule(rule) for rule in (old.rules if old else [])}
    after = {rule.name: describe_rule(rule) for rule in new.rules}
    return {f"rule {name}": (before.get(name), after.get(name)) for name in sorted(before.keys() | after.keys())
            if before.get(name) != after.get(name)}


def set_problems(rule_set: RuleSet) -> list[str]:
    """Every rule's problems, named by rule, for a set about to go live."""
    found = []
    for rule in rule_set.rules:
        data = RuleInput(rule.name, rule.priority, rule.enabled, dict(rule.when or {}), dict(rule.then or {}))
        found.extend(f"“{rule.name}”: {problem.message}" for problem in check_rule(rule_set, data, rule_id=rule.id))
    return found


def activate(rule_set_id: int, actor) -> RuleSet:
    """Make the draft the active set; the set it replaces is archived. Audited with the difference."""
    rule_set = _editable(get_rule_set(rule_set_id))
    problems = set_problems(rule_set)
    if problems:
        raise ServiceError("This draft cannot go live yet: " + " ".join(problems))
    previous = routing.active_rule_set()
    changes = diff(previous, rule_set)
    now = utcnow()
    if previous is not None:
        previous.status, previous.archived_at = "archived", now
        db.session.flush()  # the database allows one active set: archive first
    rule_set.status, rule_set.activated_at = "active", now
    rule_set.activated_by_id = getattr(actor, "id", None)
    audit.record(actor, "rule_set.activated", "rule_set", rule_set.id,
                 {"active version": (previous.version if previous else None, rule_set.version), **changes})
    db.session.commit()
    log.info("rule_set_activated rule_set=%s version=%s replaced=%s", rule_set.id, rule_set.version,
             previous.version if previous else None)
    return rule_set


# --- testing a set ------------------------------------------------------------------------------


def recent_orders(limit: int = RECENT_ORDERS) -> list[Order]:
    return list(db.session.scalars(select(Order).where(Order.ship_to_country.is_not(None))
                                   .order_by(Order.placed_at.desc(), Order.id.desc()).limit(limit)))


@dataclass(frozen=True)
class Candidate:
    supplier: str
    chosen: bool
    reason: str | None
    value: str | None


@dataclass(frozen=True)
class LineExplanation:
    number: int
    sku: str
    qty: int
    candidates: list[Candidate]
    stale: list[str]


@dataclass(frozen=True)
class TrialResult:
    """A rule set tried on one order: the decision and its trace arranged for a table."""

    source: str
    routed: routing.RoutedOrder
    lines: list[LineExplanation]
    rules: list[str]
    policy: list[str]
    search: list[str]
    stale: list[dict[str, Any]]

    @property
    def plan(self) -> dict[str, Any]:
        return self.routed.plan


def try_rule_set(rule_set_id: int, order_id: int | None = None, scenario_text: str | None = None) -> TrialResult:
    """Route one recent order (live data) or a pasted scenario under this set's rules; nothing is stored."""
    rule_set = get_rule_set(rule_set_id)
    rules = rule_set.engine_rules()
    if scenario_text and scenario_text.strip():
        scenario = _read_scenario(scenario_text)
        order = scenario["order"]
        if "suppliers" in scenario:
            routed = routing._run({"suppliers": scenario["suppliers"], "rules": rules, "order": order})
            source = "the pasted scenario's suppliers"
        else:
            network = routing.load_network(_order_skus(order))
            routed = routing.decide(order, rules, network)
            source = "the pasted order, on live supplier data"
    elif order_id:
        order_row = routing.get_order(order_id)
        order = routing.order_input(order_row)
        routed = routing.decide(order, rules, routing.load_network(line["sku"] for line in order["lines"]))
        source = f"order {order_row.label}, on live supplier data"
    else:
        raise ServiceError("Pick an order or paste a scenario.", field="order_id")
    return explain(routed, source)


def _read_scenario(text: str) -> dict[str, Any]:
    try:
        scenario = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as error:
        raise ServiceError(f"That is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}.",
                           field="scenario") from None
    if not isinstance(scenario, dict):
        raise ServiceError("Paste one JSON object: a scenario with an \"order\" (and optionally \"suppliers\").",
                           field="scenario")
    if "order" not in scenario and "lines" in scenario:
        scenario = {"order": scenario}  # a bare order
    if not isinstance(scenario.get("order"), dict):
        raise ServiceError("The scenario needs an \"order\" object (ROUTING.md): id, ship_to, lines.", field="scenario")
    return scenario


def _order_skus(order: dict[str, Any]) -> list[str]:
    lines = order.get("lines")
    return [line["sku"] for line in lines if isinstance(line, dict) and isinstance(line.get("sku"), str)] \
        if isinstance(lines, list) else []


def explain(routed: routing.RoutedOrder, source: str) -> TrialResult:
    """The trace as a table: each line's suppliers, chosen or passed over and why."""
    lines = []
    stale_by_sku: dict[str, list[str]] = {}
    for entry in routed.trace:
        if entry["kind"] == "freshness":
            stale_by_sku.setdefault(entry["sku"], []).append(entry["supplier"])
    for number, line in enumerate(routed.scenario["order"]["lines"], start=1):
        candidates = []
        for entry in routed.trace:
            if entry["kind"] != "candidate" or entry.get("line") != number or not entry.get("supplier"):
                continue
            chosen = entry.get("reason") is None
            candidates.append(Candidate(entry["supplier"], chosen, entry.get("reason"), entry.get("value")))
        candidates.sort(key=lambda c: (not c.chosen, c.supplier))
        lines.append(LineExplanation(number, line["sku"], line["qty"], candidates, stale_by_sku.get(line["sku"], [])))
    unknown = [entry["message"] for entry in routed.trace
               if entry["kind"] == "candidate" and not entry.get("supplier")]
    return TrialResult(
        source=source, routed=routed, lines=lines,
        rules=[entry["message"] for entry in routed.trace if entry["kind"] == "rule"],
        policy=[entry["message"] for entry in routed.trace if entry["kind"] == "policy"] + unknown,
        search=[entry["message"] for entry in routed.trace if entry["kind"] in ("search", "plan")],
        stale=[entry for entry in routed.trace if entry["kind"] == "freshness"],
    )
