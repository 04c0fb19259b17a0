"""Logout at the OpenID provider: back-channel logout tokens and their delivery.

OpenID Connect Back-Channel Logout 1.0. When a login session ends (the holder logs out, ends
it on the account pages, or an officer ends every session of an account), each client the
session logged into (``idp_session_clients``) that registered a ``backchannel_logout_uri`` is
told so directly, server to server:

* §2.4 the Logout Token is a JWT signed with the provider's ID-token key (the key published
  at ``jwks_uri``), header ``typ: logout+jwt`` (§2.4, recommended explicit typing), claims
  ``iss``, ``aud`` (the client id), ``iat``, ``exp`` (two minutes, §2.4 "SHOULD be short"),
  ``jti`` (random, for the RP's replay check), ``sub`` (the subject identifier THAT client
  knows: pairwise per sector by default), ``sid`` (the session id the ID tokens carried,
  §2.1) and ``events`` with the member ``http://schemas.openid.net/event/backchannel-logout``
  (an empty object). It never carries a ``nonce`` (§2.4: forbidden).
* §2.5 it is sent as an HTTP POST, ``application/x-www-form-urlencoded``, one parameter
  ``logout_token``; §2.8 the RP answers 200 (or 204). A slow or failing RP must not hold up
  the user's logout: each request has a short timeout, and a failure is recorded in the audit
  ledger (``idp.logout.backchannel_failed``) instead of raised.
* The HTTP client is a port (:class:`LogoutSender`), so tests capture the requests and other
  transports can be used; :class:`HttpxLogoutSender` is the real one.

Audit entries carry the session and client ids and the outcome, never the token itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from core.clock import require_aware
from idp.errors import ClientNotFound, IdPError
from idp.jose import sign_jws
from idp.service import ProviderCore
from idp.sessions import LoginSession
from registry.ports import AuditSink

__all__ = [
    "BACKCHANNEL_LOGOUT_EVENT",
    "LOGOUT_TOKEN_LIFETIME",
    "BackChannelLogout",
    "HttpxLogoutSender",
    "LogoutDelivery",
    "LogoutSender",
    "logout_token_claims",
]

log = logging.getLogger(__name__)

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_LIFETIME = dt.timedelta(minutes=2)
DEFAULT_TIMEOUT = 3.0


class LogoutSender(Protocol):
    """Posts a form to a relying party and returns the HTTP status; raises ``OSError`` (or
    any exception) when nothing could be delivered."""

    def post_form(self, url: str, form: Mapping[str, str], *, timeout: float) -> int: ...


class HttpxLogoutSender:
    """:class:`LogoutSender` over httpx: no redirects followed (§2.5 does not allow them to
    change where the token goes), no cookies, a total timeout per request."""

    def post_form(self, url: str, form: Mapping[str, str], *, timeout: float) -> int:
        import httpx

        try:
            response = httpx.post(
                url,
                data=dict(form),
                timeout=timeout,
                follow_redirects=False,
                headers={"Cache-Control": "no-cache"},
            )
        except httpx.HTTPError as exc:
            raise OSError(f"back-channel logout request failed: {type(exc).__name__}") from None
        return response.status_code


@dataclass(frozen=True, slots=True)
class LogoutDelivery:
    """What happened to one client's logout token."""

    client_id: str
    delivered: bool
    status: int | None
    reason: str | None = None


def _ts(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def logout_token_claims(
    *, issuer: str, client_id: str, sub: str, sid: str, at: dt.datetime
) -> dict[str, Any]:
    """The claims of a Logout Token (§2.4) for one client."""
    at = require_aware(at)
    return {
        "iss": issuer,
        "aud": client_id,
        "iat": _ts(at),
        "exp": _ts(at + LOGOUT_TOKEN_LIFETIME),
        "jti": secrets.token_urlsafe(16),
        "sub": sub,
        "sid": sid,
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }


class BackChannelLogout:
    """Makes and sends the logout tokens of an ended session to its clients."""

    def __init__(
        self,
        core: ProviderCore,
        *,
        sender: LogoutSender,
        ledger: AuditSink,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._core = core
        self._sender = sender
        self._ledger = ledger
        self._timeout = timeout

    def token_for(
        self, session: LoginSession, client_id: str, *, person_id: str, at: dt.datetime
    ) -> str:
        """A signed logout token telling ``client_id`` that ``session`` ended."""
        client = self._core.clients.get(client_id)
        claims = logout_token_claims(
            issuer=self._core.issuer,
            client_id=client.client_id,
            sub=self._core.tokens.subject_for(client, person_id),
            sid=session.id,
            at=at,
        )
        key = self._core.signing_keys.signing_key()
        return sign_jws(claims, key=key.key, kid=key.kid, typ="logout+jwt")

    def notify(
        self,
        session: LoginSession,
        *,
        person_id: str,
        at: dt.datetime,
        clients: Sequence[str] | None = None,
    ) -> list[LogoutDelivery]:
        """Send a logout token to each client of ``session`` (or ``clients``) that registered
        a back-channel logout URI. Never raises for an RP's failure: it is audited."""
        at = require_aware(at)
        targets = sorted(set(session.clients if clients is None else clients))
        return [self._notify_one(session, c, person_id=person_id, at=at) for c in targets]

    def _notify_one(
        self, session: LoginSession, client_id: str, *, person_id: str, at: dt.datetime
    ) -> LogoutDelivery:
        try:
            client = self._core.clients.get(client_id)
        except ClientNotFound:
            return LogoutDelivery(client_id, delivered=False, status=None, reason="unknown_client")
        if not client.backchannel_logout_uri:
            return LogoutDelivery(client_id, delivered=False, status=None, reason="no_uri")
        status: int | None = None
        reason: str | None = None
        try:
            token = self.token_for(session, client_id, person_id=person_id, at=at)
            status = self._sender.post_form(
                client.backchannel_logout_uri, {"logout_token": token}, timeout=self._timeout
            )
        except IdPError as exc:
            reason = exc.code
        except Exception as exc:  # noqa: BLE001 - an RP's failure must not stop the logout
            reason = type(exc).__name__[:40]
        delivered = status in (200, 204)
        if not delivered and reason is None:
            reason = f"http_{status}"
        self._ledger.append(
            "idp.logout.backchannel_sent" if delivered else "idp.logout.backchannel_failed",
            actor="natid-idp",
            subject=client_id,
            data={"sid": session.id, "status": status, "reason": reason},
        )
        if not delivered:
            log.warning(
                "back-channel logout not delivered",
                extra={"client_id": client_id, "status": status, "reason": reason},
            )
        return LogoutDelivery(client_id, delivered=delivered, status=status, reason=reason)
