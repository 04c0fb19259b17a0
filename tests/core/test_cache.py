"""The cache contract, run against the in-process cache and Redis alike.

Single-use protocol values (authorization codes, PAR request URIs, DPoP jti) rely on ``add``
and ``pop`` being atomic: of many concurrent callers exactly one wins.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from core.cache import Cache, CacheError, CacheEvicts, InMemoryCache, RedisCache
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


def test_full_memory_cache_refuses_new_state_and_keeps_what_it_holds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    cache = InMemoryCache(clock=clock, max_entries=100)
    for i in range(98):
        cache.set(f"idp:code-grant:{i}", b"grant", ttl=86_400)
    assert cache.incr("idp:throttle:acct", ttl=900) == 1
    assert cache.add("idp:code:live", b"grant-json", ttl=60)  # the 100th: a user's code
    cache.set("idp:code-grant:0", b"grant", ttl=86_400)  # stored again: no new entry
    assert cache.pop("idp:code:live") == b"grant-json"
    assert cache.add("idp:code:next", b"grant-json", ttl=60)  # the slot it left
    caplog.set_level(logging.WARNING, logger="core.cache")
    with pytest.raises(CacheError, match=r"cache is full .*set NATID_REDIS_URL") as refused:
        cache.add("idp:dpop-jti:abc", b"1", ttl=300)
    assert "dpop" not in str(refused.value)  # no key in the message
    with pytest.raises(CacheError):
        cache.set("idp:code:later", b"grant-json", ttl=60)
    with pytest.raises(CacheError):
        cache.incr("idp:throttle:other", ttl=900)
    # Nothing live was given up for them: the code waiting for its exchange is still there,
    # and a refused jti was not recorded (so it is not "seen" later either).
    assert cache.get("idp:code:next") == b"grant-json"
    assert cache.get("idp:code-grant:0") == b"grant"
    assert cache.get("idp:dpop-jti:abc") is None
    assert cache.incr("idp:throttle:acct", ttl=900) == 2  # an existing counter still counts
    full = [r for r in caplog.records if r.name == "core.cache"]
    assert [r.getMessage() for r in full] == [  # one warning, not one per refusal
        "in-process cache full; new short-lived state is refused until entries expire"
    ]
    clock.advance(dt.timedelta(seconds=60))  # the code expires, and with it its slot
    assert cache.add("idp:dpop-jti:abc", b"1", ttl=300)


def test_memory_cache_drops_expired_entries_without_reading_them() -> None:
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    cache = InMemoryCache(clock=clock)
    for i in range(1000):
        cache.set(f"idp:code:{i}", b"v", ttl=60)
        cache.set("idp:clients:version", str(i).encode(), ttl=86_400)  # stored again and again
    for i in range(500):
        cache.set(f"idp:code-grant:{i}", b"g", ttl=86_400)
    clock.advance(dt.timedelta(seconds=61))
    cache.set("idp:code:new", b"v", ttl=60)  # any store drops what has expired
    assert set(cache._data) == {f"idp:code-grant:{i}" for i in range(500)} | {
        "idp:clients:version",
        "idp:code:new",
    }
    assert cache.get("idp:clients:version") == b"999"
    # The expiry index does not grow with a key stored again and again.
    assert len(cache._expiries) <= 2 * len(cache._data) + 1024


def test_memory_cache_refuses_a_size_it_cannot_hold() -> None:
    with pytest.raises(ValueError, match="positive"):
        InMemoryCache(max_entries=0)


@pytest.mark.redis
def test_redis_entries_expire() -> None:
    cache = _redis_cache()
    cache.set("short", b"v", ttl=0.05)
    deadline = time.monotonic() + 2
    while cache.get("short") is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get("short") is None


def test_unreachable_redis_is_a_clear_infrastructure_error() -> None:
    cache = RedisCache.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(CacheError, match="Redis cache failed") as failed:
        cache.get("k")
    # A request's error becomes the problem document's detail: no internal address in it.
    assert "127.0.0.1" not in str(failed.value)


# --- health checks (/readyz, `natid serve`) ---------------------------------------------------


def test_redis_that_may_evict_fails_the_health_check(evicting_redis: str) -> None:
    import redis

    cache = RedisCache.from_url(evicting_redis)
    with pytest.raises(CacheEvicts) as refused:
        cache.health_check()
    assert refused.value.code == "cache_unavailable"
    assert str(refused.value) == (
        "Redis may evict NatID's keys (maxmemory 67108864 bytes, maxmemory-policy volatile-lru); "
        "set maxmemory-policy noeviction (docs/deployment.md, section 2)"
    )
    assert "redis.sock" not in str(refused.value)  # no address in the message
    client = redis.Redis.from_url(evicting_redis)
    client.config_set("maxmemory-policy", "noeviction")  # the fix the message names
    cache.health_check()
    client.config_set("maxmemory-policy", "allkeys-lru")
    with pytest.raises(CacheEvicts, match="allkeys-lru"):
        cache.health_check()
    client.config_set("maxmemory", 0)  # no limit: Redis never evicts, whatever the policy
    cache.health_check()


@pytest.mark.redis
def test_redis_with_its_default_policy_passes_the_health_check() -> None:
    _redis_cache().health_check()


def test_unreachable_redis_fails_the_health_check_naming_where_without_the_password() -> None:
    with pytest.raises(CacheError) as failed:
        RedisCache.from_url("redis://:secret-password@127.0.0.1:1/0").health_check()
    assert not isinstance(failed.value, CacheEvicts)
    # What `natid serve` prints and /readyz logs: where Redis is and why, as for the database.
    assert str(failed.value) == (
        "the Redis cache at 127.0.0.1:1 failed: ConnectionError: Connection refused."
    )


@pytest.mark.parametrize(
    "url, where",
    [
        ("rediss://natid:secret-password@[::1]:1/0", "[::1]:1"),
        ("unix:///nonexistent/redis.sock?password=secret-password", "/nonexistent/redis.sock"),
    ],
    ids=["ipv6-tls", "unix-socket"],
)
def test_health_check_names_an_ipv6_or_socket_redis(url: str, where: str) -> None:
    with pytest.raises(CacheError) as failed:
        RedisCache.from_url(url).health_check()
    assert str(failed.value).startswith(f"the Redis cache at {where} failed: ConnectionError")
    assert "secret-password" not in str(failed.value)


def test_memory_cache_health_check_fails_only_while_full() -> None:
    clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    cache = InMemoryCache(clock=clock, max_entries=2)
    cache.health_check()
    cache.set("a", b"1", ttl=60)
    cache.set("b", b"2", ttl=120)
    with pytest.raises(CacheError, match="in-process cache is full"):
        cache.health_check()
    clock.advance(dt.timedelta(seconds=60))  # "a" expires: room again
    cache.health_check()
