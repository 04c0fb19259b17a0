"""The cache contract, run against the in-process cache and Redis alike.

Single-use protocol values (authorization codes, PAR request URIs, DPoP jti) rely on ``add``
and ``pop`` being atomic: of many concurrent callers exactly one wins.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Iterator

import pytest

from core.cache import Cache, CacheError, InMemoryCache, RedisCache
from core.clock import FixedClock
from core.errors import InvalidInput
from tests.conftest import require

REDIS_URL = os.environ.get("NATID_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_cache() -> RedisCache:
    cache = RedisCache.from_url(REDIS_URL, prefix=f"natid-test-{uuid.uuid4().hex[:8]}:")
    try:
        cache.ping()
    except CacheError:
        require(False, f"Redis at {REDIS_URL}")
    return cache


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def cache(request: pytest.FixtureRequest) -> Iterator[Cache]:
    if request.param == "memory":
        yield InMemoryCache()
    else:
        yield _redis_cache()


def test_set_get_delete(cache: Cache) -> None:
    assert cache.get("k") is None
    cache.set("k", b"v", ttl=60)
    assert cache.get("k") == b"v"
    cache.delete("k")
    assert cache.get("k") is None


def test_authorization_code_pop_is_single_use(cache: Cache) -> None:
    cache.set("code:abc", b"grant", ttl=60)
    assert cache.pop("code:abc") == b"grant"
    assert cache.pop("code:abc") is None


def test_concurrent_add_has_exactly_one_winner(cache: Cache) -> None:
    wins: list[bool] = []
    barrier = threading.Barrier(16)

    def attempt() -> None:
        barrier.wait()
        wins.append(cache.add("jti:replayed", b"1", ttl=60))

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_concurrent_pop_hands_value_out_once(cache: Cache) -> None:
    cache.set("par:uri", b"request", ttl=60)
    got: list[bytes | None] = []
    barrier = threading.Barrier(16)

    def attempt() -> None:
        barrier.wait()
        got.append(cache.pop("par:uri"))

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [g for g in got if g is not None] == [b"request"]


def test_counter_increments_within_window(cache: Cache) -> None:
    assert [cache.incr("rl:ip", ttl=60) for _ in range(3)] == [1, 2, 3]


def test_nonpositive_ttl_rejected(cache: Cache) -> None:
    with pytest.raises(InvalidInput, match="ttl"):
        cache.set("k", b"v", ttl=0)


def test_memory_cache_expires_with_injected_clock() -> None:
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    cache = InMemoryCache(clock=clock)
    cache.set("code", b"x", ttl=60)
    cache.incr("rl", ttl=10)
    clock.advance(dt.timedelta(seconds=60))
    assert cache.get("code") is None
    assert cache.incr("rl", ttl=10) == 1  # a new window


def test_memory_cache_is_bounded() -> None:
    cache = InMemoryCache(max_entries=100)
    for i in range(1000):
        cache.set(f"k{i}", b"v", ttl=60)
    assert len(cache._data) <= 100
    assert cache.get("k999") == b"v"


@pytest.mark.redis
def test_redis_entries_expire() -> None:
    cache = _redis_cache()
    cache.set("short", b"v", ttl=0.05)
    import time

    deadline = time.monotonic() + 2
    while cache.get("short") is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get("short") is None


def test_unreachable_redis_is_a_clear_infrastructure_error() -> None:
    cache = RedisCache.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(CacheError, match="Redis cache failed"):
        cache.get("k")
