"""Operators of the admin and RA APIs: roles, API tokens, authentication, every use audited.

Operators are the people who run NatID (registration officers, CA operators, auditors, health
issuers, IdP and KYC administrators). They are issued by ``natid operator add`` and call the
admin and RA APIs with ``Authorization: Bearer <token>`` (RFC 6750 §2.1).

Tokens. ``natid_op_<id>_<secret>`` (format in :mod:`core.operator_records`): the 16-hex-digit
``id`` is the lookup key, stored in clear; the secret is 256 bits from the OS CSPRNG. Only the
SHA-256 of the whole token (under a domain label) is stored, and compared in constant time
(:func:`hmac.compare_digest`). Why not Argon2id: slow, salted hashing exists to stop offline
guessing of *low-entropy* passwords. Nobody can enumerate 2^256 secrets whatever the hash, so
SHA-256's preimage resistance is all a stolen table must not give away, and Argon2id would cost
~50 ms of CPU on every API call for no gain. Why no pepper: a pepper only helps if it is kept
apart from the database; settings have no secret for it, and a pepper stored in the same
database adds nothing. Tokens expire (default 90 days, at most 365), can be revoked one by one,
and an operator may hold several at once, so they can be rotated without downtime.

Every use is audited (ARCHITECTURE.md, "Audit"): each authenticated request appends
``operator.authenticated`` (actor = operator id; data: method, route template, token id,
source address, request id) in the transaction that also moves ``last_used_at``; each failure
appends ``operator.auth_failed`` with an :class:`AuthFailure` reason, never the token. If the
ledger cannot be written, authentication fails (``AuditUnavailable``): no unrecorded use. Creating,
disabling, issuing and revoking append ``operator.added``, ``operator.disabled``,
``operator.token_issued`` and ``operator.token_revoked`` with the acting operator (``cli`` from
the command line) as actor. Entries carry ids, not operator names.

Brute force. Tokens are unguessable, so the failure limit (:data:`FAILURE_LIMIT` per
:data:`FAILURE_WINDOW` seconds per source address, counted in the :class:`~core.cache.Cache`)
mostly keeps scanners from filling the ledger and the database. Once it is reached every
attempt from that address is refused with :class:`TooManyFailures` before any lookup, and
``operator.auth_throttled`` is recorded once per window. If the cache is down the limit is
skipped with a warning: with 256-bit secrets the limit is defence in depth, and the admin API
must keep working in an incident.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import uuid
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.cache import Cache, CacheError
from core.clock import Clock, require_aware
from core.db import transaction
from core.models import OperatorRow, OperatorTokenRow
from core.operator_records import (
    DEFAULT_TOKEN_LIFETIME,
    MAX_TOKEN_LIFETIME,
    AuthenticationFailed,
    AuthFailure,
    DuplicateOperator,
    InvalidOperatorInput,
    IssuedToken,
    Operator,
    OperatorError,
    OperatorNotFound,
    OperatorRole,
    OperatorStatus,
    OperatorStoreUnavailable,
    RequestInfo,
    RoleNotGranted,
    TokenInfo,
    TooManyFailures,
    check_name,
    check_roles,
    new_token,
    parse_roles,
    parse_token,
    parse_token_id,
    token_hash,
)

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "FAILURE_LIMIT",
    "FAILURE_WINDOW",
    "MAX_TOKEN_LIFETIME",
    "AuthFailure",
    "AuthenticationFailed",
    "DuplicateOperator",
    "InvalidOperatorInput",
    "IssuedToken",
    "Operator",
    "OperatorError",
    "OperatorNotFound",
    "OperatorRole",
    "OperatorService",
    "OperatorStatus",
    "OperatorStoreUnavailable",
    "RequestInfo",
    "RoleNotGranted",
    "TokenInfo",
    "TooManyFailures",
    "parse_token",
]

log = logging.getLogger(__name__)

FAILURE_LIMIT = 20
FAILURE_WINDOW = 60.0
#: ``last_used_at`` is written at most this often per token, not on every request.
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)
_MAX_FIELD = 200


def _to_operator(row: OperatorRow) -> Operator:
    return Operator(
        id=row.id,
        name=row.name,
        roles=parse_roles(row.roles),
        status=OperatorStatus(row.status),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


def _request_data(request: RequestInfo) -> dict[str, Any]:
    data: dict[str, Any] = {
        "method": request.method[:_MAX_FIELD],
        "route": request.route[:_MAX_FIELD],
    }
    if request.source:
        data["source"] = request.source[:_MAX_FIELD]
    if request.request_id:
        data["request_id"] = request.request_id[:_MAX_FIELD]
    return data


def _to_token(row: OperatorTokenRow) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        operator_id=row.operator_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


# --- the service -----------------------------------------------------------------------------


class OperatorService:
    """Adds operators, issues and revokes their tokens, and authenticates requests."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ledger: AuditLedger,
        clock: Clock,
        cache: Cache | None = None,
        failure_limit: int = FAILURE_LIMIT,
        failure_window: float = FAILURE_WINDOW,
    ) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._clock = clock
        self._cache = cache
        self._limit = failure_limit
        self._window = failure_window

    @contextmanager
    def _db(self, *, conflict: str | None = None) -> Iterator[Session]:
        try:
            with transaction(self._sessions) as session:
                yield session
        except IntegrityError:
            if conflict is None:
                raise OperatorStoreUnavailable("the operator store rejected a write") from None
            raise DuplicateOperator(conflict) from None
        except SQLAlchemyError as exc:
            # From None: driver messages quote statement parameters (token hashes among them).
            log.error(  # noqa: TRY400 - no traceback: it would quote the parameters
                "operator store error", extra={"error": type(exc).__name__}
            )
            raise OperatorStoreUnavailable(
                f"the operator store failed ({type(exc).__name__}); is the database migrated?"
            ) from None

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with self._sessions() as session:
                # A deferred transaction on SQLite: reads never wait for the write lock.
                session.connection(execution_options={"sqlite_deferred": True})
                yield session
        except SQLAlchemyError as exc:
            log.error(  # noqa: TRY400 - no traceback: it would quote the parameters
                "operator store error", extra={"error": type(exc).__name__}
            )
            raise OperatorStoreUnavailable(
                f"the operator store failed ({type(exc).__name__}); is the database migrated?"
            ) from None

    def _now(self) -> dt.datetime:
        return require_aware(self._clock.now(), "the clock's time")

    def _lifetime(self, expires_in: dt.timedelta | None) -> dt.timedelta:
        lifetime = DEFAULT_TOKEN_LIFETIME if expires_in is None else expires_in
        if not dt.timedelta(0) < lifetime <= MAX_TOKEN_LIFETIME:
            raise InvalidOperatorInput(
                f"token lifetime: expected 1 to {MAX_TOKEN_LIFETIME.days} days"
            )
        return lifetime

    @staticmethod
    def _operator_row(session: Session, name: str) -> OperatorRow:
        row = session.scalar(select(OperatorRow).where(OperatorRow.name == check_name(name)))
        if row is None:
            raise OperatorNotFound(f"no operator named {name!r}")
        return row

    def _store_token(
        self, session: Session, operator_id: str, lifetime: dt.timedelta, actor: str
    ) -> IssuedToken:
        now = self._now()
        token_id, token = new_token()
        row = OperatorTokenRow(
            id=token_id,
            operator_id=operator_id,
            token_sha256=token_hash(token),
            created_at=now,
            expires_at=now + lifetime,
            revoked_at=None,
            last_used_at=None,
        )
        session.add(row)
        session.flush()
        self._ledger.append(
            "operator.token_issued",
            actor=actor,
            subject=operator_id,
            data={"token_id": token_id, "expires_at": row.expires_at.isoformat()},
            session=session,
        )
        return IssuedToken(token=token, info=_to_token(row))

    # --- administration ------------------------------------------------------------------------

    def add(
        self,
        name: str,
        roles: Iterable[OperatorRole | str],
        *,
        expires_in: dt.timedelta | None = None,
        actor: str = "cli",
    ) -> tuple[Operator, IssuedToken]:
        """Create an operator with ``roles`` and its first token (shown once)."""
        name = check_name(name)
        granted = check_roles(roles)
        lifetime = self._lifetime(expires_in)
        with self._db(conflict=f"an operator named {name!r} already exists") as session:
            if session.scalar(select(OperatorRow.id).where(OperatorRow.name == name)):
                raise DuplicateOperator(f"an operator named {name!r} already exists")
            row = OperatorRow(
                id=str(uuid.uuid4()),
                name=name,
                roles=" ".join(sorted(granted)),
                status=OperatorStatus.ACTIVE.value,
                created_at=self._now(),
                disabled_at=None,
                last_used_at=None,
            )
            session.add(row)
            session.flush()
            self._ledger.append(
                "operator.added",
                actor=actor,
                subject=row.id,
                data={"roles": sorted(map(str, granted))},
                session=session,
            )
            issued = self._store_token(session, row.id, lifetime, actor)
            return _to_operator(row), issued

    def get(self, name: str) -> Operator:
        with self._read() as session:
            return _to_operator(self._operator_row(session, name))

    def list_operators(self) -> list[Operator]:
        with self._read() as session:
            rows = session.scalars(select(OperatorRow).order_by(OperatorRow.name)).all()
            return [_to_operator(r) for r in rows]

    def tokens(self, name: str | None = None) -> list[TokenInfo]:
        """Tokens (ids and dates only) of one operator, or of all operators."""
        with self._read() as session:
            query = select(OperatorTokenRow).order_by(OperatorTokenRow.created_at)
            if name is not None:
                query = query.where(
                    OperatorTokenRow.operator_id == self._operator_row(session, name).id
                )
            return [_to_token(r) for r in session.scalars(query).all()]

    def disable(self, name: str, *, actor: str = "cli") -> Operator:
        """Disable an operator: every token of theirs stops working at once."""
        with self._db() as session:
            row = self._operator_row(session, name)
            if row.status != OperatorStatus.DISABLED:
                row.status = OperatorStatus.DISABLED.value
                row.disabled_at = self._now()
                session.flush()
                self._ledger.append(
                    "operator.disabled", actor=actor, subject=row.id, session=session
                )
            return _to_operator(row)

    def issue_token(
        self, name: str, *, expires_in: dt.timedelta | None = None, actor: str = "cli"
    ) -> IssuedToken:
        """Issue another token to an active operator (rotation: old tokens keep working)."""
        lifetime = self._lifetime(expires_in)
        with self._db() as session:
            row = self._operator_row(session, name)
            if row.status != OperatorStatus.ACTIVE:
                raise InvalidOperatorInput(f"operator {name!r} is disabled; no token issued")
            return self._store_token(session, row.id, lifetime, actor)

    def revoke_token(self, token_id: str, *, actor: str = "cli") -> TokenInfo:
        """Revoke a token by its id (``natid_op_<id>`` or the whole token also work)."""
        key = parse_token_id(token_id)
        with self._db() as session:
            row = session.get(OperatorTokenRow, key)
            if row is None:
                raise OperatorNotFound(f"no token with id {key}")
            if row.revoked_at is None:
                row.revoked_at = self._now()
                session.flush()
                self._ledger.append(
                    "operator.token_revoked",
                    actor=actor,
                    subject=row.operator_id,
                    data={"token_id": row.id},
                    session=session,
                )
            return _to_token(row)

    # --- authentication ------------------------------------------------------------------------

    def authenticate(
        self, token: str, *, roles: Collection[OperatorRole] = (), request: RequestInfo
    ) -> Operator:
        """Return the operator ``token`` belongs to if it may make ``request``, or raise.

        Raises :class:`TooManyFailures` (before anything else, once the source address has
        failed too often), :class:`AuthenticationFailed` (no valid token) or
        :class:`RoleNotGranted` (a valid token, but none of ``roles``). Success and failure
        are both recorded in the ledger.
        """
        throttle_key = f"operators:auth-failures:{request.source or 'unknown'}"
        self._check_throttle(throttle_key)
        data = _request_data(request)
        try:
            token_id = parse_token(token)
        except AuthenticationFailed as exc:
            with self._db() as session:
                self._record_failure(session, exc.reason, data, throttle_key, None)
            raise
        data["token_id"] = token_id
        with self._db() as session:
            found = session.execute(
                select(OperatorTokenRow, OperatorRow)
                .join(OperatorRow, OperatorTokenRow.operator_id == OperatorRow.id)
                .where(OperatorTokenRow.id == token_id)
            ).first()
            now = self._now()
            reason = self._check(found, token, now)
            if reason is not None:
                subject = None if found is None else found[1].id
                self._record_failure(session, reason, data, throttle_key, subject)
            else:
                token_row, operator_row = found  # type: ignore[misc]
                operator = _to_operator(operator_row)
                if operator.has_any(roles):
                    if self._touch(session, token_row, now):
                        operator = replace(operator, last_used_at=now)
                    self._ledger.append(
                        "operator.authenticated", actor=operator.id, data=data, session=session
                    )
                    return operator
                # A valid token without the role: the caller is known, so this is no
                # brute-force attempt; it is recorded but not counted against the address.
                data.update(reason=AuthFailure.ROLE.value, required=sorted(map(str, roles)))
                self._ledger.append(
                    "operator.auth_failed", actor=operator.id, data=data, session=session
                )
        # Raised after the transaction committed, so the failure's ledger entry is kept.
        if reason is not None:
            raise AuthenticationFailed(reason)
        raise RoleNotGranted(
            "this operator holds none of the roles this operation needs: "
            + ", ".join(sorted(map(str, roles)))
        )

    @staticmethod
    def _check(found: Any, token: str, now: dt.datetime) -> AuthFailure | None:
        if found is None:
            # Hash anyway, so an unknown id costs the same work as a wrong secret.
            hmac.compare_digest(token_hash(token), "0" * 64)
            return AuthFailure.UNKNOWN_TOKEN
        token_row, operator_row = found
        if not hmac.compare_digest(token_hash(token), token_row.token_sha256):
            return AuthFailure.UNKNOWN_TOKEN
        if token_row.revoked_at is not None:
            return AuthFailure.REVOKED
        if now >= token_row.expires_at:
            return AuthFailure.EXPIRED
        if operator_row.status != OperatorStatus.ACTIVE:
            return AuthFailure.DISABLED
        return None

    @staticmethod
    def _touch(session: Session, token_row: OperatorTokenRow, now: dt.datetime) -> bool:
        """Move ``last_used_at`` of the token and its operator, at most once a minute."""
        last = token_row.last_used_at
        if last is not None and now - last < LAST_USED_GRANULARITY:
            return False
        session.execute(
            update(OperatorTokenRow)
            .where(OperatorTokenRow.id == token_row.id)
            .values(last_used_at=now)
        )
        session.execute(
            update(OperatorRow)
            .where(OperatorRow.id == token_row.operator_id)
            .values(last_used_at=now)
        )
        return True

    def _check_throttle(self, key: str) -> None:
        if self._cache is None:
            return
        try:
            failures = self._cache.get(key)
        except CacheError as exc:
            log.warning("auth failure limit skipped: cache unavailable", extra={"code": exc.code})
            return
        if failures is not None and int(failures) >= self._limit:
            raise TooManyFailures(int(self._window))

    def _record_failure(
        self,
        session: Session,
        reason: AuthFailure,
        data: dict[str, Any],
        throttle_key: str,
        subject: str | None,
    ) -> None:
        failures = 0
        if self._cache is not None:
            try:
                failures = self._cache.incr(throttle_key, ttl=self._window)
            except CacheError as exc:
                log.warning("auth failure not counted: cache unavailable", extra={"code": exc.code})
        self._ledger.append(
            "operator.auth_failed",
            subject=subject,
            data={**data, "reason": reason.value},
            session=session,
        )
        if failures == self._limit:
            # Recorded once per window: later attempts are refused without an entry each.
            self._ledger.append(
                "operator.auth_throttled",
                data={
                    "source": data.get("source"),
                    "failures": failures,
                    "window_seconds": int(self._window),
                },
                session=session,
            )
