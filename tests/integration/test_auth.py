"""Signing in and out, sessions, throttling, CSRF, and what an expired htmx session gets."""
import dataclasses
import random
import uuid

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry
from tests.helpers import TEST_PASSWORD, csrf_token_from, login


def test_each_role_lands_on_its_home_page_after_signing_in(client, make_user):
    homes = {"admin": "/admin/users", "ops": "/exceptions", "buyer": "/stock", "support": "/orders", "manager": "/overview"}
    for role, home in homes.items():
        make_user(role)
        response = login(client, f"{role}@example.com")
        assert response.status_code == 302 and response.headers["Location"] == home, role
        assert client.get(home).status_code == 200
        client.post("/logout", data={"csrf_token": csrf_token_from(client.get(home).text)})


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(client, make_user):
    make_user("ops")
    response = login(client, "ops@example.com", "not-the-password")
    assert response.status_code == 422
    assert "do not match an active account" in response.text
    assert client.get("/overview").status_code == 302


def test_a_deactivated_person_cannot_sign_in(client, make_user, app):
    from app.services import users

    admin = make_user("admin")
    ops = make_user("ops")
    users.set_active(ops.id, False, actor=admin)
    assert login(client, "ops@example.com").status_code == 422


def test_next_only_leads_to_pages_on_this_site(client, make_user):
    make_user("buyer")
    page = client.get("/login")
    token = csrf_token_from(page.text)
    response = client.post("/login?next=https://evil.example.net/x",
                           data={"email": "buyer@example.com", "password": TEST_PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/stock"


def test_an_anonymous_page_request_is_sent_to_login_with_next(client):
    response = client.get("/stock?status=low_stock")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_an_expired_session_on_an_htmx_request_redirects_the_browser_not_the_fragment(client):
    response = client.get("/stock?q=mug", headers={"HX-Request": "true", "HX-Target": "stock-table"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")
    assert response.text == ""  # the login page is never swapped into the table


def test_session_cookie_is_http_only_and_same_site(client, make_user):
    make_user("ops")
    response = login(client, "ops@example.com")
    session_cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("dropdesk_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie


def test_a_post_without_csrf_token_is_refused(client, make_user):
    make_user("admin")
    login(client, "admin@example.com")
    response = client.post("/admin/users", data={"email": "new@example.com", "role": "ops"})
    assert response.status_code == 400
    assert "Form expired" in response.text


def test_an_htmx_post_carries_the_csrf_token_in_its_header(client, make_user):
    make_user("admin")
    login(client, "admin@example.com")
    token = csrf_token_from(client.get("/admin/users").text)
    headers = {"HX-Request": "true", "HX-Target": "create-user", "X-CSRFToken": token}
    response = client.post("/admin/users", data={"email": "new@example.com", "role": "ops", "password": ""}, headers=headers)
    assert response.status_code == 200
    refused = client.post("/admin/users", data={"email": "other@example.com", "role": "ops"},
                          headers={"HX-Request": "true", "HX-Target": "create-user"})
    assert refused.status_code == 400


def test_login_attempts_are_throttled_per_address_and_email(client, make_user, app):
    # Counters live in the shared Redis: a fresh address and e-mail keep other runs out of this count.
    email = f"throttled-{uuid.uuid4().hex[:8]}@example.com"
    make_user("support", email=email)
    client.environ_base["REMOTE_ADDR"] = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.7"
    config = app.config["DROPDESK"]
    app.config["DROPDESK"] = dataclasses.replace(config, login_rate_limit="3 per minute")
    try:
        statuses = [login(client, email, "wrong-password-here").status_code for _ in range(4)]
        client.environ_base["REMOTE_ADDR"] = "10.254.254.254"  # another address, same e-mail: still throttled
        from_elsewhere = login(client, email).status_code
    finally:
        app.config["DROPDESK"] = config
    assert statuses == [422, 422, 422, 429]
    assert from_elsewhere == 429


def test_signing_in_is_not_audited_but_creating_a_user_is(app, make_user):
    make_user("admin")
    entries = db.session.scalars(select(AuditEntry)).all()
    assert [(e.action, e.actor_label) for e in entries] == [("user.created", "cli")]
