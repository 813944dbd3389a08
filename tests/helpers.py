"""Small helpers shared by integration and browser tests."""
from __future__ import annotations

import re

from app.config import Config

TEST_PASSWORD = "correct-horse-battery"


def make_config(database_url: str, redis_url: str, **settings: str) -> Config:
    environ = {"DROPDESK_ENV": "test", "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "LOGIN_RATE_LIMIT": "1000 per minute", **settings}
    return Config.from_environ(environ)


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client, email: str, password: str = TEST_PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token_from(page.text)})
