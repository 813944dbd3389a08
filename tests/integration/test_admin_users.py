"""Admins manage people: add, change role, deactivate; each change audited; htmx fragments and toasts."""
import json
import re

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, User
from tests.helpers import csrf_token_from, login


def signed_in_admin(client, make_user):
    admin = make_user("admin")
    login(client, "admin@example.com")
    token = csrf_token_from(client.get("/admin/users").text)
    return admin, token


def htmx(token, target):
    return {"HX-Request": "true", "HX-Target": target, "X-CSRFToken": token}


def test_adding_a_person_without_a_password_shows_a_generated_one_once(client, make_user):
    _, token = signed_in_admin(client, make_user)
    response = client.post("/admin/users", data={"email": "Buyer.Two@Example.com", "role": "buyer", "name": "Two"},
                           headers=htmx(token, "create-user"))
    assert response.status_code == 200
    assert "Generated password for <strong>buyer.two@example.com</strong>" in response.text
    assert json.loads(response.headers["HX-Trigger"]) == {"users-changed": None}
    assert 'id="toasts" class="toasts" role="status" aria-live="polite" hx-swap-oob="beforeend"' in response.text
    created = db.session.scalar(select(User).where(User.email == "buyer.two@example.com"))
    assert created.role == "buyer" and created.password_hash and "Generated" not in created.password_hash
    assert "Generated password" not in client.get("/admin/users").text  # shown once only


def test_a_bad_new_person_is_answered_with_errors_beside_the_fields(client, make_user):
    _, token = signed_in_admin(client, make_user)
    response = client.post("/admin/users", data={"email": "admin@example.com", "role": "ops", "password": "short"},
                           headers=htmx(token, "create-user"))
    assert response.status_code == 422
    assert 'class="error-summary" role="alert"' in response.text
    assert 'id="password-error"' in response.text and "At least 12 characters." in response.text
    assert db.session.scalar(select(User).where(User.role == "ops")) is None


def test_a_duplicate_email_is_refused_with_its_reason(client, make_user):
    _, token = signed_in_admin(client, make_user)
    response = client.post("/admin/users", data={"email": "admin@example.com", "role": "ops", "password": ""},
                           headers=htmx(token, "create-user"))
    assert response.status_code == 422
    assert "already exists" in response.text


def test_changing_a_role_returns_the_row_and_records_old_and_new(client, make_user):
    admin, token = signed_in_admin(client, make_user)
    ops = make_user("ops")
    response = client.post(f"/admin/users/{ops.id}/role", data={"role": "manager"}, headers=htmx(token, f"user-{ops.id}"))
    assert response.status_code == 200
    assert response.text.lstrip().startswith(f'<tr id="user-{ops.id}"')
    assert "ops@example.com is now manager." in response.text  # the out-of-band toast
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user.role_changed")).one()
    assert (entry.actor_id, entry.entity_id, entry.changes) == (admin.id, str(ops.id), {"role": ["ops", "manager"]})


def test_the_last_active_admin_cannot_be_demoted(client, make_user):
    admin, token = signed_in_admin(client, make_user)
    response = client.post(f"/admin/users/{admin.id}/role", data={"role": "ops"}, headers=htmx(token, f"user-{admin.id}"))
    assert response.status_code == 422
    assert "last active admin" in response.text
    assert db.session.get(User, admin.id).role == "admin"


def test_a_deactivated_person_is_signed_out_on_the_next_request(client, make_user, app):
    _, token = signed_in_admin(client, make_user)
    support = make_user("support")
    other = app.test_client()
    login(other, "support@example.com")
    assert other.get("/stock").status_code == 200
    response = client.post(f"/admin/users/{support.id}/active", data={"active": "0"}, headers=htmx(token, f"user-{support.id}"))
    assert response.status_code == 200 and "Reactivate" in response.text
    assert other.get("/stock").status_code == 302


def test_admins_cannot_deactivate_themselves(client, make_user):
    admin, token = signed_in_admin(client, make_user)
    make_user("admin", email="second-admin@example.com")
    response = client.post(f"/admin/users/{admin.id}/active", data={"active": "0"}, headers=htmx(token, f"user-{admin.id}"))
    assert response.status_code == 422 and "your own account" in response.text


def test_the_users_list_filters_and_sorts_from_the_url(client, make_user):
    signed_in_admin(client, make_user)
    make_user("ops")
    make_user("buyer")
    page = client.get("/admin/users?role=ops", headers={"HX-Request": "true", "HX-Target": "users-table"})
    assert "ops@example.com" in page.text and "buyer@example.com" not in page.text
    assert "<html" not in page.text  # only the table fragment
    assert client.get("/admin/users?sort=-email").text.index("ops@example.com") < client.get("/admin/users?sort=-email").text.index("buyer@example.com")


def test_the_audit_log_shows_who_changed_what(client, make_user):
    admin, token = signed_in_admin(client, make_user)
    ops = make_user("ops")
    client.post(f"/admin/users/{ops.id}/role", data={"role": "buyer"}, headers=htmx(token, f"user-{ops.id}"))
    page = client.get("/admin/audit").text
    assert "user.role_changed" in page and "admin@example.com" in page and "ops → buyer" in page


def test_users_create_cli_generates_a_password_and_prints_it_once(app):
    result = app.test_cli_runner().invoke(args=["users", "create", "--role", "buyer", "new.buyer@example.com"])
    assert result.exit_code == 0, result.output
    password = result.output.split("Password (shown once): ")[1].strip()
    from app.services import users

    assert users.authenticate("new.buyer@example.com", password) is not None


def test_users_create_cli_refuses_an_unknown_role_and_a_bad_email(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "create", "--role", "wizard", "x@example.com"]).exit_code == 2
    bad = runner.invoke(args=["users", "create", "--role", "ops", "not-an-email"])
    assert bad.exit_code == 1 and "not a valid e-mail address" in bad.output and "Traceback" not in bad.output


def test_a_long_list_of_people_pages_by_fifty_and_keeps_its_filter(client, make_user):
    signed_in_admin(client, make_user)
    from app.services import users

    for number in range(60):
        users.create_user(f"picker{number:02d}@example.com", "ops", "long-enough-password", actor="cli")
    first = client.get("/admin/users?role=ops").text
    assert first.count('<tr id="user-') == 50 and "60 people" in first
    next_url = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "role=ops" in next_url
    second = client.get(next_url).text
    assert second.count('<tr id="user-') == 10 and "picker59@example.com" in second and "picker00@example.com" not in second


def test_the_audit_log_filters_by_subject_and_person_and_pages(client, make_user):
    admin, token = signed_in_admin(client, make_user)
    ops = make_user("ops")
    for role in ("buyer", "support", "manager") * 20:
        client.post(f"/admin/users/{ops.id}/role", data={"role": role}, headers=htmx(token, f"user-{ops.id}"))
    page = client.get("/admin/audit?entity=user&actor=admin@example.com").text
    assert page.count("user.role_changed") == 50 and "60 changes" in page
    assert "user.created" not in page  # the users were created by the CLI, not by this admin
    assert client.get("/admin/audit?after=garbage").status_code == 422
