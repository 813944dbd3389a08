"""Leases in Redis shared by every worker process: one run per supplier, and a cap on calls in flight.

A lease lives for a short time-to-live and a heartbeat thread renews it while its holder works, so a
worker killed mid-run (SIGKILL, OOM, a lost machine) holds its supplier for at most one time-to-live
instead of until a long timeout. Every check-and-write is one Lua script, so two processes never both win.
"""
from __future__ import annotations

import secrets
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from flask import current_app

from app import queues

# Take the lock when free; renew or release it only while it is still ours (another run may hold it by now).
_RENEW_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0"""
_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0"""
# Slots are members of a sorted set scored by when they expire: expired ones (their holder died) are dropped
# before counting, so a lost slot comes back one time-to-live later whatever traffic follows.
_TAKE_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0"""
_RENEW_SLOT = """
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0"""


def lease_seconds() -> int:
    return current_app.config["DROPDESK"].sync_lock_seconds


class _Heartbeat:
    """Calls `renew` every third of the time-to-live until stopped, from a daemon thread."""

    def __init__(self, renew, ttl_seconds: float) -> None:
        self._renew, self._every, self._stop = renew, ttl_seconds / 3, threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._renew()
            except Exception:  # noqa: BLE001 — a missed beat only shortens the lease; the run goes on
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._every + 1)


@contextmanager
def exclusive(key: str, ttl_seconds: int | None = None) -> Iterator[bool]:
    """Hold `key` alone while the block runs: yields True, or False at once when someone else holds it."""
    ttl = ttl_seconds or lease_seconds()
    connection, token = queues.connection(), secrets.token_hex(8)
    if not connection.set(key, token, nx=True, px=int(ttl * 1000)):
        yield False
        return
    renew = connection.register_script(_RENEW_LOCK)
    heartbeat = _Heartbeat(lambda: renew(keys=[key], args=[token, int(ttl * 1000)]), ttl)
    try:
        yield True
    finally:
        heartbeat.stop()
        connection.register_script(_RELEASE_LOCK)(keys=[key], args=[token])


@contextmanager
def slot(key: str, cap: int, wait_seconds: float, ttl_seconds: int | None = None) -> Iterator[bool]:
    """One of `cap` slots under `key`: yields True with one, False when none freed up within wait_seconds."""
    ttl = ttl_seconds or lease_seconds()
    connection, token = queues.connection(), secrets.token_hex(8)
    take, renew = connection.register_script(_TAKE_SLOT), connection.register_script(_RENEW_SLOT)
    deadline = time.monotonic() + wait_seconds
    while not take(keys=[key], args=[time.time(), time.time() + ttl, token, cap, int(ttl * 1000)]):
        if time.monotonic() >= deadline:
            yield False
            return
        time.sleep(0.1)
    heartbeat = _Heartbeat(lambda: renew(keys=[key], args=[time.time() + ttl, token, int(ttl * 1000)]), ttl)
    try:
        yield True
    finally:
        heartbeat.stop()
        connection.zrem(key, token)
