"""The login-session read of every ``/authorize``, on a held connection.

A browser with a NatID session cookie sends it with every authorization request, and
:meth:`idp.sessions.LoginSessions.get` reads the session behind it: the row by its token hash and
the clients it logged into. Through an ORM ``Session`` that was a read transaction of two
statements (~0.5 ms of CPU on SQLite); here it is one statement - the clients come as one
space-separated string from a correlated subquery (``group_concat`` / ``string_agg``; client
ids are base64url, :func:`idp.clients._new_client_id`, so they hold no space) - on a connection
held by :class:`core.held_read.HeldReader`, as :mod:`idp.token_reads` does. Autocommit: a
session ended by any worker is seen by the next read; nothing is cached.

:class:`~idp.sessions.LoginSessions` is made per request; the held connections are kept per
engine and statement by :func:`core.held_read.reader_for`. Engines that share one connection
(in-memory SQLite) get none and the session is read through the ORM as before.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, literal_column, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.errors import StorageUnavailable
from core.held_read import HeldReader, reader_for
from idp.account_models import LoginSessionRow, SessionClientRow
from idp.errors import AccountStoreUnavailable

__all__ = ["SessionReader", "session_reader_for"]

_SESSIONS = LoginSessionRow.__table__.c
_CLIENTS = SessionClientRow.__table__.c


def _statement(dialect: str) -> Select[Any]:
    space: ColumnElement[Any] = literal_column("' '")
    joined: ColumnElement[Any] = (
        func.string_agg(_CLIENTS.client_id, space)
        if dialect == "postgresql"
        else func.group_concat(_CLIENTS.client_id, space)
    )
    clients = select(joined).where(_CLIENTS.session_id == _SESSIONS.id).scalar_subquery()
    return select(
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
        clients,
    ).where(_SESSIONS.token_sha256 == bindparam("b_token_sha256"))


_BY_TOKEN_HASH = {"postgresql": _statement("postgresql"), "other": _statement("other")}


class SessionReader:
    """The session with a token hash, and its clients, in one held-connection read."""

    def __init__(self, reader: HeldReader) -> None:
        self._reader = reader

    def by_token_hash(self, digest: str) -> tuple[tuple[Any, ...], tuple[str, ...]] | None:
        """The session's columns (id, account_id, acr, amr, auth_time, created_at,
        last_seen_at, expires_at, ended_at, source, user_agent) and its client ids, or None."""
        try:
            row = self._reader.fetch(digest)
        except StorageUnavailable:
            raise AccountStoreUnavailable(
                "the account store failed; is the database migrated?"
            ) from None
        if row is None:
            return None
        return row[:-1], tuple(row[-1].split()) if row[-1] else ()


def session_reader_for(sessions: sessionmaker[Session]) -> SessionReader | None:
    """The reader of the engine ``sessions`` is bound to, or None (shared-connection pools)."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        return None
    statement = _BY_TOKEN_HASH["postgresql" if bind.dialect.name == "postgresql" else "other"]
    reader = reader_for(bind, statement, label="IdP")
    return None if reader is None else SessionReader(reader)
