"""Shared test settings, and a closing summary of where the tests ran."""
import os

os.environ["DROPDESK_ENV"] = "test"


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
