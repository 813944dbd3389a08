"""Supplier feed normalization: conformance scenarios, each FEEDS.md rule, mapping errors, safe XML."""

from __future__ import annotations

import ast
import json
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from xml.etree.ElementTree import fromstring as trusted_xml

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.connectors.xml import parse_supplier_xml
from app.domain.feeds import (
    FeedMapping,
    FeedParseError,
    FeedReject,
    NormalizedFeed,
    RejectReason,
    StockRecord,
    normalize_feed,
    normalize_scenario,
    parse_xml_refusing_entities,
)
from app.domain.stock import StockStatus, unified_stock_level

ROOT = Path(__file__).resolve().parents[2]
SCENARIO_FILES = sorted((ROOT / "tests" / "conformance" / "feeds").glob("*.json"))
RECEIVED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
RECEIVED = "2026-11-24T10:00:00Z"

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE catalog [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<catalog><products><product sku="&lol9;"><stock>5</stock></product></products></catalog>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE catalog [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<catalog><products><product sku="&secret;"><stock>5</stock></product></products></catalog>"""

XML_MAPPING = {
    "format": "xml",
    "records": "products/product",
    "fields": {"sku": "@sku", "quantity": "stock"},
}


# --- helpers -----------------------------------------------------------------------------------


def close(a, b) -> bool:
    """check.py's value comparison."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) < 0.0051
    return a == b


def cmp_feeds(exp: dict, got: dict) -> str | None:
    """The grader's comparison (../shared/conformance/check.py), verbatim in behaviour."""
    gr = sorted(got.get("records") or [], key=lambda r: r.get("sku", ""))
    if len(gr) != len(exp["records"]):
        return f"{len(gr)} records != {len(exp['records'])}"
    for g, e in zip(gr, exp["records"]):
        for k in ("sku", "quantity", "status", "updated_at", "cost"):
            if not close(g.get(k), e.get(k)):
                return f"{e['sku']}.{k} {g.get(k)!r} != {e.get(k)!r}"
    grj = sorted(((r.get("index"), r.get("reason")) for r in got.get("rejects") or []), key=str)
    erj = sorted(((r["index"], r["reason"]) for r in exp["rejects"]), key=str)
    return None if grj == erj else f"rejects {grj} != {erj}"


def printed(result: dict) -> dict:
    """The result as the grader sees it: printed by the CLI as JSON, read back by check.py."""
    return json.loads(json.dumps(result))


def run_json(items, threshold: int | None = None, **mapping) -> dict:
    """Normalize a JSON list feed through the scenario entry point; fields default to sku/qty/ts/status/cost."""
    fields = mapping.pop(
        "fields", {"sku": "sku", "quantity": "qty", "updated_at": "ts", "status": "flag", "cost": "cost"}
    )
    scenario = {
        "mapping": {"format": "json", "records": "", "fields": fields, **mapping},
        "received_at": RECEIVED,
        "input": items,
    }
    if threshold is not None:
        scenario["threshold"] = threshold
    return printed(normalize_scenario(scenario))


def run_csv(text: str | bytes, **mapping) -> dict:
    """Normalize a CSV feed; fields default to the SKU/Qty/Updated columns."""
    fields = mapping.pop("fields", {"sku": "SKU", "quantity": "Qty", "updated_at": "Updated"})
    return normalize_feed(text, {"format": "csv", "fields": fields, **mapping}, RECEIVED_AT).to_json()


def only_record(result: dict) -> dict:
    """The single record of a one-record feed, failing loudly if it was rejected."""
    assert result["rejects"] == [], result
    (record,) = result["records"]
    return record


def reasons(result: dict) -> list[tuple[int, str]]:
    return [(reject["index"], reject["reason"]) for reject in result["rejects"]]


# --- conformance -------------------------------------------------------------------------------


def test_scenario_folder_holds_every_public_scenario():
    assert len(SCENARIO_FILES) >= 14


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda path: path.stem)
def test_every_feed_scenario_matches_its_expected_output(path):
    scenario = json.loads(path.read_text())
    assert cmp_feeds(scenario["expect"], printed(normalize_scenario(scenario))) is None


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda path: path.stem)
def test_every_feed_scenario_matches_when_read_with_decimal_numbers_as_the_cli_does(path):
    scenario = json.loads(path.read_text(), parse_float=Decimal)
    expect = json.loads(json.dumps(scenario["expect"], default=float))
    assert cmp_feeds(expect, printed(normalize_scenario(scenario))) is None


def test_output_has_exactly_the_printed_shape_and_omits_a_missing_cost():
    result = run_json([{"sku": "B", "qty": 3, "cost": "2.5"}, {"sku": "A", "qty": 30}])
    assert set(result) == {"records", "rejects"}
    assert result["records"] == [
        {"sku": "A", "quantity": 30, "status": "in_stock", "updated_at": "2026-11-24T10:00:00Z"},
        {"sku": "B", "quantity": 3, "status": "low_stock", "updated_at": "2026-11-24T10:00:00Z", "cost": 2.5},
    ]


def test_domain_result_is_data_with_decimal_cost_and_utc_time():
    feed = normalize_feed(
        [{"sku": "A", "qty": 4, "cost": 1.005}],
        {"format": "json", "fields": {"sku": "sku", "quantity": "qty", "cost": "cost"}},
        RECEIVED_AT,
    )
    assert isinstance(feed, NormalizedFeed)
    assert feed.records == (StockRecord("A", 4, StockStatus.LOW_STOCK, RECEIVED_AT, Decimal("1.01")),)
    assert feed.records[0].updated_at.tzinfo is UTC


# --- sku ---------------------------------------------------------------------------------------


def test_numeric_sku_becomes_its_text_and_text_sku_is_trimmed():
    result = run_json([{"sku": 1234, "qty": 20}, {"sku": "  MUG-1\t", "qty": 20}])
    assert [record["sku"] for record in result["records"]] == ["1234", "MUG-1"]


def test_skus_differing_only_in_case_are_different_products():
    result = run_json([{"sku": "abc", "qty": 20}, {"sku": "ABC", "qty": 20}])
    assert [record["sku"] for record in result["records"]] == ["ABC", "abc"]
    assert result["rejects"] == []


@pytest.mark.parametrize("sku", [["A"], {"code": "A"}, True, None, "", "   "])
def test_sku_that_is_empty_or_not_text_or_number_is_rejected_missing_sku(sku):
    assert reasons(run_json([{"sku": sku, "qty": 5}])) == [(0, "missing_sku")]


# --- quantity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "quantity"),
    [
        (12, 12),
        (7.9, 7),
        (-3, 0),
        (-0.5, 0),
        ("12", 12),
        (" 7.9 ", 7),
        ("1,200", 1200),
        ("1,200.9", 1200),
        ("1.200,5", 1),  # no decimal comma: the comma is dropped, leaving 1.2005
        (">50", 50),
        (">= 50", 50),
        ("> 50", 50),
        ("50+", 50),
        (">1,000", 1000),
        ("-4", 0),
        ("+7", 7),
        ("1e2", 100),
    ],
)
def test_quantity_numbers_and_number_texts_become_whole_non_negative_counts(raw, quantity):
    assert only_record(run_json([{"sku": "A", "qty": raw}]))["quantity"] == quantity


@pytest.mark.parametrize(
    "raw", ["lots", "12 pcs", "NaN", "inf", "1_000", "٣", [5], {"n": 5}, float("nan"), float("inf")]
)
def test_quantity_that_is_no_number_and_no_mapped_status_is_rejected_bad_quantity(raw):
    assert reasons(run_json([{"sku": "A", "qty": raw}])) == [(0, "bad_quantity")]


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_empty_or_null_quantity_without_status_is_rejected_missing_quantity(raw):
    assert reasons(run_json([{"sku": "A", "qty": raw}])) == [(0, "missing_quantity")]


def test_quantity_field_absent_from_mapping_counts_as_missing():
    result = run_json([{"sku": "A", "qty": 5}], fields={"sku": "sku"})
    assert reasons(result) == [(0, "missing_quantity")]


def test_status_words_in_the_quantity_field_act_as_the_supplier_status():
    status_map = {
        "Sold Out": "out_of_stock",
        "Available": "in_stock",
        "Few left": "low_stock",
        "EOL": "discontinued",
    }
    result = run_json(
        [
            {"sku": "A", "qty": " sold out "},
            {"sku": "B", "qty": "AVAILABLE"},
            {"sku": "C", "qty": "few left"},
            {"sku": "D", "qty": "eol"},
        ],
        status_map=status_map,
        assume_quantity=40,
    )
    assert [(r["sku"], r["quantity"], r["status"]) for r in result["records"]] == [
        ("A", 0, "out_of_stock"),
        ("B", 40, "in_stock"),
        ("C", 40, "low_stock"),
        ("D", 0, "discontinued"),
    ]


def test_status_field_wins_over_status_words_in_the_quantity_field():
    status_map = {"available": "in_stock", "eol": "discontinued"}
    result = run_json(
        [{"sku": "A", "qty": "available", "flag": "EOL"}], status_map=status_map, assume_quantity=40
    )
    assert only_record(result)["status"] == "discontinued"


def test_status_words_in_quantity_without_assumption_are_rejected_missing_quantity():
    result = run_json([{"sku": "A", "qty": "in stock"}], status_map={"in stock": "in_stock"})
    assert reasons(result) == [(0, "missing_quantity")]


def test_true_quantity_assumes_the_mapping_quantity_and_false_is_out_of_stock():
    result = run_json([{"sku": "A", "qty": True}, {"sku": "B", "qty": False}], assume_quantity=30)
    assert [(r["quantity"], r["status"]) for r in result["records"]] == [
        (30, "in_stock"),
        (0, "out_of_stock"),
    ]


def test_true_quantity_without_assumption_is_rejected_missing_quantity():
    assert reasons(run_json([{"sku": "A", "qty": True}])) == [(0, "missing_quantity")]


@pytest.mark.parametrize(
    ("flag", "quantity", "status"),
    [("gone", 0, "discontinued"), ("none", 0, "out_of_stock"), ("yes", 7, "low_stock")],
)
def test_missing_quantity_follows_from_the_mapped_status(flag, quantity, status):
    status_map = {"gone": "discontinued", "none": "out_of_stock", "yes": "in_stock"}
    record = only_record(run_json([{"sku": "A", "flag": flag}], status_map=status_map, assume_quantity=7))
    assert (record["quantity"], record["status"]) == (quantity, status)


# --- status ------------------------------------------------------------------------------------


def test_discontinued_status_zeroes_a_reported_quantity():
    record = only_record(
        run_json([{"sku": "A", "qty": 80, "flag": "EOL"}], status_map={"eol": "discontinued"})
    )
    assert (record["quantity"], record["status"]) == (0, "discontinued")


def test_out_of_stock_status_zeroes_a_reported_quantity():
    record = only_record(
        run_json([{"sku": "A", "qty": 80, "flag": "OOS"}], status_map={"OOS": "out_of_stock"})
    )
    assert (record["quantity"], record["status"]) == (0, "out_of_stock")


def test_supplier_low_flag_never_overrides_a_reported_quantity():
    record = only_record(run_json([{"sku": "A", "qty": 80, "flag": "low"}], status_map={"LOW": "low_stock"}))
    assert (record["quantity"], record["status"]) == (80, "in_stock")


def test_assumed_quantity_with_low_flag_is_low_stock_even_above_threshold():
    record = only_record(
        run_json([{"sku": "A", "flag": "low"}], status_map={"LOW": "low_stock"}, assume_quantity=500)
    )
    assert (record["quantity"], record["status"]) == (500, "low_stock")


def test_assumed_quantity_below_threshold_is_low_stock():
    record = only_record(
        run_json([{"sku": "A", "flag": "in"}], status_map={"in": "in_stock"}, assume_quantity=3)
    )
    assert (record["quantity"], record["status"]) == (3, "low_stock")


def test_unmapped_status_text_is_ignored_and_the_quantity_decides():
    result = run_json(
        [{"sku": "A", "qty": 3, "flag": "Maybe"}, {"sku": "B", "qty": 0, "flag": ["x"]}],
        status_map={"in": "in_stock"},
    )
    assert [r["status"] for r in result["records"]] == ["low_stock", "out_of_stock"]


def test_numeric_status_code_is_looked_up_as_text():
    record = only_record(run_json([{"sku": "A", "qty": 9, "flag": 0}], status_map={"0": "out_of_stock"}))
    assert record["status"] == "out_of_stock"


@pytest.mark.parametrize(
    ("quantity", "status"), [(0, "out_of_stock"), (1, "low_stock"), (24, "low_stock"), (25, "in_stock")]
)
def test_threshold_separates_low_from_in_stock(quantity, status):
    assert only_record(run_json([{"sku": "A", "qty": quantity}], threshold=25))["status"] == status


def test_stock_level_refuses_a_negative_quantity():
    with pytest.raises(ValueError, match="negative"):
        unified_stock_level(-1, None)


# --- updated_at --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1795507200, "2026-11-24T08:00:00Z"),
        ("1795507200", "2026-11-24T08:00:00Z"),
        (1795510800123, "2026-11-24T09:00:00Z"),
        (" 1795510800999 ", "2026-11-24T09:00:00Z"),
    ],
)
def test_epoch_seconds_and_milliseconds_from_numbers_and_digit_strings(raw, expected):
    assert only_record(run_json([{"sku": "A", "qty": 20, "ts": raw}]))["updated_at"] == expected


@pytest.mark.parametrize(
    ("raw", "expected"), [(99999999999, "5138-11-16T09:46:39Z"), ("100000000000", "1973-03-03T09:46:40Z")]
)
def test_epoch_figures_from_ten_to_the_eleven_are_milliseconds(raw, expected):
    mapping = {"format": "json", "fields": {"sku": "sku", "quantity": "qty", "updated_at": "ts"}}
    scenario = {
        "mapping": mapping,
        "received_at": "6000-01-01T00:00:00Z",
        "input": [{"sku": "A", "qty": 20, "ts": raw}],
    }
    assert only_record(printed(normalize_scenario(scenario)))["updated_at"] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-24 08:15:00", "2026-11-24T07:15:00Z"),
        ("2026-11-24T08:15:00", "2026-11-24T07:15:00Z"),
        ("2026-07-01 08:15:00", "2026-07-01T06:15:00Z"),
        ("2026-11-24T08:15:00+00:00", "2026-11-24T08:15:00Z"),
        ("2026-11-24T03:15:00-05:00", "2026-11-24T08:15:00Z"),
        ("2026-11-24T08:15:00.999Z", "2026-11-24T08:15:00Z"),
    ],
)
def test_timestamp_without_offset_is_read_in_the_mapping_timezone(raw, expected):
    record = only_record(run_json([{"sku": "A", "qty": 20, "ts": raw}], timezone="Europe/Berlin"))
    assert record["updated_at"] == expected


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_missing_or_blank_timestamp_means_received_at(raw):
    assert only_record(run_json([{"sku": "A", "qty": 20, "ts": raw}]))["updated_at"] == RECEIVED


def test_supplier_clock_up_to_five_minutes_ahead_is_believed():
    assert (
        only_record(run_json([{"sku": "A", "qty": 20, "ts": "2026-11-24T10:05:00Z"}]))["updated_at"]
        == "2026-11-24T10:05:00Z"
    )


def test_supplier_clock_beyond_five_minutes_ahead_is_compared_before_rounding():
    # 10:05:00.5 rounds down to 10:05:00, but is later than the allowance: received_at wins.
    assert (
        only_record(run_json([{"sku": "A", "qty": 20, "ts": "2026-11-24T10:05:00.5Z"}]))["updated_at"]
        == RECEIVED
    )


def test_received_at_with_a_fraction_is_printed_in_whole_seconds():
    scenario = {
        "mapping": {"format": "json", "fields": {"sku": "sku", "quantity": "qty"}},
        "received_at": "2026-11-24T10:00:00.900Z",
        "input": [{"sku": "A", "qty": 20}],
    }
    assert only_record(printed(normalize_scenario(scenario)))["updated_at"] == RECEIVED


@pytest.mark.parametrize(
    "raw",
    [
        "yesterday",
        "2026-13-01",
        "2026-11-24x10:00:00",
        "1795507200.5",
        "9" * 5000,
        1795507200.0,
        True,
        ["2026-11-24"],
        {"at": 1},
    ],
)
def test_unreadable_timestamp_is_rejected_bad_timestamp(raw):
    assert reasons(run_json([{"sku": "A", "qty": 20, "ts": raw}])) == [(0, "bad_timestamp")]


def test_first_reason_wins_in_the_order_sku_quantity_timestamp():
    result = run_json(
        [
            {"sku": "", "qty": "lots", "ts": "never"},
            {"sku": "A", "qty": "lots", "ts": "never"},
            {"sku": "B", "ts": "never"},
        ]
    )
    assert reasons(result) == [(0, "missing_sku"), (1, "bad_quantity"), (2, "missing_quantity")]


# --- cost --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cost"),
    [
        ("54.999", Decimal("55.00")),
        (2.675, Decimal("2.68")),
        ("0.005", Decimal("0.01")),
        (" 3.10 ", Decimal("3.10")),
        (88, Decimal("88.00")),
        ("-1.234", Decimal("-1.23")),
    ],
)
def test_cost_is_rounded_half_up_to_cents(raw, cost):
    feed = normalize_feed(
        [{"sku": "A", "qty": 20, "cost": raw}],
        {"format": "json", "fields": {"sku": "sku", "quantity": "qty", "cost": "cost"}},
        RECEIVED_AT,
    )
    assert feed.records[0].cost == cost
    assert close(feed.to_json()["records"][0]["cost"], float(cost))


@pytest.mark.parametrize("raw", ["$5", "1,200.50", "n/a", "", True, [1], {"eur": 1}, float("nan")])
def test_unusable_cost_is_omitted_without_a_reject(raw):
    record = only_record(run_json([{"sku": "A", "qty": 20, "cost": raw}]))
    assert "cost" not in record


# --- duplicates --------------------------------------------------------------------------------


def test_stale_duplicate_sku_keeps_the_latest_report():
    result = run_json(
        [
            {"sku": "D", "qty": 1, "ts": "2026-11-24T07:00:00Z"},
            {"sku": "D", "qty": 50, "ts": "2026-11-24T09:00:00Z"},
            {"sku": "D", "qty": 2, "ts": "2026-11-24T08:00:00Z"},
        ]
    )
    assert only_record({"records": result["records"], "rejects": []})["quantity"] == 50
    assert reasons(result) == [(0, "duplicate_sku"), (2, "duplicate_sku")]


def test_duplicates_at_the_same_time_keep_the_later_in_the_feed():
    result = run_json([{"sku": "D", "qty": 11}, {"sku": "D", "qty": 12}])
    assert [r["quantity"] for r in result["records"]] == [12]
    assert reasons(result) == [(0, "duplicate_sku")]


def test_duplicate_times_are_compared_after_rounding_to_whole_seconds():
    result = run_json(
        [
            {"sku": "D", "qty": 11, "ts": "2026-11-24T09:00:00.9Z"},
            {"sku": "D", "qty": 12, "ts": "2026-11-24T09:00:00.1Z"},
        ]
    )
    assert [r["quantity"] for r in result["records"]] == [12]


def test_clock_ahead_duplicate_competes_with_received_at():
    result = run_json(
        [
            {"sku": "D", "qty": 11, "ts": "2027-01-01T00:00:00Z"},
            {"sku": "D", "qty": 12, "ts": "2026-11-24T09:00:00Z"},
        ]
    )
    assert [r["quantity"] for r in result["records"]] == [11]
    assert reasons(result) == [(1, "duplicate_sku")]


def test_record_rejected_for_another_reason_does_not_compete_as_a_duplicate():
    result = run_json(
        [{"sku": "D", "qty": 11}, {"sku": "D", "qty": "lots"}, {"sku": "D", "qty": 5, "ts": "bad"}]
    )
    assert [r["quantity"] for r in result["records"]] == [11]
    assert reasons(result) == [(1, "bad_quantity"), (2, "bad_timestamp")]


def test_rejects_carry_the_sku_and_a_detail_for_the_preview():
    feed = normalize_feed(
        [{"sku": "A", "qty": "lots"}],
        {"format": "json", "fields": {"sku": "sku", "quantity": "qty"}},
        RECEIVED_AT,
    )
    (reject,) = feed.rejects
    assert isinstance(reject, FeedReject)
    assert (reject.index, reject.reason, reject.sku) == (0, RejectReason.BAD_QUANTITY, "A")
    assert "lots" in reject.detail


# --- JSON body ---------------------------------------------------------------------------------


def test_json_dotted_paths_reach_into_objects_and_lists():
    body = {"data": {"items": [{"variants": [{"sku": "V-1", "stock": {"available": "15"}}]}]}}
    mapping = {
        "format": "json",
        "records": "data.items",
        "fields": {"sku": "variants.0.sku", "quantity": "variants.0.stock.available"},
    }
    feed = normalize_feed(body, mapping, RECEIVED_AT)
    assert [(r.sku, r.quantity) for r in feed.records] == [("V-1", 15)]


def test_json_body_given_as_text_or_bytes_is_decoded():
    mapping = {"format": "json", "records": "items", "fields": {"sku": "sku", "quantity": "qty"}}
    text = '\ufeff{"items": [{"sku": "A", "qty": 20}]}'
    assert normalize_feed(text, mapping, RECEIVED_AT).records[0].quantity == 20
    assert normalize_feed(text.encode("utf-8"), mapping, RECEIVED_AT).records[0].quantity == 20


def test_broken_json_text_cannot_be_parsed():
    with pytest.raises(FeedParseError, match="JSON"):
        normalize_feed('{"items": [', {"format": "json", "fields": {"sku": "sku"}}, RECEIVED_AT)


def test_records_path_leading_to_an_object_cannot_be_parsed():
    with pytest.raises(FeedParseError, match="not a list"):
        normalize_feed(
            {"items": {"sku": "A"}},
            {"format": "json", "records": "items", "fields": {"sku": "sku"}},
            RECEIVED_AT,
        )


@pytest.mark.parametrize("body", [{"page": {}}, {"items": None}, {"items": []}])
def test_missing_or_empty_records_list_is_an_empty_feed(body):
    feed = normalize_feed(body, {"format": "json", "records": "items", "fields": {"sku": "sku"}}, RECEIVED_AT)
    assert feed == NormalizedFeed((), ())


def test_record_that_is_not_an_object_is_rejected_missing_sku():
    assert reasons(run_json([{"sku": "A", "qty": 20}, "junk", None])) == [
        (1, "missing_sku"),
        (2, "missing_sku"),
    ]


# --- CSV body ----------------------------------------------------------------------------------


def test_csv_headers_match_trimmed_and_case_insensitively():
    record = only_record(run_csv(" sku ,QTY, updated \nA,20,2026-11-24T08:00:00Z\n"))
    assert (record["sku"], record["quantity"], record["updated_at"]) == ("A", 20, "2026-11-24T08:00:00Z")


def test_csv_blank_lines_are_skipped_and_not_counted_in_reject_indexes():
    text = "\nSKU,Qty\r\n\r\nA,5\r\n , \r\n,,\r\nB,lots\r\n\r\n"
    result = run_csv(text)
    assert [r["sku"] for r in result["records"]] == ["A"]
    assert reasons(result) == [(1, "bad_quantity")]


def test_csv_quoting_follows_rfc_4180():
    text = 'SKU,Qty,Name\n"A,1",20,"Mug ""large""\nsecond line"\n"B",  "7"  ,x\n'
    result = run_csv(text)
    assert [(r["sku"], r["quantity"]) for r in result["records"]] == [("A,1", 20)]
    # `  "7"  ` is not a quoted cell under RFC 4180: its quotes are part of the text.
    assert reasons(result) == [(1, "bad_quantity")]


def test_csv_bytes_with_byte_order_mark_and_custom_delimiter():
    body = "\ufeffSKU;Qty;Cost\nA;1.200;4,5\nB;1,200;4.5\n".encode("utf-8")
    result = run_csv(body, csv={"delimiter": ";"}, fields={"sku": "sku", "quantity": "qty", "cost": "cost"})
    # No decimal comma: "1.200" is one point two, "4,5" is no cost.
    assert result["records"] == [
        {"sku": "A", "quantity": 1, "status": "low_stock", "updated_at": RECEIVED},
        {"sku": "B", "quantity": 1200, "status": "in_stock", "updated_at": RECEIVED, "cost": 4.5},
    ]


def test_csv_short_rows_and_missing_columns_leave_values_missing():
    result = run_csv("SKU,Qty\nA\nB,20\n", fields={"sku": "SKU", "quantity": "Qty", "updated_at": "Stand"})
    assert reasons(result) == [(0, "missing_quantity")]
    assert only_record({"records": result["records"], "rejects": []})["updated_at"] == RECEIVED


def test_csv_with_only_a_header_is_an_empty_feed():
    assert run_csv("SKU,Qty\n") == {"records": [], "rejects": []}
    assert run_csv("") == {"records": [], "rejects": []}


def test_csv_that_is_not_utf8_cannot_be_parsed():
    with pytest.raises(FeedParseError, match="UTF-8"):
        run_csv(b"SKU,Qty\n\xff\xfe,1\n")


# --- XML body ----------------------------------------------------------------------------------


XML_BODY = """<?xml version="1.0" encoding="UTF-8"?>
<catalog>
  <products>
    <product sku=" X-1 ">
      <stock available="44"><warehouse><count>40</count></warehouse></stock>
      <updated>2026-11-24 05:00:00</updated>
      <price currency="EUR">3.10</price>
      <availability>  Limited </availability>
    </product>
    <product><code>X-2</code><stock/></product>
  </products>
</catalog>"""


@pytest.mark.parametrize("parse_xml", [parse_supplier_xml, parse_xml_refusing_entities])
def test_xml_locations_reach_attributes_children_and_grandchildren(parse_xml):
    mapping = {
        "format": "xml",
        "records": "products/product",
        "timezone": "America/New_York",
        "status_map": {"limited": "low_stock"},
        "fields": {
            "sku": "@sku",
            "quantity": "stock/warehouse/count",
            "updated_at": "updated",
            "cost": "price",
            "status": "availability",
        },
    }
    feed = normalize_feed(XML_BODY, mapping, RECEIVED_AT, parse_xml=parse_xml)
    assert feed.to_json() == {
        "records": [
            {
                "sku": "X-1",
                "quantity": 40,
                "status": "in_stock",
                "updated_at": "2026-11-24T10:00:00Z",
                "cost": 3.1,
            }
        ],
        "rejects": [{"index": 1, "reason": "missing_sku"}],
    }
    child_attribute = dict(mapping, fields={"sku": "code", "quantity": "stock@available"})
    assert normalize_feed(XML_BODY.encode(), child_attribute, RECEIVED_AT, parse_xml=parse_xml).to_json()[
        "rejects"
    ] == [
        {"index": 0, "reason": "missing_sku"},
        {"index": 1, "reason": "missing_quantity"},
    ]


def test_xml_accepts_an_already_parsed_element_without_a_parser():
    element = trusted_xml(
        "<catalog><products><product sku='A'><stock>20</stock></product></products></catalog>"
    )
    assert normalize_feed(element, XML_MAPPING, RECEIVED_AT).records[0].quantity == 20


def test_xml_records_default_to_the_children_of_the_document_element():
    mapping = {"format": "xml", "fields": {"sku": "@sku", "quantity": "@qty"}}
    feed = normalize_feed(
        "<feed><item sku='A' qty='20'/><item sku='B' qty='0'/></feed>",
        mapping,
        RECEIVED_AT,
        parse_xml=parse_supplier_xml,
    )
    assert [(r.sku, r.status) for r in feed.records] == [
        ("A", StockStatus.IN_STOCK),
        ("B", StockStatus.OUT_OF_STOCK),
    ]


def test_namespaced_xml_is_reached_with_wildcard_paths():
    body = "<c xmlns='urn:supplier'><p code='A'><q>20</q></p></c>"
    mapping = {"format": "xml", "records": "{*}p", "fields": {"sku": "@code", "quantity": "{*}q"}}
    assert normalize_feed(body, mapping, RECEIVED_AT, parse_xml=parse_supplier_xml).records[0].quantity == 20


def test_xml_text_without_a_parser_is_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="parse_xml"):
        normalize_feed("<catalog/>", XML_MAPPING, RECEIVED_AT)


@pytest.mark.parametrize("parse_xml", [parse_supplier_xml, parse_xml_refusing_entities])
def test_broken_xml_cannot_be_parsed(parse_xml):
    with pytest.raises(FeedParseError, match="not well-formed"):
        normalize_feed("<catalog><products></catalog>", XML_MAPPING, RECEIVED_AT, parse_xml=parse_xml)


def test_entity_expansion_bomb_is_refused_by_the_defusedxml_connector():
    with pytest.raises(FeedParseError, match="refused"):
        normalize_feed(BILLION_LAUGHS.encode(), XML_MAPPING, RECEIVED_AT, parse_xml=parse_supplier_xml)


def test_external_entity_is_refused_by_the_defusedxml_connector():
    with pytest.raises(FeedParseError, match="refused"):
        parse_supplier_xml(EXTERNAL_ENTITY)


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_scenario_default_xml_parser_refuses_entity_declarations(body):
    scenario = {"mapping": XML_MAPPING, "received_at": RECEIVED, "input": body}
    with pytest.raises(FeedParseError, match="refused"):
        normalize_scenario(scenario)


# --- mapping and scenario errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ([], "mapping must be an object"),
        ({"fields": {"sku": "sku"}}, "format must be one of json, csv, xml"),
        ({"format": "yaml", "fields": {"sku": "sku"}}, "format must be one of"),
        ({"format": "json"}, "fields must be an object"),
        ({"format": "json", "fields": {"quantity": "qty"}}, "fields.sku is required"),
        ({"format": "json", "fields": {"sku": 3}}, "fields.sku must be a string"),
        ({"format": "json", "fields": {"sku": "sku", "qty": "q"}}, "unknown field.*qty"),
        ({"format": "json", "fields": {"sku": "sku"}, "statusmap": {}}, "unknown key.*statusmap"),
        ({"format": "json", "fields": {"sku": "sku"}, "records": ["items"]}, "records must be a string"),
        (
            {"format": "json", "fields": {"sku": "sku"}, "status_map": {"Yes": "available"}},
            r"status_map\['Yes'\] must be one of",
        ),
        ({"format": "json", "fields": {"sku": "sku"}, "status_map": {" ": "in_stock"}}, "non-empty"),
        (
            {
                "format": "json",
                "fields": {"sku": "sku"},
                "status_map": {"Yes": "in_stock", " yes": "out_of_stock"},
            },
            "twice",
        ),
        (
            {"format": "json", "fields": {"sku": "sku"}, "status_map": ["in_stock"]},
            "status_map must be an object",
        ),
        ({"format": "json", "fields": {"sku": "sku"}, "timezone": "Mars/Olympus"}, "not a known IANA zone"),
        ({"format": "json", "fields": {"sku": "sku"}, "timezone": "../etc"}, "not a known IANA zone"),
        ({"format": "json", "fields": {"sku": "sku"}, "timezone": 1}, "IANA zone name"),
        ({"format": "json", "fields": {"sku": "sku"}, "assume_quantity": -1}, "assume_quantity"),
        ({"format": "json", "fields": {"sku": "sku"}, "assume_quantity": 2.5}, "assume_quantity"),
        ({"format": "json", "fields": {"sku": "sku"}, "assume_quantity": True}, "assume_quantity"),
        (
            {"format": "csv", "fields": {"sku": "sku"}, "csv": {"delimiter": ";;"}},
            "delimiter must be one character",
        ),
        (
            {"format": "csv", "fields": {"sku": "sku"}, "csv": {"delimiter": '"'}},
            "delimiter must be one character",
        ),
        ({"format": "csv", "fields": {"sku": "sku"}, "csv": {"quote": "'"}}, "unknown key.*quote"),
        (
            {"format": "xml", "fields": {"sku": "@sku"}, "records": "/catalog/product"},
            "records.*not a valid ElementTree path",
        ),
        ({"format": "xml", "fields": {"sku": "@sku"}, "records": "product["}, "not a valid ElementTree path"),
        ({"format": "xml", "fields": {"sku": "code@"}}, "names no attribute"),
    ],
)
def test_bad_mapping_is_refused_with_a_message_naming_the_problem(mapping, message):
    with pytest.raises(ValueError, match=message):
        FeedMapping.from_dict(mapping)


def test_mapping_reads_into_frozen_data_with_normalized_status_texts():
    mapping = FeedMapping.from_dict(
        {
            "format": "csv",
            "fields": {"sku": "SKU"},
            "status_map": {" In Stock ": "in_stock"},
            "timezone": "Europe/Berlin",
        }
    )
    assert mapping.status_map == {"in stock": StockStatus.IN_STOCK}
    assert (mapping.csv_delimiter, str(mapping.timezone), mapping.assume_quantity) == (
        ",",
        "Europe/Berlin",
        None,
    )
    with pytest.raises(AttributeError):
        mapping.assume_quantity = 5  # type: ignore[misc]


def test_xml_predicate_with_an_at_sign_is_not_taken_for_an_attribute():
    mapping = {"format": "xml", "records": "p", "fields": {"sku": "@id", "quantity": "stock[@kind='free']@n"}}
    body = "<c><p id='A'><stock kind='held' n='3'/><stock kind='free' n='30'/></p></c>"
    assert normalize_feed(body, mapping, RECEIVED_AT, parse_xml=parse_supplier_xml).records[0].quantity == 30


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"received_at": "soon"}, "received_at"),
        ({"received_at": 5}, "received_at"),
        ({"threshold": -1}, "threshold"),
        ({"threshold": "10"}, "threshold"),
    ],
)
def test_bad_scenario_values_are_refused(change, message):
    scenario = {
        "mapping": {"format": "json", "fields": {"sku": "sku"}},
        "received_at": RECEIVED,
        "input": [],
        **change,
    }
    with pytest.raises(ValueError, match=message):
        normalize_scenario(scenario)


def test_scenario_without_input_is_refused():
    with pytest.raises(ValueError, match="no input"):
        normalize_scenario({"mapping": {"format": "json", "fields": {"sku": "sku"}}, "received_at": RECEIVED})


def test_naive_received_at_is_refused_by_normalize_feed():
    with pytest.raises(ValueError, match="timezone-aware"):
        normalize_feed([], {"format": "json", "fields": {"sku": "sku"}}, datetime(2026, 11, 24, 10))


# --- properties --------------------------------------------------------------------------------


def expected_status(quantity: int, threshold: int) -> str:
    if quantity == 0:
        return "out_of_stock"
    return "low_stock" if quantity < threshold else "in_stock"


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=10**12),
    form=st.sampled_from(["{n}", "{n:,}", ">{n}", ">= {n}", "{n}+", "{n:,}+", "{n}.99"]),
    padding=st.sampled_from(["", " ", "\t", "  \n"]),
    threshold=st.integers(min_value=0, max_value=1000),
)
def test_quantity_texts_round_trip_to_their_count(count, form, padding, threshold):
    text = padding + form.format(n=count) + padding
    record = only_record(run_json([{"sku": "A", "qty": text}], threshold=threshold))
    assert record["quantity"] == count
    assert record["status"] == expected_status(count, threshold)


quantity_values = st.one_of(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**9), max_value=10**9, places=4),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**6), max_value=10**6, places=3).map(
        str
    ),
)


@settings(max_examples=200, deadline=None)
@given(raw=quantity_values, threshold=st.integers(min_value=0, max_value=1000))
def test_numeric_quantity_is_never_negative_and_its_status_follows_the_threshold(raw, threshold):
    record = only_record(run_json([{"sku": "A", "qty": raw}], threshold=threshold))
    assert record["quantity"] >= 0
    assert record["quantity"] <= max(float(raw), 0)
    assert record["status"] == expected_status(record["quantity"], threshold)


feed_items = st.lists(
    st.fixed_dictionaries(
        {
            "sku": st.one_of(st.sampled_from(["A", "B", "C", " A", ""]), st.integers(0, 3), st.none()),
            "qty": st.one_of(
                quantity_values, st.sampled_from(["lots", "in stock", "gone", True, False, None, [1]])
            ),
            "ts": st.one_of(
                st.none(),
                st.sampled_from(["2026-11-24T09:00:00Z", "2026-11-24T11:00:00Z", "nope"]),
                st.integers(1795500000, 1795510000),
            ),
            "flag": st.one_of(st.none(), st.sampled_from(["low", "gone", "in stock", "?"])),
        }
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(items=feed_items, assume=st.one_of(st.none(), st.integers(0, 50)))
def test_every_feed_record_is_either_kept_once_or_rejected_once(items, assume):
    status_map = {"low": "low_stock", "gone": "discontinued", "in stock": "in_stock"}
    mapping = (
        {"status_map": status_map}
        if assume is None
        else {"status_map": status_map, "assume_quantity": assume}
    )
    result = run_json(items, **mapping)
    skus = [record["sku"] for record in result["records"]]
    indexes = [reject["index"] for reject in result["rejects"]]
    assert len(skus) + len(indexes) == len(items)
    assert skus == sorted(set(skus))
    assert indexes == sorted(set(indexes))
    for record in result["records"]:
        assert record["quantity"] >= 0
        assert record["updated_at"] <= "2026-11-24T10:05:00Z"
        assert record["status"] in {"in_stock", "low_stock", "out_of_stock", "discontinued"}
        assert (record["quantity"] == 0) == (record["status"] in {"out_of_stock", "discontinued"})


# --- layering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["feeds.py", "stock.py"])
def test_feed_domain_imports_only_the_standard_library(module):
    tree = ast.parse((ROOT / "app" / "domain" / module).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    foreign = {
        name
        for name in imported
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("app.domain")
    }
    assert foreign == set()
