"""Saved views per role: every role has its list, every view sets real filters, every kind group holds known kinds."""
from dataclasses import fields

from app.permissions import PERMISSIONS, ROLES
from app.services import exception_queue as queue


def test_every_role_has_saved_views_and_only_roles_that_see_the_queue_have_any():
    assert set(queue.ROLE_VIEWS) == set(ROLES)
    for role in ROLES:
        assert bool(queue.saved_views(role)) == (role in PERMISSIONS["exceptions.view"]), role


def test_ops_see_the_order_flow_views_and_support_the_orders_waiting_on_a_person():
    assert [view.label for view in queue.saved_views("ops")] == [
        "Failed intake", "Stockout reroutes", "Supplier refusals & timeouts", "Unroutable", "Mine"]
    assert [view.key for view in queue.saved_views("support")][:1] == ["orders-waiting"]
    assert {"sync-feeds", "oldest"} <= {view.key for view in queue.saved_views("manager")}
    assert {"sync-feeds", "oldest"} <= {view.key for view in queue.saved_views("admin")}


def test_each_view_sets_filters_the_queue_understands():
    names = {field.name for field in fields(queue.QueueFilter)}
    for view in queue.SAVED_VIEWS.values():
        assert set(view.filters) <= names, view.key
        assert queue.saved_view_filters(view.key) == view.filters and queue.saved_view_filters(view.key) is not view.filters
        assert view.filters.get("group", "") in ("", *queue.KIND_GROUPS)
        assert view.filters.get("sort", "impact") in queue.SORTS
        assert view.filters.get("kind", "intake_failed") in queue.KIND_LABELS
    assert queue.saved_view_filters("no-such-view") == {}


def test_kind_groups_hold_only_known_kinds():
    for kinds in queue.KIND_GROUPS.values():
        assert set(kinds) <= set(queue.KIND_LABELS)
    assert set(queue.KIND_GROUPS["supplier_answers"]) <= set(queue.KIND_GROUPS["orders"])
