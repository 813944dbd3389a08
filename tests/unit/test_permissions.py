from types import SimpleNamespace

import pytest

from app.permissions import PERMISSIONS, ROLE_HOME, ROLES, can


def person(role, authenticated=True):
    return SimpleNamespace(role=role, is_authenticated=authenticated)


def test_every_role_has_a_home_page_and_some_permission():
    assert set(ROLE_HOME) == set(ROLES)
    for role in ROLES:
        assert any(role in roles for roles in PERMISSIONS.values())


def test_only_admins_manage_users():
    assert [role for role in ROLES if can(person(role), "users.manage")] == ["admin"]


def test_an_anonymous_visitor_can_do_nothing():
    assert not any(can(person("admin", authenticated=False), permission) for permission in PERMISSIONS)


def test_an_unknown_permission_is_a_programming_error_not_a_silent_deny():
    with pytest.raises(KeyError, match="unknown permission"):
        can(person("admin"), "stock.teleport")
