"""Brute-force protection for logins: growing delays per account and per source address.

Counters live in the shared :class:`~core.cache.Cache` (``incr`` with a ttl), so every worker
sees the same counts (ARCHITECTURE.md, "Scale"). Two counters are kept per attempt, following
NIST SP 800-63B §5.2.2 ("rate limiting") and OWASP's authentication cheat sheet:

* per login identifier - the ID card number typed, keyed by an HMAC of it, so the cache never
  holds a national ID number, and unknown identifiers are counted exactly like known ones (a
  throttled answer reveals nothing about whether an account exists). The second factor uses
  its own counter, keyed by the account id.
* per source address - far more generous: Cambodia's mobile networks put many subscribers
  behind one carrier-grade NAT address, so an address limit tight enough to stop one guesser
  would lock out a whole district. It stops spraying one password over many identifiers.

After ``free_failures`` failures, each further failure makes the next attempt wait
``base_delay * 2^(k-1)`` seconds (k counted past the free ones), capped at ``max_delay``; at
``lockout_after`` failures the identifier (or address) is locked out for ``lockout`` seconds.
SP 800-63B caps consecutive failures at 100; :data:`ACCOUNT_POLICY` locks out at 10 within the
hour (the delays before that add up to about four minutes) and then for an hour, which leaves
an online guesser about 220 guesses a day per identifier. A success
clears the identifier's counter but never the address's, so one valid account cannot be used
to reset the address limit. The lockout is temporary on purpose: a permanent one would let
anyone lock a citizen out by typing their ID card number (an account is locked for good only
by an officer, :mod:`idp.accounts`).

If the cache is unreachable the check fails closed (:class:`~core.cache.CacheError`, HTTP 503):
passwords are low-entropy secrets, unlike operator tokens (core/operators.py fails open).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from core.cache import Cache
from core.clock import Clock, require_aware
from core.errors import InvalidInput
from idp.errors import LoginThrottled

__all__ = ["ACCOUNT_POLICY", "SOURCE_POLICY", "LoginThrottle", "ThrottlePolicy"]


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How failures turn into delays for one kind of counter (all times in seconds)."""

    free_failures: int
    base_delay: float
    max_delay: float
    lockout_after: int
    lockout: float
    window: float

    def delay_after(self, failures: int) -> float:
        """How long the next attempt must wait after ``failures`` failures in the window."""
        if failures >= self.lockout_after:
            return self.lockout
        if failures <= self.free_failures:
            return 0.0
        return float(
            min(self.base_delay * 2 ** (failures - self.free_failures - 1), self.max_delay)
        )


ACCOUNT_POLICY = ThrottlePolicy(
    free_failures=3,
    base_delay=2.0,
    max_delay=300.0,
    lockout_after=10,
    lockout=3600.0,
    window=3600.0,
)
SOURCE_POLICY = ThrottlePolicy(
    free_failures=50,
    base_delay=1.0,
    max_delay=60.0,
    lockout_after=500,
    lockout=900.0,
    window=3600.0,
)


class LoginThrottle:
    """Counts failed attempts per identifier and per source, and refuses attempts too soon."""

    def __init__(
        self,
        cache: Cache,
        *,
        clock: Clock,
        key: bytes,
        account_policy: ThrottlePolicy = ACCOUNT_POLICY,
        source_policy: ThrottlePolicy = SOURCE_POLICY,
        prefix: str = "idp:throttle",
    ) -> None:
        if len(key) < 16:
            raise InvalidInput("the throttle's HMAC key must be at least 16 bytes")
        self._cache = cache
        self._clock = clock
        self._key = key
        self._policies = {"id": account_policy, "src": source_policy}
        self._prefix = prefix

    def _counter(self, kind: str, value: str) -> str:
        digest = hmac.new(self._key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
        return f"{self._prefix}:{kind}:{digest[:40]}"

    def _keys(self, identifier: str, source: str | None) -> list[tuple[str, str]]:
        keys = [("id", self._counter("id", identifier))]
        if source:
            keys.append(("src", self._counter("src", source)))
        return keys

    def _now(self) -> float:
        return require_aware(self._clock.now(), "the clock's time").timestamp()

    def check(self, *, identifier: str, source: str | None) -> None:
        """Raise :class:`LoginThrottled` if the identifier or the source must still wait."""
        now = self._now()
        wait = 0.0
        for _kind, key in self._keys(identifier, source):
            raw = self._cache.get(key + ":until")
            if raw is not None:
                wait = max(wait, float(raw) - now)
        if wait > 0:
            raise LoginThrottled(wait)

    def record_failure(self, *, identifier: str, source: str | None) -> float:
        """Count one failure; return the delay now imposed (0 while failures are free)."""
        now = self._now()
        longest = 0.0
        for kind, key in self._keys(identifier, source):
            policy = self._policies[kind]
            failures = self._cache.incr(key, ttl=policy.window)
            delay = policy.delay_after(failures)
            if delay > 0:
                self._cache.set(key + ":until", repr(now + delay).encode(), ttl=delay)
                longest = max(longest, delay)
        return longest

    def record_success(self, *, identifier: str) -> None:
        """Forget the identifier's failures (the source's count stays)."""
        key = self._counter("id", identifier)
        self._cache.delete(key)
        self._cache.delete(key + ":until")

    def failures(self, *, identifier: str) -> int:
        """How many failures the identifier has in the current window (for account pages)."""
        raw = self._cache.get(self._counter("id", identifier))
        return int(raw) if raw is not None else 0
