"""A live console (real HTTP server thread, SQLite file, real Redis) and Debian's Chromium via Playwright."""
from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import create_app
from tests.helpers import make_config

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium`"
    for item in items:
        if "tests/browser" in str(item.fspath):
            # Locally a missing browser skips with this message; in CI it fails, never a silent skip.
            item.add_marker(pytest.mark.usefixtures("_chromium_required") if os.environ.get("CI")
                            else pytest.mark.skip(reason=message))


@pytest.fixture
def _chromium_required():
    pytest.fail(f"Chromium is required in CI but missing at {CHROMIUM}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, redis_url):
    from flask_migrate import upgrade

    from app.services import demo

    database = tmp_path_factory.mktemp("browser-db") / "dropdesk.sqlite3"
    app = create_app(make_config(f"sqlite:///{database}", redis_url, SANDBOX="on"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    # The demo suppliers answer from this same server's sandbox, as with `make run`.
    app.config["DROPDESK"] = dataclasses.replace(app.config["DROPDESK"], sandbox_url=url)
    with app.app_context():
        upgrade()
        demo.seed()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": url, "app": app}
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=live_server["url"])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.js_errors = errors
    yield page
    context.close()


@pytest.fixture
def screenshot():
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        # caret="initial": hiding the caret adds style attributes, which the CSP then refuses on the next swap.
        page.screenshot(path=str(path), full_page=True, caret="initial")
        return path

    return take
