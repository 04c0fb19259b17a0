"""Database access: the declarative base, engines, sessions and shared column types.

SQLAlchemy 2.0 typed ORM (ARCHITECTURE.md, "Storage"). The embedded default is SQLite in WAL
mode; production is PostgreSQL. Both behave the same for NatID's code: timestamps are stored
and returned as timezone-aware UTC (:class:`UTCDateTime`), foreign keys are enforced, and
transactions begin explicitly (``BEGIN IMMEDIATE`` on SQLite) so SAVEPOINTs work and concurrent
writers queue instead of failing.

The schema is owned by Alembic (``migrations/``); nothing here creates tables in production.

A database that cannot be reached is the operator's first problem with a new deployment (a
server down, a wrong port, a firewall, a SQLite path in a missing directory), and SQLAlchemy
reports it as a page of traceback. :func:`connect_check` makes one connection at start-up and
turns a failure into :class:`~core.errors.DatabaseUnreachable`: where the database is (host and
port, or the SQLite file), and the driver's reason (``Connection refused``, ``password
authentication failed for user "natid"``), with the URL's password never in it.
"""

from __future__ import annotations

import datetime as dt
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from core import sqlite_wal
from core.errors import DatabaseUnreachable, InvalidInput

__all__ = [
    "PING_AFTER_IDLE_SECONDS",
    "Base",
    "UTCDateTime",
    "connect_check",
    "make_engine",
    "make_session_factory",
    "transaction",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The one declarative base every package's ORM models derive from."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database.

    Naive datetimes are refused on the way in (ARCHITECTURE.md, "Time"); SQLite, which stores
    no zone, hands back UTC-aware values on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise InvalidInput("a naive datetime cannot be stored; give it a timezone")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _configure_sqlite(engine: Engine) -> None:
    # WAL checkpoints run in a background thread, not inside a request's commit.
    checkpointed = sqlite_wal.is_file_database(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (the documented
        # pysqlite recipe); otherwise SAVEPOINT and isolation do not work as on PostgreSQL.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if checkpointed:
            # The background thread checkpoints (core/sqlite_wal.py); this is its backstop. A
            # new connection (re-)registers the engine, also after a dispose() ended that.
            cursor.execute(f"PRAGMA wal_autocheckpoint={sqlite_wal.BACKSTOP_PAGES}")
            sqlite_wal.register(engine)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # BEGIN IMMEDIATE takes the write lock up front. A deferred transaction that reads and
        # then writes fails at once with SQLITE_BUSY_SNAPSHOT when another writer committed in
        # between (WAL mode), whatever the busy timeout; IMMEDIATE waits its turn instead.
        # Readers that need no lock use the "sqlite_deferred" execution option.
        if conn.get_execution_options().get("sqlite_deferred"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


# A connection idle in the pool for longer than this is pinged before use even when it heard
# nothing: a firewall or load balancer that drops idle connections silently gives no sign
# until the next packet. Their idle timeouts are minutes; a busy pool never waits this long.
PING_AFTER_IDLE_SECONDS = 30.0
_IDLE_SINCE = "natid_idle_since"


def _has_news(dbapi_conn: Any) -> bool:
    """Whether the server sent anything to this pooled (idle, so silent) connection."""
    poller = select.poll()
    poller.register(dbapi_conn.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        # What pool_pre_ping did - a SELECT 1 round trip on every checkout (5.7 % of the KYC
        # benchmark's busy samples) - only when it can find something. An idle connection in
        # the pool hears nothing from the server unless the server is dropping it: a
        # terminated backend (pg_terminate_backend, shutdown, restart, idle timeout) sends its
        # FATAL error and closes the socket, which then polls readable. Then, or after a long
        # idle spell, the ping runs, and a failed one discards every pooled connection older
        # than now and connects anew, as pre-ping does (the pool retries the checkout).
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None:  # connected just now
            return
        if time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS and not _has_news(dbapi_conn):
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_conn, None):
                raise InvalidatePoolError() from exc
            raise


def make_engine(url: str, *, echo: bool = False, pool_size: int | None = None) -> Engine:
    """Create an engine for ``url`` with NatID's per-dialect settings."""
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    postgresql = url.startswith("postgresql")
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        # PostgreSQL checks its pooled connections more cheaply (_configure_postgresql).
        kwargs["pool_pre_ping"] = not postgresql
        if pool_size is not None:
            kwargs["pool_size"] = pool_size
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    elif postgresql:
        _configure_postgresql(engine)
    return engine


def connect_check(engine: Engine) -> None:
    """Connect once (the connection goes back to the pool for the next user); raise
    :class:`~core.errors.DatabaseUnreachable` if no connection can be made."""
    try:
        with engine.connect():
            pass
    except DBAPIError as exc:
        raise DatabaseUnreachable(_unreachable_message(engine, exc)) from exc


#: Longest driver reason quoted in :class:`~core.errors.DatabaseUnreachable`.
_MAX_REASON = 200


def _unreachable_message(engine: Engine, exc: DBAPIError) -> str:
    url = engine.url
    backend = engine.dialect.name
    if backend == "sqlite":
        where = f"cannot open the database {url.database or ':memory:'} ({backend})"
    else:
        host = url.host or "localhost (socket)"
        at = host if url.port is None else f"{host}:{url.port}"
        where = f"cannot connect to the database at {at} ({backend})"
    # The driver's first line, without what the line already says: psycopg writes
    # 'connection failed: connection to server at "HOST", port N failed: <reason>'.
    text = str(exc.orig if exc.orig is not None else exc).strip()
    reason = text.splitlines()[0].strip() if text else type(exc).__name__
    reason = " ".join(reason.rsplit("failed: ", 1)[-1].split()) or type(exc).__name__
    if url.password:
        # Drivers do not quote the password today; nothing guarantees they never will.
        reason = reason.replace(str(url.password), "***")
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 3] + "..."
    return f"{where}: {reason}"


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """The session factory services receive; objects stay usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    with factory() as session, session.begin():
        yield session
