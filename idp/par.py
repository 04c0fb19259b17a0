"""Pushed authorization requests (RFC 9126): the store behind ``request_uri``.

A client posts its authorization request to the PAR endpoint, authenticated, and gets back a
``request_uri`` (``urn:ietf:params:oauth:request_uri:<256 random bits>``, §2.2) that it sends
to the authorization endpoint instead of the parameters. Decisions:

* The validated :class:`~idp.authz_request.AuthorizationRequest` is stored in the
  :class:`~core.cache.Cache` under the SHA-256 of the URN's random part, for
  :data:`PAR_LIFETIME` (60 s, the ``expires_in`` answered; §2.2 recommends 5 to 600 seconds,
  FAPI 2.0 Security Profile §5.3.2.2 item 6 asks for less than 600).
* At the authorization endpoint (§4) the URI must belong to the ``client_id`` sent with it and
  be unexpired (:meth:`PushedRequests.load`). It may be presented again until an
  authorization completes (a reload of the login page, FAPI 2.0 conformance test
  ``par-ensure-reused-request-uri-prior-to-auth-completion-succeeds``); when a code is issued it
  is consumed (:meth:`PushedRequests.consume`), atomically with :meth:`Cache.add` on a "used"
  marker so that of two concurrent completions exactly one gets a code (§7.3: one-time use).
* Any failure is one :class:`InvalidRequestUri` (``invalid_request_uri``) that does not say
  whether the URI is unknown, expired, used or another client's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass

from core.cache import Cache
from core.clock import require_aware
from core.errors import InvalidInput
from idp.authz_request import AuthorizationRequest
from idp.errors import IdPError, IdPStoreUnavailable

__all__ = [
    "PAR_LIFETIME",
    "REQUEST_URI_PREFIX",
    "InvalidRequestUri",
    "PushedRequest",
    "PushedRequests",
    "is_request_uri",
]

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
PAR_LIFETIME = dt.timedelta(seconds=60)
#: How long a consumed URI stays marked used: longer than any pending authorization made from it.
USED_MARKER_LIFETIME = dt.timedelta(minutes=30)
_MAX_URI = len(REQUEST_URI_PREFIX) + 64
_UNUSABLE = "the request_uri is unknown, expired, already used or not this client's"


class InvalidRequestUri(IdPError, InvalidInput):
    """A ``request_uri`` that cannot be used (RFC 9126 §4; OAuth error ``invalid_request_uri``)."""

    code = "invalid_request_uri"

    def __init__(self, description: str = _UNUSABLE) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True, slots=True)
class PushedRequest:
    """A stored pushed request: the URN handed to the client and when it expires."""

    request_uri: str
    expires_in: int
    request: AuthorizationRequest


def is_request_uri(value: str | None) -> bool:
    """Whether ``value`` has the shape of one of our PAR URNs (not whether it is live)."""
    return (
        isinstance(value, str)
        and value.startswith(REQUEST_URI_PREFIX)
        and len(value) <= _MAX_URI
        and value.isascii()
    )


def _key(request_uri: str, kind: str) -> str:
    digest = hashlib.sha256(request_uri.encode("ascii", "replace")).hexdigest()
    return f"idp:par:{kind}:{digest}"


class PushedRequests:
    """Stores pushed authorization requests and hands them back by ``request_uri``."""

    def __init__(self, cache: Cache, *, lifetime: dt.timedelta = PAR_LIFETIME) -> None:
        if not dt.timedelta(seconds=5) <= lifetime < dt.timedelta(seconds=600):
            raise ValueError("a request_uri lives 5 to 599 seconds (RFC 9126 §2.2, FAPI 2.0)")
        self._cache = cache
        self.lifetime = lifetime

    def push(self, request: AuthorizationRequest, *, at: dt.datetime) -> PushedRequest:
        """Store ``request`` (already validated for its authenticated client)."""
        at = require_aware(at)
        request_uri = REQUEST_URI_PREFIX + secrets.token_urlsafe(32)
        stored = _with_uri(request, request_uri)
        record = {
            "expires_at": (at + self.lifetime).isoformat(),
            "request": json.loads(stored.to_json()),
        }
        data = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if not self._cache.add(_key(request_uri, "req"), data, ttl=self.lifetime.total_seconds()):
            raise IdPStoreUnavailable("could not store the pushed request; try again")
        return PushedRequest(
            request_uri=request_uri,
            expires_in=int(self.lifetime.total_seconds()),
            request=stored,
        )

    def load(
        self, request_uri: str, *, client_id: str | None, at: dt.datetime
    ) -> AuthorizationRequest:
        """The pushed request behind ``request_uri`` for ``client_id`` (RFC 9126 §4: the
        ``client_id`` parameter must be sent and match); :class:`InvalidRequestUri` otherwise.
        Loading does not use it up."""
        at = require_aware(at)
        if not is_request_uri(request_uri) or not client_id:
            raise InvalidRequestUri()
        raw = self._cache.get(_key(request_uri, "req"))
        if raw is None or self._cache.get(_key(request_uri, "used")) is not None:
            raise InvalidRequestUri()
        try:
            record = json.loads(raw)
            expires_at = dt.datetime.fromisoformat(record["expires_at"])
            request = AuthorizationRequest.from_json(json.dumps(record["request"]))
        except (ValueError, KeyError, TypeError):
            raise InvalidRequestUri() from None
        if at >= expires_at or request.client_id != client_id:
            # The expiry is checked here too, not only by the cache's ttl: the cache's clock
            # may differ (Redis), and the request must not outlive what we promised.
            raise InvalidRequestUri()
        return request

    def consume(self, request_uri: str, *, at: dt.datetime) -> None:
        """Mark ``request_uri`` used as a code is issued from it; raises
        :class:`InvalidRequestUri` if another authorization already consumed it."""
        require_aware(at)
        if not self._cache.add(
            _key(request_uri, "used"), b"1", ttl=USED_MARKER_LIFETIME.total_seconds()
        ):
            raise InvalidRequestUri("the request_uri was already used")
        self._cache.delete(_key(request_uri, "req"))


def _with_uri(request: AuthorizationRequest, request_uri: str) -> AuthorizationRequest:
    from dataclasses import replace

    return replace(request, request_uri=request_uri)
