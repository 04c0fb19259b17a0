"""Certificate status reads for OCSP's per-request path: one statement on held DBAPI connections.

The OCSP responder reads a certificate's status from storage on *every* request (ca/ocsp.py,
decision 5: that is what makes a revocation committed by another process visible on the next
request, RFC 5019 §6 / RFC 6960 §2.2). That read is most of what a pre-signed answer costs, so
it bypasses the ORM. Decisions:

1. **No Session, no pool checkout, no transaction.** A few DBAPI connections are detached from
   the engine's pool and kept in a free list, each used by one thread at a time. Measured on the
   development machine, one primary-key read cost 0.33 ms through a SQLAlchemy ``Session`` on
   SQLite (pool checkout, ``BEGIN``, ``ROLLBACK``) and 1.4 ms on PostgreSQL (plus the pool's
   pre-ping round trip); on a held connection it costs 13 µs and 0.17 ms.
2. **Autocommit, so every read sees every commit before it.** Each ``SELECT`` is its own
   transaction: on SQLite in WAL mode (core/db.py) it reads the newest committed snapshot and
   never waits for a writer; on PostgreSQL the connection is in autocommit (never idle in a
   transaction, which would hold back VACUUM) and psycopg prepares the statement after five
   uses. Nothing is cached between reads: this module is the "committed storage" that
   ``status_of``'s contract asks for.
3. **The statement is the caller's SQLAlchemy Core select**, compiled once for the engine's
   dialect, and each column goes through its type's result processor, so a value reads exactly
   as it does through SQLAlchemy (``UTCDateTime`` gives aware UTC times on every database).
4. **Failures.** A connection whose statement fails is closed and the read is retried once on a
   fresh connection (a PostgreSQL restart leaves every held connection broken); a second failure
   is :class:`~ca.errors.CAStorageUnavailable` (OCSP answers ``tryLater``). No SQL, parameter
   or driver message goes into the error.
5. **Lifetime.** ``engine.dispose()`` (``AppContext.close``) closes the idle connections; one in
   use at that moment is closed when it is handed back. At most ``max_idle`` stay open.
6. **Engines that share one connection** (in-memory SQLite: ``StaticPool``,
   ``SingletonThreadPool``) get no reader: :func:`reader_for` returns ``None`` and the caller
   reads through its session as before.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from ca.errors import CAStorageUnavailable

__all__ = ["StatusReader", "reader_for", "sessions_reader_for"]

log = logging.getLogger(__name__)

_READERS: weakref.WeakKeyDictionary[Engine, dict[Select[Any], StatusReader]] = (
    weakref.WeakKeyDictionary()
)
_READERS_LOCK = threading.Lock()


def reader_for(engine: Engine, statement: Select[Any]) -> StatusReader | None:
    """The engine's reader for ``statement`` (one per engine and statement, so its held
    connections are shared by every caller), or ``None`` (decision 6). ``statement`` is a
    module-level constant of the caller: readers are found by its identity."""
    found = _READERS.get(engine, {}).get(statement)
    if found is not None:
        return found
    if isinstance(engine.pool, StaticPool | SingletonThreadPool):
        return None
    with _READERS_LOCK:
        readers = _READERS.setdefault(engine, {})
        found = readers.get(statement)
        if found is None:
            found = readers[statement] = StatusReader(engine, statement)
    return found


def sessions_reader_for(
    sessions: sessionmaker[Session], statement: Select[Any]
) -> StatusReader | None:
    """:func:`reader_for` the engine that ``sessions`` is bound to; ``None`` when it is bound
    to something else or its engine shares one connection."""
    bind = sessions.kw.get("bind")
    return reader_for(bind, statement) if isinstance(bind, Engine) else None


class StatusReader:
    """Runs one single-row select with one bound parameter on held DBAPI connections."""

    def __init__(self, engine: Engine, statement: Select[Any], *, max_idle: int = 8) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        if len(compiled.params) != 1:
            raise ValueError("a status reader's statement takes exactly one bound parameter")
        self.statement = statement
        # Weak: the module's map of readers must not keep a disposed engine alive.
        self._engine = weakref.ref(engine)
        self._sql = str(compiled)
        self._param_name = next(iter(compiled.params))
        self._positional = bool(compiled.positional)
        processors = [
            column.type.dialect_impl(engine.dialect).result_processor(engine.dialect, None)
            for column in statement.selected_columns
        ]
        #: (column index, processor) of the columns whose values need converting.
        self._processors: Sequence[tuple[int, Callable[[Any], Any]]] = [
            (index, process) for index, process in enumerate(processors) if process is not None
        ]
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._postgres = engine.dialect.name == "postgresql"
        self._max_idle = max_idle
        self._idle: list[Any] = []
        self._generation = 0
        self._lock = threading.Lock()
        event.listen(engine, "engine_disposed", self._on_dispose)

    def fetch(self, value: object) -> tuple[Any, ...] | None:
        """The processed row for ``value``, or ``None`` when there is none.

        :raises CAStorageUnavailable: the database failed twice in a row (decision 4).
        """
        params: Any = (value,) if self._positional else {self._param_name: value}
        for attempt in (1, 2):
            connection, generation = self._checkout()
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(self._sql, params)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            except self._dbapi_error as exc:
                self._discard(connection)
                if attempt == 2:
                    raise self._unavailable(exc) from None
                continue
            except BaseException:
                self._discard(connection)
                raise
            self._checkin(connection, generation)
            if row is None:
                return None
            values = list(row)
            for index, process in self._processors:
                if values[index] is not None:
                    values[index] = process(values[index])
            return tuple(values)
        raise AssertionError("unreachable")  # pragma: no cover

    def idle_connections(self) -> int:
        """How many connections wait in the free list (for tests and metrics)."""
        return len(self._idle)

    def close(self) -> None:
        """Close the idle connections (the reader opens new ones if used again)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
        for connection in idle:
            self._discard(connection)

    # --- connections ---------------------------------------------------------------------------

    def _checkout(self) -> tuple[Any, int]:
        with self._lock:
            generation = self._generation
            if self._idle:
                return self._idle.pop(), generation
        engine = self._engine()
        if engine is None:
            raise CAStorageUnavailable("the CA's database engine is closed")
        try:
            proxied = engine.raw_connection()
        except (SQLAlchemyError, self._dbapi_error) as exc:
            raise self._unavailable(exc) from None
        # Detached: the engine's pool no longer counts or recycles it; it is ours to close.
        proxied.detach()
        connection: Any = proxied.dbapi_connection
        if self._postgres:
            connection.autocommit = True  # decision 2: no transaction stays open
        return connection, generation

    def _checkin(self, connection: Any, generation: int) -> None:
        with self._lock:
            if generation == self._generation and len(self._idle) < self._max_idle:
                self._idle.append(connection)
                return
        self._discard(connection)

    @staticmethod
    def _discard(connection: Any) -> None:
        try:
            connection.close()
        except Exception:
            log.debug("closing a status-read connection failed", exc_info=True)

    def _on_dispose(self, _engine: Engine) -> None:
        self.close()

    @staticmethod
    def _unavailable(exc: Exception) -> CAStorageUnavailable:
        driver_error = type(getattr(exc, "orig", None) or exc).__name__
        log.error("CA database error on a status read", extra={"error": driver_error})
        return CAStorageUnavailable(f"the CA's database failed ({driver_error}) on a status read")
