"""Registered clients (relying parties) and client authentication at the token endpoints.

Registration is an operator's act (``natid idp client add``, or the admin API); what may be
registered is checked in :mod:`idp.client_metadata`. A client has a random ``client_id``
(128 bits, base64url), one authentication method (RFC 7591 §2 ``token_endpoint_auth_method``),
and for ``client_secret_basic`` / ``client_secret_post`` a 256-bit random secret that is shown
once and stored only as a SHA-256 digest (why not Argon2id: ``docs/decisions.md``,
"Operators"). A ``fapi2`` client must use ``private_key_jwt`` and is then held to PAR and
DPoP by the routes (:attr:`Client.require_par`, :attr:`Client.require_dpop`).

A registration is not frozen: an operator may change a client's name, redirect URIs, keys and
allowed scopes (:meth:`ClientRegistry.update`, under the same checks as :meth:`~ClientRegistry.
add`), give a ``client_secret_*`` client a new secret (:meth:`~ClientRegistry.rotate_secret`),
and disable it (:meth:`~ClientRegistry.disable`). Its authentication method, FAPI 2.0 status,
sector and subject type never change: the last two make the ``sub`` each citizen has at the
client, and a change would hand the client other identifiers for the same people. No two
clients have the same name as a citizen reads it on the consent page
(:func:`idp.client_metadata.name_key`; :class:`ClientNameTaken`).

A disabled client fails :meth:`~ClientRegistry.authenticate` (token, PAR, introspection,
revocation: ``invalid_client``) and is not found by :meth:`~ClientRegistry.get` (the
authorization endpoint then shows its error page instead of redirecting); disabling it revokes
its live grants in the same transaction (``revoke_reason`` ``client_disabled``), which stops
its access and refresh tokens (:mod:`idp.tokens` checks the grant of each). A code exchange
that authenticated the client before the disable reads its row again in the transaction that
writes the grant, and gets nothing (:meth:`idp.tokens.TokenService.exchange_code`). Enabling it
again lets it authenticate; the revoked grants stay revoked.

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

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.cache import Cache
from core.clock import Clock, require_aware
from core.db import transaction
from core.errors import Conflict
from idp import client_metadata as meta
from idp.errors import (
    ClientNotFound,
    IdPError,
    IdPStoreUnavailable,
    InvalidClient,
    InvalidClientMetadata,
    InvalidJWS,
    InvalidRequest,
    InvalidScope,
)
from idp.jose import JWSUse, numeric_date, unverified_claims, verify_jws
from idp.models import ClientRow, GrantRow
from idp.subjects import SubjectType

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "CLIENT_DISABLED_REASON",
    "CLOCK_SKEW",
    "MAX_ASSERTION_LIFETIME",
    "Client",
    "ClientAuthMethod",
    "ClientNameTaken",
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
#: ``revoke_reason`` of the grants revoked when their client is disabled.
CLIENT_DISABLED_REASON = "client_disabled"
#: Fields :meth:`ClientRegistry.update` may change, in the order audit entries name them.
_UPDATABLE = ("name", "redirect_uris", "post_logout_redirect_uris", "jwks", "scopes")


class ClientNameTaken(IdPError, Conflict):
    """Another client already has this name as citizens read it (case, spacing and width
    aside): two sites under one name on the consent page could not be told apart."""

    code = "client_name_taken"


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
    #: When an operator disabled the client (None: enabled), and why.
    disabled_at: dt.datetime | None = None
    disabled_reason: str | None = None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

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
            "disabled": self.disabled,
            "disabled_at": int(self.disabled_at.timestamp()) if self.disabled_at else None,
            "disabled_reason": self.disabled_reason,
        }


@dataclass(frozen=True, slots=True)
class RegisteredClient:
    """A new client (or one with a new secret) and its secret; the secret exists only here,
    once."""

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
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason,
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
        name = meta.check_name(name)
        row = ClientRow(
            client_id=_new_client_id(),
            name=name,
            name_key=meta.name_key(name),
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
            self._claim_name(session, name, row.client_id)
            session.add(row)
            self._flush(session, name)
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

    def update(
        self,
        client_id: str,
        *,
        name: str | None = None,
        redirect_uris: Iterable[str] | None = None,
        post_logout_redirect_uris: Iterable[str] | None = None,
        jwks: Mapping[str, Any] | str | None = None,
        scopes: Iterable[str] | None = None,
        actor: str = "cli",
    ) -> Client:
        """Change what is given (None: unchanged), under the checks of :meth:`add`; audited as
        ``idp.client.updated`` naming the fields that changed (never their values).

        ``jwks`` replaces the keys of a ``private_key_jwt`` client (key rotation: an assertion
        signed with a key no longer in the set is refused from the next request on, in every
        worker). The sector stays what it was, whatever the new redirect URIs, so the ``sub``
        each citizen has at the client stays the same. Works on a disabled client too.
        """
        current = self.get(client_id, include_disabled=True)
        proposed: dict[str, Any] = {}
        if name is not None:
            proposed["name"] = meta.check_name(name)
        if redirect_uris is not None:
            uris = meta.check_redirect_uris(redirect_uris, fapi2=current.fapi2)
            if not uris:
                raise InvalidClientMetadata("at least one redirect URI is required")
            proposed["redirect_uris"] = json.dumps(list(uris))
        if post_logout_redirect_uris is not None:
            logout = meta.check_redirect_uris(
                post_logout_redirect_uris, fapi2=current.fapi2, what="post-logout redirect URI"
            )
            proposed["post_logout_redirect_uris"] = json.dumps(list(logout))
        if jwks is not None:
            if current.auth_method is not ClientAuthMethod.PRIVATE_KEY_JWT:
                raise InvalidClientMetadata(
                    f"a JWKS is only used with private_key_jwt, not {current.auth_method}"
                )
            keys = meta.check_jwks(jwks, fapi2=current.fapi2)
            proposed["jwks"] = json.dumps(list(keys), sort_keys=True)
        if scopes is not None:
            proposed["scopes"] = " ".join(sorted(meta.check_scopes(scopes)))
        with self._db() as session:
            row = self._row(session, current.client_id)
            changed = [f for f in _UPDATABLE if f in proposed and proposed[f] != getattr(row, f)]
            if not changed:
                return _to_client(row)
            if "name" in changed:
                # Before the row changes: the query would flush the change first (autoflush).
                self._claim_name(session, proposed["name"], row.client_id)
                row.name_key = meta.name_key(proposed["name"])
            for field_name in changed:
                setattr(row, field_name, proposed[field_name])
            self._flush(session, row.name)
            self._ledger.append(
                "idp.client.updated",
                actor=actor,
                subject=row.client_id,
                data={"changed": changed},
                session=session,
            )
            client = _to_client(row)
        self._changed()
        return client

    def rotate_secret(self, client_id: str, *, actor: str = "cli") -> RegisteredClient:
        """A new secret for a ``client_secret_*`` client, returned once; the old one stops
        working at once, in every worker. Audited (``idp.client.secret_rotated``, no secret)."""
        secret = secrets.token_urlsafe(32)
        with self._db() as session:
            row = self._row(session, client_id)
            if row.secret_sha256 is None:
                raise InvalidClientMetadata(
                    f"a {row.auth_method} client has no secret; replace its keys (update --jwks)"
                )
            row.secret_sha256 = _secret_hash(secret)
            session.flush()
            self._ledger.append(
                "idp.client.secret_rotated",
                actor=actor,
                subject=row.client_id,
                data={"auth_method": row.auth_method},
                session=session,
            )
            client = _to_client(row)
        self._changed()
        return RegisteredClient(client=client, client_secret=secret)

    def disable(self, client_id: str, *, actor: str, reason: str) -> Client:
        """Cut the client off: it can no longer authenticate or start a login, and its live
        grants are revoked (``client_disabled``) in the same transaction, which stops its
        access and refresh tokens. Audited with the reason and the number of grants revoked.

        Disabling a disabled client keeps its first time and reason, and revokes any grant
        still live."""
        reason = meta.check_reason(reason)
        now = require_aware(self._clock.now())
        with self._db() as session:
            row = self._row(session, client_id)
            already = row.disabled_at is not None
            if not already:
                row.disabled_at = now
                row.disabled_reason = reason
                session.flush()
            revoked = session.execute(
                update(GrantRow)
                .where(GrantRow.client_id == row.client_id, GrantRow.revoked_at.is_(None))
                .values(revoked_at=now, revoke_reason=CLIENT_DISABLED_REASON)
            ).rowcount  # type: ignore[attr-defined]
            self._ledger.append(
                "idp.client.disabled",
                actor=actor,
                subject=row.client_id,
                data={"reason": reason, "grants_revoked": revoked, "already_disabled": already},
                session=session,
            )
            client = _to_client(row)
        self._changed()
        log.info(
            "client disabled", extra={"client_id": client.client_id, "grants_revoked": revoked}
        )
        return client

    def enable(self, client_id: str, *, actor: str) -> Client:
        """Let a disabled client authenticate again (audited); its revoked grants stay revoked.
        Enabling an enabled client changes nothing."""
        with self._db() as session:
            row = self._row(session, client_id)
            if row.disabled_at is None:
                return _to_client(row)
            row.disabled_at = None
            row.disabled_reason = None
            session.flush()
            self._ledger.append(
                "idp.client.enabled", actor=actor, subject=row.client_id, data={}, session=session
            )
            client = _to_client(row)
        self._changed()
        return client

    @staticmethod
    def _row(session: Session, client_id: str) -> ClientRow:
        """The client's row, locked for the transaction (PostgreSQL; SQLite's write
        transaction already excludes other writers); raises ``ClientNotFound``."""
        row = None
        if isinstance(client_id, str) and 1 <= len(client_id) <= 64:
            row = session.get(ClientRow, client_id, with_for_update=True)
        if row is None:
            raise ClientNotFound(f"no client with id {str(client_id)[:64]!r}")
        return row

    @staticmethod
    def _claim_name(session: Session, name: str, client_id: str) -> None:
        """Raise ``ClientNameTaken`` if a client other than ``client_id`` has ``name``."""
        other = session.scalar(
            select(ClientRow.client_id).where(
                ClientRow.name_key == meta.name_key(name), ClientRow.client_id != client_id
            )
        )
        if other is not None:
            raise ClientNameTaken(
                f"the client {other} is already named {name[:100]!r} (case and spacing aside);"
                " give this one a name citizens can tell apart"
            )

    @staticmethod
    def _flush(session: Session, name: str) -> None:
        """Flush; the unique name index catches what :meth:`_claim_name` could not see (two
        registrations of one name at the same moment on PostgreSQL)."""
        try:
            session.flush()
        except IntegrityError:
            raise ClientNameTaken(
                f"another client is already named {name[:100]!r} (case and spacing aside)"
            ) from None

    def get(self, client_id: str, *, include_disabled: bool = False) -> Client:
        """The client ``client_id``; raises :class:`~idp.errors.ClientNotFound`.

        A disabled client is not found either, unless ``include_disabled`` (operators' views):
        whatever looks a client up to serve it (the authorization endpoint, logout) treats it
        as unknown, and cannot forget to check.
        """
        client = self._find(client_id)
        if client is None:
            raise ClientNotFound(f"no client with id {str(client_id)[:64]!r}")
        if client.disabled and not include_disabled:
            raise ClientNotFound(f"the client {client.client_id!r} is disabled")
        return client

    def _find(self, client_id: str | None) -> Client | None:
        entry = self._entry(client_id)
        return None if entry is None else entry[0]

    def _entry(self, client_id: str | None) -> tuple[Client, str | None] | None:
        """The client and its secret's hash, from this worker's short-lived copy or the store.

        A change (update, new secret, disable, enable) bumps the shared version key, which
        every worker checks, and the copy lives ``CLIENT_CACHE_TTL`` seconds at most.
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
        if entry is None or entry[0].disabled or entry[0].auth_method is not method or not ok:
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
        if (
            client is None
            or client.disabled
            or client.auth_method is not ClientAuthMethod.PRIVATE_KEY_JWT
        ):
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
