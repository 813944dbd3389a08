"""The pushing supplier: changed stock as status words, signed with HMAC-SHA256 of the raw body."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.sandbox import catalog
from app.sandbox.push import push_stock_updates, sign

SKUS = [f"SUN{number:06d}" for number in range(1, 1001)]
NOON = datetime(2025, 1, 15, 12, 2, 30, tzinfo=UTC)
SECRET = "webhook-secret-for-tests"


def recording_client(status: int = 202):
    received: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(status)

    return httpx.Client(transport=httpx.MockTransport(answer)), received


def test_push_posts_the_skus_changed_this_bucket_signed_with_the_secret():
    client, received = recording_client()
    sent = push_stock_updates("SUNRISE", "https://dropdesk.test/webhooks/SUNRISE", SECRET, NOON, client, skus=SKUS)

    assert len(received) == 1
    request = received[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), request.content, hashlib.sha256).hexdigest()
    assert request.headers["X-Signature"] == expected
    assert request.headers["Content-Type"] == "application/json"
    items = json.loads(request.content)["items"]
    bucket_start = catalog.bucket_start(catalog.bucket_number(NOON))
    changed = [item for item in catalog.stock_at("SUNRISE", SKUS, NOON) if item.updated_at == bucket_start]
    assert sent == len(items) == len(changed) > 0
    assert items[0].keys() == {"sku", "status", "updated_at"}
    assert {item["status"] for item in items} <= {"In Stock", "Low Stock", "Out of Stock"}
    assert all(item["updated_at"] == bucket_start.strftime("%Y-%m-%dT%H:%M:%SZ") for item in items)


def test_push_since_an_earlier_instant_sends_every_change_since_then():
    client, _ = recording_client()
    since = NOON - timedelta(hours=1)
    sent = push_stock_updates("SUNRISE", "https://dropdesk.test/hook", SECRET, NOON, client, since=since, skus=SKUS)
    assert sent == len(catalog.changed_since(catalog.stock_at("SUNRISE", SKUS, NOON), since))
    assert sent > len(SKUS) * 0.2


def test_the_same_changes_pushed_twice_carry_the_same_delivery_id():
    client, received = recording_client()
    push_stock_updates("SUNRISE", "https://dropdesk.test/hook", SECRET, NOON, client, skus=SKUS)
    push_stock_updates("SUNRISE", "https://dropdesk.test/hook", SECRET, NOON + timedelta(seconds=30), client, skus=SKUS)
    assert received[0].content == received[1].content
    assert received[0].headers["X-Webhook-Id"] == received[1].headers["X-Webhook-Id"]


def test_nothing_changed_means_nothing_is_posted():
    client, received = recording_client()
    assert push_stock_updates("SUNRISE", "https://dropdesk.test/hook", SECRET, NOON, client,
                              since=NOON + timedelta(seconds=1), skus=SKUS) == 0
    assert received == []


def test_a_refused_delivery_raises():
    client, _ = recording_client(status=401)
    with pytest.raises(httpx.HTTPStatusError):
        push_stock_updates("SUNRISE", "https://dropdesk.test/hook", SECRET, NOON, client, skus=SKUS)


def test_signature_is_hex_hmac_sha256_of_the_raw_body():
    assert sign(b'{"items":[]}', "k") == "sha256=" + hmac.new(b"k", b'{"items":[]}', hashlib.sha256).hexdigest()
