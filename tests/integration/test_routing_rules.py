"""Rule sets: drafts copied from the active set, ROUTING.md's constraints, audited activation, the editor pages."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, RuleSet
from app.services import ServiceError, rule_sets, supplier_health
from app.services.rule_sets import RuleInput
from tests.helpers import csrf_token_from, login
from tests.integration import routing_world as world

PREFER_ACME = {"name": "Prefer ACME", "priority": 10, "then": {"prefer": ["ACME"], "prefer_tolerance_pct": "5"}}


@pytest.fixture
def placed(app):
    for code in ("ACME", "MAPLE", "PACIFIC"):
        supplier_health.reset(code)
    placed = world.small_world()
    placed["active"] = world.rule_set(1, "active", [PREFER_ACME])
    db.session.commit()
    return placed


def problems_of(rule_set, **rule):
    base = {"name": "A rule", "priority": 99, "enabled": True, "when": {}, "then": {"objective": "fastest"}}
    return {(p.field, p.message) for p in rule_sets.check_rule(rule_set, RuleInput(**{**base, **rule}))}


def test_editing_the_active_set_starts_a_draft_copy_and_leaves_the_active_one_alone(placed, make_user):
    manager = make_user("manager")
    draft = rule_sets.start_draft(manager)
    assert (draft.status, draft.version, draft.based_on_id) == ("draft", 2, placed["active"].id)
    assert [r.name for r in draft.rules] == ["Prefer ACME"]
    assert rule_sets.start_draft(manager).id == draft.id  # one draft at a time
    rule_sets.update_rule(draft.rules[0].id, RuleInput("Prefer ACME", 10, True, {}, {"prefer": ["ACME"],
                                                                                     "prefer_tolerance_pct": "9"}), manager)
    db.session.expire_all()
    assert placed["active"].rules[0].then["prefer_tolerance_pct"] == "5"
    with pytest.raises(ServiceError, match="only a draft can be edited"):
        rule_sets.set_enabled(placed["active"].rules[0].id, False, manager)


def test_activating_a_draft_archives_the_old_set_and_audits_who_when_and_the_difference(placed, make_user):
    manager = make_user("manager")
    draft = rule_sets.start_draft(manager)
    rule_sets.add_rule(draft.id, RuleInput("Express goes fastest", 5, True, {"service": ["express"]},
                                           {"objective": "fastest"}), manager)
    rule_sets.activate(draft.id, manager)
    db.session.expire_all()
    statuses = dict(db.session.execute(select(RuleSet.version, RuleSet.status)).all())
    assert statuses == {1: "archived", 2: "active"}
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "rule_set.activated")).one()
    assert entry.actor_label == "manager@example.com" and entry.entity_id == str(draft.id)
    assert entry.changes["active version"] == [1, 2]
    assert entry.changes["rule Express goes fastest"] == [None, "#5 when service [express] then objective fastest"]
    with pytest.raises(ServiceError, match="only a draft"):
        rule_sets.activate(draft.id, manager)


def test_the_database_refuses_a_second_active_set(placed):
    from sqlalchemy.exc import IntegrityError

    db.session.add(RuleSet(version=7, status="active"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_line_scoped_rule_may_only_exclude_or_restrict_suppliers(placed):
    found = problems_of(placed["active"], when={"sku": ["MUG-1"]}, then={"objective": "fastest"})
    assert ("then_objective", "A rule for particular SKUs may only exclude suppliers or allow only some; "
                              "remove this or the SKU condition.") in found
    assert problems_of(placed["active"], when={"sku": ["MUG-1"]}, then={"exclude": ["MAPLE"]}) == set()


def test_rules_naming_unknown_suppliers_or_a_taken_priority_are_refused_beside_the_field(placed):
    found = problems_of(placed["active"], priority=10, then={"exclude": ["NOPE", "ACME"]})
    assert ("then_exclude", "No supplier NOPE.") in found
    assert ("priority", "Priority 10 is taken by “Prefer ACME”; each rule needs its own.") in found
    assert ("", "The rule does nothing yet: choose at least one action.") in problems_of(placed["active"], then={})
    assert ("when_max_order_value", "The maximum (10) is below the minimum (50).") in problems_of(
        placed["active"], when={"min_order_value": "50", "max_order_value": "10"})


def test_moving_a_rule_swaps_priorities_and_disabling_is_audited(placed, make_user):
    manager = make_user("manager")
    draft = rule_sets.start_draft(manager)
    second = rule_sets.add_rule(draft.id, RuleInput("Fast", 20, True, {}, {"objective": "fastest"}), manager)
    rule_sets.move_rule(second.id, "up", manager)
    db.session.expire_all()
    assert [(r.name, r.priority) for r in rule_sets.get_rule_set(draft.id).rules] == [("Fast", 10), ("Prefer ACME", 20)]
    with pytest.raises(ServiceError, match="already first"):
        rule_sets.move_rule(second.id, "up", manager)
    rule_sets.set_enabled(second.id, False, manager)
    actions = list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions[-3:] == ["rule.added", "rule.moved", "rule.disabled"]


def test_a_rule_set_tried_on_an_order_explains_each_supplier_per_line(placed):
    result = rule_sets.try_rule_set(placed["active"].id, order_id=placed["order"].id)
    assert result.plan["shipments"][0]["supplier"] == "ACME"
    mug = result.lines[0]
    assert (mug.sku, mug.qty) == ("MUG-1", 2)
    outcomes = {c.supplier: (c.chosen, c.reason, c.value) for c in mug.candidates}
    assert outcomes["ACME"] == (True, None, None)
    assert outcomes["PACIFIC"] == (False, "status", "status paused")
    assert outcomes["MAPLE"][1] == "not_chosen"
    assert mug.stale == ["MAPLE"]
    assert any("Prefer ACME" in message and "fired" in message for message in result.rules)


def test_a_pasted_scenario_is_routed_under_the_sets_rules_and_bad_json_gets_a_plain_message(placed):
    scenario = {"order": {"id": "X1", "channel": "shopify", "ship_to": {"country": "CA"},
                          "lines": [{"sku": "MUG-1", "qty": 1, "price": 12}]}}
    result = rule_sets.try_rule_set(placed["active"].id, scenario_text=json.dumps(scenario))
    assert result.plan["status"] == "routed" and "live supplier data" in result.source
    with pytest.raises(ServiceError, match="not valid JSON: Expecting"):
        rule_sets.try_rule_set(placed["active"].id, scenario_text='{"order": ')
    with pytest.raises(ServiceError, match="needs an \"order\""):
        rule_sets.try_rule_set(placed["active"].id, scenario_text="{}")


def test_the_editor_checks_a_rule_as_it_is_typed_and_saves_it_when_fixed(placed, make_user, client):
    make_user("manager")
    login(client, "manager@example.com")
    draft = rule_sets.start_draft("test")
    page = client.get(f"/routing/rule-sets/{draft.id}/rules/new")
    assert page.status_code == 200 and 'id="rule-check"' in page.text
    token = csrf_token_from(page.text)
    form = {"csrf_token": token, "rule-name": "Canada by MAPLE", "rule-priority": "10", "rule-enabled": "y",
            "rule-when_country": "CA", "rule-then_only": "MAPLE", "rule-then_objective": "",
            "rule-then_require_domestic": ""}
    checked = client.post(f"/routing/rule-sets/{draft.id}/check", data=form, headers={"HX-Request": "true"})
    assert checked.status_code == 200
    assert 'id="rule-priority-error" aria-live="polite" hx-swap-oob="true">Priority 10 is taken' in checked.text
    refused = client.post(f"/routing/rule-sets/{draft.id}/rules", data=form)
    assert refused.status_code == 422 and "Priority 10 is taken" in refused.text
    form["rule-priority"] = "20"
    fine = client.post(f"/routing/rule-sets/{draft.id}/check", data=form, headers={"HX-Request": "true"})
    assert "This rule can be saved" in fine.text
    saved = client.post(f"/routing/rule-sets/{draft.id}/rules", data=form)
    assert saved.status_code == 302
    db.session.expire_all()
    rule = [r for r in rule_sets.get_rule_set(draft.id).rules if r.name == "Canada by MAPLE"][0]
    assert (rule.priority, rule.when, rule.then) == (20, {"country": ["CA"]}, {"only": ["MAPLE"]})


def test_the_test_panel_shows_the_trace_table_for_a_picked_order(placed, make_user, client):
    make_user("admin")
    login(client, "admin@example.com")
    page = client.get(f"/routing/rule-sets/{placed['active'].id}")
    assert "Test against an order" in page.text and "#1001 · US" in page.text
    answer = client.post(f"/routing/rule-sets/{placed['active'].id}/trial",
                         data={"csrf_token": csrf_token_from(page.text), "trial-order_id": str(placed["order"].id)},
                         headers={"HX-Request": "true"})
    assert answer.status_code == 200
    assert "Cost of the chosen plan" in answer.text and "36.10" in answer.text and "status paused" in answer.text
    bad = client.post(f"/routing/rule-sets/{placed['active'].id}/trial",
                      data={"csrf_token": csrf_token_from(page.text), "trial-scenario": "[1,"},
                      headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "That is not valid JSON" in bad.text and "Traceback" not in bad.text


def test_ops_and_buyers_cannot_reach_the_rules(placed, make_user, client):
    make_user("ops")
    login(client, "ops@example.com")
    assert client.get("/routing").status_code == 403
    assert "Routing rules" not in client.get("/stock").text


def test_rules_are_moved_and_disabled_from_the_table_which_redraws_itself(placed, make_user, client):
    make_user("manager")
    login(client, "manager@example.com")
    draft = rule_sets.start_draft("test")
    second = rule_sets.add_rule(draft.id, RuleInput("Fast", 20, True, {}, {"objective": "fastest"}), "test")
    page = client.get(f"/routing/rule-sets/{draft.id}")
    headers = {"HX-Request": "true", "X-CSRFToken": csrf_token_from(page.text)}
    moved = client.post(f"/routing/rules/{second.id}/move", data={"direction": "up"}, headers=headers)
    assert moved.status_code == 200 and moved.text.lstrip().startswith('<section id="rules-table"')
    assert moved.text.index("Fast") < moved.text.index("Prefer ACME")
    assert moved.headers["HX-Trigger"] == '{"rules-changed": null}'
    disabled = client.post(f"/routing/rules/{second.id}/enabled", data={"enabled": "0"}, headers=headers)
    assert 'class="inactive"' in disabled.text and "disabled" in disabled.text
    again = client.post(f"/routing/rules/{second.id}/move", data={"direction": "up"}, headers=headers)
    assert again.status_code == 422 and again.text == "“Fast” is already first."
