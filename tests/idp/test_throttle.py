"""Brute-force protection: growing delays, lockout, shared counters, nothing personal in keys."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from core.cache import InMemoryCache, RedisCache
from core.clock import FixedClock
from idp.errors import LoginThrottled
from idp.throttle import ACCOUNT_POLICY, SOURCE_POLICY, LoginThrottle, ThrottlePolicy
from tests.conftest import require

KEY = b"k" * 32
ID = "000123456"


@pytest.fixture
def throttle(clock: FixedClock) -> LoginThrottle:
    return LoginThrottle(InMemoryCache(clock=clock), clock=clock, key=KEY)


def fail(
    throttle: LoginThrottle, n: int, *, identifier: str = ID, source: str = "198.51.100.7"
) -> None:
    for _ in range(n):
        throttle.record_failure(identifier=identifier, source=source)


def test_policy_delays_grow_then_lock_out() -> None:
    delays = [ACCOUNT_POLICY.delay_after(n) for n in range(1, 11)]
    assert delays[:3] == [0, 0, 0]
    assert delays[3:9] == [2, 4, 8, 16, 32, 64]
    assert delays[9] == ACCOUNT_POLICY.lockout == 3600
    # The address limit is far looser (carrier-grade NAT puts many people on one address).
    assert SOURCE_POLICY.delay_after(20) == 0


def test_free_failures_do_not_delay(throttle: LoginThrottle) -> None:
    fail(throttle, 3)
    throttle.check(identifier=ID, source="198.51.100.7")


def test_fourth_failure_makes_the_next_attempt_wait(
    throttle: LoginThrottle, clock: FixedClock
) -> None:
    fail(throttle, 4)
    with pytest.raises(LoginThrottled) as caught:
        throttle.check(identifier=ID, source="203.0.113.1")  # another address: same account
    assert caught.value.retry_after == 2
    assert caught.value.http_status == 429
    clock.advance(dt.timedelta(seconds=2))
    throttle.check(identifier=ID, source="203.0.113.1")


def test_lockout_after_ten_failures_lasts_an_hour(
    throttle: LoginThrottle, clock: FixedClock
) -> None:
    fail(throttle, 10)
    clock.advance(dt.timedelta(minutes=59))
    with pytest.raises(LoginThrottled):
        throttle.check(identifier=ID, source=None)
    clock.advance(dt.timedelta(minutes=1))
    throttle.check(identifier=ID, source=None)


def test_success_clears_the_account_but_not_the_address(clock: FixedClock) -> None:
    tight_source = ThrottlePolicy(1, 5.0, 5.0, 100, 60.0, 600.0)
    throttle = LoginThrottle(
        InMemoryCache(clock=clock), clock=clock, key=KEY, source_policy=tight_source
    )
    fail(throttle, 4, source="198.51.100.7")
    throttle.record_success(identifier=ID)
    assert throttle.failures(identifier=ID) == 0
    # The address still waits: a valid account cannot reset the per-address limit.
    with pytest.raises(LoginThrottled):
        throttle.check(identifier="000999999", source="198.51.100.7")
    throttle.check(identifier=ID, source="192.0.2.99")


def test_password_spraying_from_one_address_is_slowed(clock: FixedClock) -> None:
    throttle = LoginThrottle(InMemoryCache(clock=clock), clock=clock, key=KEY)
    for n in range(SOURCE_POLICY.free_failures + 1):
        throttle.record_failure(identifier=f"000{n:06d}", source="198.51.100.7")
    with pytest.raises(LoginThrottled):
        throttle.check(identifier="000777777", source="198.51.100.7")
    throttle.check(identifier="000777777", source="198.51.100.8")


def test_cache_never_holds_the_id_number(clock: FixedClock) -> None:
    cache = InMemoryCache(clock=clock)
    throttle = LoginThrottle(cache, clock=clock, key=KEY)
    fail(throttle, 5)
    keys = " ".join(cache._data)
    assert ID not in keys
    assert "198.51.100.7" not in keys


@pytest.mark.redis
def test_workers_share_counters_through_redis(clock: FixedClock) -> None:
    url = os.environ.get("NATID_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    first = RedisCache.from_url(url, prefix=f"test-throttle-{os.getpid()}:")
    try:
        first.ping()
    except Exception:
        require(False, f"Redis at {url}")
    second = RedisCache.from_url(url, prefix=f"test-throttle-{os.getpid()}:")
    worker_a = LoginThrottle(first, clock=clock, key=KEY)
    worker_b = LoginThrottle(second, clock=clock, key=KEY)
    identifier = f"000{os.getpid() % 1_000_000:06d}"
    worker_b.record_success(identifier=identifier)
    fail(worker_a, 2, identifier=identifier)
    fail(worker_b, 2, identifier=identifier)
    with pytest.raises(LoginThrottled):
        worker_a.check(identifier=identifier, source=None)
    worker_a.record_success(identifier=identifier)
    worker_b.check(identifier=identifier, source=None)
