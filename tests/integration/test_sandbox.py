"""The simulated suppliers over HTTP: each API style's shape and auth, paging, deltas, faults, and feeds that
normalize with the mapping `sandbox_connection` gives them."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import pytest

from app import create_app, sandbox
from app.connectors.xml import parse_supplier_xml
from app.domain.feeds import FeedParseError, normalize_feed
from app.extensions import limiter
from app.sandbox import (
    SANDBOX_SUPPLIERS,
    catalog,
    clock,
    faults,
    sandbox_connection,
    sandbox_credentials,
)
from app.sandbox.offers import supplier_skus
from app.sandbox.push import push_stock_updates
from app.services import demo
from tests.helpers import make_config

# A fixed instant in the past: every call sees the same stock until a test moves the clock.
FROZEN_AT = datetime(2025, 1, 15, 10, 2, 30, tzinfo=UTC)
PULL_SUPPLIERS = ["ACME", "EUROHUB", "NORDIC", "MAPLE", "ALPINE", "ATLAS", "BRITBOX", "PACIFIC"]


@pytest.fixture(scope="module")
def sandbox_app(migrated_app, database_url, redis_url):
    """Dropdesk with SANDBOX on, over the demo data (seeded once: the sandbox only reads the offers)."""
    with migrated_app.app_context():
        demo.seed()
    web = create_app(make_config(database_url, redis_url, SANDBOX="on"))
    sandbox.init_app(web)  # a no-op once create_app mounts the sandbox itself
    yield web
    limiter.init_app(migrated_app)  # the limiter is shared: point it back at the suite's app


@pytest.fixture
def supplier(sandbox_app):
    """The suppliers' side with every supplier healthy and uncounted and the clock frozen at FROZEN_AT."""
    with sandbox_app.app_context():
        _reset_sandbox()
        clock.freeze_clock(FROZEN_AT)
    yield SupplierSide(sandbox_app)
    with sandbox_app.app_context():
        _reset_sandbox()


def _reset_sandbox() -> None:
    for code in SANDBOX_SUPPLIERS:
        faults.reset_supplier(code)
    clock.unfreeze_clock()


class SupplierSide:
    """Calls the sandbox the way a connector would, with the credentials and options it publishes."""

    def __init__(self, web):
        self.web = web
        self.http = web.test_client()
        self.tokens: dict[str, str] = {}

    def expected_items(self, code: str, now: datetime = FROZEN_AT) -> list[catalog.SimulatedItem]:
        with self.web.app_context():
            return catalog.stock_at(code, supplier_skus(code), now)

    def expected_skus(self, code: str) -> list[str]:
        return [item.sku for item in self.expected_items(code)]

    def get(self, url: str, code: str | None = None, **kwargs):
        """GET with the supplier's credentials (when `code` is given) attached as its options say."""
        headers = dict(kwargs.pop("headers", {}))
        # A next link carries its own query; the credentials are added to it like to any call.
        url, _, link_query = url.partition("?")
        query = {**parse_qs(link_query), **kwargs.pop("query_string", {})}
        if code:
            _, options, _ = sandbox_connection(code, "")
            headers.update(self.auth_headers(code, options["auth"]))
            if options["auth"]["style"] == "api_key_query":
                query[options["auth"]["query_param"]] = sandbox_credentials(code)["api_key"]
        return self.http.get(url, headers=headers, query_string=query, **kwargs)

    def auth_headers(self, code: str, auth: dict) -> dict[str, str]:
        credentials = sandbox_credentials(code)
        if auth["style"] == "api_key_header":
            return {auth["header"]: credentials["api_key"]}
        if auth["style"] == "basic":
            return {"Authorization": httpx.BasicAuth(credentials["username"], credentials["password"])._auth_header}
        if auth["style"] == "bearer":
            return {"Authorization": f"Bearer {credentials['token']}"}
        if auth["style"] == "oauth2_client_credentials":
            if code not in self.tokens:
                self.tokens[code] = self.access_token(code)
            return {"Authorization": f"Bearer {self.tokens[code]}"}
        return {}

    def access_token(self, code: str) -> str:
        credentials = sandbox_credentials(code)
        answer = self.http.post("/sandbox/oauth/token", data={"grant_type": "client_credentials", **credentials})
        assert answer.status_code == 200, answer.text
        return answer.json["access_token"]

    def feed_pages(self, code: str, page_size: int | None = None) -> list[bytes]:
        """Every page of the supplier's full feed, walked as its pagination options describe."""
        connection_type, options, mapping = sandbox_connection(code, "")
        if connection_type == "upload":
            return [self.http.get(f"/sandbox/suppliers/{code}/stock").data]
        paging = options["pagination"]
        size = page_size or paging.get("page_size")
        url = options["base_url"] + options["stock_path"]
        pages: list[bytes] = []
        query: dict = {}
        if paging["style"] == "page":
            query = {paging["page_param"]: paging["first_page"], paging["size_param"]: size}
        elif paging["style"] == "offset":
            query = {paging["offset_param"]: 0, paging["limit_param"]: size}
        elif paging["style"] in ("cursor", "next_link"):
            query = {paging["size_param"]: size}
        while True:
            answer = self.get(url, code, query_string=query)
            assert answer.status_code == 200, answer.text
            pages.append(answer.data)
            if paging["style"] == "none":
                return pages
            body = answer.json
            if paging["style"] in ("page", "offset"):
                if not _follow(body, mapping["records"]):
                    return pages
                if paging["style"] == "page":
                    query[paging["page_param"]] += 1
                else:
                    query[paging["offset_param"]] += size
            elif paging["style"] == "cursor":
                cursor = _follow(body, paging["cursor_path"])
                if cursor is None:
                    return pages
                query[paging["cursor_param"]] = cursor
            else:
                following = _follow(body, paging["next_link_path"])
                if following is None:
                    return pages
                url, query = following, {}


def _follow(value, dotted: str):
    for part in dotted.split("."):
        value = value[part]
    return value


def _normalize(code: str, body: bytes, received_at: datetime = FROZEN_AT):
    _, _, mapping = sandbox_connection(code, "")
    return normalize_feed(body, mapping, received_at, parse_xml=parse_supplier_xml)


def _set_faults(supplier: SupplierSide, code: str, **switches):
    answer = supplier.http.post(f"/sandbox/suppliers/{code}/faults", json=switches)
    assert answer.status_code == 200, answer.text
    return answer


# --- mounting ----------------------------------------------------------------------------------


def test_the_sandbox_is_not_mounted_when_the_setting_is_off(database_url, redis_url, other_app):
    app = other_app(database_url, redis_url)  # SANDBOX defaults to off
    sandbox.init_app(app)
    assert "sandbox" not in app.blueprints
    assert app.test_client().get("/sandbox/suppliers/ACME/stock").status_code == 404


def test_every_demo_supplier_has_a_sandbox_with_the_connection_type_the_seed_gives_it():
    assert {code: kind for code, *_, kind in demo.SUPPLIERS} == {
        code: sandbox_connection(code, "http://x")[0] for code in SANDBOX_SUPPLIERS}


# --- auth and shape per style ------------------------------------------------------------------


@pytest.mark.parametrize("code", PULL_SUPPLIERS)
def test_each_pulling_supplier_refuses_a_call_without_its_credentials(supplier, code):
    answer = supplier.http.get(f"/sandbox/suppliers/{code}/stock")
    assert answer.status_code == 401
    assert answer.json["error"] in ("unauthorized", "invalid_token")


@pytest.mark.parametrize("code", PULL_SUPPLIERS)
def test_each_pulling_supplier_refuses_someone_elses_credentials(supplier, code):
    other = "PACIFIC" if code != "PACIFIC" else "ACME"
    credentials = sandbox_credentials(other)
    wrong = next(iter(credentials.values()))
    headers = {"Authorization": f"Bearer {wrong}", "X-Api-Key": wrong, "X-Auth-Token": wrong}
    answer = supplier.http.get(f"/sandbox/suppliers/{code}/stock", headers=headers, query_string={"api_key": wrong})
    assert answer.status_code == 401


def test_acme_answers_paged_json_with_figures_as_of_now(supplier):
    answer = supplier.get("/sandbox/suppliers/ACME/stock", "ACME", query_string={"page": 1, "per_page": 5})
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert answer.json["page"] == 1 and len(answer.json["items"]) == 5
    first, expected = answer.json["items"][0], supplier.expected_items("ACME")[0]
    assert first == {"sku": expected.sku, "qty": expected.quantity, "cost": float(expected.cost),
                     "updated_at": expected.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_acme_pages_cover_every_sku_exactly_once(supplier):
    seen = []
    for page in range(1, 100):
        items = supplier.get("/sandbox/suppliers/ACME/stock", "ACME",
                             query_string={"page": page, "per_page": 37}).json["items"]
        if not items:
            break
        seen += [item["sku"] for item in items]
    assert seen == supplier.expected_skus("ACME")
    assert len(seen) > 100 and any("-NEW-" in sku for sku in seen)


def test_acme_updated_since_returns_only_what_changed_since_then(supplier):
    supplier.http.post("/sandbox/clock", json={"advance_seconds": 600})
    now = FROZEN_AT + timedelta(seconds=600)
    since = catalog.bucket_start(catalog.bucket_number(FROZEN_AT) + 1)
    answer = supplier.get("/sandbox/suppliers/ACME/stock", "ACME",
                          query_string={"updated_since": since.isoformat(), "per_page": 500})
    delta = answer.json["items"]
    expected = [item.sku for item in supplier.expected_items("ACME", now) if item.updated_at >= since]
    assert [item["sku"] for item in delta] == expected
    assert 0 < len(delta) < len(supplier.expected_skus("ACME")) * 0.25


def test_acme_refuses_an_updated_since_without_offset(supplier):
    answer = supplier.get("/sandbox/suppliers/ACME/stock", "ACME", query_string={"updated_since": "2025-01-15 10:00"})
    assert answer.status_code == 400 and "updated_since" in answer.json["message"]


def test_acme_realtime_check_reports_just_the_asked_skus(supplier):
    wanted = supplier.expected_skus("ACME")[3:5] + ["NOT-CARRIED"]
    answer = supplier.get("/sandbox/suppliers/ACME/stock/check", "ACME", query_string={"sku": wanted})
    assert answer.status_code == 200
    assert [item["sku"] for item in answer.json["items"]] == wanted[:2]
    assert supplier.http.get("/sandbox/suppliers/ACME/stock/check", query_string={"sku": wanted}).status_code == 401
    assert supplier.get("/sandbox/suppliers/PACIFIC/stock/check", "PACIFIC", query_string={"sku": wanted}).status_code == 404


def test_eurohub_gives_a_bearer_token_for_its_client_credentials(supplier):
    credentials = sandbox_credentials("EUROHUB")
    answer = supplier.http.post("/sandbox/oauth/token", data={"grant_type": "client_credentials", **credentials})
    assert answer.status_code == 200
    assert answer.json["token_type"] == "bearer" and answer.json["expires_in"] == 3600
    by_basic = supplier.http.post("/sandbox/oauth/token", data={"grant_type": "client_credentials"}, headers={
        "Authorization": httpx.BasicAuth(credentials["client_id"], credentials["client_secret"])._auth_header})
    assert by_basic.status_code == 200
    wrong_secret = supplier.http.post("/sandbox/oauth/token", data={
        "grant_type": "client_credentials", "client_id": credentials["client_id"], "client_secret": "guess"})
    assert wrong_secret.status_code == 401 and wrong_secret.json["error"] == "invalid_client"
    wrong_grant = supplier.http.post("/sandbox/oauth/token", data={"grant_type": "password", **credentials})
    assert wrong_grant.status_code == 400


def test_eurohub_answers_nested_json_by_cursor_and_refuses_bad_tokens(supplier):
    token = supplier.access_token("EUROHUB")
    answer = supplier.http.get("/sandbox/suppliers/EUROHUB/stock", query_string={"limit": 2},
                               headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    product = answer.json["data"]["products"][0]
    assert set(product) >= {"id", "stock", "pricing"} and set(product["stock"]) == {"available", "updated"}
    assert product["stock"]["updated"].endswith("+01:00")  # Berlin in January
    assert answer.json["meta"]["next_cursor"]
    tampered = supplier.http.get("/sandbox/suppliers/EUROHUB/stock", headers={"Authorization": f"Bearer {token}x"})
    assert tampered.status_code == 401 and "Bearer" in tampered.headers["WWW-Authenticate"]
    bad_cursor = supplier.http.get("/sandbox/suppliers/EUROHUB/stock", query_string={"cursor": "nonsense"},
                                   headers={"Authorization": f"Bearer {token}"})
    assert bad_cursor.status_code == 400


def test_eurohub_refuses_tokens_issued_before_a_revocation(supplier):
    old_token = supplier.access_token("EUROHUB")
    _set_faults(supplier, "EUROHUB", revoke_tokens=True)
    time.sleep(0.002)  # tokens are stamped to the millisecond
    refused = supplier.http.get("/sandbox/suppliers/EUROHUB/stock", headers={"Authorization": f"Bearer {old_token}"})
    assert refused.status_code == 401
    fresh = supplier.http.get("/sandbox/suppliers/EUROHUB/stock",
                              headers={"Authorization": f"Bearer {supplier.access_token('EUROHUB')}"})
    assert fresh.status_code == 200


def test_nordic_sends_semicolon_csv_with_a_bom_and_stockholm_wall_clock_times(supplier):
    answer = supplier.get("/sandbox/suppliers/NORDIC/stock", "NORDIC")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    text = answer.data.decode("utf-8")
    assert text.startswith("\ufeffArtikelnummer;Lagersaldo;Senast ändrad;Inköpspris\r\n")
    first_row = text.splitlines()[1].split(";")
    expected = supplier.expected_items("NORDIC")[0]
    local = expected.updated_at + timedelta(hours=1)  # Stockholm is UTC+1 in January
    assert first_row == [expected.sku, str(expected.quantity), local.strftime("%Y-%m-%d %H:%M:%S"), str(expected.cost)]
    assert answer.headers.get("WWW-Authenticate") is None
    assert "Basic" in supplier.http.get("/sandbox/suppliers/NORDIC/stock").headers["WWW-Authenticate"]


@pytest.mark.parametrize("code", ["MAPLE", "ALPINE"])
def test_xml_suppliers_send_an_inventory_behind_a_bearer_token(supplier, code):
    answer = supplier.get(f"/sandbox/suppliers/{code}/stock", code)
    assert answer.status_code == 200 and answer.mimetype == "application/xml"
    inventory = parse_supplier_xml(answer.data)
    products = inventory.findall("product")
    assert inventory.tag == "inventory"
    assert [product.get("sku") for product in products] == supplier.expected_skus(code)
    assert products[0].find("available").text.isdigit() and products[0].find("updated").text


def test_atlas_follows_next_links_to_cover_every_sku_once_with_the_key_in_the_query(supplier):
    url, seen = "/sandbox/suppliers/ATLAS/stock?page_size=60", []
    while url:
        answer = supplier.get(url, "ATLAS")
        assert answer.status_code == 200
        seen += [result["sku"] for result in answer.json["results"]]
        url = answer.json["links"]["next"]
        assert url is None or (url.startswith("/sandbox/suppliers/ATLAS/stock?") and "api_key" not in url)
    assert seen == supplier.expected_skus("ATLAS")


def test_britbox_sends_one_comma_csv_behind_its_api_key_header(supplier):
    answer = supplier.http.get("/sandbox/suppliers/BRITBOX/stock",
                               headers={"X-Auth-Token": sandbox_credentials("BRITBOX")["api_key"]})
    assert answer.status_code == 200
    lines = answer.data.decode().splitlines()
    assert lines[0] == "SKU,Stock Level,Status,Last Updated,Trade Price"
    assert [line.split(",")[0] for line in lines[1:]] == supplier.expected_skus("BRITBOX")


def test_pacific_offset_pages_cover_every_sku_once(supplier):
    seen, offset = [], 0
    while True:
        body = supplier.get("/sandbox/suppliers/PACIFIC/stock", "PACIFIC",
                            query_string={"offset": offset, "limit": 45}).json
        assert body["total"] == len(supplier.expected_skus("PACIFIC"))
        if not body["products"]:
            break
        seen += [product["sku"] for product in body["products"]]
        offset += 45
    assert seen == supplier.expected_skus("PACIFIC")


def test_harbor_serves_its_stock_file_to_download_for_upload(supplier):
    answer = supplier.http.get("/sandbox/suppliers/HARBOR/stock")
    assert answer.status_code == 200 and "attachment" in answer.headers["Content-Disposition"]
    assert answer.data.decode().startswith("sku,quantity,updated_at,cost\r\n")


def test_sunrise_has_no_stock_endpoint_because_it_pushes(supplier):
    assert supplier.http.get("/sandbox/suppliers/SUNRISE/stock").status_code == 404


@pytest.mark.parametrize("url", ["/sandbox/suppliers/NOPE/stock", "/sandbox/suppliers/NOPE/stats",
                                 "/sandbox/suppliers/NOPE/faults", "/sandbox/suppliers/NOPE/stock/check?sku=A"])
def test_an_unknown_supplier_code_is_a_json_404(supplier, url):
    answer = supplier.http.get(url)
    assert answer.status_code == 404 and answer.json["error"] == "unknown_supplier"


# --- feeds read with their own mapping ---------------------------------------------------------


@pytest.mark.parametrize("code", PULL_SUPPLIERS + ["HARBOR"])
def test_each_suppliers_full_feed_normalizes_with_its_own_mapping_without_rejects(supplier, code):
    records = []
    for page in supplier.feed_pages(code):
        feed = _normalize(code, page)
        assert feed.rejects == ()
        records += feed.records
    expected = supplier.expected_items(code)
    assert [record.sku for record in records] == [item.sku for item in expected]
    for record, item in zip(records, expected):
        assert (record.quantity, record.updated_at, record.cost) == (item.quantity, item.updated_at, item.cost)


def test_paged_feeds_take_several_pages(supplier):
    assert len(supplier.feed_pages("ACME", page_size=50)) > 3
    assert len(supplier.feed_pages("EUROHUB", page_size=50)) > 3


def test_pushed_updates_name_the_suppliers_database_skus_and_normalize_with_its_mapping(supplier, sandbox_app):
    received = []
    client = httpx.Client(transport=httpx.MockTransport(lambda request: received.append(request) or httpx.Response(202)))
    secret = sandbox_credentials("SUNRISE")["webhook_secret"]
    with sandbox_app.app_context():
        sent = push_stock_updates("SUNRISE", "https://dropdesk.test/webhooks/SUNRISE", secret, FROZEN_AT, client,
                                  since=FROZEN_AT - timedelta(hours=2))
    body = received[0].content
    feed = _normalize("SUNRISE", body)
    assert sent == len(feed.records) > 0 and feed.rejects == ()
    carried = set(supplier.expected_skus("SUNRISE"))
    assert {item["sku"] for item in json.loads(body)["items"]} <= carried


# --- drift -------------------------------------------------------------------------------------


def test_stock_drifts_as_the_clock_moves_but_never_dates_a_figure_ahead_of_it(supplier):
    before = {item["sku"]: item for item in supplier.get("/sandbox/suppliers/ACME/stock", "ACME",
                                                         query_string={"per_page": 500}).json["items"]}
    supplier.http.post("/sandbox/clock", json={"advance_seconds": 3600})
    after = supplier.get("/sandbox/suppliers/ACME/stock", "ACME", query_string={"per_page": 500}).json["items"]
    changed = [item for item in after if item != before[item["sku"]]]
    assert 0.1 * len(after) < len(changed) < 0.7 * len(after)
    later = FROZEN_AT + timedelta(hours=1)
    assert all(datetime.fromisoformat(item["updated_at"]) <= later for item in after)


def test_the_clock_cannot_be_set_ahead_of_real_time(supplier):
    ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert supplier.http.post("/sandbox/clock", json={"frozen_at": ahead}).status_code == 400
    assert supplier.http.post("/sandbox/clock", json={}).json["frozen"] is False


# --- faults ------------------------------------------------------------------------------------


def test_a_down_supplier_answers_503_to_every_call_and_counts_them(supplier):
    _set_faults(supplier, "PACIFIC", down=True, down_retry_after=30)
    supplier.http.delete("/sandbox/suppliers/PACIFIC/stats")
    for _ in range(3):
        answer = supplier.get("/sandbox/suppliers/PACIFIC/stock", "PACIFIC")
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    stats = supplier.http.get("/sandbox/suppliers/PACIFIC/stats").json
    assert stats["requests"] == 3 and stats["faults"] == {"down": True, "down_retry_after": 30}
    assert [call["status"] for call in stats["recent"]] == [503, 503, 503]
    _set_faults(supplier, "PACIFIC")
    assert supplier.get("/sandbox/suppliers/PACIFIC/stock", "PACIFIC").status_code == 200
    assert supplier.http.get("/sandbox/suppliers/PACIFIC/stats").json["requests"] == 4


def test_a_down_supplier_also_refuses_token_requests(supplier):
    _set_faults(supplier, "EUROHUB", down=True)
    credentials = sandbox_credentials("EUROHUB")
    answer = supplier.http.post("/sandbox/oauth/token", data={"grant_type": "client_credentials", **credentials})
    assert answer.status_code == 503 and "Retry-After" not in answer.headers


def test_rate_limit_answers_every_nth_call_with_429_and_retry_after(supplier):
    _set_faults(supplier, "PACIFIC", rate_limit={"every": 3, "retry_after": 2})
    statuses = [supplier.get("/sandbox/suppliers/PACIFIC/stock", "PACIFIC") for _ in range(6)]
    assert [answer.status_code for answer in statuses] == [200, 200, 429, 200, 200, 429]
    assert statuses[2].headers["Retry-After"] == "2"


def test_an_error_rate_of_one_fails_every_call_with_a_server_error(supplier):
    _set_faults(supplier, "PACIFIC", error_rate=1)
    assert {supplier.get("/sandbox/suppliers/PACIFIC/stock", "PACIFIC").status_code for _ in range(8)} <= {500, 502, 503}


def test_latency_slows_every_call(supplier):
    _set_faults(supplier, "ACME", latency_ms=150)
    started = time.perf_counter()
    assert supplier.get("/sandbox/suppliers/ACME/stock", "ACME").status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_a_malformed_page_cannot_be_parsed_while_the_other_pages_can(supplier):
    _set_faults(supplier, "PACIFIC", malformed_page=2)
    pages = [supplier.get("/sandbox/suppliers/PACIFIC/stock", "PACIFIC", query_string={"offset": offset, "limit": 50})
             for offset in (0, 50, 100)]
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert _normalize("PACIFIC", pages[0].data).rejects == ()
    with pytest.raises(FeedParseError):
        _normalize("PACIFIC", pages[1].data)
    assert len(_normalize("PACIFIC", pages[2].data).records) == 50


@pytest.mark.parametrize("code", ["NORDIC", "BRITBOX", "MAPLE", "EUROHUB", "ATLAS"])
def test_a_malformed_first_page_breaks_every_format(supplier, code):
    _set_faults(supplier, code, malformed_page=1)
    answer = supplier.get(f"/sandbox/suppliers/{code}/stock", code)
    with pytest.raises(FeedParseError):
        _normalize(code, answer.data)
    # Also when the client decodes the text leniently, replacing bytes that are not UTF-8.
    with pytest.raises(FeedParseError):
        _normalize(code, answer.data.decode("utf-8", errors="replace"))


@pytest.mark.parametrize("code", PULL_SUPPLIERS)
def test_schema_drift_renames_the_quantity_field_so_no_figure_gets_through(supplier, code):
    _set_faults(supplier, code, schema_drift=True)
    feed = _normalize(code, supplier.feed_pages(code)[0])
    assert {reject.reason for reject in feed.rejects} == {"missing_quantity"}
    # Only a supplier's own "Out of Stock" words still say something without the figure.
    assert all(record.status == "out_of_stock" for record in feed.records)


def test_faults_are_replaced_by_the_next_setting_and_cleared_by_an_empty_one(supplier):
    _set_faults(supplier, "ACME", down=True, schema_drift=True)
    assert _set_faults(supplier, "ACME", latency_ms=5).json["faults"] == {"latency_ms": 5}
    assert _set_faults(supplier, "ACME").json["faults"] == {}
    assert supplier.http.get("/sandbox/suppliers/ACME/faults").json["faults"] == {}


@pytest.mark.parametrize("body", [{"down": "yes"}, {"error_rate": 2}, {"rate_limit": {"retry_after": 1}},
                                  {"malformed_page": 0}, {"power_cut": True}, [1]])
def test_faults_that_make_no_sense_are_refused_with_the_reason(supplier, body):
    answer = supplier.http.post("/sandbox/suppliers/ACME/faults", json=body)
    assert answer.status_code == 400 and answer.json["error"] == "bad_faults"


def test_controls_need_no_login_and_no_csrf_token(supplier, sandbox_app):
    assert sandbox_app.config.get("WTF_CSRF_ENABLED", True) is True
    answer = supplier.http.post("/sandbox/suppliers/ACME/faults", json={"down": True})
    assert answer.status_code == 200


def test_stats_never_record_the_api_key(supplier):
    supplier.get("/sandbox/suppliers/ATLAS/stock", "ATLAS", query_string={"page": 2})
    recent = supplier.http.get("/sandbox/suppliers/ATLAS/stats").json["recent"]
    assert recent[0]["query"] == {"page": ["2"]}
    assert sandbox_credentials("ATLAS")["api_key"] not in json.dumps(recent)


def test_money_in_feeds_is_exact_to_the_cent(supplier):
    answer = supplier.get("/sandbox/suppliers/PACIFIC/stock", "PACIFIC", query_string={"limit": 3})
    for product in answer.json["products"]:
        assert Decimal(product["cost"]) == Decimal(product["cost"]).quantize(Decimal("0.01"))
