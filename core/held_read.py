"""Reads on held DBAPI connections: one compiled select, no Session, no pool checkout.

Some reads are made on every request of a hot path: OCSP's certificate status (ca/revoke.py),
the IdP's sessions, accounts, consents and grants (idp/*_reads.py, idp/consents.py), KYC's
relying party (kyc/rp_reads.py), the register person behind every code exchange
(registry/person_read.py). Through an ORM ``Session`` each costs a pool checkout, ``BEGIN`` and
``ROLLBACK`` for a few microseconds of work, so they run here instead. The module lives in core
(it imports no other NatID package) so that every package may use it. Decisions:

1. **No Session, no pool checkout, no transaction.** A few DBAPI connections are detached from
   the engine's pool and kept in a free list, each used by one thread at a time. Measured on the
   development machine, one primary-key read cost 0.33 ms through a SQLAlchemy ``Session`` on
   SQLite (pool checkout, ``BEGIN``, ``ROLLBACK``) and 1.4 ms on PostgreSQL (plus the pool's
   pre-ping round trip); on a held connection it costs 13 µs and 0.17 ms.
2. **Autocommit, so every read sees every commit before it.** Each ``SELECT`` is its own
   transaction: on SQLite in WAL mode (core/db.py) it reads the newest committed snapshot and
   never waits for a writer; on PostgreSQL the connection is in autocommit (never idle in a
   transaction, which would hold back VACUUM) and psycopg prepares the statement after five
   uses. Nothing is cached between reads: a caller whose contract is "committed storage" (OCSP's
   ``status_of``) gets exactly that. Two reads are two transactions: a caller that needs
   several rows consistent with each other reads them in one statement, or says why it need not.
3. **The statement is the caller's SQLAlchemy Core select**, compiled once for the engine's
   dialect, and each column goes through its type's result processor, so a value reads exactly
   as it does through SQLAlchemy (``UTCDateTime`` gives aware UTC times on every database).
   Its bound parameters are named; :meth:`HeldReader.fetch_params` and
   :meth:`HeldReader.fetch_all` take them as a mapping and convert each value with its
   parameter type's bind processor, as ``Connection.execute`` does (a ``Uuid`` is stored as 32
   hex digits on SQLite). :meth:`HeldReader.fetch` is the one-parameter form that its first
   callers use: it passes the value as given (they convert it themselves where needed).
4. **Failures.** A connection whose statement fails is closed and the read is retried once on a
   fresh connection (a PostgreSQL restart leaves every held connection broken); a second failure
   is :class:`~core.errors.StorageUnavailable`, logged as "<label> database error on a held
   read" (each caller names itself: ``label="IdP"``, ``"KYC"``). No SQL, parameter or driver
   message goes into the error or the log line, only the driver's exception type. A reader
   made with ``on_failure`` raises what that returns instead, given the error SQLAlchemy would
   have raised (:func:`sqlalchemy_error` raises that error itself), so a caller whose general
   path turns SQLAlchemy errors into its own exceptions raises the same ones on either path,
   and a package with its own storage error (the CA's ``CAStorageUnavailable``, on which OCSP
   answers ``tryLater``: ca/status_read.py) raises and logs that. A reader whose engine has been
   garbage-collected fails with :class:`EngineClosed`, which ``on_failure`` may tell apart.
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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Select, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InvalidRequestError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from core.errors import StorageUnavailable

__all__ = [
    "EngineClosed",
    "FailureHandler",
    "HeldReader",
    "reader_for",
    "sessions_reader_for",
    "sqlalchemy_error",
]

log = logging.getLogger(__name__)

_READERS: weakref.WeakKeyDictionary[Engine, dict[Select[Any], HeldReader]] = (
    weakref.WeakKeyDictionary()
)
_READERS_LOCK = threading.Lock()

#: Turns the error SQLAlchemy would have raised into the exception a reader raises (decision 4).
FailureHandler = Callable[[SQLAlchemyError], Exception]


class EngineClosed(InvalidRequestError):
    """The engine behind a reader has been garbage-collected (decision 4); what ``on_failure``
    is given then."""


def sqlalchemy_error(exc: SQLAlchemyError) -> Exception:
    """An ``on_failure`` that raises the error SQLAlchemy would have raised: for callers whose
    general path already turns SQLAlchemy errors into their own (decision 4)."""
    return exc


def reader_for(
    engine: Engine,
    statement: Select[Any],
    *,
    on_failure: FailureHandler | None = None,
    label: str,
) -> HeldReader | None:
    """The engine's reader for ``statement`` (one per engine and statement, so its held
    connections are shared by every caller), or ``None`` (decision 6). ``statement`` is a
    module-level constant of the caller: readers are found by its identity, and its caller's
    ``on_failure`` and ``label`` go with it.

    :raises ValueError: the reader for ``statement`` was made with another ``on_failure`` or
        ``label`` (it would raise or log what the other caller asked for).
    """
    found = _READERS.get(engine, {}).get(statement)
    if found is None:
        if isinstance(engine.pool, StaticPool | SingletonThreadPool):
            return None
        with _READERS_LOCK:
            readers = _READERS.setdefault(engine, {})
            found = readers.get(statement)
            if found is None:
                found = readers[statement] = HeldReader(
                    engine, statement, on_failure=on_failure, label=label
                )
    if found._on_failure is not on_failure or found._label != label:
        raise ValueError("this statement's reader was made with another on_failure or label")
    return found


def sessions_reader_for(
    sessions: sessionmaker[Session],
    statement: Select[Any],
    *,
    on_failure: FailureHandler | None = None,
    label: str,
) -> HeldReader | None:
    """:func:`reader_for` the engine that ``sessions`` is bound to; ``None`` when it is bound
    to something else or its engine shares one connection."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, Engine):
        return None
    return reader_for(bind, statement, on_failure=on_failure, label=label)


class HeldReader:
    """Runs one select with named bound parameters on held DBAPI connections."""

    def __init__(
        self,
        engine: Engine,
        statement: Select[Any],
        *,
        max_idle: int = 8,
        on_failure: FailureHandler | None = None,
        label: str,
    ) -> None:
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        binds = compiled.binds
        if not binds:
            raise ValueError("a held reader's statement takes at least one bound parameter")
        for bind in binds.values():
            # Every value comes from the caller (decision 3): no fixed, expanding or literal ones.
            if bind.value is not None or bind.callable is not None or bind.expanding:
                raise ValueError("a held reader's bound parameters take the caller's values")
        self.statement = statement
        # Weak: the module's map of readers must not keep a disposed engine alive.
        self._engine = weakref.ref(engine)
        self._dialect = dialect
        self._sql = str(compiled)
        self._positional = bool(compiled.positional)
        self._names = frozenset(binds)
        escaped = compiled.escaped_bind_names
        order = compiled.positiontup if self._positional and compiled.positiontup else binds
        #: (parameter name, key in the DBAPI's parameters, bind processor), in placeholder order.
        self._slots: Sequence[tuple[str, str, Callable[[Any], Any] | None]] = [
            (
                name,
                escaped.get(name, name),
                binds[name].type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name in order
        ]
        #: :meth:`fetch`'s parameter key (``None`` when there are several) and placeholders.
        self._single_key = self._slots[0][1] if len(self._names) == 1 else None
        self._width = len(self._slots)
        processors = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in statement.selected_columns
        ]
        #: (column index, processor) of the columns whose values need converting.
        self._processors: Sequence[tuple[int, Callable[[Any], Any]]] = [
            (index, process) for index, process in enumerate(processors) if process is not None
        ]
        self._dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
        self._postgres = dialect.name == "postgresql"
        self._on_failure = on_failure
        self._label = label
        self._max_idle = max_idle
        self._idle: list[Any] = []
        self._generation = 0
        self._lock = threading.Lock()
        event.listen(engine, "engine_disposed", self._on_dispose)

    def fetch(self, value: object) -> tuple[Any, ...] | None:
        """The processed row for ``value`` (the statement's one parameter, passed as given),
        or ``None`` when there is none.

        :raises StorageUnavailable: the database failed twice in a row (decision 4), or what
            ``on_failure`` returns.
        """
        key = self._single_key
        if key is None:
            raise ValueError("fetch() is for a statement with one bound parameter")
        row = self._execute((value,) * self._width if self._positional else {key: value}, False)
        return None if row is None else self._processed(row)

    def fetch_params(self, params: Mapping[str, object]) -> tuple[Any, ...] | None:
        """The first processed row for the bound parameters ``params`` (name: value, each
        converted by its type's bind processor), or ``None`` when there is none.

        :raises ValueError: ``params`` does not name exactly the statement's parameters.
        :raises StorageUnavailable: as :meth:`fetch`.
        """
        row = self._execute(self._bound(params), False)
        return None if row is None else self._processed(row)

    def fetch_all(self, params: Mapping[str, object]) -> list[tuple[Any, ...]]:
        """Every processed row for ``params`` (as :meth:`fetch_params`), in the statement's
        order.

        :raises ValueError: as :meth:`fetch_params`.
        :raises StorageUnavailable: as :meth:`fetch`.
        """
        return [self._processed(row) for row in self._execute(self._bound(params), True)]

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

    # --- statements ----------------------------------------------------------------------------

    def _bound(self, params: Mapping[str, object]) -> Any:
        """The DBAPI parameters for ``params``, as ``Connection.execute`` would pass them."""
        if params.keys() != self._names:
            raise ValueError("expected the bound parameters " + ", ".join(sorted(self._names)))
        if self._positional:
            return tuple(
                params[name] if process is None else process(params[name])
                for name, _key, process in self._slots
            )
        return {
            key: params[name] if process is None else process(params[name])
            for name, key, process in self._slots
        }

    def _execute(self, params: Any, every: bool) -> Any:
        """The raw rows (``every``), or the first raw row or ``None``."""
        for attempt in (1, 2):
            connection, generation = self._checkout()
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(self._sql, params)
                    found = cursor.fetchall() if every else cursor.fetchone()
                finally:
                    cursor.close()
            except self._dbapi_error as exc:
                self._discard(connection)
                if attempt == 2:
                    raise self._failed(exc) from None
                continue
            except BaseException:
                self._discard(connection)
                raise
            self._checkin(connection, generation)
            return found
        raise AssertionError("unreachable")  # pragma: no cover

    def _processed(self, row: Sequence[Any]) -> tuple[Any, ...]:
        values = list(row)
        for index, process in self._processors:
            if values[index] is not None:
                values[index] = process(values[index])
        return tuple(values)

    # --- connections ---------------------------------------------------------------------------

    def _checkout(self) -> tuple[Any, int]:
        with self._lock:
            generation = self._generation
            if self._idle:
                return self._idle.pop(), generation
        engine = self._engine()
        if engine is None:
            if self._on_failure is not None:
                raise self._on_failure(EngineClosed("the database engine is closed"))
            raise StorageUnavailable(f"the {self._label} database engine is closed")
        try:
            proxied = engine.raw_connection()
        except (SQLAlchemyError, self._dbapi_error) as exc:
            raise self._failed(exc) from None
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
            log.debug("closing a held-read connection failed", exc_info=True)

    def _on_dispose(self, _engine: Engine) -> None:
        self.close()

    # --- failures ------------------------------------------------------------------------------

    def _failed(self, exc: Exception) -> Exception:
        """The exception to raise for ``exc``, a DBAPI or SQLAlchemy error (decision 4)."""
        if self._on_failure is None:
            return self._unavailable(exc)
        if isinstance(exc, SQLAlchemyError):
            return self._on_failure(exc)
        wrapped = DBAPIError.instance(None, None, exc, self._dbapi_error, dialect=self._dialect)
        assert isinstance(wrapped, SQLAlchemyError)  # a DBAPI error is always wrapped
        return self._on_failure(wrapped)

    def _unavailable(self, exc: Exception) -> StorageUnavailable:
        driver_error = type(getattr(exc, "orig", None) or exc).__name__
        log.error("%s database error on a held read", self._label, extra={"error": driver_error})
        return StorageUnavailable(
            f"the {self._label} database failed ({driver_error}) on a held read"
        )
