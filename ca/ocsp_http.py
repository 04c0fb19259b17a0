"""OCSP responses as served over HTTP (RFC 5019 §6.2), prepared once per response, not per request.

A pre-signed response is served thousands of times; what HTTP needs of it - may it be cached,
its thisUpdate and nextUpdate for ``Last-Modified`` and ``Expires``, its ``ETag`` - is fixed when
it is signed. :class:`PreparedResponse` holds the DER bytes with those values, computed once
(from the times the signer used, or by parsing the DER once when it comes from a shared cache),
so a request only computes ``max-age`` from the clock. The headers are the same as before this
module existed (tests/api/test_ocsp_routes.py):

* a successful response without a nonce, not yet past its nextUpdate: ``Cache-Control:
  max-age=<min(cap, nextUpdate - now)>, public, no-transform, must-revalidate``,
  ``Last-Modified`` = thisUpdate, ``Expires`` = nextUpdate, ``ETag`` = SHA-256 of the bytes;
* anything else (unsuccessful, with a nonce - it answers one client -, expired): ``no-store``.

:class:`BoundedMap` is the small bounded map the responder keeps its per-process layers in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Hashable
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Generic, TypeVar

from cryptography import x509
from cryptography.x509 import ocsp

from core.clock import require_aware
from core.errors import InvalidInput

__all__ = [
    "CONTENT_TYPE",
    "BoundedMap",
    "PreparedResponse",
    "cache_control",
    "http_cache_headers",
]

CONTENT_TYPE = "application/ocsp-response"

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class PreparedResponse:
    """A DER OCSPResponse and what RFC 5019 §6.2 headers need of it."""

    der: bytes
    #: nextUpdate as a POSIX timestamp, or ``None`` when no HTTP cache may keep the response.
    next_update_ts: float | None = None
    last_modified: str = ""
    expires: str = ""
    etag: str = ""

    @classmethod
    def uncacheable(cls, der: bytes) -> PreparedResponse:
        return cls(der)

    @classmethod
    def signed(
        cls, der: bytes, *, this_update: dt.datetime, next_update: dt.datetime
    ) -> PreparedResponse:
        """A successful response without a nonce, from the times it was signed with."""
        return cls(
            der,
            next_update_ts=next_update.timestamp(),
            last_modified=format_datetime(this_update.astimezone(dt.UTC), usegmt=True),
            expires=format_datetime(next_update.astimezone(dt.UTC), usegmt=True),
            etag='"' + hashlib.sha256(der).hexdigest() + '"',
        )

    @classmethod
    def parse(cls, der: bytes) -> PreparedResponse:
        """Read a response's status, nonce and times from its DER (once, e.g. after a cache)."""
        try:
            response = ocsp.load_der_ocsp_response(bytes(der))
            if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
                return cls(der)
            try:
                response.extensions.get_extension_for_class(x509.OCSPNonce)
            except x509.ExtensionNotFound:
                pass
            else:
                return cls(der)
            this_update, next_update = response.this_update_utc, response.next_update_utc
        except ValueError:
            return cls(der)
        if next_update is None:
            return cls(der)
        return cls.signed(der, this_update=this_update, next_update=next_update)

    def max_age(self, now_ts: float, cap_seconds: int) -> int | None:
        """``max-age`` at ``now_ts``: ``None`` means ``no-store`` (module docstring)."""
        next_update = self.next_update_ts
        if next_update is None or next_update <= now_ts:
            return None
        return int(min(cap_seconds, next_update - now_ts))

    def headers(self, *, at: dt.datetime, max_age: dt.timedelta) -> dict[str, str]:
        """The HTTP headers for serving this response at ``at`` (module docstring)."""
        seconds = self.max_age(require_aware(at).timestamp(), int(max_age.total_seconds()))
        if seconds is None:
            return {"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"}
        return {
            "Content-Type": CONTENT_TYPE,
            "Cache-Control": cache_control(seconds),
            "Last-Modified": self.last_modified,
            "Expires": self.expires,
            "ETag": self.etag,
        }


def cache_control(max_age: int) -> str:
    """The ``Cache-Control`` value of a cacheable response (RFC 5019 §6.2)."""
    return f"max-age={max_age}, public, no-transform, must-revalidate"


def http_cache_headers(
    response_der: bytes, *, at: dt.datetime, max_age: dt.timedelta = dt.timedelta(seconds=60)
) -> dict[str, str]:
    """HTTP headers for serving ``response_der`` (RFC 5019 §6.2), as of ``at``.

    Parses the DER; a responder serving its own responses uses :class:`PreparedResponse`.
    """
    at = require_aware(at)
    if max_age < dt.timedelta(0):
        raise InvalidInput("max_age must not be negative")
    return PreparedResponse.parse(response_der).headers(at=at, max_age=max_age)


class BoundedMap(Generic[K, V]):
    """A dict of at most ``max_entries``; the oldest insertion goes first when full.

    Reads take no lock (one ``dict.get``, atomic in CPython); writes do, so eviction never
    iterates a dict another thread is changing. Oldest-first rather than least-recently-used:
    a hit then costs no bookkeeping, and an entry that is still wanted comes back on its next
    miss.
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must not be negative")
        self._max = max_entries
        self._data: dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        return self._data.get(key)

    def put(self, key: K, value: V) -> None:
        if self._max == 0:
            return
        with self._lock:
            data = self._data
            if key not in data:
                while len(data) >= self._max:
                    del data[next(iter(data))]
            data[key] = value

    def pop(self, key: K) -> None:
        with self._lock:
            self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)
