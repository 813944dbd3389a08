"""Supplier connectors over httpx.MockTransport: pagination, delta, auth, retries, parsing, secrets, push, upload."""

from __future__ import annotations

import ast
import base64
import json
import logging
import random
import time
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.connectors import (
    CONNECTORS,
    ConnectionSettings,
    ConnectorError,
    FeedPull,
    MemoryTokenCache,
    RetryPolicy,
    check_stock,
    normalize_upload,
    parse_push,
    pull_stock,
    push_secret,
    push_signature_header,
    sign_push,
    supports_delta,
    supports_realtime,
    verify_push,
)
from app.connectors.http import Redactor, retry_after_seconds
from app.domain.feeds import RejectReason
from app.domain.stock import StockStatus

RECEIVED_AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
BASE_URL = "https://supplier.test/api/ACME"
STOCK_URL = BASE_URL + "/stock"
JSON_MAPPING = {"format": "json", "records": "items", "fields": {"sku": "sku", "quantity": "qty"}}

API_KEY = "ak-9f8e7d6c5b4a"
PASSWORD = "pw-horse-battery-77"
BEARER = "bt-0123456789abcdef"
CLIENT_SECRET = "cs-very-secret-4242"
ACCESS_TOKEN = "at-issued-token-1"


# --- helpers -----------------------------------------------------------------------------------


def connection(connection_type="rest_json", *, mapping=None, credentials=None, **options) -> ConnectionSettings:
    """ACME's connection: JSON items at /stock unless told otherwise."""
    return ConnectionSettings(
        supplier_code="ACME",
        connection_type=connection_type,
        options={"base_url": BASE_URL, "stock_path": "/stock", **options},
        credentials=credentials or {},
        mapping=mapping or JSON_MAPPING,
    )


def items(first: int, count: int) -> list[dict]:
    return [{"sku": f"SKU-{number:03d}", "qty": 20 + number} for number in range(first, first + count)]


def json_response(body, status=200, **headers) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


class FakeSupplier:
    """A supplier API in memory: answers with a function, remembers every request."""

    def __init__(self, answer):
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def queries(self) -> list[dict[str, list[str]]]:
        return [parse_qs(request.url.query.decode()) for request in self.requests]

    def to(self, path: str) -> list[httpx.Request]:
        return [request for request in self.requests if request.url.path == path]


class Sleeps(list):
    """An injected sleep that records each duration instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class CeilingRandom(random.Random):
    """uniform() always returns its upper bound, so each backoff sleep is exactly its ceiling."""

    def uniform(self, a, b):
        return b


def pull(settings, supplier, *, since=None, policy=None, sleeps=None, token_cache=None, rng=None):
    return pull_stock(
        settings,
        since=since,
        received_at=RECEIVED_AT,
        client=supplier.client(),
        policy=policy or RetryPolicy(),
        sleep=sleeps if sleeps is not None else Sleeps(),
        token_cache=token_cache or MemoryTokenCache(),
        rng=rng or random.Random(7),
    )


def pages_of(all_items: list[dict], size: int):
    """A page/per_page API over a list of items."""

    def answer(request):
        page = int(request.url.params["page"])
        return json_response({"items": all_items[(page - 1) * size : page * size]})

    return answer


def always(response_factory):
    return lambda request: response_factory()


# --- pagination --------------------------------------------------------------------------------


def test_feed_without_pagination_is_fetched_in_one_request():
    supplier = FakeSupplier(always(lambda: json_response({"items": items(1, 3)})))
    result = pull(connection(), supplier)
    assert isinstance(result, FeedPull)
    assert (result.kind, result.pages, len(result.records), result.http_errors) == ("full", 1, 3, 0)
    assert [str(request.url) for request in supplier.requests] == [STOCK_URL]
    assert result.records[0].sku == "SKU-001" and result.records[0].status is StockStatus.IN_STOCK


def test_page_pagination_requests_numbered_pages_until_a_short_page():
    supplier = FakeSupplier(pages_of(items(1, 5), 2))
    result = pull(connection(pagination={"style": "page", "page_size": 2}), supplier)
    assert [query["page"] for query in supplier.queries()] == [["1"], ["2"], ["3"]]
    assert all(query["per_page"] == ["2"] for query in supplier.queries())
    assert (result.pages, [record.sku for record in result.records]) == (
        3,
        ["SKU-001", "SKU-002", "SKU-003", "SKU-004", "SKU-005"],
    )


def test_page_pagination_stops_on_an_empty_page_and_honours_first_page_and_param_names():
    def answer(request):
        page = int(request.url.params["p"])
        return json_response({"items": items(1 + page * 2, 2) if page < 2 else []})

    supplier = FakeSupplier(answer)
    options = {"style": "page", "page_param": "p", "size_param": "n", "page_size": 2, "first_page": 0}
    result = pull(connection(pagination=options), supplier)
    assert [(query["p"], query["n"]) for query in supplier.queries()] == [(["0"], ["2"]), (["1"], ["2"]), (["2"], ["2"])]
    assert (result.pages, len(result.records)) == (3, 4)


def test_offset_pagination_advances_by_the_records_received():
    catalog = items(1, 7)

    def answer(request):
        offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
        return json_response({"items": catalog[offset : offset + limit]})

    supplier = FakeSupplier(answer)
    result = pull(connection(pagination={"style": "offset", "page_size": 3}), supplier)
    assert [query["offset"] for query in supplier.queries()] == [["0"], ["3"], ["6"]]
    assert (result.pages, len(result.records)) == (3, 7)


@pytest.mark.parametrize("last_page_meta", [{"next_cursor": None}, {}, {"next_cursor": ""}])
def test_cursor_pagination_follows_the_cursor_until_it_is_null_or_missing(last_page_meta):
    pages = {
        None: {"data": {"rows": items(1, 2)}, "meta": {"next_cursor": "c2"}},
        "c2": {"data": {"rows": items(3, 2)}, "meta": {"next_cursor": "c3"}},
        "c3": {"data": {"rows": items(5, 1)}, "meta": last_page_meta},
    }
    supplier = FakeSupplier(lambda request: json_response(pages[request.url.params.get("after")]))
    mapping = {"format": "json", "records": "data.rows", "fields": {"sku": "sku", "quantity": "qty"}}
    result = pull(connection(mapping=mapping, pagination={"style": "cursor", "cursor_param": "after"}), supplier)
    assert [query.get("after") for query in supplier.queries()] == [None, ["c2"], ["c3"]]
    assert (result.pages, len(result.records)) == (3, 5)


def test_next_link_pagination_follows_relative_and_absolute_links_keeping_their_query():
    pages = {
        "1": {"items": items(1, 2), "links": {"next": "/api/ACME/stock?page=2"}},
        "2": {"items": items(3, 2), "links": {"next": "stock?page=3"}},
        "3": {"items": items(5, 2), "links": {"next": f"{STOCK_URL}?page=4"}},
        "4": {"items": items(7, 1), "links": {"next": None}},
    }
    supplier = FakeSupplier(lambda request: json_response(pages[request.url.params.get("page", "1")]))
    settings = connection(
        pagination={"style": "next_link"},
        auth={"style": "api_key_query"},
        credentials={"api_key": API_KEY},
    )
    result = pull(settings, supplier)
    assert [request.url.path for request in supplier.requests] == ["/api/ACME/stock"] * 4
    assert [query.get("page") for query in supplier.queries()] == [None, ["2"], ["3"], ["4"]]
    assert all(query["api_key"] == [API_KEY] for query in supplier.queries())
    assert (result.pages, len(result.records)) == (4, 7)


def test_cursor_and_next_link_apis_get_a_page_size_only_when_its_parameter_is_named():
    cursor_pages = {None: {"items": items(1, 1), "meta": {"next_cursor": "c2"}}, "c2": {"items": items(2, 1), "meta": {}}}
    cursor_api = FakeSupplier(lambda request: json_response(cursor_pages[request.url.params.get("cursor")]))
    pull(connection(pagination={"style": "cursor", "size_param": "limit", "page_size": 100}), cursor_api)
    assert [query["limit"] for query in cursor_api.queries()] == [["100"], ["100"]]

    link_pages = {None: {"items": items(1, 1), "links": {"next": "/api/ACME/stock?page=2&page_size=100"}}, "2": {"items": []}}
    link_api = FakeSupplier(lambda request: json_response(link_pages[request.url.params.get("page")]))
    pull(connection(pagination={"style": "next_link", "size_param": "page_size", "page_size": 100}), link_api)
    assert [query.get("page_size") for query in link_api.queries()] == [["100"], ["100"]]

    unnamed = FakeSupplier(lambda request: json_response(cursor_pages[request.url.params.get("cursor")]))
    pull(connection(pagination={"style": "cursor"}), unnamed)
    assert unnamed.queries() == [{}, {"cursor": ["c2"]}]


def test_next_link_to_another_host_is_refused_so_the_credential_never_travels_there():
    supplier = FakeSupplier(
        lambda request: json_response({"items": items(1, 1), "links": {"next": "https://evil.test/steal"}})
    )
    settings = connection(pagination={"style": "next_link"}, auth={"style": "bearer"}, credentials={"token": BEARER})
    with pytest.raises(ConnectorError) as caught:
        pull(settings, supplier)
    assert caught.value.reason == "malformed"
    assert "another host" in caught.value.message
    assert [request.url.host for request in supplier.requests] == ["supplier.test"]


def test_a_cursor_that_repeats_fails_as_malformed_instead_of_looping():
    supplier = FakeSupplier(always(lambda: json_response({"items": items(1, 1), "meta": {"next_cursor": "same"}})))
    with pytest.raises(ConnectorError) as caught:
        pull(connection(pagination={"style": "cursor"}), supplier)
    assert caught.value.reason == "malformed"
    assert "page 2" in caught.value.message
    assert len(supplier.requests) == 2


def test_page_cap_stops_a_feed_that_never_ends_as_malformed():
    supplier = FakeSupplier(always(lambda: json_response({"items": items(1, 2)})))
    with pytest.raises(ConnectorError) as caught:
        pull(connection(pagination={"style": "page", "page_size": 2, "max_pages": 5}), supplier)
    assert caught.value.reason == "malformed"
    assert "5 pages" in caught.value.message
    assert len(supplier.requests) == 5


def test_duplicates_are_resolved_across_pages_and_reject_indexes_count_across_the_whole_pull():
    pages = {
        "1": [{"sku": "A", "qty": 5, "ts": "2026-11-24T09:00:00Z"}, {"sku": "", "qty": 1, "ts": None}],
        "2": [{"sku": "A", "qty": 7, "ts": "2026-11-24T08:00:00Z"}, {"sku": "B", "qty": "lots", "ts": None}],
    }
    supplier = FakeSupplier(lambda request: json_response({"items": pages.get(request.url.params["page"], [])}))
    mapping = {"format": "json", "records": "items", "fields": {"sku": "sku", "quantity": "qty", "updated_at": "ts"}}
    result = pull(connection(mapping=mapping, pagination={"style": "page", "page_size": 2}), supplier)
    assert [(record.sku, record.quantity) for record in result.records] == [("A", 5)]
    assert [(reject.index, reject.reason) for reject in result.rejects] == [
        (1, RejectReason.MISSING_SKU),
        (2, RejectReason.DUPLICATE_SKU),
        (3, RejectReason.BAD_QUANTITY),
    ]
    assert result.records_seen == 4


def test_a_csv_connection_cannot_be_set_up_with_cursor_pagination():
    supplier = FakeSupplier(always(lambda: httpx.Response(200, text="sku,qty\nA,1\n")))
    csv_mapping = {"format": "csv", "fields": {"sku": "sku", "quantity": "qty"}}
    with pytest.raises(ConnectorError) as caught:
        pull(connection("csv_http", mapping=csv_mapping, pagination={"style": "cursor"}), supplier)
    assert caught.value.reason == "unsupported"
    assert supplier.requests == []


# --- delta -------------------------------------------------------------------------------------


def test_delta_pull_sends_updated_since_as_utc_when_the_supplier_supports_it():
    supplier = FakeSupplier(always(lambda: json_response({"items": items(1, 1)})))
    settings = connection(delta={"param": "updated_since"})
    since = datetime(2026, 11, 24, 11, 30, 15, 999, tzinfo=timezone(timedelta(hours=2)))
    result = pull(settings, supplier, since=since)
    assert supports_delta(settings)
    assert result.kind == "delta"
    assert supplier.queries() == [{"updated_since": ["2026-11-24T09:30:15Z"]}]


def test_delta_param_is_kept_on_every_page():
    supplier = FakeSupplier(pages_of(items(1, 3), 2))
    settings = connection(delta={"param": "changed_after"}, pagination={"style": "page", "page_size": 2})
    pull(settings, supplier, since=RECEIVED_AT - timedelta(minutes=15))
    assert [query["changed_after"] for query in supplier.queries()] == [["2026-11-24T09:45:00Z"]] * 2


def test_since_is_ignored_and_the_pull_is_full_when_the_supplier_has_no_delta():
    supplier = FakeSupplier(always(lambda: json_response({"items": items(1, 1)})))
    settings = connection()
    result = pull(settings, supplier, since=RECEIVED_AT - timedelta(hours=1))
    assert not supports_delta(settings)
    assert result.kind == "full"
    assert supplier.requests[0].url.query == b""


def test_a_full_pull_sends_no_delta_param_even_when_delta_is_supported():
    supplier = FakeSupplier(always(lambda: json_response({"items": items(1, 1)})))
    result = pull(connection(delta={"param": "updated_since"}), supplier, since=None)
    assert result.kind == "full"
    assert "updated_since" not in supplier.queries()[0]


# --- auth --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "credentials", "where"),
    [
        ({"style": "api_key_header"}, {"api_key": API_KEY}, ("header", "X-Api-Key", API_KEY)),
        ({"style": "api_key_header", "header": "X-Partner-Key"}, {"api_key": API_KEY}, ("header", "X-Partner-Key", API_KEY)),
        ({"style": "api_key_query"}, {"api_key": API_KEY}, ("query", "api_key", API_KEY)),
        ({"style": "api_key_query", "query_param": "key"}, {"api_key": API_KEY}, ("query", "key", API_KEY)),
        (
            {"style": "basic"},
            {"username": "acme-shop", "password": PASSWORD},
            ("header", "Authorization", "Basic " + base64.b64encode(f"acme-shop:{PASSWORD}".encode()).decode()),
        ),
        ({"style": "bearer"}, {"token": BEARER}, ("header", "Authorization", f"Bearer {BEARER}")),
    ],
    ids=["api_key_header", "custom_header", "api_key_query", "custom_query_param", "basic", "bearer"],
)
def test_each_auth_style_puts_the_credential_where_it_belongs(auth, credentials, where):
    supplier = FakeSupplier(always(lambda: json_response({"items": items(1, 1)})))
    pull(connection(auth=auth, credentials=credentials), supplier)
    (request,) = supplier.requests
    place, name, value = where
    if place == "header":
        assert request.headers[name] == value
        assert request.url.query == b""
    else:
        assert request.url.params[name] == value
        assert "Authorization" not in request.headers


def test_no_auth_sends_no_credential():
    supplier = FakeSupplier(always(lambda: json_response({"items": []})))
    pull(connection(), supplier)
    assert "Authorization" not in supplier.requests[0].headers
    assert "X-Api-Key" not in supplier.requests[0].headers


def oauth_supplier(*, refuse_tokens=(), expires_in=3600):
    """A supplier behind OAuth2 client credentials that issues at-issued-token-1, -2, … and refuses some."""
    issued = []

    def answer(request):
        if request.url.path == "/oauth/token":
            issued.append(parse_qs(request.content.decode()))
            return json_response({"access_token": f"at-issued-token-{len(issued)}", "expires_in": expires_in})
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token in refuse_tokens:
            return json_response({"error": "invalid_token"}, status=401)
        return json_response({"items": items(1, 2)})

    return FakeSupplier(answer), issued


def oauth_connection() -> ConnectionSettings:
    return connection(
        auth={"style": "oauth2_client_credentials", "token_url": "https://supplier.test/oauth/token", "scope": "stock:read"},
        credentials={"client_id": "dropdesk", "client_secret": CLIENT_SECRET},
    )


def test_oauth2_fetches_a_token_with_client_credentials_and_sends_it_as_bearer():
    supplier, issued = oauth_supplier()
    result = pull(oauth_connection(), supplier)
    assert issued == [
        {"grant_type": ["client_credentials"], "client_id": ["dropdesk"], "client_secret": [CLIENT_SECRET], "scope": ["stock:read"]}
    ]
    token_request, stock_request = supplier.requests
    assert token_request.method == "POST"
    assert stock_request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert len(result.records) == 2


def test_oauth2_token_is_cached_across_pulls_until_shortly_before_it_expires():
    supplier, issued = oauth_supplier(expires_in=3600)
    cache = MemoryTokenCache()
    pull(oauth_connection(), supplier, token_cache=cache)
    pull(oauth_connection(), supplier, token_cache=cache)
    assert len(issued) == 1
    assert [request.headers["Authorization"] for request in supplier.to("/api/ACME/stock")] == [f"Bearer {ACCESS_TOKEN}"] * 2


def test_oauth2_token_in_its_last_minute_is_not_used():
    supplier, issued = oauth_supplier()
    cache = MemoryTokenCache()
    pull(oauth_connection(), supplier, token_cache=cache)
    (key,) = cache._tokens
    cache.set(key, "at-almost-expired", time.time() + 30)
    pull(oauth_connection(), supplier, token_cache=cache)
    assert len(issued) == 2
    assert supplier.to("/api/ACME/stock")[-1].headers["Authorization"] == "Bearer at-issued-token-2"


def test_oauth2_token_cache_key_holds_no_secret():
    supplier, _ = oauth_supplier()
    cache = MemoryTokenCache()
    pull(oauth_connection(), supplier, token_cache=cache)
    (key,) = cache._tokens
    assert key.startswith("oauth2:ACME:")
    assert CLIENT_SECRET not in key and "dropdesk" not in key


def test_oauth2_refreshes_the_token_once_on_401_and_retries():
    supplier, issued = oauth_supplier(refuse_tokens={"at-issued-token-1"})
    sleeps = Sleeps()
    result = pull(oauth_connection(), supplier, sleeps=sleeps)
    assert len(issued) == 2
    assert [request.headers["Authorization"] for request in supplier.to("/api/ACME/stock")] == [
        "Bearer at-issued-token-1",
        "Bearer at-issued-token-2",
    ]
    assert len(result.records) == 2
    assert sleeps == []


def test_oauth2_second_401_after_a_refresh_is_an_auth_error():
    supplier, issued = oauth_supplier(refuse_tokens={"at-issued-token-1", "at-issued-token-2"})
    with pytest.raises(ConnectorError) as caught:
        pull(oauth_connection(), supplier)
    assert caught.value.reason == "auth"
    assert len(issued) == 2
    assert len(supplier.to("/api/ACME/stock")) == 2


def test_token_endpoint_refusing_the_client_is_an_auth_error():
    supplier = FakeSupplier(always(lambda: json_response({"error": "invalid_client"}, status=400)))
    with pytest.raises(ConnectorError) as caught:
        pull(oauth_connection(), supplier)
    assert caught.value.reason == "auth"
    assert len(supplier.requests) == 1


def test_a_401_to_an_api_key_is_an_auth_error_and_not_retried():
    supplier = FakeSupplier(always(lambda: json_response({"error": "bad key"}, status=401)))
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as caught:
        pull(connection(auth={"style": "api_key_header"}, credentials={"api_key": API_KEY}), supplier, sleeps=sleeps)
    assert caught.value.reason == "auth"
    assert (len(supplier.requests), sleeps) == (1, [])


def test_a_missing_credential_is_an_auth_error_before_any_request():
    supplier = FakeSupplier(always(lambda: json_response({"items": []})))
    with pytest.raises(ConnectorError) as caught:
        pull(connection(auth={"style": "basic"}, credentials={"username": "acme-shop"}), supplier)
    assert caught.value.reason == "auth"
    assert "password" in caught.value.message
    assert supplier.requests == []


# --- resilience --------------------------------------------------------------------------------


def scripted(*responses):
    """Answers in order; each is a Response factory or an exception class to raise."""
    remaining = list(responses)

    def answer(request):
        step = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        if isinstance(step, type) and issubclass(step, Exception):
            raise step("simulated", request=request)
        return step()

    return answer


def ok():
    return json_response({"items": items(1, 2)})


def test_429_with_retry_after_seconds_is_honoured():
    supplier = FakeSupplier(scripted(lambda: json_response({}, status=429, **{"Retry-After": "7"}), ok))
    sleeps = Sleeps()
    result = pull(connection(), supplier, sleeps=sleeps)
    assert sleeps == [7.0]
    assert (result.http_errors, len(supplier.requests)) == (1, 2)


def test_503_with_retry_after_as_an_http_date_is_honoured():
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=40), usegmt=True)
    supplier = FakeSupplier(scripted(lambda: httpx.Response(503, headers={"Retry-After": when}), ok))
    sleeps = Sleeps()
    pull(connection(), supplier, sleeps=sleeps)
    assert len(sleeps) == 1 and 37 <= sleeps[0] <= 40


def test_retry_after_is_capped_by_the_policy():
    supplier = FakeSupplier(scripted(lambda: httpx.Response(429, headers={"Retry-After": "86400"}), ok))
    sleeps = Sleeps()
    pull(connection(), supplier, sleeps=sleeps, policy=RetryPolicy(retry_after_cap_seconds=90))
    assert sleeps == [90]


def test_503s_then_success_count_as_retried_http_errors():
    supplier = FakeSupplier(scripted(lambda: httpx.Response(503), lambda: httpx.Response(502), ok))
    sleeps = Sleeps()
    result = pull(connection(), supplier, sleeps=sleeps)
    assert result.http_errors == 2
    assert len(sleeps) == 2
    assert [(exchange.status, exchange.attempt, exchange.error) for exchange in result.exchanges] == [
        (503, 1, "HTTP 503 Service Unavailable"),
        (502, 2, "HTTP 502 Bad Gateway"),
        (200, 3, None),
    ]


def test_backoff_doubles_from_the_base_and_is_capped():
    supplier = FakeSupplier(always(lambda: httpx.Response(500)))
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=7, base_seconds=0.5, cap_seconds=5)
    with pytest.raises(ConnectorError):
        pull(connection(), supplier, sleeps=sleeps, policy=policy, rng=CeilingRandom())
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 5, 5]


def test_backoff_sleeps_are_jittered_within_their_ceilings_and_repeat_with_the_same_seed():
    def run():
        sleeps = Sleeps()
        supplier = FakeSupplier(always(lambda: httpx.Response(504)))
        with pytest.raises(ConnectorError):
            pull(connection(), supplier, sleeps=sleeps, policy=RetryPolicy(attempts=5), rng=random.Random(42))
        return sleeps

    first = run()
    assert first == run()
    assert all(0 <= slept <= ceiling for slept, ceiling in zip(first, [0.5, 1, 2, 4], strict=True))
    assert first != [0.5, 1, 2, 4]


def test_a_404_is_not_retried():
    supplier = FakeSupplier(always(lambda: httpx.Response(404)))
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as caught:
        pull(connection(), supplier, sleeps=sleeps)
    assert caught.value.reason == "http_status"
    assert "HTTP 404" in caught.value.message
    assert (len(supplier.requests), sleeps) == (1, [])


@pytest.mark.parametrize(
    ("failure", "reason"),
    [(httpx.ReadTimeout, "timeout"), (httpx.ConnectTimeout, "timeout"), (httpx.ConnectError, "connection")],
)
def test_timeouts_and_connection_errors_are_retried_then_reported_with_every_attempt(failure, reason):
    supplier = FakeSupplier(scripted(failure))
    sleeps = Sleeps()
    with pytest.raises(ConnectorError) as caught:
        pull(connection(), supplier, sleeps=sleeps)
    error = caught.value
    assert error.reason == reason
    assert len(supplier.requests) == 4 and len(sleeps) == 3
    assert [(exchange.attempt, exchange.status) for exchange in error.exchanges] == [(1, None), (2, None), (3, None), (4, None)]
    assert "after 4 attempt(s)" in error.message and "page 1" in error.message


def test_a_transient_timeout_then_success_completes_the_pull():
    supplier = FakeSupplier(scripted(httpx.ReadTimeout, ok))
    result = pull(connection(), supplier)
    assert (result.http_errors, len(result.records)) == (1, 2)


def test_exhausted_429s_report_the_suppliers_retry_after():
    supplier = FakeSupplier(always(lambda: httpx.Response(429, headers={"Retry-After": "20"})))
    with pytest.raises(ConnectorError) as caught:
        pull(connection(), supplier, policy=RetryPolicy(attempts=2))
    assert (caught.value.reason, caught.value.retry_after) == ("http_status", 20.0)
    assert [exchange.status for exchange in caught.value.exchanges] == [429, 429]


def test_every_call_carries_the_connections_timeout():
    supplier = FakeSupplier(always(lambda: json_response({"items": []})))
    pull(connection(timeout_seconds=3), supplier)
    assert supplier.requests[0].extensions["timeout"] == {"connect": 3, "read": 3, "write": 3, "pool": 3}


def test_the_default_timeout_is_ten_seconds():
    supplier = FakeSupplier(always(lambda: json_response({"items": []})))
    pull(connection(), supplier)
    assert supplier.requests[0].extensions["timeout"]["read"] == 10


@pytest.mark.parametrize(
    "raw", ["120", " 5 ", "0", "-3", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", "", None]
)
def test_retry_after_reads_seconds_or_an_http_date(raw):
    now = datetime(2015, 10, 21, 7, 27, tzinfo=UTC)
    expected = {"120": 120.0, " 5 ": 5.0, "0": 0.0, "-3": 0.0, "Wed, 21 Oct 2015 07:28:00 GMT": 60.0}
    assert retry_after_seconds(raw, now) == expected.get(raw)


@given(
    retry=st.integers(min_value=0, max_value=10_000),
    base=st.floats(min_value=0, max_value=1_000, allow_nan=False),
    cap=st.floats(min_value=0, max_value=3_600, allow_nan=False),
    seed=st.integers(),
)
def test_backoff_sleeps_always_lie_between_zero_and_the_cap(retry, base, cap, seed):
    policy = RetryPolicy(base_seconds=base, cap_seconds=cap)
    assert 0 <= policy.backoff_seconds(retry, random.Random(seed)) <= cap


@given(
    statuses=st.lists(st.sampled_from([429, 500, 502, 503, 504]), min_size=1, max_size=6),
    cap=st.floats(min_value=0.01, max_value=60, allow_nan=False),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_sleeps_between_retries_of_a_real_pull_never_exceed_the_cap(statuses, cap, seed):
    supplier = FakeSupplier(scripted(*[(lambda status=status: httpx.Response(status)) for status in statuses], ok))
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=len(statuses) + 1, base_seconds=0.5, cap_seconds=cap)
    result = pull(connection(), supplier, sleeps=sleeps, policy=policy, rng=random.Random(seed))
    assert result.http_errors == len(statuses)
    assert len(sleeps) == len(statuses) and all(0 <= slept <= cap for slept in sleeps)


# --- malformed bodies --------------------------------------------------------------------------


def test_a_malformed_page_fails_the_pull_naming_the_page():
    def answer(request):
        if request.url.params["page"] == "2":
            return httpx.Response(200, text='{"items": [ {"sku": "X"')
        return json_response({"items": items(1, 2)})

    supplier = FakeSupplier(answer)
    with pytest.raises(ConnectorError) as caught:
        pull(connection(pagination={"style": "page", "page_size": 2}), supplier)
    assert caught.value.reason == "malformed"
    assert caught.value.page == 2
    assert "page 2" in caught.value.message
    assert len(supplier.requests) == 2  # never retried: the same page would come back broken


@pytest.mark.parametrize("body", [{"items": {"sku": "A"}}, {"items": "none"}, {"items": 5}])
def test_a_records_path_that_is_not_a_list_is_malformed(body):
    supplier = FakeSupplier(always(lambda: json_response(body)))
    with pytest.raises(ConnectorError) as caught:
        pull(connection(), supplier)
    assert caught.value.reason == "malformed" and "page 1" in caught.value.message


def test_an_html_error_page_with_status_200_is_malformed():
    supplier = FakeSupplier(always(lambda: httpx.Response(200, html="<html>Maintenance</html>")))
    with pytest.raises(ConnectorError) as caught:
        pull(connection(), supplier)
    assert caught.value.reason == "malformed"


def test_a_mapping_of_the_wrong_format_for_the_connection_is_unsupported_before_any_request():
    supplier = FakeSupplier(always(lambda: json_response({"items": []})))
    with pytest.raises(ConnectorError) as caught:
        pull(connection("xml_http"), supplier)
    assert caught.value.reason == "unsupported"
    assert supplier.requests == []


# --- secrets -----------------------------------------------------------------------------------

SECRET_SETUPS = [
    pytest.param({"style": "api_key_query"}, {"api_key": API_KEY}, API_KEY, id="api_key_query"),
    pytest.param({"style": "api_key_header"}, {"api_key": API_KEY}, API_KEY, id="api_key_header"),
    pytest.param({"style": "basic"}, {"username": "acme-shop", "password": PASSWORD}, PASSWORD, id="basic"),
    pytest.param({"style": "bearer"}, {"token": BEARER}, BEARER, id="bearer"),
]


@pytest.mark.parametrize(("auth", "credentials", "secret"), SECRET_SETUPS)
def test_secrets_never_appear_in_exchanges_error_messages_or_logs_of_a_failing_sync(auth, credentials, secret, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # the app quiets httpx; its request log must still be masked
    # The supplier even echoes the credential back in its error body: it must still not surface.
    supplier = FakeSupplier(always(lambda: httpx.Response(503, text=f"overloaded, key={secret}")))
    with pytest.raises(ConnectorError) as caught:
        pull(connection(auth=auth, credentials=credentials), supplier)
    error = caught.value
    shown = [error.message, str(error), repr(error), caplog.text, json.dumps([x.to_dict() for x in error.exchanges])]
    assert all(secret not in text for text in shown)
    assert "supplier_request supplier=ACME" in caplog.text
    assert "HTTP Request: GET" in caplog.text  # httpx's own request log is checked too
    if auth["style"] == "api_key_query":
        assert error.exchanges[0].url == f"{STOCK_URL}?api_key=***"
        assert supplier.requests[0].url.params["api_key"] == API_KEY


def test_oauth2_secrets_and_issued_tokens_never_appear_in_errors_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # the app quiets httpx; its request log must still be masked
    supplier, _ = oauth_supplier(refuse_tokens={"at-issued-token-1", "at-issued-token-2"})
    with pytest.raises(ConnectorError) as caught:
        pull(oauth_connection(), supplier)
    shown = caught.value.message + caplog.text + json.dumps([x.to_dict() for x in caught.value.exchanges])
    for secret in (CLIENT_SECRET, "at-issued-token-1", "at-issued-token-2"):
        assert secret not in shown


def test_a_next_link_that_echoes_the_api_key_is_shown_masked():
    pages = {
        None: {"items": items(1, 1), "links": {"next": f"/api/ACME/stock?page=2&api_key={API_KEY}"}},
        "2": {"items": items(2, 1), "links": {}},
    }
    supplier = FakeSupplier(lambda request: json_response(pages[request.url.params.get("page")]))
    settings = connection(pagination={"style": "next_link"}, auth={"style": "api_key_query"}, credentials={"api_key": API_KEY})
    result = pull(settings, supplier)
    assert [exchange.url for exchange in result.exchanges] == [
        f"{STOCK_URL}?api_key=***",
        f"{STOCK_URL}?page=2&api_key=***",
    ]


def test_connection_settings_never_show_credentials_in_their_repr():
    assert API_KEY not in repr(connection(credentials={"api_key": API_KEY}))


def test_redactor_drops_user_info_and_masks_secret_values_anywhere_in_a_url():
    redactor = Redactor(secrets=["s3cr3t/+"], secret_params=["token"])
    shown = redactor.url("https://user:pw@supplier.test/a?token=abc&x=s3cr3t%2F%2B&y=1")
    assert shown == "https://supplier.test/a?token=***&x=***&y=1"


# --- CSV and XML over HTTP ---------------------------------------------------------------------


def test_csv_over_http_with_semicolons_and_local_time_is_normalized():
    body = "\ufeffArtikel;Bestand;Stand\nMUG-1;1.200;2026-11-24 10:30:00\nMUG-2;3;\n".encode()
    supplier = FakeSupplier(always(lambda: httpx.Response(200, content=body, headers={"Content-Type": "text/csv"})))
    mapping = {
        "format": "csv",
        "csv": {"delimiter": ";"},
        "timezone": "Europe/Berlin",
        "fields": {"sku": "artikel", "quantity": "Bestand", "updated_at": "Stand"},
    }
    result = pull(connection("csv_http", mapping=mapping), supplier)
    assert [(r.sku, r.quantity, r.status, r.updated_at) for r in result.records] == [
        ("MUG-1", 1, StockStatus.LOW_STOCK, datetime(2026, 11, 24, 9, 30, tzinfo=UTC)),
        ("MUG-2", 3, StockStatus.LOW_STOCK, RECEIVED_AT),
    ]


def test_csv_over_http_in_a_declared_charset_is_decoded_by_it():
    body = "sku,qty,title\nTASSE-Ä,12,Tässe\n".encode("latin-1")
    supplier = FakeSupplier(always(lambda: httpx.Response(200, content=body, headers={"Content-Type": "text/csv; charset=iso-8859-1"})))
    mapping = {"format": "csv", "fields": {"sku": "sku", "quantity": "qty"}}
    result = pull(connection("csv_http", mapping=mapping), supplier)
    assert [record.sku for record in result.records] == ["TASSE-Ä"]


def test_csv_over_http_follows_page_pagination():
    pages = {"1": "sku,qty\nA,20\nB,21\n", "2": "sku,qty\nC,22\n"}
    supplier = FakeSupplier(lambda request: httpx.Response(200, text=pages[request.url.params["page"]]))
    mapping = {"format": "csv", "fields": {"sku": "sku", "quantity": "qty"}}
    result = pull(connection("csv_http", mapping=mapping, pagination={"style": "page", "page_size": 2}), supplier)
    assert (result.pages, [record.sku for record in result.records]) == (2, ["A", "B", "C"])


XML_MAPPING = {"format": "xml", "records": "products/product", "fields": {"sku": "@sku", "quantity": "stock"}}


def test_xml_over_http_is_normalized():
    body = b'<?xml version="1.0" encoding="UTF-8"?><catalog><products><product sku="P1"><stock>40</stock></product><product sku="P2"><stock>0</stock></product></products></catalog>'
    supplier = FakeSupplier(always(lambda: httpx.Response(200, content=body)))
    result = pull(connection("xml_http", mapping=XML_MAPPING), supplier)
    assert [(r.sku, r.quantity, r.status) for r in result.records] == [
        ("P1", 40, StockStatus.IN_STOCK),
        ("P2", 0, StockStatus.OUT_OF_STOCK),
    ]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
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


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]><c><products><product sku="&x;"/></products></c>',
        b"<catalog><products><product sku='P1'>",
    ],
    ids=["entity_bomb", "external_entity", "not_well_formed"],
)
def test_xml_that_is_dangerous_or_broken_is_refused_as_malformed(body):
    supplier = FakeSupplier(always(lambda: httpx.Response(200, content=body)))
    with pytest.raises(ConnectorError) as caught:
        pull(connection("xml_http", mapping=XML_MAPPING), supplier)
    assert caught.value.reason == "malformed"
    assert "page 1" in caught.value.message


# --- realtime ----------------------------------------------------------------------------------


def test_realtime_check_asks_for_each_sku_and_normalizes_the_answer():
    def answer(request):
        asked = request.url.params.get_list("sku")
        return json_response({"items": [{"sku": sku, "qty": 4} for sku in asked]})

    supplier = FakeSupplier(answer)
    settings = connection(
        realtime={"path": "/stock/check", "sku_param": "sku"}, auth={"style": "bearer"}, credentials={"token": BEARER}
    )
    assert supports_realtime(settings)
    result = check_stock(
        settings, ["MUG-1", "MUG-2", "MUG-1"], received_at=RECEIVED_AT, client=supplier.client(), sleep=Sleeps()
    )
    (request,) = supplier.requests
    assert request.url.path == "/api/ACME/stock/check"
    assert request.url.params.get_list("sku") == ["MUG-1", "MUG-2"]
    assert request.headers["Authorization"] == f"Bearer {BEARER}"
    assert result.kind == "realtime"
    assert [(r.sku, r.quantity, r.status) for r in result.records] == [
        ("MUG-1", 4, StockStatus.LOW_STOCK),
        ("MUG-2", 4, StockStatus.LOW_STOCK),
    ]


def test_realtime_check_is_retried_like_any_call():
    supplier = FakeSupplier(scripted(lambda: httpx.Response(503), ok))
    sleeps = Sleeps()
    result = check_stock(
        connection(realtime={"path": "/check"}), ["SKU-001"], received_at=RECEIVED_AT,
        client=supplier.client(), sleep=sleeps, rng=random.Random(1),
    )
    assert (result.http_errors, len(sleeps)) == (1, 1)


def test_realtime_check_without_the_option_is_unsupported():
    supplier = FakeSupplier(always(ok))
    settings = connection()
    assert not supports_realtime(settings)
    with pytest.raises(ConnectorError) as caught:
        check_stock(settings, ["A"], received_at=RECEIVED_AT, client=supplier.client())
    assert caught.value.reason == "unsupported"
    assert supplier.requests == []


# --- push --------------------------------------------------------------------------------------

PUSH_SECRET = "whsec-supplier-acme"
PUSH_BODY = b'{"items": [{"sku": "MUG-1", "qty": 3}]}'


def test_push_signature_in_hex_is_valid():
    assert verify_push(PUSH_BODY, sign_push(PUSH_BODY, PUSH_SECRET), PUSH_SECRET)


def test_push_signature_in_base64_or_with_a_sha256_prefix_is_valid():
    hex_signature = sign_push(PUSH_BODY, PUSH_SECRET)
    as_base64 = base64.b64encode(bytes.fromhex(hex_signature)).decode()
    assert verify_push(PUSH_BODY, as_base64, PUSH_SECRET)
    assert verify_push(PUSH_BODY, f"sha256={hex_signature}", PUSH_SECRET)
    assert verify_push(PUSH_BODY, hex_signature.upper(), PUSH_SECRET)


def test_a_tampered_push_body_fails_verification():
    signature = sign_push(PUSH_BODY, PUSH_SECRET)
    assert not verify_push(PUSH_BODY.replace(b"3", b"9"), signature, PUSH_SECRET)


def test_a_push_signed_with_another_secret_fails_verification():
    assert not verify_push(PUSH_BODY, sign_push(PUSH_BODY, "someone-else"), PUSH_SECRET)


@pytest.mark.parametrize("header", [None, "", "   ", "not-a-signature", "é" * 64, "abcd"])
def test_a_push_with_a_missing_or_garbled_signature_fails_verification(header):
    assert not verify_push(PUSH_BODY, header, PUSH_SECRET)


def test_no_push_is_accepted_while_the_supplier_has_no_secret():
    assert not verify_push(PUSH_BODY, sign_push(PUSH_BODY, ""), "")


def test_push_signature_header_and_secret_come_from_the_connection():
    settings = connection("push", credentials={"webhook_secret": PUSH_SECRET}, signature={"header": "X-Hub-Signature"})
    assert (push_signature_header(settings), push_secret(settings)) == ("X-Hub-Signature", PUSH_SECRET)
    assert (push_signature_header(connection("push")), push_secret(connection("push"))) == ("X-Signature", "")


def test_a_push_body_is_normalized_with_the_suppliers_mapping():
    result = parse_push(PUSH_BODY, connection("push"), RECEIVED_AT)
    assert result.kind == "push"
    assert [(r.sku, r.quantity) for r in result.records] == [("MUG-1", 3)]


def test_an_unreadable_push_body_is_malformed():
    with pytest.raises(ConnectorError) as caught:
        parse_push(b"{not json", connection("push"), RECEIVED_AT)
    assert caught.value.reason == "malformed"


# --- upload ------------------------------------------------------------------------------------


def test_an_uploaded_csv_is_normalized_by_the_mapping_with_rejects_by_row():
    mapping = {"format": "csv", "fields": {"sku": "SKU", "quantity": "Qty"}}
    result = normalize_upload(b"SKU,Qty\nA,5\n,3\nB,many\nC,50\n", connection("upload", mapping=mapping), RECEIVED_AT)
    assert result.kind == "upload" and result.pages == 1
    assert [(r.sku, r.quantity) for r in result.records] == [("A", 5), ("C", 50)]
    assert [(reject.index, reject.reason) for reject in result.rejects] == [
        (1, RejectReason.MISSING_SKU),
        (2, RejectReason.BAD_QUANTITY),
    ]


def test_an_uploaded_xml_file_is_read_with_defusedxml():
    with pytest.raises(ConnectorError) as caught:
        normalize_upload(BILLION_LAUGHS, connection("upload", mapping=XML_MAPPING), RECEIVED_AT)
    assert caught.value.reason == "malformed"


def test_an_upload_with_an_unusable_mapping_is_unsupported():
    with pytest.raises(ConnectorError) as caught:
        normalize_upload(b"SKU\nA\n", connection("upload", mapping={"format": "pdf"}), RECEIVED_AT)
    assert caught.value.reason == "unsupported"


# --- registry ----------------------------------------------------------------------------------


def test_every_connection_type_is_registered_by_its_type_string():
    assert set(CONNECTORS) == {"rest_json", "csv_http", "xml_http", "upload", "push"}
    assert all(connector.connection_type == name for name, connector in CONNECTORS.items())


@pytest.mark.parametrize("connection_type", ["upload", "push", "carrier_pigeon"])
def test_connections_that_cannot_be_polled_refuse_a_pull_as_unsupported(connection_type):
    supplier = FakeSupplier(always(ok))
    with pytest.raises(ConnectorError) as caught:
        pull(connection(connection_type), supplier)
    assert caught.value.reason == "unsupported"
    assert supplier.requests == []


def test_a_connection_without_a_base_url_is_unsupported():
    settings = ConnectionSettings("ACME", "rest_json", {"stock_path": "/stock"}, {}, JSON_MAPPING)
    with pytest.raises(ConnectorError) as caught:
        pull(settings, FakeSupplier(always(ok)))
    assert caught.value.reason == "unsupported"


def test_received_at_must_be_timezone_aware():
    with pytest.raises(ValueError):
        pull_stock(connection(), since=None, received_at=datetime(2026, 11, 24, 10, 0))


def test_connectors_import_no_web_database_or_queue_code():
    forbidden = ("flask", "sqlalchemy", "redis", "rq", "app.models", "app.services", "app.web", "app.extensions",
                 "app.queues", "app.vault", "workers")
    found = []
    for path in sorted((Path(__file__).resolve().parents[2] / "app" / "connectors").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            )
            found += [f"{path.name}: {name}" for name in names if name.split(".")[0] in forbidden or name.startswith(forbidden)]
    assert found == []
