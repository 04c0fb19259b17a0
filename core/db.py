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
authentication failed for user "natid"``), with the URL's password never in it. A connection
that breaks in the middle of the work (the server restarted, the backend was terminated) is
told the same way by :func:`connection_lost`, for the command line to say in one line.

A database URL that cannot be used - malformed, or naming a database or driver SQLAlchemy does
not have - is :class:`~core.errors.InvalidDatabaseURL` from :func:`make_engine`, not
SQLAlchemy's ``ValueError`` or ``ArgumentError``; its message quotes no part of the URL that
could hold the password.
"""

from __future__ import annotations

import datetime as dt
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import URL, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidatePoolError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from core import sqlite_wal
from core.errors import DatabaseUnreachable, InvalidDatabaseURL, InvalidInput

__all__ = [
    "PING_AFTER_IDLE_SECONDS",
    "Base",
    "UTCDateTime",
    "connect_check",
    "connection_lost",
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


#: What a database URL looks like, for the message of a malformed one.
_URL_FORMS = "expected postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:///PATH"


def _parse_url(url: str) -> URL:
    """``url`` parsed, or :class:`~core.errors.InvalidDatabaseURL` saying what is wrong.

    SQLAlchemy's own errors go no further (``from None``): the one for a bad port quotes what
    stood in the port's place, and a password with an unencoded ``@``, ``:`` or ``/`` is what
    most often puts text there (``natid:p@ss:w0rd@db`` parses as host ``ss``, port ``w0rd@db``).
    """
    try:
        parsed = make_url(url)
    except ValueError:  # int() of the port
        raise InvalidDatabaseURL(
            "the database URL is not valid: the port must be a number (percent-encode an @, : "
            "or / in the user name or password)"
        ) from None
    except ArgumentError:  # no DIALECT:// at its start
        raise InvalidDatabaseURL(f"the database URL is not valid: {_URL_FORMS}") from None
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        # The dialect name is the URL's first word, before "://": no secret goes there.
        raise InvalidDatabaseURL(
            f"the database URL is not valid: unknown database or driver {parsed.drivername!r}; "
            "NatID runs on postgresql+psycopg and sqlite"
        ) from None
    if "@" in (parsed.host or ""):
        # No host name has an @: it is the rest of a password with an unencoded @ in it
        # (natid:p@ss@db parses as host "ss@db"), which connect_check would quote.
        raise InvalidDatabaseURL(
            "the database URL is not valid: its host name has an @ in it (percent-encode an "
            "@, : or / in the user name or password)"
        )
    if _is_sqlite(parsed) and (parsed.host or parsed.username or parsed.password or parsed.port):
        # SQLAlchemy's message for this quotes the URL.
        raise InvalidDatabaseURL(
            "the database URL is not valid: a SQLite URL names a file, sqlite:///RELATIVE/PATH "
            "or sqlite:////ABSOLUTE/PATH"
        )
    return parsed


def make_engine(url: str, *, echo: bool = False, pool_size: int | None = None) -> Engine:
    """Create an engine for ``url`` with NatID's per-dialect settings.

    Raises :class:`~core.errors.InvalidDatabaseURL` for a URL that cannot be used; nothing
    connects yet (:func:`connect_check` does).
    """
    parsed = _parse_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    postgresql = backend == "postgresql"
    if backend == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        # PostgreSQL checks its pooled connections more cheaply (_configure_postgresql).
        kwargs["pool_pre_ping"] = not postgresql
        if pool_size is not None:
            kwargs["pool_size"] = pool_size
    try:
        engine = create_engine(parsed, **kwargs)
    except ImportError as exc:  # the dialect is known; its driver is not installed, or broken
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidDatabaseURL(
            f"the database URL is not valid: the driver of {parsed.drivername!r} cannot be "
            f"loaded ({why}); NatID runs on postgresql+psycopg and sqlite"
        ) from exc
    except ArgumentError as exc:
        # Its message may quote the URL's query string, which can carry a password.
        raise InvalidDatabaseURL(
            f"the database URL is not valid: SQLAlchemy cannot use it ({type(exc).__name__})"
        ) from None
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
        url = engine.url
        verb = "cannot open the database" if _is_sqlite(url) else "cannot connect to the database"
        raise DatabaseUnreachable(f"{verb} {_where(url)}: {_reason(url, exc)}") from exc


def connection_lost(url: str | URL, exc: DBAPIError) -> DatabaseUnreachable:
    """The error to report for ``exc``, raised because the connection to the database at ``url``
    broke under a statement (``exc.connection_invalidated``: the server restarted or went away,
    the backend was terminated). It says where the database is and the driver's reason, never
    the statement, its parameters or the URL's password. Nothing is raised here: the caller
    decides (the command line reports it in one line)."""
    parsed = url if isinstance(url, URL) else make_url(url)
    return DatabaseUnreachable(
        f"lost the connection to the database {_where(parsed)}: {_reason(parsed, exc)}"
    )


#: Longest driver reason quoted in :class:`~core.errors.DatabaseUnreachable`.
_MAX_REASON = 200


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _where(url: URL) -> str:
    """``/path/natid.db (sqlite)`` or ``at db.example:5432 (postgresql)``."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return f"{url.database or ':memory:'} ({backend})"
    host = url.host or "localhost (socket)"
    at = host if url.port is None else f"{host}:{url.port}"
    return f"at {at} ({backend})"


def _reason(url: URL, exc: DBAPIError) -> str:
    """The driver's reason, one line: never SQLAlchemy's text around it, which quotes the
    statement and its parameters."""
    # The driver's first line, without what the line already says: psycopg writes
    # 'connection failed: connection to server at "HOST", port N failed: <reason>', and
    # 'consuming input failed: server closed the connection unexpectedly' for a lost one.
    text = str(exc.orig).strip() if exc.orig is not None else ""
    reason = text.splitlines()[0].strip() if text else type(exc).__name__
    reason = " ".join(reason.rsplit("failed: ", 1)[-1].split()) or type(exc).__name__
    if url.password:
        # Drivers do not quote the password today; nothing guarantees they never will.
        reason = reason.replace(str(url.password), "***")
    if len(reason) > _MAX_REASON:
        reason = reason[: _MAX_REASON - 3] + "..."
    return reason


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """The session factory services receive; objects stay usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    with factory() as session, session.begin():
        yield session
