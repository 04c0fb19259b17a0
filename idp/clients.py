"""Registered clients (relying parties) and client authentication at the token endpoints.

Registration is an operator's act (``natid idp client add``, later the admin API); what may be
registered is checked in :mod:`idp.client_metadata`. A client has a random ``client_id``
(128 bits, base64url), one authentication method (RFC 7591 §2 ``token_endpoint_auth_method``),
and for ``client_secret_basic`` / ``client_secret_post`` a 256-bit random secret that is shown
once and stored only as a SHA-256 digest (why not Argon2id: ``docs/decisions.md``,
"Operators"). A ``fapi2`` client must use ``private_key_jwt`` and is then held to PAR and
DPoP by the routes (:attr:`Client.require_par`, :attr:`Client.require_dpop`).

:meth:`ClientRegistry.authenticate` (RFC 6749 §2.3, OIDC Core §9) answers every failure with
the same :class:`~idp.errors.InvalidClient` error, whether the client is unknown, uses another
method or presents a wrong secret. For ``private_key_jwt`` (RFC 7523 §2.2, §3; OIDC Core §9):

1. ``client_assertion_type`` is ``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``;
2. the JWS verifies under one of the client's registered keys, with an algorithm of the
   client's allow-list (ES256/PS256 for FAPI 2.0 clients, also RS256 for others);
3. ``iss`` and ``sub`` are both the ``client_id`` (and equal the ``client_id`` parameter if
   one was sent);
4. ``aud``: for a FAPI 2.0 client exactly the issuer identifier, as a single string (FAPI 2.0
   Security Profile §5.3.2.1 and the RFC 7523 update it cites: endpoint URLs and arrays are
   refused, which closes the audience-injection attack); for other clients the issuer or the
   URL of the endpoint being called, as a string or inside an array;
5. ``exp`` is required and not past; ``nbf`` and ``iat``, if present, not in the future; each
   with :data:`CLOCK_SKEW` of tolerance; ``exp`` at most :data:`MAX_ASSERTION_LIFETIME` ahead;
6. ``jti`` is required and single use: it is remembered in the cache with ``add`` (atomic, so
   of two concurrent requests with one assertion exactly one wins) until the assertion expires.

The signature is checked before the claims, and the ``jti`` last, so a forged or stale
assertion cannot burn a legitimate ``jti``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.cache import Cache
from core.clock import Clock, require_aware
from core.db import transaction
from idp import client_metadata as meta
from idp.errors import (
    ClientNotFound,
    IdPStoreUnavailable,
    InvalidClient,
    InvalidClientMetadata,
    InvalidJWS,
    InvalidRequest,
    InvalidScope,
)
from idp.jose import JWSUse, numeric_date, unverified_claims, verify_jws
from idp.models import ClientRow
from idp.subjects import SubjectType

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "CLOCK_SKEW",
    "MAX_ASSERTION_LIFETIME",
    "Client",
    "ClientAuthMethod",
    "ClientRegistry",
    "RegisteredClient",
]

log = logging.getLogger(__name__)

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Tolerated clock difference for ``exp``, ``nbf`` and ``iat`` of client assertions.
CLOCK_SKEW = dt.timedelta(seconds=30)
#: An assertion may not be valid for longer than this (its ``jti`` is remembered that long).
MAX_ASSERTION_LIFETIME = dt.timedelta(hours=1)
_AUTH_FAILED = "client authentication failed"
_SECRET_LABEL = b"natid idp client secret v1\0"
#: Seconds a worker reuses a client registration it read (see ClientRegistry._entry).
CLIENT_CACHE_TTL = 10.0
_MAX_COPIES = 10_000
_VERSION_KEY = "idp:clients:version"
#: Compared against when a client has no secret, so every failure costs the same.
_NO_SECRET = "0" * 64


class ClientAuthMethod(StrEnum):
    """``token_endpoint_auth_method`` values (RFC 7591 §2, OIDC Core §9)."""

    PRIVATE_KEY_JWT = "private_key_jwt"
    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method name
    CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105 - a method name


@dataclass(frozen=True, slots=True)
class Client:
    """A registered client as the protocol code sees it (never its secret or its hash)."""

    client_id: str
    name: str
    auth_method: ClientAuthMethod
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    backchannel_logout_uri: str | None
    fapi2: bool
    sector: str
    subject_type: SubjectType
    scopes: frozenset[str]
    jwks: tuple[dict[str, Any], ...] = field(repr=False)
    created_at: dt.datetime
    #: ``ES256`` / ``PS256`` when UserInfo answers this client with a signed JWT (OIDC Core
    #: §5.3.2); None for plain JSON.
    userinfo_signed_response_alg: str | None = None

    @property
    def require_par(self) -> bool:
        """FAPI 2.0 Security Profile §5.3.2.2: authorization requests only through PAR."""
        return self.fapi2

    @property
    def require_dpop(self) -> bool:
        """FAPI 2.0 Security Profile §5.3.2.1: sender-constrained (DPoP) access tokens."""
        return self.fapi2

    def check_redirect_uri(self, uri: str | None) -> str:
        """``uri`` if it is registered, by exact string match (RFC 9700 §4.1.3); else raise.

        The caller must then show the error to the user, never redirect (RFC 6749 §4.1.2.1).
        """
        if uri is None:
            # OIDC Core §3.1.2.1 makes redirect_uri REQUIRED, even with one registered URI.
            raise InvalidRequest("redirect_uri is required")
        if uri not in self.redirect_uris:
            raise InvalidRequest("redirect_uri is not registered for this client")
        return uri

    def check_post_logout_redirect_uri(self, uri: str) -> str:
        if uri not in self.post_logout_redirect_uris:
            raise InvalidRequest("post_logout_redirect_uri is not registered for this client")
        return uri

    def check_scopes(self, requested: Iterable[str]) -> tuple[str, ...]:
        """The requested scopes in order, if all are allowed for this client; else raise."""
        scopes = tuple(dict.fromkeys(requested))
        refused = [s for s in scopes if s not in self.scopes]
        if refused:
            raise InvalidScope(f"scope not allowed for this client: {' '.join(refused)[:200]}")
        return scopes

    def settings(self) -> dict[str, Any]:
        """The client's settings as a JSON object (registration-response style, RFC 7591 §3.2.1)."""
        return {
            "client_id": self.client_id,
            "client_name": self.name,
            "token_endpoint_auth_method": self.auth_method.value,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "backchannel_logout_uri": self.backchannel_logout_uri,
            "fapi2": self.fapi2,
            "require_pushed_authorization_requests": self.require_par,
            "dpop_bound_access_tokens": self.require_dpop,
            "sector_identifier": self.sector,
            "subject_type": self.subject_type.value,
            "scope": " ".join(sorted(self.scopes)),
            "jwks": {"keys": list(self.jwks)} if self.jwks else None,
            "userinfo_signed_response_alg": self.userinfo_signed_response_alg,
            "client_id_issued_at": int(self.created_at.timestamp()),
        }


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """A new client and its secret; the secret exists only here, once."""

    client: Client
    client_secret: str | None = field(repr=False)


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(_SECRET_LABEL + secret.encode("utf-8")).hexdigest()


def _to_client(row: ClientRow) -> Client:
    return Client(
        client_id=row.client_id,
        name=row.name,
        auth_method=ClientAuthMethod(row.auth_method),
        redirect_uris=tuple(json.loads(row.redirect_uris)),
        post_logout_redirect_uris=tuple(json.loads(row.post_logout_redirect_uris)),
        backchannel_logout_uri=row.backchannel_logout_uri,
        fapi2=row.fapi2,
        sector=row.sector,
        subject_type=SubjectType(row.subject_type),
        scopes=frozenset(row.scopes.split()),
        jwks=tuple(json.loads(row.jwks)) if row.jwks else (),
        created_at=row.created_at,
        userinfo_signed_response_alg=row.userinfo_signed_response_alg,
    )


class ClientRegistry:
    """Registers, finds and authenticates clients."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ledger: AuditLedger,
        cache: Cache,
        clock: Clock,
        issuer: str,
    ) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._cache = cache
        self._clock = clock
        self.issuer = issuer
        self._copies: dict[str, tuple[float, bytes | None, tuple[Client, str | None]]] = {}

    @contextmanager
    def _db(self, *, read: bool = False) -> Iterator[Session]:
        try:
            if read:
                with self._sessions() as session:
                    session.connection(execution_options={"sqlite_deferred": True})
                    yield session
            else:
                with transaction(self._sessions) as session:
                    yield session
        except SQLAlchemyError as exc:
            raise IdPStoreUnavailable(
                f"the client store failed ({type(exc).__name__}); is the database migrated?"
            ) from None

    # --- registration --------------------------------------------------------------------------

    def add(
        self,
        *,
        name: str,
        redirect_uris: Iterable[str],
        auth_method: ClientAuthMethod | str,
        jwks: Mapping[str, Any] | str | None = None,
        fapi2: bool = False,
        sector: str | None = None,
        subject_type: SubjectType | str = SubjectType.PAIRWISE,
        scopes: Iterable[str] | None = None,
        post_logout_redirect_uris: Iterable[str] = (),
        backchannel_logout_uri: str | None = None,
        userinfo_signed_response_alg: str | None = None,
        actor: str = "cli",
    ) -> RegisteredClient:
        """Register a client; returns it with its secret (shown once) if it has one.

        ``userinfo_signed_response_alg`` (``ES256`` or ``PS256``, the algorithm of the IdP's
        signing key) makes UserInfo answer this client with a signed JWT (OIDC Core §5.3.2).
        """
        try:
            method = ClientAuthMethod(auth_method)
            subject = SubjectType(subject_type)
        except ValueError as exc:
            raise InvalidClientMetadata(
                f"auth method: expected one of {[m.value for m in ClientAuthMethod]};"
                " subject type: pairwise or public"
            ) from exc
        if fapi2 and method is not ClientAuthMethod.PRIVATE_KEY_JWT:
            raise InvalidClientMetadata("FAPI 2.0 clients must authenticate with private_key_jwt")
        uris = meta.check_redirect_uris(redirect_uris, fapi2=fapi2)
        if not uris:
            raise InvalidClientMetadata("at least one redirect URI is required")
        keys: tuple[dict[str, Any], ...] = ()
        if method is ClientAuthMethod.PRIVATE_KEY_JWT:
            keys = meta.check_jwks(jwks, fapi2=fapi2)
        elif jwks is not None:
            raise InvalidClientMetadata(f"a JWKS is only used with private_key_jwt, not {method}")
        secret = None if keys else secrets.token_urlsafe(32)
        now = require_aware(self._clock.now())
        row = ClientRow(
            client_id=_new_client_id(),
            name=meta.check_name(name),
            auth_method=method.value,
            secret_sha256=_secret_hash(secret) if secret else None,
            jwks=json.dumps(list(keys), sort_keys=True) if keys else None,
            redirect_uris=json.dumps(list(uris)),
            post_logout_redirect_uris=json.dumps(
                list(
                    meta.check_redirect_uris(
                        post_logout_redirect_uris, fapi2=fapi2, what="post-logout redirect URI"
                    )
                )
            ),
            backchannel_logout_uri=meta.check_logout_uri(backchannel_logout_uri, fapi2=fapi2),
            fapi2=fapi2,
            sector=meta.check_sector(sector, uris),
            subject_type=subject.value,
            scopes=" ".join(sorted(meta.check_scopes(scopes))),
            created_at=now,
            userinfo_signed_response_alg=meta.check_userinfo_alg(userinfo_signed_response_alg),
        )
        with self._db() as session:
            session.add(row)
            session.flush()
            self._ledger.append(
                "idp.client.added",
                actor=actor,
                subject=row.client_id,
                data={
                    "auth_method": row.auth_method,
                    "fapi2": fapi2,
                    "sector": row.sector,
                    "userinfo_signed_response_alg": row.userinfo_signed_response_alg,
                },
                session=session,
            )
        self._changed()
        return RegisteredClient(client=_to_client(row), client_secret=secret)

    def get(self, client_id: str) -> Client:
        """The client ``client_id``; raises :class:`~idp.errors.ClientNotFound`."""
        client = self._find(client_id)
        if client is None:
            raise ClientNotFound(f"no client with id {str(client_id)[:64]!r}")
        return client

    def _find(self, client_id: str | None) -> Client | None:
        entry = self._entry(client_id)
        return None if entry is None else entry[0]

    def _entry(self, client_id: str | None) -> tuple[Client, str | None] | None:
        """The client and its secret's hash, from this worker's short-lived copy or the store.

        Registrations are immutable once added; a change would bump the shared version key,
        which every worker checks, and the copy lives ``CLIENT_CACHE_TTL`` seconds at most.
        Unknown ids are not remembered (nobody can fill the memory with made-up ids).
        """
        if not isinstance(client_id, str) or not 1 <= len(client_id) <= 64:
            return None
        now = self._clock.now().timestamp()
        version = self._cache.get(_VERSION_KEY)
        cached = self._copies.get(client_id)
        if cached is not None and now < cached[0] and cached[1] == version:
            return cached[2]
        with self._db(read=True) as session:
            row = session.get(ClientRow, client_id)
            if row is None:
                return None
            entry = (_to_client(row), row.secret_sha256)
        if len(self._copies) >= _MAX_COPIES:
            self._copies.clear()
        self._copies[client_id] = (now + CLIENT_CACHE_TTL, version, entry)
        return entry

    def _changed(self) -> None:
        """A registration changed: every worker re-reads its clients at their next use."""
        self._copies.clear()
        self._cache.set(_VERSION_KEY, secrets.token_bytes(8), ttl=86_400 * 30)

    @staticmethod
    def _secret_ok(entry: tuple[Client, str | None] | None, secret: str) -> bool:
        stored = entry[1] if entry is not None else None
        # Compared whatever was found, so an unknown client costs the same time.
        ok = hmac.compare_digest(stored or _NO_SECRET, _secret_hash(secret))
        return stored is not None and ok

    def list(self) -> list[Client]:
        with self._db(read=True) as session:
            rows = session.scalars(select(ClientRow).order_by(ClientRow.created_at)).all()
            return [_to_client(r) for r in rows]

    # --- authentication ------------------------------------------------------------------------

    def authenticate(
        self,
        *,
        client_id: str | None,
        method: ClientAuthMethod | str,
        endpoint_url: str,
        at: dt.datetime,
        secret: str | None = None,
        assertion: str | None = None,
        assertion_type: str | None = None,
    ) -> Client:
        """The client that authenticated with ``method``; raises ``InvalidClient`` otherwise.

        ``endpoint_url`` is the URL of the endpoint called (token, PAR, introspection,
        revocation), accepted as an assertion audience for non-FAPI clients.
        """
        at = require_aware(at)
        try:
            method = ClientAuthMethod(method)
        except ValueError:
            raise InvalidClient(_AUTH_FAILED) from None
        if method is ClientAuthMethod.PRIVATE_KEY_JWT:
            return self._authenticate_assertion(
                client_id, assertion, assertion_type, endpoint_url, at
            )
        if not isinstance(secret, str) or not secret:
            raise InvalidClient(_AUTH_FAILED)
        # One look-up gives the client and its secret's hash (it was two of this worker's copy,
        # each asking the shared cache for the registrations' version).
        entry = self._entry(client_id or "")
        # The secret is checked whatever was found, so an unknown client costs the same time.
        ok = self._secret_ok(entry, secret)
        if entry is None or entry[0].auth_method is not method or not ok:
            raise InvalidClient(_AUTH_FAILED)
        return entry[0]

    def _authenticate_assertion(
        self,
        client_id: str | None,
        assertion: str | None,
        assertion_type: str | None,
        endpoint_url: str,
        at: dt.datetime,
    ) -> Client:
        # 1. The assertion type (RFC 7523 §2.2).
        if assertion_type != CLIENT_ASSERTION_TYPE or not isinstance(assertion, str):
            raise InvalidClient(f"{_AUTH_FAILED}: expected client_assertion_type jwt-bearer")
        try:
            issuer = unverified_claims(assertion).get("iss")
        except InvalidJWS:
            raise InvalidClient(f"{_AUTH_FAILED}: the client assertion is not a JWT") from None
        claimed = client_id if client_id is not None else issuer
        client = self._find(claimed) if isinstance(claimed, str) else None
        if client is None or client.auth_method is not ClientAuthMethod.PRIVATE_KEY_JWT:
            raise InvalidClient(_AUTH_FAILED)
        # 2. The signature, under the client's keys and its algorithm allow-list.
        use = JWSUse.CLIENT_ASSERTION_FAPI if client.fapi2 else JWSUse.CLIENT_ASSERTION
        try:
            verified = verify_jws(assertion, keys=client.jwks, use=use)
            exp, jti = self._check_claims(verified.claims, client, endpoint_url, at)
        except InvalidJWS as exc:
            raise InvalidClient(f"{_AUTH_FAILED}: client assertion: {exc}") from exc
        # 6. jti, single use.
        key = hashlib.sha256(f"{client.client_id}\0{jti}".encode()).hexdigest()
        ttl = max(1.0, exp - at.timestamp() + CLOCK_SKEW.total_seconds())
        if not self._cache.add(f"idp:assertion-jti:{key}", b"1", ttl=ttl):
            raise InvalidClient(f"{_AUTH_FAILED}: client assertion: jti already used")
        return client

    def _check_claims(
        self, claims: Mapping[str, Any], client: Client, endpoint_url: str, at: dt.datetime
    ) -> tuple[int, str]:
        # 3. iss = sub = client_id (RFC 7523 §3 items 1-2).
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            raise InvalidJWS("iss and sub must both be the client_id")
        # 4. The audience.
        self._check_audience(claims.get("aud"), client, endpoint_url)
        # 5. Times.
        exp = self._check_times(claims, at)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 1 <= len(jti) <= 256:
            raise InvalidJWS("a jti of 1 to 256 characters is required")
        return exp, jti

    def _check_audience(self, aud: object, client: Client, endpoint_url: str) -> None:
        if client.fapi2:
            if aud != self.issuer:
                raise InvalidJWS(f"aud must be the issuer identifier {self.issuer!r}, as a string")
            return
        accepted = {self.issuer, endpoint_url}
        values = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(v, str) and v in accepted for v in values):
            raise InvalidJWS("aud must name the issuer or this endpoint")

    @staticmethod
    def _check_times(claims: Mapping[str, Any], at: dt.datetime) -> int:
        now = at.timestamp()
        skew = CLOCK_SKEW.total_seconds()
        exp = numeric_date(claims, "exp", required=True)
        assert exp is not None
        if exp <= now - skew:
            raise InvalidJWS("the assertion has expired")
        if exp > now + MAX_ASSERTION_LIFETIME.total_seconds() + skew:
            raise InvalidJWS(f"exp is more than {MAX_ASSERTION_LIFETIME} ahead")
        for name in ("nbf", "iat"):
            value = numeric_date(claims, name, required=False)
            if value is not None and value > now + skew:
                raise InvalidJWS(f"{name} is in the future")
        return exp


def _new_client_id() -> str:
    """128 random bits, base64url; never starting with ``-``, so the id can be passed to any
    ``natid`` command as an argument without being read as an option."""
    while (client_id := secrets.token_urlsafe(16)).startswith("-"):
        pass
    return client_id
