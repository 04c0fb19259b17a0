"""Login sessions at the OpenID provider: the state behind the session cookie.

Decisions:

* Stored in the database (``idp_sessions``), not the cache: sessions last hours, must survive a
  restart of any worker or of Redis, and the account pages list them and end them one by one,
  which needs a query by account (ARCHITECTURE.md, "Scale": no state in a worker's memory).
* The cookie carries a 256-bit random token (``secrets.token_urlsafe(32)``); the table stores
  only its SHA-256, so a copy of the database yields no usable cookie. Each session also has a
  public id (a UUID) that the account pages show and that serves as the ``sid`` of OIDC
  Front-/Back-Channel Logout (Back-Channel Logout 1.0 §2.1).
* ``auth_time``, ``acr`` and ``amr`` (OIDC Core §2, RFC 8176) record the latest authentication;
  a step-up (a second factor on an existing session) raises ``acr`` and moves ``auth_time``.
  ``acr`` values are the eIDAS levels ``low`` < ``substantial`` < ``high``
  (:class:`registry.AssuranceLevel`).
* A session ends after :data:`IDLE_TIMEOUT` without use or :data:`MAX_LIFETIME` after it began,
  whichever comes first, or when ended by its holder, by logout, or by an officer
  (:meth:`LoginSessions.end_all`, for a lost phone or a death).
* The clients a session logged into are kept (``idp_session_clients``) so logout can notify each
  one (Back-Channel Logout §2.5); :meth:`LoginSessions.end` returns them.
* :func:`satisfies` implements OIDC Core §3.1.2.1 ``acr_values`` and ``max_age`` for step-up:
  a higher level satisfies a request for a lower one (the eIDAS levels are hierarchical);
  unknown ``acr_values`` are ignored (they are voluntary claims); ``max_age=0`` always asks
  for a fresh login.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from core.clock import require_aware
from idp.account_models import LoginSessionRow, SessionClientRow, store_read, store_write
from idp.account_records import Account
from idp.consents import GrantedConsent, live_consent
from idp.errors import AuthenticatorError, SessionNotFound
from idp.session_reads import session_reader_for
from registry.ports import AuditSink
from registry.records import AssuranceLevel

__all__ = [
    "IDLE_TIMEOUT",
    "MAX_LIFETIME",
    "LoginSession",
    "LoginSessions",
    "StartedSession",
    "satisfies",
]

IDLE_TIMEOUT = dt.timedelta(hours=2)
MAX_LIFETIME = dt.timedelta(hours=12)
#: ``last_seen_at`` is written at most this often per session, not on every request.
TOUCH_GRANULARITY = dt.timedelta(minutes=1)
_MAX_CLIENTS = 200


@dataclass(frozen=True, slots=True)
class LoginSession:
    """A live login session, as the authorization endpoint and the account pages see it."""

    id: str
    account_id: str
    acr: AssuranceLevel
    amr: tuple[str, ...]
    auth_time: dt.datetime
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    clients: tuple[str, ...]
    source: str | None
    user_agent: str | None
    #: The session's account as read in the same statement as the session (one snapshot,
    #: :mod:`idp.session_reads`), so ``/authorize`` needs no second read for it. None when the
    #: session did not come from that held read of :meth:`LoginSessions.get` (it was read
    #: through the ORM path of an engine sharing one connection, or made by
    #: :meth:`~LoginSessions.start`, :meth:`~LoginSessions.step_up` or another method) or its
    #: account row is missing: a caller that needs the account then reads it itself. Not
    #: compared (two reads of one session are equal whatever their account) and not in the repr.
    account: Account | None = field(default=None, compare=False, repr=False)
    #: (client id, the account's live consent to it or None), read in the same statement when
    #: :meth:`LoginSessions.get` was asked ``consent_for`` that client (/authorize); None when
    #: it was not asked or the session did not come from the held read. Whoever grants or
    #: withdraws a consent after the read must read it afresh. Not compared, not in the repr.
    consent: tuple[str, GrantedConsent | None] | None = field(
        default=None, compare=False, repr=False
    )


@dataclass(frozen=True, slots=True)
class StartedSession:
    """A new session and its cookie token (shown once; only its hash is stored)."""

    session: LoginSession
    token: str

    def __repr__(self) -> str:
        return f"StartedSession(session={self.session!r})"


def _digest(token: str) -> str:
    return hashlib.sha256(b"natid-idp-session\x00" + token.encode()).hexdigest()


def _check_amr(amr: Iterable[str]) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(amr))
    if not values or any(not v.isascii() or not v.isalnum() or len(v) > 16 for v in values):
        raise AuthenticatorError("amr: expected RFC 8176 method names such as 'pwd', 'otp'")
    return values


def satisfies(
    session: LoginSession,
    *,
    acr_values: Sequence[str] | None,
    max_age: int | None,
    at: dt.datetime,
) -> bool:
    """Whether ``session`` may answer a request with these ``acr_values`` and ``max_age``
    without a new authentication (OIDC Core §3.1.2.1)."""
    at = require_aware(at)
    if max_age is not None and (max_age <= 0 or (at - session.auth_time).total_seconds() > max_age):
        return False
    levels = [AssuranceLevel(v) for v in acr_values or () if v in AssuranceLevel._value2member_map_]
    if levels:
        return session.acr.rank >= min(level.rank for level in levels)
    return True


class LoginSessions:
    """Starts, finds, steps up, lists and ends login sessions."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ledger: AuditSink,
        idle_timeout: dt.timedelta = IDLE_TIMEOUT,
        max_lifetime: dt.timedelta = MAX_LIFETIME,
    ) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._idle = idle_timeout
        self._max = max_lifetime

    @staticmethod
    def _value(row: LoginSessionRow, clients: Iterable[str]) -> LoginSession:
        return LoginSession(
            id=row.id,
            account_id=row.account_id,
            acr=AssuranceLevel(row.acr),
            amr=tuple(row.amr.split()),
            auth_time=row.auth_time,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            clients=tuple(sorted(clients)),
            source=row.source,
            user_agent=row.user_agent,
        )

    @staticmethod
    def _clients(session: Session, session_id: str) -> list[str]:
        query = select(SessionClientRow.client_id).where(SessionClientRow.session_id == session_id)
        return list(session.scalars(query))

    def _live(self, row: LoginSessionRow | None, at: dt.datetime) -> LoginSessionRow:
        if row is None:
            raise SessionNotFound("no live login session; log in again")
        self._check_live(row.ended_at, row.expires_at, row.last_seen_at, at)
        return row

    def _check_live(
        self,
        ended_at: dt.datetime | None,
        expires_at: dt.datetime,
        last_seen_at: dt.datetime,
        at: dt.datetime,
    ) -> None:
        if ended_at is not None or at >= expires_at or at - last_seen_at >= self._idle:
            raise SessionNotFound("no live login session; log in again")

    def _read(self, digest: str, at: dt.datetime, consent_for: str | None) -> LoginSession:
        """The live session with token hash ``digest``: one held-connection read, which also
        brings the session's account (and its consent to ``consent_for``), where the engine
        allows it (:mod:`idp.session_reads`), else a read transaction (and neither)."""
        reader = session_reader_for(self._sessions)
        if reader is None:
            with store_read(self._sessions) as session:
                row = self._live(
                    session.scalar(
                        select(LoginSessionRow).where(LoginSessionRow.token_sha256 == digest)
                    ),
                    at,
                )
                return self._value(row, self._clients(session, row.id))
        found = reader.by_token_hash(digest, consent_for=consent_for)
        if found is None:
            raise SessionNotFound("no live login session; log in again")
        (sid, account_id, acr, amr, auth_time, created_at, last_seen_at, expires_at, ended_at,
         source, user_agent), clients, account, consent_row = found  # fmt: skip
        self._check_live(ended_at, expires_at, last_seen_at, at)
        consent = None if consent_for is None else (consent_for, live_consent(consent_row, at))
        return LoginSession(
            id=sid,
            account_id=account_id,
            acr=AssuranceLevel(acr),
            amr=tuple(amr.split()),
            auth_time=auth_time,
            created_at=created_at,
            last_seen_at=last_seen_at,
            expires_at=expires_at,
            clients=tuple(sorted(clients)),
            source=source,
            user_agent=user_agent,
            account=account,
            consent=consent,
        )

    def start(
        self,
        account_id: str,
        *,
        acr: AssuranceLevel,
        amr: Iterable[str],
        at: dt.datetime,
        source: str | None = None,
        user_agent: str | None = None,
    ) -> StartedSession:
        """Open a session for an authentication that just succeeded at ``at``."""
        at = require_aware(at)
        token = secrets.token_urlsafe(32)
        row = LoginSessionRow(
            id=str(uuid.uuid4()),
            token_sha256=_digest(token),
            account_id=account_id,
            acr=AssuranceLevel(acr).value,
            amr=" ".join(_check_amr(amr)),
            auth_time=at,
            created_at=at,
            last_seen_at=at,
            expires_at=at + self._max,
            source=source[:64] if source else None,
            user_agent=user_agent[:200] if user_agent else None,
        )
        with store_write(self._sessions) as session:
            session.add(row)
            session.flush()
            self._ledger.append(
                "idp.session.started",
                actor=account_id,
                subject=row.id,
                data={"acr": row.acr, "amr": row.amr.split()},
                session=session,
            )
        return StartedSession(self._value(row, ()), token)

    def get(self, token: str, *, at: dt.datetime, consent_for: str | None = None) -> LoginSession:
        """The live session behind a cookie token; raise :class:`SessionNotFound` otherwise.

        With ``consent_for`` (a client id), the session carries its account's consent to that
        client, read in the same statement where the engine allows (``LoginSession.consent``).
        """
        at = require_aware(at)
        digest = _digest(token)
        # A read: the write lock is taken only when last_seen_at is due a touch (at most once
        # per TOUCH_GRANULARITY), not on every request that carries the cookie.
        found = self._read(digest, at, consent_for)
        if at - found.last_seen_at < TOUCH_GRANULARITY:
            return found
        with store_write(self._sessions) as session:
            touched = session.execute(
                update(LoginSessionRow)
                .where(
                    LoginSessionRow.id == found.id,
                    LoginSessionRow.ended_at.is_(None),
                    LoginSessionRow.last_seen_at < at,
                )
                .values(last_seen_at=at)
            )
            if getattr(touched, "rowcount", 1) == 0:
                # Ended (or touched by a concurrent request) in between: look again.
                self._live(session.get(LoginSessionRow, found.id), at)
        return replace(found, last_seen_at=max(found.last_seen_at, at))

    def step_up(
        self, token: str, *, acr: AssuranceLevel, amr: Iterable[str], at: dt.datetime
    ) -> LoginSession:
        """Record a new authentication on the session (never lowers ``acr``)."""
        at = require_aware(at)
        with store_write(self._sessions) as session:
            row = self._live(
                session.scalar(
                    select(LoginSessionRow).where(LoginSessionRow.token_sha256 == _digest(token))
                ),
                at,
            )
            level = AssuranceLevel(acr)
            if level.rank >= AssuranceLevel(row.acr).rank:
                row.acr = level.value
            row.amr = " ".join(_check_amr([*row.amr.split(), *amr]))
            row.auth_time = at
            row.last_seen_at = at
            session.flush()
            self._ledger.append(
                "idp.session.stepped_up",
                actor=row.account_id,
                subject=row.id,
                data={"acr": row.acr, "amr": row.amr.split()},
                session=session,
            )
            return self._value(row, self._clients(session, row.id))

    def add_client(self, session_id: str, client_id: str, *, at: dt.datetime) -> None:
        """Remember that the session logged into ``client_id`` (idempotent)."""
        at = require_aware(at)
        with store_write(self._sessions) as session:
            row = self._live(session.get(LoginSessionRow, session_id), at)
            known = self._clients(session, row.id)
            if client_id in known:
                return
            if len(known) >= _MAX_CLIENTS:
                raise AuthenticatorError("this session logged into too many clients")
            session.add(SessionClientRow(session_id=row.id, client_id=client_id, first_at=at))

    def list_for_account(self, account_id: str, *, at: dt.datetime) -> list[LoginSession]:
        """The account's live sessions, newest first."""
        at = require_aware(at)
        with store_read(self._sessions) as session:
            query = (
                select(LoginSessionRow)
                .where(
                    LoginSessionRow.account_id == account_id,
                    LoginSessionRow.ended_at.is_(None),
                    LoginSessionRow.expires_at > at,
                    LoginSessionRow.last_seen_at > at - self._idle,
                )
                .order_by(LoginSessionRow.created_at.desc(), LoginSessionRow.id)
            )
            return [self._value(r, self._clients(session, r.id)) for r in session.scalars(query)]

    def end(
        self,
        session_id: str,
        *,
        at: dt.datetime,
        actor: str,
        reason: str = "logout",
        account_id: str | None = None,
    ) -> LoginSession:
        """End one session; with ``account_id``, only if it belongs to that account (the
        account pages pass it, so a user cannot end another's session by guessing ids)."""
        at = require_aware(at)
        with store_write(self._sessions) as session:
            try:
                row = session.get(LoginSessionRow, str(uuid.UUID(session_id)))
            except ValueError:
                row = None
            if row is None or (account_id is not None and row.account_id != account_id):
                raise SessionNotFound("no such session")
            return self._end(session, row, at=at, actor=actor, reason=reason)

    def _end(
        self, session: Session, row: LoginSessionRow, *, at: dt.datetime, actor: str, reason: str
    ) -> LoginSession:
        if row.ended_at is None:
            row.ended_at = at
            session.flush()
            self._ledger.append(
                "idp.session.ended",
                actor=actor,
                subject=row.id,
                data={"account_id": row.account_id, "reason": reason[:40]},
                session=session,
            )
        return self._value(row, self._clients(session, row.id))

    def end_all(
        self, account_id: str, *, at: dt.datetime, actor: str, reason: str
    ) -> list[LoginSession]:
        """End every session of the account (lost phone, password change, death)."""
        at = require_aware(at)
        with store_write(self._sessions) as session:
            rows = session.scalars(
                select(LoginSessionRow).where(
                    LoginSessionRow.account_id == account_id, LoginSessionRow.ended_at.is_(None)
                )
            ).all()
            return [self._end(session, r, at=at, actor=actor, reason=reason) for r in rows]
