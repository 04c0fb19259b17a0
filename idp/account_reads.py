"""Account reads on held connections, for the login hot path (authorize and token endpoints).

Every ``/authorize`` with a login session asks whether the session's account is still active
and whose it is, and every code exchange reads the subject's account for its claims. Through an
ORM ``Session`` each such primary-key (or unique-key) read cost ~0.45 ms of CPU on SQLite (the
session, pool checkout, ``BEGIN``, ``ROLLBACK``); on a connection held by
:class:`core.held_read.HeldReader` it costs microseconds, the pattern of
:mod:`idp.token_reads`. The reads are autocommit, so an account locked or disabled by any worker
is seen by the next read; nothing is cached. Engines that share one connection (in-memory
SQLite) get no readers and :class:`~idp.accounts.AccountService` reads through its session.

The ``/authorize`` question is mostly answered without :meth:`AccountReads.by_id`: the session
read (:mod:`idp.session_reads`) brings the session's account in the same statement, made of
:data:`ACCOUNT_COLUMNS` by :func:`account_from_row`, so both reads stay one definition.
``by_id`` remains for a session that came without its account (just started or stepped up, or
read through the ORM) and for every other caller of :meth:`~idp.accounts.AccountService.get`.

The account ids are ``Uuid`` columns: the value is passed through the column type's bind
processor (SQLite stores them as 32 hex digits), as SQLAlchemy would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.errors import StorageUnavailable
from core.held_read import HeldReader, sessions_reader_for
from idp.account_models import AccountRow, AccountStatus
from idp.account_records import Account
from idp.errors import AccountStoreUnavailable

__all__ = ["ACCOUNT_COLUMNS", "AccountReads", "account_from_row", "account_reads_for"]

_ACCOUNTS = AccountRow.__table__.c
#: The columns an :class:`Account` is made of, in :func:`account_from_row`'s order. Also read
#: with the login session (:mod:`idp.session_reads`), so the two reads cannot drift apart.
ACCOUNT_COLUMNS = (
    _ACCOUNTS.id,
    _ACCOUNTS.person_id,
    _ACCOUNTS.status,
    _ACCOUNTS.operator_id,
    _ACCOUNTS.created_at,
    _ACCOUNTS.last_login_at,
    _ACCOUNTS.email_verified_at,
    _ACCOUNTS.phone_verified_at,
)
_BY_ID: Select[Any] = select(*ACCOUNT_COLUMNS).where(_ACCOUNTS.id == bindparam("b_account_id"))
_BY_PERSON: Select[Any] = select(*ACCOUNT_COLUMNS).where(
    _ACCOUNTS.person_id == bindparam("b_person_id")
)


def account_from_row(row: Sequence[Any]) -> Account:
    """The :class:`Account` of a row of :data:`ACCOUNT_COLUMNS` (what ``to_account`` makes of
    an ORM row)."""
    return Account(
        id=row[0],
        person_id=row[1],
        status=AccountStatus(row[2]),
        operator_id=row[3],
        created_at=row[4],
        last_login_at=row[5],
        email_verified=row[6] is not None,
        phone_verified=row[7] is not None,
    )


class AccountReads:
    """The account by id and by register person, on held connections."""

    def __init__(self, engine: Engine, by_id: HeldReader, by_person: HeldReader) -> None:
        self._by_id = by_id
        self._by_person = by_person
        bind: Callable[[Any], Any] | None = _ACCOUNTS.id.type.dialect_impl(
            engine.dialect
        ).bind_processor(engine.dialect)
        self._bind: Callable[[Any], Any] = bind if bind is not None else str

    def by_id(self, account_id: str) -> Account | None:
        """The account ``account_id`` (a canonical UUID string), or None."""
        return self._read(self._by_id, account_id)

    def by_person(self, person_id: str) -> Account | None:
        """The account of register person ``person_id`` (a canonical UUID string), or None."""
        return self._read(self._by_person, person_id)

    def _read(self, reader: HeldReader, key: str) -> Account | None:
        try:
            row = reader.fetch(self._bind(key))
        except StorageUnavailable:
            raise AccountStoreUnavailable(
                "the account store failed; is the database migrated?"
            ) from None
        return None if row is None else account_from_row(row)


def account_reads_for(sessions: sessionmaker[Session]) -> AccountReads | None:
    """Readers over the engine ``sessions`` is bound to, or None (shared-connection pools)."""
    by_id = sessions_reader_for(sessions, _BY_ID, label="IdP")
    by_person = sessions_reader_for(sessions, _BY_PERSON, label="IdP")
    if by_id is None or by_person is None:
        return None
    return AccountReads(sessions.kw["bind"], by_id, by_person)
