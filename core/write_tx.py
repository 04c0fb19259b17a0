"""Write transactions on a DBAPI connection: compiled Core statements run on its cursor.

A login writes twice - the authorization's audit entry, then the token exchange's grant,
refresh token and audit entry - and each write is one short transaction of one to four
statements. SQLAlchemy's own machinery costs more than the statements: measured on SQLite
(file, WAL, ``synchronous=NORMAL``), one insert in its own transaction costs 78 µs of CPU
through a ``Session``, 45 µs through ``engine.begin()`` and 15 µs on a pooled DBAPI connection
with ``BEGIN IMMEDIATE``/``COMMIT`` issued directly; on PostgreSQL 146 µs and 108 µs. This
module is that last path, kept to exactly what SQLAlchemy would do. Decisions:

1. **The SQL is SQLAlchemy's own.** :class:`Compiled` compiles a Core statement once per
   dialect exactly as the engine would and passes each bound value through its type's bind
   processor (``UTCDateTime`` gives the same text on SQLite and the same UTC timestamp on
   PostgreSQL), so the driver sees the same statements and values and the stored rows are the
   same byte for byte. A bind processor that refuses a value raises ``StatementError``, as
   ``Connection.execute`` does. :func:`compiled` keeps them per dialect and statement; what is
   kept depends only on the dialect and the schema, so it cannot go stale.
2. **The same transaction and lock.** :func:`write_transaction` issues ``BEGIN IMMEDIATE`` on
   SQLite as core/db.py's ``begin`` listener does (the write lock up front, writers queue behind
   the busy timeout) and lets the driver begin on PostgreSQL as SQLAlchemy does; it commits with
   the driver's ``commit()``, as SQLAlchemy does. Any error in between rolls everything back: the
   statements are one all-or-nothing transaction. On PostgreSQL (and an engine that shares one
   connection) the DBAPI connection comes from the engine's pool, whose checkout and checkin
   events still run (core/db.py's connection check). On a SQLite file it is borrowed from the
   engine's stash of held connections that the held readers share (core/held_read.py, decision
   7; made by ``engine.raw_connection()``, so core/db.py's connect event set its pragmas): SQLite
   keeps a page cache per connection and drops it when another connection has committed, so
   the write and the reads after it on one connection find it warm (measured: a held read right
   after a write transaction 25 -> 15.5 µs of CPU, a transaction of 3 statements 56 -> 36 µs).
   It goes back to the stash only when the transaction ended cleanly (committed, or rolled back
   without error) and is in no transaction.
3. **The same errors.** A driver error is raised as the exception SQLAlchemy raises for it
   (``DBAPIError.instance`` with the dialect's translation: ``IntegrityError``,
   ``OperationalError``, ...), on checkout, on a statement and on the commit, so callers that
   turn SQLAlchemy errors into their own raise the same ones. A lost connection, or an
   interrupt in the middle of a statement, invalidates the connection as SQLAlchemy does, so
   the pool never hands it out again; a rollback that fails does too (the caller still sees
   the error that caused the rollback). A connection borrowed from the stash is closed instead
   of given back in those cases. Engine events (``before_cursor_execute``) and ``echo`` do not
   see these statements.
4. **After the commit only.** :meth:`CursorTx.after_commit` registers what must happen once the
   transaction has committed (the audit ledger's listeners); nothing registered runs on a
   rollback or when the commit fails.
5. **Joining a caller's transaction.** :func:`joined` runs the same statements on the DBAPI
   connection under a SQLAlchemy ``Connection`` (a ``Session``'s), inside its transaction; the
   commit stays the ``Session``'s.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from core.held_read import held_connections, shares_one_connection

__all__ = ["Compiled", "CursorTx", "compiled", "joined", "write_transaction"]

log = logging.getLogger(__name__)


class Compiled:
    """One statement compiled for one dialect, with the parameter shape its driver expects."""

    __slots__ = ("_defaults", "_names", "_positional", "_processors", "sql")

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None = None
    ) -> None:
        compiled = cast(
            SQLCompiler,
            statement.compile(
                dialect=dialect, column_keys=list(column_keys) if column_keys else None
            ),
        )
        self.sql = str(compiled)
        self._positional = bool(compiled.positional)
        self._names: tuple[str, ...] = tuple(compiled.positiontup or compiled.params)
        self._defaults = {name: compiled.params[name] for name in self._names}
        self._processors: tuple[tuple[str, Callable[[Any], Any]], ...] = tuple(
            (name, process)
            for name in self._names
            if (process := compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            is not None
        )

    def params(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters for ``values`` (missing names keep their compiled values)."""
        merged = {**self._defaults, **values}
        for name, process in self._processors:
            merged[name] = process(merged[name])
        if self._positional:
            return tuple([merged[name] for name in self._names])
        return merged


_COMPILED: weakref.WeakKeyDictionary[
    Dialect, dict[tuple[ClauseElement, tuple[str, ...] | None], Compiled]
] = weakref.WeakKeyDictionary()


def compiled(
    statement: ClauseElement, dialect: Dialect, column_keys: Sequence[str] | None = None
) -> Compiled:
    """``statement`` compiled for ``dialect`` (once; a race compiles twice). ``statement`` is a
    module-level constant of the caller: it is found by identity and kept for good."""
    key = (statement, tuple(column_keys) if column_keys else None)
    per_dialect = _COMPILED.get(dialect)
    if per_dialect is None:
        per_dialect = _COMPILED.setdefault(dialect, {})
    found = per_dialect.get(key)
    if found is None:
        found = per_dialect[key] = Compiled(statement, dialect, column_keys)
    return found


class _Lent(Protocol):
    """The connection of a :func:`write_transaction`: a pool's ``PoolProxiedConnection`` or a
    :class:`_Borrowed` one."""

    @property
    def dbapi_connection(self) -> Any: ...

    @property
    def is_valid(self) -> bool: ...

    def invalidate(self, e: BaseException | None = None) -> None: ...


class _Borrowed:
    """A connection borrowed from the engine's held stash; invalidating it marks it for closing
    instead of giving it back (decision 3)."""

    __slots__ = ("dbapi_connection", "is_valid")

    def __init__(self, dbapi_connection: Any) -> None:
        self.dbapi_connection = dbapi_connection
        self.is_valid = True

    def invalidate(self, e: BaseException | None = None) -> None:
        self.is_valid = False


class CursorTx:
    """Statements on one DBAPI cursor inside one transaction, with SQLAlchemy's errors."""

    __slots__ = ("_after", "_conn", "_fairy", "_hide", "_undo", "cursor", "dialect", "info")

    def __init__(
        self,
        dialect: Dialect,
        *,
        conn: Connection | None = None,
        fairy: _Lent | None = None,
        hide_parameters: bool = False,
    ) -> None:
        self.dialect = dialect
        self._conn = conn
        self._fairy = fairy
        self._hide = hide_parameters
        #: Free for the statements' owners (the audit ledger parks its entries here).
        self.info: dict[str, Any] = {}
        self._after: list[Callable[[], None]] = []
        self._undo: list[Callable[[], None]] = []
        try:
            self.cursor: Any = self._dbapi_connection().cursor()
        except BaseException as exc:
            raise self._translated(None, "cursor()", (), exc) from exc

    # --- statements ------------------------------------------------------------------------

    def run(self, statement: Compiled, values: Mapping[str, Any]) -> Any:
        """Execute ``statement`` with ``values``; returns the cursor (for ``fetchone``)."""
        try:
            params = statement.params(values)
        except Exception as exc:
            # What Connection.execute raises when a bind processor refuses a value.
            raise self._statement_error(statement.sql, values, exc) from exc
        self.execute(statement.sql, params)
        return self.cursor

    def run_many(self, statement: Compiled, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute ``statement`` once per mapping in ``rows`` (one round trip where possible)."""
        try:
            params = [statement.params(values) for values in rows]
        except Exception as exc:
            raise self._statement_error(statement.sql, rows, exc) from exc
        if len(params) == 1:
            self.execute(statement.sql, params[0])
        else:
            self.execute(statement.sql, params, many=True)

    def execute(self, sql: str, params: Any, *, many: bool = False) -> None:
        """Run driver-ready ``sql`` with driver-ready ``params`` on the cursor."""
        try:
            if many:
                self.cursor.executemany(sql, params)
            else:
                self.cursor.execute(sql, params)
        except BaseException as exc:
            raise self._translated(self.cursor, sql, params, exc) from exc

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this transaction has committed (never on a rollback).

        Only for a transaction of :func:`write_transaction`; a joined one commits with its
        ``Session``, whose own hooks apply.
        """
        if self._fairy is None:
            raise TypeError("after_commit is for a write_transaction; use the session's hooks")
        self._after.append(callback)

    @property
    def owns_transaction(self) -> bool:
        """Whether this is a :func:`write_transaction` (whose end :meth:`after_commit` and
        :meth:`after_rollback` hear), not a transaction joined from a ``Connection``."""
        return self._fairy is not None

    def after_rollback(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this transaction has rolled back (never after a commit).

        Only for a transaction of :func:`write_transaction`, as :meth:`after_commit`.
        """
        if self._fairy is None:
            raise TypeError("after_rollback is for a write_transaction")
        self._undo.append(callback)

    # --- the transaction (write_transaction) -------------------------------------------------

    def _begin(self) -> None:
        if self.dialect.name == "sqlite":
            self.execute("BEGIN IMMEDIATE", ())

    def _commit(self) -> None:
        try:
            self._dbapi_connection().commit()
        except BaseException as exc:
            # SQLAlchemy names no statement for a failed commit.
            raise self._translated(None, None, None, exc) from exc

    def _rollback(self) -> None:
        fairy = self._fairy
        assert fairy is not None
        if not fairy.is_valid:
            return
        try:
            fairy.dbapi_connection.rollback()
        except BaseException as exc:
            # The connection's state is unknown: never hand it out again.
            log.debug("rolling back a write transaction failed", exc_info=True)
            fairy.invalidate(exc)

    def _committed(self) -> None:
        after, self._after, self._undo = self._after, [], []
        for callback in after:
            callback()

    def _rolled_back(self) -> None:
        undo, self._after, self._undo = self._undo, [], []
        for callback in undo:
            callback()

    def close_cursor(self) -> None:
        """Close the cursor; a failure here (its connection already lost) is not the error."""
        try:
            self.cursor.close()
        except Exception:
            log.debug("closing a write cursor failed", exc_info=True)

    # --- errors (decision 3) -------------------------------------------------------------------

    def _dbapi_connection(self) -> Any:
        if self._conn is not None:
            return self._conn.connection.dbapi_connection
        assert self._fairy is not None
        return self._fairy.dbapi_connection

    def _state(self) -> tuple[bool, Any]:
        """(closed, the DBAPI connection or ``None`` once invalidated), as SQLAlchemy sees it."""
        if self._conn is not None:
            conn = self._conn
            closed = conn.closed
            live = not closed and not conn.invalidated
            return closed, conn.connection.dbapi_connection if live else None
        assert self._fairy is not None
        return False, self._fairy.dbapi_connection if self._fairy.is_valid else None

    def _invalidate(self, exc: BaseException) -> None:
        if self._conn is not None:
            if not self._conn.closed and not self._conn.invalidated:
                self._conn.invalidate(exc)
        elif self._fairy is not None and self._fairy.is_valid:
            self._fairy.invalidate(exc)

    def _statement_error(self, sql: str, params: Any, exc: Exception) -> StatementError:
        return DBAPIError.instance(
            sql,
            params,
            exc,
            self.dialect.loaded_dbapi.Error,
            hide_parameters=self._hide,
            dialect=self.dialect,
        )

    def _translated(
        self, cursor: Any, sql: str | None, params: Any, exc: BaseException
    ) -> BaseException:
        """What SQLAlchemy's own execute would raise for the driver error ``exc`` (``exc``
        itself for anything else), invalidating the connection when SQLAlchemy would."""
        dialect = self.dialect
        dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
        if isinstance(exc, dbapi_error):
            closed, dbapi_conn = self._state()
            lost = not closed and dialect.is_disconnect(cast(Any, exc), dbapi_conn, cursor)
            error = DBAPIError.instance(
                sql,
                params,
                exc,
                dbapi_error,
                hide_parameters=self._hide,
                connection_invalidated=lost,
                dialect=dialect,
            )
            if lost:
                self._invalidate(exc)
            return error
        if not isinstance(exc, Exception):
            # Interrupted mid-statement: the connection's state is unknown, so it is not reused.
            self._invalidate(exc)
        return exc


@contextmanager
def joined(conn: Connection) -> Iterator[CursorTx]:
    """Statements on ``conn``'s DBAPI connection inside its transaction (decision 5)."""
    tx = CursorTx(conn.dialect, conn=conn, hide_parameters=conn.engine.hide_parameters)
    try:
        yield tx
    finally:
        tx.close_cursor()


@contextmanager
def write_transaction(engine: Engine) -> Iterator[CursorTx]:
    """One transaction of its own on a DBAPI connection (decision 2): committed when the block
    ends, rolled back on any error; :meth:`CursorTx.after_commit` callbacks run after the
    commit."""
    dialect = engine.dialect
    stash = None
    fairy: _Lent
    try:
        if dialect.name != "sqlite" or shares_one_connection(engine):
            fairy = engine.raw_connection()
        else:
            stash = held_connections(engine)
            connection, generation = stash.take()
            fairy = _Borrowed(connection)
    except dialect.loaded_dbapi.Error as exc:
        # What engine.connect() raises when the database cannot be reached.
        raise DBAPIError.instance(
            None,
            None,
            exc,
            dialect.loaded_dbapi.Error,
            hide_parameters=engine.hide_parameters,
            dialect=dialect,
        ) from exc
    try:
        tx = CursorTx(dialect, fairy=fairy, hide_parameters=engine.hide_parameters)
        try:
            tx._begin()
            yield tx
            tx._commit()
        except BaseException:
            tx._rollback()
            tx._rolled_back()
            raise
        finally:
            tx.close_cursor()
    finally:
        # Back to the pool or the stash before anyone is told.
        if stash is None:
            cast(PoolProxiedConnection, fairy).close()
        elif fairy.is_valid and not connection.in_transaction:
            stash.give(connection, generation)
        else:
            stash.discard(connection)
    tx._committed()
