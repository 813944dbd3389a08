"""The dependency rule of DESIGN.md, checked on every import statement of the code."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_PURE = {"flask", "flask_sqlalchemy", "flask_login", "flask_wtf", "sqlalchemy", "redis", "rq",
                     "flask_rq", "httpx", "app.models", "app.services", "app.web", "app.extensions",
                     "app.connectors", "app.queues"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(folder: str, forbidden: set[str]) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for module in imported_modules(path):
            if any(module == bad or module.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {module}")
    return found


@pytest.mark.parametrize("folder", ["app/domain", "app/channels"])
def test_pure_core_imports_no_framework_or_io(folder):
    assert violations(folder, FORBIDDEN_IN_PURE) == []


def test_app_never_imports_workers():
    assert violations("app", {"workers"}) == []


def test_the_checker_itself_catches_a_forbidden_import(tmp_path):
    sample = tmp_path / "bad.py"
    sample.write_text("import os\nfrom sqlalchemy import select\nfrom app.web.listing import url_with\n")
    assert imported_modules(sample) >= {"sqlalchemy", "app.web.listing"}
