"""The login-session read of every ``/authorize``, on a held connection.

A browser with a NatID session cookie sends it with every authorization request, and
:meth:`idp.sessions.LoginSessions.get` reads the session behind it: the row by its token hash,
the clients it logged into, and the session's account. Through an ORM ``Session`` the session
and its clients were a read transaction of two statements (~0.5 ms of CPU on SQLite); here they
are one statement - the clients come as one space-separated string from a correlated subquery
(``group_concat`` / ``string_agg``; client ids are base64url,
:func:`idp.clients._new_client_id`, so they hold no space) - on a connection held by
:class:`core.held_read.HeldReader`, as :mod:`idp.token_reads` does. Autocommit: a session ended
by any worker is seen by the next read; nothing is cached.

The same statement also reads the session's account (a ``LEFT OUTER JOIN`` of
``idp_accounts`` on the session's ``account_id``; :data:`idp.account_reads.ACCOUNT_COLUMNS`,
made into an :class:`~idp.account_records.Account` by :func:`idp.account_reads.account_from_row`)
because every ``/authorize`` then asks whether that account is active and whose it is
(:meth:`idp.authorize.AuthorizationService.decide`): one held read instead of two per request
(measured: the session read and the account check ~10 µs of CPU less, 51-56 -> 42-47 µs with
warm caches), and the session and its account come from one snapshot (two reads would be two
transactions, :mod:`core.held_read` decision 2). The account is read afresh with
every session read, so one locked or disabled by any worker is seen by the next request. An
account row that is missing gives NULLs, read as no account.

:class:`~idp.sessions.LoginSessions` is made per request; the held connections are kept per
engine and statement by :func:`core.held_read.reader_for`. Engines that share one connection
(in-memory SQLite) get none and the session is read through the ORM as before (without its
account, which the caller then reads itself).

``/authorize`` then asks whether the account consented to the requesting client
(:meth:`idp.authorize.AuthorizationService.decide`), so its read also brings that consent: with
a client id, the statement ``LEFT OUTER JOIN``s ``idp_consents`` on the session's account and
that client (:data:`idp.consents.CONSENT_COLUMNS`), one held read instead of two per
authorization with a session. The session carries the consent with the client it was read for
(``LoginSession.consent``); the decision uses it only for that client and never after the
consent page was answered in the same request (it reads the consent afresh then, as it was
just granted).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, literal_column, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.errors import StorageUnavailable
from core.held_read import HeldReader, reader_for
from idp.account_models import AccountRow, LoginSessionRow, SessionClientRow
from idp.account_reads import ACCOUNT_COLUMNS, account_from_row
from idp.account_records import Account
from idp.consent_models import ConsentRow
from idp.consents import CONSENT_COLUMNS
from idp.errors import AccountStoreUnavailable

__all__ = ["SessionRead", "SessionReader", "session_reader_for"]

_SESSIONS = LoginSessionRow.__table__.c
_CLIENTS = SessionClientRow.__table__.c
_ACCOUNTS = AccountRow.__table__
_CONSENTS = ConsentRow.__table__
#: The session's columns, in :meth:`SessionReader.by_token_hash`'s order. The row is these,
#: then the clients, then :data:`~idp.account_reads.ACCOUNT_COLUMNS`.
_SESSION_COLUMNS = (
    _SESSIONS.id,
    _SESSIONS.account_id,
    _SESSIONS.acr,
    _SESSIONS.amr,
    _SESSIONS.auth_time,
    _SESSIONS.created_at,
    _SESSIONS.last_seen_at,
    _SESSIONS.expires_at,
    _SESSIONS.ended_at,
    _SESSIONS.source,
    _SESSIONS.user_agent,
)
_CLIENTS_AT = len(_SESSION_COLUMNS)
_ACCOUNT_AT = _CLIENTS_AT + 1
_CONSENT_AT = _ACCOUNT_AT + len(ACCOUNT_COLUMNS)


def _statement(dialect: str, *, with_consent: bool = False) -> Select[Any]:
    space: ColumnElement[Any] = literal_column("' '")
    joined: ColumnElement[Any] = (
        func.string_agg(_CLIENTS.client_id, space)
        if dialect == "postgresql"
        else func.group_concat(_CLIENTS.client_id, space)
    )
    clients = select(joined).where(_CLIENTS.session_id == _SESSIONS.id).scalar_subquery()
    joined_rows = LoginSessionRow.__table__.outerjoin(
        _ACCOUNTS, _ACCOUNTS.c.id == _SESSIONS.account_id
    )
    columns = [*_SESSION_COLUMNS, clients, *ACCOUNT_COLUMNS]
    if with_consent:
        joined_rows = joined_rows.outerjoin(
            _CONSENTS,
            (_CONSENTS.c.account_id == _SESSIONS.account_id)
            & (_CONSENTS.c.client_id == bindparam("b_client_id")),
        )
        columns += CONSENT_COLUMNS
    return (
        select(*columns)
        .select_from(joined_rows)
        .where(_SESSIONS.token_sha256 == bindparam("b_token_sha256"))
    )


_BY_TOKEN_HASH = {"postgresql": _statement("postgresql"), "other": _statement("other")}
_WITH_CONSENT = {
    "postgresql": _statement("postgresql", with_consent=True),
    "other": _statement("other", with_consent=True),
}
#: What :meth:`SessionReader.by_token_hash` gives: the session's columns, its client ids, its
#: account, and the consent columns for the client asked about (None when none was asked).
SessionRead = tuple[tuple[Any, ...], tuple[str, ...], Account | None, tuple[Any, ...] | None]


class SessionReader:
    """The session with a token hash, its clients and its account (and, asked for a client, the
    account's consent to it), in one held-connection read."""

    def __init__(self, reader: HeldReader, with_consent: HeldReader) -> None:
        self._reader = reader
        self._with_consent = with_consent

    def by_token_hash(self, digest: str, *, consent_for: str | None = None) -> SessionRead | None:
        """The session's columns (id, account_id, acr, amr, auth_time, created_at,
        last_seen_at, expires_at, ended_at, source, user_agent), its client ids, its account
        (None when the account row is missing) and, with ``consent_for``, the
        :data:`~idp.consents.CONSENT_COLUMNS` of the account's consent to that client (NULLs
        when there is none); or None when there is no such session."""
        try:
            if consent_for is None:
                row = self._reader.fetch(digest)
            else:
                row = self._with_consent.fetch_params(
                    {"b_token_sha256": digest, "b_client_id": consent_for}
                )
        except StorageUnavailable:
            raise AccountStoreUnavailable(
                "the account store failed; is the database migrated?"
            ) from None
        if row is None:
            return None
        joined = row[_CLIENTS_AT]
        account_row = row[_ACCOUNT_AT:_CONSENT_AT]
        # The primary key is NULL only when the outer join found no account row.
        account = None if account_row[0] is None else account_from_row(account_row)
        consent = None if consent_for is None else row[_CONSENT_AT:]
        return row[:_CLIENTS_AT], tuple(joined.split()) if joined else (), account, consent


def session_reader_for(sessions: sessionmaker[Session]) -> SessionReader | None:
    """The reader of the engine ``sessions`` is bound to, or None (shared-connection pools)."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        return None
    dialect = "postgresql" if bind.dialect.name == "postgresql" else "other"
    reader = reader_for(bind, _BY_TOKEN_HASH[dialect], label="IdP")
    with_consent = reader_for(bind, _WITH_CONSENT[dialect], label="IdP")
    if reader is None or with_consent is None:
        return None
    return SessionReader(reader, with_consent)
