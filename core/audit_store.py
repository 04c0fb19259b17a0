"""The audit ledger's append statements on the DBAPI cursor, and its after-commit hook.

An append is three statements - lock and read the head row, insert the entry, move the head -
inside the caller's transaction, and every login, KYC release and signature pays for them.
Through ``Connection.execute`` each cost 14-18 µs of CPU on SQLite (11 of them SQLAlchemy's
per-statement work: cache lookup, execution context, result object) and about 38 µs on
PostgreSQL; on the cursor they cost 1-3 µs and 17-21 µs. Attaching two session event listeners
per business transaction, to tell the ledger's listeners after the commit, cost another 30 µs.
Decisions:

1. **The SQL is SQLAlchemy's own.** :class:`AppendSQL` compiles the ledger's Core statements
   once per dialect exactly as the engine would, and passes each bound value through its type's
   bind processor (``UTCDateTime`` gives the same text on SQLite, the same UTC timestamp on
   PostgreSQL), so the driver sees the same statements and values: the stored rows are the same
   byte for byte. What is kept per dialect depends only on the dialect and the schema, so it
   cannot go stale.
2. **The same transaction and lock.** The statements run on the DBAPI connection under the
   caller's SQLAlchemy ``Connection``, inside its transaction: ``BEGIN IMMEDIATE`` on SQLite
   (core/db.py) and ``SELECT ... FOR UPDATE`` of the head row on PostgreSQL still serialise
   appenders until that transaction ends.
3. **The same errors.** A driver error is raised as the exception SQLAlchemy raises for it
   (``DBAPIError.instance`` with the dialect's translation, so the ledger's ``AuditUnavailable``
   names the same class), and a lost connection - or an interrupt in the middle of a statement -
   invalidates the ``Connection`` as SQLAlchemy does, so it is never reused. Engine events
   (``before_cursor_execute``) and ``echo`` do not see these statements.
4. **Listeners after the commit, once per session class.** :func:`tell_after_commit` parks the
   entries in ``session.info`` and hooks ``after_commit``/``after_rollback`` once per session
   class instead of twice per session: the hook tells the parked entries on the commit and
   drops them on the rollback, as the per-session listeners did (the same events, so nested
   transactions behave as before). A session of a hooked class with nothing parked pays one
   dictionary look-up per commit or rollback.
5. **One round trip fewer on PostgreSQL.** The last entry's INSERT and the head's UPDATE go
   in one statement (``WITH new_entry AS (INSERT ...) UPDATE audit_head ...``): the same rows,
   under the head row lock taken by the ``SELECT ... FOR UPDATE`` before it. SQLite has no
   data-modifying WITH, and there a statement costs no round trip.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, bindparam, event, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from core.audit_format import AuditEntry
from core.db import Base
from core.models import AuditEntryRow, AuditHeadRow

__all__ = [
    "ENTRY_KEYS",
    "HEAD_ID",
    "LOCK_HEAD",
    "AppendSQL",
    "append_sql",
    "close_cursor",
    "tell_after_commit",
]

log = logging.getLogger(__name__)

HEAD_ID = 1
_ENTRIES = Base.metadata.tables[AuditEntryRow.__tablename__]
_HEAD = Base.metadata.tables[AuditHeadRow.__tablename__]
#: The entry columns in the order of the rows :meth:`AppendSQL.insert` takes.
ENTRY_KEYS = ("seq", "at", "event", "actor", "subject", "data", "prev_hash", "entry_hash")
LOCK_HEAD = (
    select(_HEAD.c.last_seq, _HEAD.c.last_hash, _HEAD.c.checkpoint_seq)
    .where(_HEAD.c.id == HEAD_ID)
    .with_for_update()
)
_INSERT_ENTRY = insert(_ENTRIES)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(
        last_seq=bindparam("new_seq"),
        last_hash=bindparam("new_hash"),
        checkpoint_seq=bindparam("new_checkpoint_seq"),
    )
)

# PostgreSQL runs a data-modifying WITH exactly once, whether or not the UPDATE reads it.
_CTE_KEYS = tuple(f"entry_{key}" for key in ENTRY_KEYS)
_INSERT_AND_MOVE = _MOVE_HEAD.add_cte(
    insert(_ENTRIES)
    .values({key: bindparam(name) for key, name in zip(ENTRY_KEYS, _CTE_KEYS, strict=True)})
    .cte("new_entry")
)


class _Compiled:
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


class AppendSQL:
    """The append path's statements for one dialect, run on the DBAPI cursor (decisions 1-3)."""

    def __init__(self, dialect: Dialect) -> None:
        self._lock = _Compiled(LOCK_HEAD, dialect)
        self._insert = _Compiled(_INSERT_ENTRY, dialect, ENTRY_KEYS)
        self._move = _Compiled(_MOVE_HEAD, dialect)
        self._lock_params = self._lock.params({})
        self._insert_and_move = (
            _Compiled(_INSERT_AND_MOVE, dialect) if dialect.name == "postgresql" else None
        )

    @staticmethod
    def cursor(conn: Connection) -> Any:
        """A cursor on ``conn``'s DBAPI connection, in its transaction; pass it to
        :func:`close_cursor` when done."""
        dbapi_conn: Any = conn.connection.dbapi_connection
        try:
            return dbapi_conn.cursor()
        except BaseException as exc:
            error = _translated(conn, None, "cursor()", (), exc)
            if error is None:
                raise
            raise error from exc

    def lock_head(self, conn: Connection, cursor: Any) -> tuple[Any, ...] | None:
        """Lock the head row and return (last_seq, last_hash, checkpoint_seq), or ``None``."""
        _execute(conn, cursor, self._lock.sql, self._lock_params)
        row = cursor.fetchone()
        return None if row is None else tuple(row)

    def insert(self, conn: Connection, cursor: Any, rows: Sequence[Sequence[Any]]) -> None:
        """Insert entries given as tuples in :data:`ENTRY_KEYS` order."""
        params = [self._insert.params(dict(zip(ENTRY_KEYS, row, strict=True))) for row in rows]
        if len(params) == 1:
            _execute(conn, cursor, self._insert.sql, params[0])
        else:
            _execute(conn, cursor, self._insert.sql, params, many=True)

    def finish(
        self,
        conn: Connection,
        cursor: Any,
        rows: Sequence[Sequence[Any]],
        head: tuple[int, str, int],
    ) -> None:
        """Insert the remaining ``rows`` and move the head to (seq, hash, checkpoint seq).

        On PostgreSQL one entry and the head move go in one statement (decision 5).
        """
        seq, entry_hash, checkpoint_seq = head
        values = {"new_seq": seq, "new_hash": entry_hash, "new_checkpoint_seq": checkpoint_seq}
        if len(rows) == 1 and self._insert_and_move is not None:
            values.update(zip(_CTE_KEYS, rows[0], strict=True))
            _execute(conn, cursor, self._insert_and_move.sql, self._insert_and_move.params(values))
            return
        if rows:
            self.insert(conn, cursor, rows)
        _execute(conn, cursor, self._move.sql, self._move.params(values))


# Keyed by the engine's dialect object; the value depends on nothing else (decision 1).
_BY_DIALECT: weakref.WeakKeyDictionary[Dialect, AppendSQL] = weakref.WeakKeyDictionary()


def append_sql(dialect: Dialect) -> AppendSQL:
    """The :class:`AppendSQL` of ``dialect`` (compiled on first use; a race compiles twice)."""
    found = _BY_DIALECT.get(dialect)
    if found is None:
        found = _BY_DIALECT[dialect] = AppendSQL(dialect)
    return found


def close_cursor(cursor: Any) -> None:
    """Close ``cursor``; a failure here (its connection already lost) is not the error."""
    try:
        cursor.close()
    except Exception:
        log.debug("closing an audit cursor failed", exc_info=True)


def _execute(conn: Connection, cursor: Any, sql: str, params: Any, *, many: bool = False) -> None:
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    except BaseException as exc:
        error = _translated(conn, cursor, sql, params, exc)
        if error is None:
            raise
        raise error from exc


def _translated(
    conn: Connection, cursor: Any, sql: str, params: Any, exc: BaseException
) -> StatementError | None:
    """What SQLAlchemy's own execute would raise for the driver error ``exc`` (``None``: raise
    ``exc`` itself), invalidating the connection when SQLAlchemy would."""
    dialect = conn.dialect
    dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
    if isinstance(exc, dbapi_error):
        dbapi_conn = None if conn.invalidated else conn.connection.dbapi_connection
        lost = not conn.closed and dialect.is_disconnect(cast(Any, exc), dbapi_conn, cursor)
        error = DBAPIError.instance(
            sql,
            params,
            exc,
            dbapi_error,
            hide_parameters=conn.engine.hide_parameters,
            connection_invalidated=lost,
            dialect=dialect,
        )
        if lost and not conn.invalidated:
            conn.invalidate(exc)
        return error
    if not isinstance(exc, Exception) and not conn.closed:
        # Interrupted mid-statement: the connection's state is unknown, so it is not reused.
        conn.invalidate(exc)
    return None


# --- after-commit listeners (decision 4) ----------------------------------------------------

_PENDING = "natid_audit_pending"
_HOOKED: weakref.WeakSet[type[Session]] = weakref.WeakSet()
_HOOK_LOCK = threading.Lock()
_Tell = Callable[[Sequence[AuditEntry]], None]


def tell_after_commit(session: Session, entries: Sequence[AuditEntry], tell: _Tell) -> None:
    """Call ``tell`` with ``entries`` once ``session``'s transaction commits; never on rollback.

    Entries of later appends in the same transaction join the first one's call.
    """
    pending: tuple[_Tell, list[AuditEntry]] | None = session.info.get(_PENDING)
    if pending is not None:
        pending[1].extend(entries)
        return
    cls = type(session)
    if cls not in _HOOKED:
        with _HOOK_LOCK:
            if cls not in _HOOKED:
                event.listen(cls, "after_commit", _committed)
                event.listen(cls, "after_rollback", _rolled_back)
                _HOOKED.add(cls)
    session.info[_PENDING] = (tell, list(entries))


def _committed(session: Session) -> None:
    pending: tuple[_Tell, list[AuditEntry]] | None = session.info.pop(_PENDING, None)
    if pending is not None:
        tell, entries = pending
        tell(entries)


def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)
