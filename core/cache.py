"""Short-lived protocol state behind one small interface (ARCHITECTURE.md, "Storage").

Authorization codes, PAR request URIs, DPoP ``jti`` values, rate-limit counters and cached
OCSP responses all go through :class:`Cache`. :class:`InMemoryCache` is the single-process
default; :class:`RedisCache` is for several workers or nodes. Both pass the same tests
(``tests/core/test_cache.py``), including the atomicity that single-use values need:
:meth:`Cache.add` succeeds for exactly one caller and :meth:`Cache.pop` hands a value to
exactly one caller.
"""

from __future__ import annotations

import heapq
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from core.clock import Clock, SystemClock
from core.errors import InfrastructureError, InvalidInput

if TYPE_CHECKING:
    import redis

__all__ = ["Cache", "CacheError", "CacheEvicts", "InMemoryCache", "RedisCache"]

log = logging.getLogger(__name__)

#: The start of redis-py's connection errors, which repeat the address the message names.
_CONNECTING = re.compile(r"^Error -?\d+ connecting to .*?\. ")


class CacheError(InfrastructureError):
    """The cache could not be reached or answered wrongly."""

    code = "cache_unavailable"


class CacheEvicts(CacheError):
    """The cache is set up to drop live entries when memory runs short (a Redis
    ``maxmemory-policy`` other than ``noeviction`` under a ``maxmemory`` limit)."""


def _check_ttl(ttl: float) -> None:
    if ttl <= 0:
        raise InvalidInput(f"a cache ttl must be positive seconds, got {ttl!r}")


class Cache(Protocol):
    """Key-value store for values that live seconds to hours. Keys and values are bytes-safe."""

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, *, ttl: float) -> None: ...

    def add(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Store only if absent; True for exactly one of several concurrent callers."""
        ...

    def pop(self, key: str) -> bytes | None:
        """Get and delete atomically: a single-use value is handed out once."""
        ...

    def delete(self, key: str) -> None: ...

    def incr(self, key: str, *, ttl: float) -> int:
        """Increment a counter; the window (ttl) starts with the first increment."""
        ...

    def health_check(self) -> None:
        """Raise :class:`CacheError` unless the cache can take and keep new entries now."""
        ...


class InMemoryCache:
    """The in-process cache: correct for one process, not shared between workers.

    Expired entries leave in order of expiry (a heap beside the dict), so a store costs
    O(log n) however full the cache is. At most ``max_entries`` live entries are kept; a store
    of a new key beyond that raises :class:`CacheError` (HTTP 503) instead of evicting a live
    one. Evicting would turn a capacity problem into wrong security answers: a user's code
    gone before its exchange (and then taken for a reused one), a DPoP or client-assertion
    ``jti`` forgotten (a replay accepted), a throttle counter reset. A login leaves a reuse
    marker for a day (idp.codes.REUSE_WINDOW), so the default holds about a million logins a
    day at ~0.4 GB; a busier deployment sets ``NATID_REDIS_URL``.
    """

    #: Seconds between two warnings that the cache is full.
    FULL_WARNING_INTERVAL = 60.0

    def __init__(self, *, clock: Clock | None = None, max_entries: int = 1_000_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._clock = clock or SystemClock()
        self._data: dict[str, tuple[bytes, float]] = {}
        #: (expiry, key) of every stored entry; an item whose key was since deleted or stored
        #: again with another expiry is skipped when it comes up.
        self._expiries: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._warned_at: float | None = None

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _live(self, key: str, now: float) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= now:
            del self._data[key]
            return None
        return item[0]

    def _drop_expired(self, now: float) -> None:
        expiries, data = self._expiries, self._data
        while expiries and expiries[0][0] <= now:
            expires, key = heapq.heappop(expiries)
            item = data.get(key)
            if item is not None and item[1] == expires:
                del data[key]

    def _store(self, key: str, value: bytes, expires: float, now: float) -> None:
        self._drop_expired(now)
        if key not in self._data and len(self._data) >= self._max_entries:
            self._warn_full()
            raise CacheError(
                f"the in-process cache is full ({self._max_entries} live entries); "
                "set NATID_REDIS_URL for this load"
            )
        self._data[key] = (value, expires)
        heapq.heappush(self._expiries, (expires, key))
        if len(self._expiries) > 2 * len(self._data) + 1024:
            # Keys stored again and again (counters' lock-outs, version stamps) leave items
            # behind; rebuilt from the live entries, the heap stays within twice their number.
            self._expiries = [(exp, k) for k, (_, exp) in self._data.items()]
            heapq.heapify(self._expiries)

    def _warn_full(self) -> None:
        now = time.monotonic()
        if self._warned_at is None or now - self._warned_at >= self.FULL_WARNING_INTERVAL:
            self._warned_at = now
            log.warning(
                "in-process cache full; new short-lived state is refused until entries expire",
                extra={"max_entries": self._max_entries},
            )

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._live(key, self._now())

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        _check_ttl(ttl)
        with self._lock:
            now = self._now()
            self._store(key, value, now + ttl, now)

    def add(self, key: str, value: bytes, *, ttl: float) -> bool:
        _check_ttl(ttl)
        with self._lock:
            now = self._now()
            if self._live(key, now) is not None:
                return False
            self._store(key, value, now + ttl, now)
            return True

    def pop(self, key: str) -> bytes | None:
        with self._lock:
            value = self._live(key, self._now())
            self._data.pop(key, None)
            return value

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def incr(self, key: str, *, ttl: float) -> int:
        _check_ttl(ttl)
        with self._lock:
            now = self._now()
            current = self._live(key, now)
            if current is None:
                self._store(key, b"1", now + ttl, now)
                return 1
            count = int(current) + 1
            self._data[key] = (str(count).encode(), self._data[key][1])
            return count

    def health_check(self) -> None:
        """Raise :class:`CacheError` while the cache is full (new logins get 503 then)."""
        with self._lock:
            self._drop_expired(self._now())
            if len(self._data) >= self._max_entries:
                raise CacheError(f"the in-process cache is full ({self._max_entries} live entries)")


class RedisCache:
    """The shared cache for several workers or nodes (``NATID_REDIS_URL``)."""

    def __init__(self, client: redis.Redis[bytes], *, prefix: str = "natid:") -> None:
        self._r = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "natid:") -> RedisCache:
        import redis as redis_lib

        return cls(redis_lib.Redis.from_url(url, socket_timeout=5), prefix=prefix)

    def _k(self, key: str) -> str:
        return self._prefix + key

    def _call(self, fn: Callable[..., Any], *args: object, **kwargs: object) -> Any:
        import redis as redis_lib

        try:
            return fn(*args, **kwargs)
        except redis_lib.RedisError as exc:
            raise CacheError(f"the Redis cache failed: {type(exc).__name__}") from exc

    def _where(self) -> str:
        """``host:port`` (``[v6]:port``) or the Unix socket's path of the Redis in use."""
        options = self._r.connection_pool.connection_kwargs
        if options.get("path"):
            return str(options["path"])
        host, port = str(options.get("host", "localhost")), options.get("port", 6379)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _where_failed(self, fn: Callable[..., Any], *args: object) -> Any:
        """Like :meth:`_call`, for the checks an operator reads (``natid serve`` refusing to
        start, the readiness log): the message names where Redis is and why it failed, never
        the password. Errors of requests keep :meth:`_call`'s message, which an HTTP problem
        document shows to the caller and which names no address."""
        import redis as redis_lib

        try:
            return fn(*args)
        except redis_lib.RedisError as exc:
            where = self._where()
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            # redis-py writes "Error 111 connecting to HOST:PORT. Connection refused.": the
            # address is said once already.
            reason = _CONNECTING.sub("", reason)
            password = self._r.connection_pool.connection_kwargs.get("password")
            if password:
                reason = reason.replace(str(password), "***")
            if len(reason) > 200:
                reason = reason[:197] + "..."
            detail = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
            raise CacheError(f"the Redis cache at {where} failed: {detail}") from exc

    def get(self, key: str) -> bytes | None:
        value: bytes | None = self._call(self._r.get, self._k(key))
        return value

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        _check_ttl(ttl)
        self._call(self._r.set, self._k(key), value, px=max(1, int(ttl * 1000)))

    def add(self, key: str, value: bytes, *, ttl: float) -> bool:
        _check_ttl(ttl)
        result = self._call(self._r.set, self._k(key), value, px=max(1, int(ttl * 1000)), nx=True)
        return bool(result)

    def pop(self, key: str) -> bytes | None:
        value: bytes | None = self._call(self._r.getdel, self._k(key))
        return value

    def delete(self, key: str) -> None:
        self._call(self._r.delete, self._k(key))

    def incr(self, key: str, *, ttl: float) -> int:
        _check_ttl(ttl)
        pipe = self._r.pipeline(transaction=True)
        pipe.incr(self._k(key))
        pipe.pexpire(self._k(key), max(1, int(ttl * 1000)), nx=True)
        result = self._call(pipe.execute)
        return int(result[0])

    def ping(self) -> None:
        self._call(self._r.ping)

    def health_check(self) -> None:
        """Raise :class:`CacheError` if Redis does not answer, :class:`CacheEvicts` if it would
        drop NatID's keys when memory runs short.

        Every NatID key has a time to live, so any ``volatile-*`` policy may drop them, and an
        ``allkeys-*`` policy drops anything: a user's code before its exchange (taken for a
        reused one, the grant revoked), a DPoP or client-assertion ``jti`` (a replay accepted),
        a throttle counter. Without ``maxmemory`` (0, the default) Redis never evicts whatever
        the policy says. ``INFO`` is read rather than ``CONFIG GET``, which managed Redis
        services often disable.
        """
        info: dict[str, Any] = self._where_failed(self._r.info, "memory")
        try:
            limit = int(info.get("maxmemory", 0))
        except (TypeError, ValueError):
            limit = 0
        policy = str(info.get("maxmemory_policy", "noeviction"))
        if limit > 0 and policy != "noeviction":
            raise CacheEvicts(
                f"Redis may evict NatID's keys (maxmemory {limit} bytes, maxmemory-policy "
                f"{policy}); set maxmemory-policy noeviction (docs/deployment.md, section 2)"
            )
