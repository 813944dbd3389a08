"""The public conformance scenarios (copied from ../shared/conformance), run through the project's CLI.

The comparisons are those of ../shared/conformance/check.py, so a pass here is a pass there.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
COMMANDS = {"routing": ["routing", "simulate"], "feeds": ["feeds", "normalize"], "channels": ["intake", "normalize"]}


def close(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) < 0.0051
    return a == b


def routing_mismatch(expected, got):
    if got.get("status") != expected["status"]:
        return f"status {got.get('status')} != {expected['status']}"
    if expected["status"] == "manual_review":
        return None if got.get("reason") == expected["reason"] else f"reason {got.get('reason')} != {expected['reason']}"
    for key in ("landed_cost", "delivery_days"):
        if not close(got.get(key), expected[key]):
            return f"{key} {got.get(key)} != {expected[key]}"
    shipments = sorted(got.get("shipments") or [], key=lambda s: s.get("supplier", ""))
    if len(shipments) != len(expected["shipments"]):
        return f"{len(shipments)} shipments != {len(expected['shipments'])}"
    for mine, theirs in zip(shipments, expected["shipments"]):
        for key in ("supplier", "carrier", "service", "goods", "shipping", "fees", "surcharges", "landed_cost", "delivery_days"):
            if not close(mine.get(key), theirs[key]):
                return f"{theirs['supplier']}.{key} {mine.get(key)} != {theirs[key]}"
        if [(line.get("sku"), line.get("qty")) for line in mine.get("lines", [])] != [(line["sku"], line["qty"]) for line in theirs["lines"]]:
            return f"{theirs['supplier']}.lines differ"
    return None


def feeds_mismatch(expected, got):
    records = sorted(got.get("records") or [], key=lambda r: r.get("sku", ""))
    if len(records) != len(expected["records"]):
        return f"{len(records)} records != {len(expected['records'])}"
    for mine, theirs in zip(records, expected["records"]):
        for key in ("sku", "quantity", "status", "updated_at", "cost"):
            if not close(mine.get(key), theirs.get(key)):
                return f"{theirs['sku']}.{key} {mine.get(key)!r} != {theirs.get(key)!r}"
    mine = sorted(((r.get("index"), r.get("reason")) for r in got.get("rejects") or []), key=str)
    theirs = sorted(((r["index"], r["reason"]) for r in expected["rejects"]), key=str)
    return None if mine == theirs else f"rejects {mine} != {theirs}"


def channels_mismatch(expected, got):
    if got.get("order") != expected["order"]:
        return "order differs: " + json.dumps(got.get("order"))[:300]
    mine = [(e.get("path"), e.get("reason")) for e in got.get("errors") or []]
    theirs = [(e["path"], e["reason"]) for e in expected["errors"]]
    return None if mine == theirs else f"errors {mine} != {theirs}"


MISMATCH = {"routing": routing_mismatch, "feeds": feeds_mismatch, "channels": channels_mismatch}
SCENARIOS = [(kind, path) for kind in COMMANDS for path in sorted((HERE / kind).glob("*.json"))]


@pytest.fixture(scope="module")
def cli_output():
    """Run a conformance command once over its folder, as check.py does; one kind failing spares the others."""
    outputs: dict[str, dict[str, dict]] = {}
    flask = str(Path(sys.executable).parent / "flask")

    def printed_for(kind: str) -> dict[str, dict]:
        if kind not in outputs:
            result = subprocess.run([flask, "--app", "wsgi", *COMMANDS[kind], str(HERE / kind)], cwd=ROOT,
                                    capture_output=True, text=True, timeout=120)
            outputs[kind] = {}
            for line in result.stdout.splitlines():
                if line.startswith("{"):
                    printed = json.loads(line)
                    outputs[kind][printed["name"]] = printed
        return outputs[kind]

    return printed_for


@pytest.mark.parametrize("kind,path", SCENARIOS, ids=[f"{kind}/{path.stem}" for kind, path in SCENARIOS])
def test_public_scenario_matches_its_expected_result(cli_output, kind, path):
    scenario = json.loads(path.read_text())
    got = cli_output(kind).get(scenario.get("name", path.name))
    assert got is not None, f"the CLI printed nothing for {path.name}"
    assert "error" not in got, got["error"]
    assert MISMATCH[kind](scenario["expect"], got) is None


def test_every_public_scenario_is_copied_here():
    shared = ROOT.parent / "shared" / "conformance"
    if not shared.exists():
        pytest.skip("../shared/conformance is not beside this checkout")
    for kind in COMMANDS:
        assert {p.name for p in (shared / kind).glob("*.json")} <= {p.name for p in (HERE / kind).glob("*.json")}, kind
