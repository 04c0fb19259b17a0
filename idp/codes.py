"""Authorization codes (RFC 6749 §4.1.2, §10.5; OIDC Core §3.1.2.5): random, short-lived,
single use, bound to everything the token request must repeat.

A code is 256 random bits (base64url). It lives in the :class:`~core.cache.Cache` under the
SHA-256 of the code (so a cache dump holds no usable code) for at most 60 seconds (the issue's
requirement; RFC 6749 §4.1.2 recommends at most 10 minutes) and is taken out with ``pop``, which
hands it to exactly one caller even under concurrent requests. What it stands for is an
:class:`AuthorizationGrant`: the client, the exact ``redirect_uri``, the PKCE S256 challenge,
``nonce``, ``acr``, ``amr``, ``auth_time``, the scopes and ``claims`` request, and the DPoP key
thumbprint (``dpop_jkt``, RFC 9449 §10) if the authorization request was bound to one.

It also carries what the ID token's and UserInfo's claims need of the account that authorized
(:class:`AccountFacts`: whether its e-mail address and phone number are verified, and its
operator link for ``roles``), as ``/authorize`` read it with the login session, so the code
exchange reads only the register's person and not the account again (one held read less per
login). Those claims are then as of the authorization, at most :data:`MAX_CODE_TTL` before the
exchange, as UserInfo's are as of the exchange for the access token's lifetime. A code issued
without them (the session was read without its account) has the exchange read the account.

Redemption (:meth:`AuthorizationCodes.redeem`) checks, after taking the code out (so a failed
attempt also uses it up): it was issued to this client (RFC 6749 §4.1.3), ``redirect_uri``
is identical, the PKCE verifier matches (RFC 7636 §4.6), the DPoP key matches ``dpop_jkt``.

**Reuse** (RFC 6749 §4.1.2: "If an authorization code is used more than once, the
authorization server MUST deny the request and SHOULD revoke ... all tokens previously issued
based on that authorization code"). Each code gets a grant id when it is issued, and a second
cache entry maps the code's digest to that grant id for :data:`REUSE_WINDOW` (a day). A code
that is no longer there but whose grant id is known was used (or expired unused): the request
fails with ``invalid_grant`` and the grant is revoked through the :class:`GrantRevoker` (the
token service), which revokes every token issued from it - and, through a revocation marker,
also the tokens of a concurrent first redemption that has not committed yet
(:meth:`idp.tokens.TokenService.exchange_code` checks the marker after its commit).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from core.cache import Cache
from core.clock import require_aware
from core.json_text import compact_json
from idp import pkce
from idp.errors import InvalidGrant, InvalidRequest

__all__ = [
    "MAX_CODE_TTL",
    "REUSE_WINDOW",
    "AccountFacts",
    "AuthorizationCodes",
    "AuthorizationGrant",
    "GrantRevoker",
    "new_grant_id",
]

MAX_CODE_TTL = 60.0
#: How long a redeemed (or expired) code is still recognised, to revoke on reuse.
REUSE_WINDOW = dt.timedelta(days=1)
_MAX_CODE_LENGTH = 128


class GrantRevoker(Protocol):
    """Revokes every token issued from a grant (implemented by ``TokenService``)."""

    def revoke_grant(self, grant_id: str, *, reason: str, at: dt.datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class AccountFacts:
    """What the claims need of the account that authorized (module docstring)."""

    email_verified: bool
    phone_verified: bool
    #: The operator the account is linked to (a civil servant's ``roles``), or None.
    operator_id: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationGrant:
    """What an authorization code stands for: the user's decision and how they logged in."""

    grant_id: str
    client_id: str
    redirect_uri: str
    subject: str
    scopes: tuple[str, ...]
    code_challenge: str
    auth_time: dt.datetime
    issued_at: dt.datetime
    nonce: str | None = None
    acr: str | None = None
    amr: tuple[str, ...] = ()
    sid: str | None = None
    claims: Mapping[str, Any] | None = field(default=None, hash=False)
    dpop_jkt: str | None = None
    #: The authorizing account's facts for the claims; None: the exchange reads the account.
    account: AccountFacts | None = None

    def to_json(self) -> bytes:
        # The members one by one, in field order (``dataclasses.asdict`` deep-copied every
        # value only for the copies to be encoded and dropped); tuples encode as JSON arrays.
        data: dict[str, Any] = {
            "grant_id": self.grant_id,
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "subject": self.subject,
            "scopes": self.scopes,
            "code_challenge": self.code_challenge,
            "auth_time": self.auth_time.isoformat(),
            "issued_at": self.issued_at.isoformat(),
            "nonce": self.nonce,
            "acr": self.acr,
            "amr": self.amr,
            "sid": self.sid,
            "claims": dict(self.claims) if self.claims is not None else None,
            "dpop_jkt": self.dpop_jkt,
            "account": None,
        }
        if self.account is not None:
            account = self.account
            data["account"] = {
                "email_verified": account.email_verified,
                "phone_verified": account.phone_verified,
                "operator_id": account.operator_id,
            }
        return compact_json(data)

    @classmethod
    def from_json(cls, raw: bytes) -> AuthorizationGrant:
        # Written by to_json and read back from the cache: orjson, ~4x faster than json here.
        data = orjson.loads(raw)
        data["auth_time"] = dt.datetime.fromisoformat(data["auth_time"])
        data["issued_at"] = dt.datetime.fromisoformat(data["issued_at"])
        data["scopes"] = tuple(data["scopes"])
        data["amr"] = tuple(data["amr"])
        # Absent from a code stored before the member existed: the exchange reads the account.
        account = data.pop("account", None)
        if account is not None:
            data["account"] = AccountFacts(**account)
        return cls(**data)


def new_grant_id(at: dt.datetime) -> str:
    """A new grant id: the grant's time in milliseconds (12 hex digits), then 128 random bits.

    Ids made later sort later, so the grants table's primary-key index takes each new row at
    its right-hand edge, a page every commit already has in hand, instead of on a random leaf
    that must be read first and copied back at the next checkpoint; the index of random ids
    grows past any cache as grants pile up (docs/benchmarks.md, "Thirteenth round"). The time
    is no secret (the access token's ``iat`` is within a minute of it); the random part keeps
    an id unguessable and two ids of one millisecond apart.
    """
    millis = int(require_aware(at).timestamp() * 1000)
    return f"{millis:012x}{secrets.token_urlsafe(16)}"


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode("ascii", "replace")).hexdigest()


def _code_key(client_id: str, digest: str) -> str:
    return f"idp:code:{client_id}:{digest}"


class AuthorizationCodes:
    """Issues and redeems authorization codes (cache-backed, single use)."""

    def __init__(self, cache: Cache, *, revoker: GrantRevoker, ttl: float = MAX_CODE_TTL) -> None:
        if not 0 < ttl <= MAX_CODE_TTL:
            raise ValueError(f"authorization codes live at most {MAX_CODE_TTL} s")
        self._cache = cache
        self._revoker = revoker
        self.ttl = ttl

    def issue(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        subject: str,
        scopes: Sequence[str],
        code_challenge: str,
        code_challenge_method: str | None,
        auth_time: dt.datetime,
        at: dt.datetime,
        nonce: str | None = None,
        acr: str | None = None,
        amr: Sequence[str] = (),
        sid: str | None = None,
        claims: Mapping[str, Any] | None = None,
        dpop_jkt: str | None = None,
        account: AccountFacts | None = None,
    ) -> str:
        """A new code for a completed authorization; returns the code (to redirect with)."""
        challenge = pkce.check_challenge(code_challenge, code_challenge_method)
        if nonce is not None and len(nonce) > 512:
            raise InvalidRequest("nonce: at most 512 characters")
        grant = AuthorizationGrant(
            grant_id=new_grant_id(at),
            client_id=client_id,
            redirect_uri=redirect_uri,
            subject=subject,
            scopes=tuple(scopes),
            code_challenge=challenge,
            auth_time=require_aware(auth_time, "auth_time"),
            issued_at=require_aware(at),
            nonce=nonce,
            acr=acr,
            amr=tuple(amr),
            sid=sid,
            claims=claims,
            dpop_jkt=dpop_jkt,
            account=account,
        )
        code = secrets.token_urlsafe(32)
        digest = _digest(code)
        # The reuse marker first: once the code exists, its grant id must be known. It names
        # the client too: only a second redemption by that client is a reuse (RFC 6749 §4.1.2).
        self._cache.set(
            f"idp:code-grant:{digest}",
            f"{client_id} {grant.grant_id}".encode("ascii"),
            ttl=REUSE_WINDOW.total_seconds(),
        )
        # Keyed by the client as well: another client presenting the code finds nothing to
        # take, so it can neither use the code up nor revoke what it was exchanged for.
        if not self._cache.add(_code_key(client_id, digest), grant.to_json(), ttl=self.ttl):
            raise InvalidRequest("could not store the authorization code; try again")
        return code

    def redeem(
        self,
        code: str,
        *,
        client_id: str,
        redirect_uri: str | None,
        code_verifier: str | None,
        dpop_jkt: str | None,
        at: dt.datetime,
    ) -> AuthorizationGrant:
        """The grant behind ``code`` if every binding matches; raises ``invalid_grant``."""
        at = require_aware(at)
        if not isinstance(code, str) or not 1 <= len(code) <= _MAX_CODE_LENGTH:
            raise InvalidGrant("the authorization code is malformed")
        digest = _digest(code)
        raw = self._cache.pop(_code_key(client_id, digest))
        if raw is None:
            marker = self._cache.get(f"idp:code-grant:{digest}")
            if marker is None:
                raise InvalidGrant("the authorization code is invalid or has expired")
            owner, _, grant_id = marker.decode("ascii").rpartition(" ")
            if owner != client_id:
                # RFC 6749 §4.1.3: the code was issued to another client, which keeps it.
                raise InvalidGrant("the authorization code was issued to another client")
            self._revoker.revoke_grant(grant_id, reason="code_reuse", at=at)
            raise InvalidGrant(
                "the authorization code was already used or has expired;"
                " tokens issued from it are revoked"
            )
        grant = AuthorizationGrant.from_json(raw)
        if (at - grant.issued_at).total_seconds() > self.ttl:
            raise InvalidGrant("the authorization code has expired")
        if grant.client_id != client_id:  # the key names the client; kept as a second check
            raise InvalidGrant("the authorization code was issued to another client")
        if redirect_uri != grant.redirect_uri:
            raise InvalidGrant("redirect_uri differs from the one of the authorization request")
        pkce.verify(code_verifier, grant.code_challenge)
        if grant.dpop_jkt is not None and dpop_jkt != grant.dpop_jkt:
            # RFC 9449 §10: the proof's key must be the one named at authorization.
            raise InvalidGrant("the DPoP key does not match the one bound to the authorization")
        return grant
