"""Pending authorization requests: kept while the user logs in and consents.

A validated :class:`~idp.authz_request.AuthorizationRequest` waits in the
:class:`~core.cache.Cache` under an opaque random ``pending_id`` (256 bits; the login and
consent pages carry it) for :data:`PENDING_LIFETIME` (15 minutes). With it is kept a marker of
the login session the browser had when the request arrived (its id and ``auth_time``), so
that a later login is recognised even on a clock that does not move: ``prompt=login``,
``max_age`` and ``acr_values`` are satisfied by an authentication made *after* the request
(:meth:`PendingAuthorization.logged_in_since`, recorded by
:meth:`PendingAuthorizations.mark_login_done`). Only the SHA-256 of the id is a cache key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass, replace

from core.cache import Cache
from core.clock import require_aware
from idp.authz_request import AuthorizationRequest
from idp.errors import IdPStoreUnavailable, InvalidRequest
from idp.sessions import LoginSession

__all__ = [
    "PENDING_LIFETIME",
    "PendingAuthorization",
    "PendingAuthorizations",
    "session_marker",
]

PENDING_LIFETIME = dt.timedelta(minutes=15)


def session_marker(session: LoginSession | None) -> str | None:
    """What identifies one authentication of a session: its id and ``auth_time``."""
    if session is None:
        return None
    return f"{session.id}@{session.auth_time.isoformat()}"


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """A stored request, the session marker when it arrived, and whether a login followed."""

    pending_id: str
    request: AuthorizationRequest
    marker: str | None
    login_done: bool

    def logged_in_since(self, session: LoginSession | None) -> bool:
        """Whether ``session`` shows an authentication made after the request arrived."""
        if session is None:
            return False
        return self.login_done or session_marker(session) != self.marker


def _pending_key(pending_id: str) -> str:
    return "idp:authz-pending:" + hashlib.sha256(pending_id.encode("ascii", "replace")).hexdigest()


class PendingAuthorizations:
    """Validated requests waiting for login and consent, by opaque ``pending_id``."""

    def __init__(self, cache: Cache, *, lifetime: dt.timedelta = PENDING_LIFETIME) -> None:
        self._cache = cache
        self.lifetime = lifetime

    def _write(self, pending: PendingAuthorization, *, ttl: float, new: bool) -> None:
        record = {
            "request": json.loads(pending.request.to_json()),
            "marker": pending.marker,
            "login_done": pending.login_done,
        }
        data = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        key = _pending_key(pending.pending_id)
        if new:
            if not self._cache.add(key, data, ttl=ttl):
                raise IdPStoreUnavailable("could not store the authorization request; try again")
        else:
            self._cache.set(key, data, ttl=ttl)

    def create(self, request: AuthorizationRequest, *, session: LoginSession | None) -> str:
        """Store ``request`` (with the marker of the browser's ``session``); its pending id."""
        pending = PendingAuthorization(
            pending_id=secrets.token_urlsafe(32),
            request=request,
            marker=session_marker(session),
            login_done=False,
        )
        self._write(pending, ttl=self.lifetime.total_seconds(), new=True)
        return pending.pending_id

    def record(self, pending_id: str | None) -> PendingAuthorization:
        """The stored request and its login state; ``InvalidRequest`` if unknown or expired."""
        if not isinstance(pending_id, str) or not 1 <= len(pending_id) <= 64:
            raise InvalidRequest("the authorization request is unknown or has expired")
        raw = self._cache.get(_pending_key(pending_id))
        if raw is None:
            raise InvalidRequest("the authorization request is unknown or has expired")
        record = json.loads(raw)
        return PendingAuthorization(
            pending_id=pending_id,
            request=AuthorizationRequest.from_json(json.dumps(record["request"])),
            marker=record["marker"],
            login_done=bool(record["login_done"]),
        )

    def get(self, pending_id: str | None) -> AuthorizationRequest:
        """The stored request; ``InvalidRequest`` if unknown or expired (the contract's call)."""
        return self.record(pending_id).request

    def mark_login_done(self, pending_id: str, *, at: dt.datetime) -> None:
        """Record that the user authenticated after the request arrived (idempotent)."""
        at = require_aware(at)
        pending = self.record(pending_id)
        if pending.login_done:
            return
        left = (pending.request.created_at + self.lifetime - at).total_seconds()
        if left <= 0:
            raise InvalidRequest("the authorization request is unknown or has expired")
        self._write(replace(pending, login_done=True), ttl=left, new=False)

    def delete(self, pending_id: str) -> None:
        self._cache.delete(_pending_key(pending_id))
