"""Reads on held DBAPI connections: one compiled select, no Session, no pool checkout.

Some reads are made on every request of a hot path: OCSP's certificate status (ca/revoke.py),
the IdP's sessions, accounts, consents and grants (idp/*_reads.py, idp/consents.py), KYC's
relying party (kyc/rp_reads.py), the register person behind every code exchange
(registry/person_read.py). Through an ORM ``Session`` each costs a pool checkout, ``BEGIN`` and
``ROLLBACK`` for a few microseconds of work, so they run here instead. The module lives in core
(it imports no other NatID package) so that every package may use it. Decisions:

1. **No Session, no pool checkout, no transaction.** A few DBAPI connections are detached from
   the engine's pool and kept, each used by one thread at a time. Measured on the development
   machine, one primary-key read cost 0.33 ms through a SQLAlchemy ``Session`` on SQLite (pool
   checkout, ``BEGIN``, ``ROLLBACK``) and 1.4 ms on PostgreSQL (plus the pool's pre-ping round
   trip); on a held connection it costs 13 µs and 0.17 ms.
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
   use at that moment is closed when it is handed back. At most :data:`MAX_IDLE` per engine stay
   open (decision 7).
6. **Engines that share one connection** (in-memory SQLite: ``StaticPool``,
   ``SingletonThreadPool``) get no reader: :func:`reader_for` returns ``None`` and the caller
   reads through its session as before.
7. **One stash per engine** (:func:`held_connections`), not one free list per reader: every
   reader of an engine takes its connection from, and gives it back to, the same lock-protected
   LIFO stash, and on SQLite :func:`core.write_tx.write_transaction` borrows its connection there
   too. SQLite drops a connection's page cache whenever another connection has committed since
   its last read, so on a login (2 commits, 7 reads) every read on its own reader's connection
   started cold: a read right after a write transaction cost 25 µs of CPU, and 15.5 µs on the
   connection that wrote (8 µs with no write in between). Reusing the connection last given
   back keeps its cache warm (a login's CPU, best run, 3.29 -> 3.13 ms), and the idle
   connections of one engine stay bounded by one number (10 hot statements no longer hold up
   to 80 idle PostgreSQL connections per worker). Whoever takes a connection uses it alone
   until it gives it back, and gives back only a connection in no transaction; one whose state
   is unknown is discarded.
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
    "MAX_IDLE",
    "EngineClosed",
    "FailureHandler",
    "HeldConnections",
    "HeldReader",
    "held_connections",
    "reader_for",
    "sessions_reader_for",
    "shares_one_connection",
    "sqlalchemy_error",
]

log = logging.getLogger(__name__)

_READERS: weakref.WeakKeyDictionary[Engine, dict[Select[Any], HeldReader]] = (
    weakref.WeakKeyDictionary()
)
_READERS_LOCK = threading.Lock()
_STASHES: weakref.WeakKeyDictionary[Engine, HeldConnections] = weakref.WeakKeyDictionary()
# Its own lock: reader_for makes a reader, which finds its stash, under _READERS_LOCK.
_STASHES_LOCK = threading.Lock()

#: How many idle connections one engine's stash keeps open (decision 7).
MAX_IDLE = 8

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
        if shares_one_connection(engine):
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


def shares_one_connection(engine: Engine) -> bool:
    """Whether ``engine``'s pool hands out one connection to everyone (in-memory SQLite): such
    an engine gets no held connections (decision 6)."""
    return isinstance(engine.pool, StaticPool | SingletonThreadPool)


def held_connections(engine: Engine) -> HeldConnections:
    """``engine``'s one stash of held connections (decision 7), made on first use. For an engine
    that :func:`shares_one_connection`, use the engine's pool instead."""
    found = _STASHES.get(engine)
    if found is None:
        with _STASHES_LOCK:
            found = _STASHES.get(engine)
            if found is None:
                found = _STASHES[engine] = HeldConnections(engine)
    return found


class HeldConnections:
    """DBAPI connections detached from one engine's pool, lent to one user at a time (LIFO)."""

    def __init__(self, engine: Engine, *, max_idle: int = MAX_IDLE) -> None:
        # Weak: the module's map of stashes must not keep a disposed engine alive.
        self._engine = weakref.ref(engine)
        self._postgres = engine.dialect.name == "postgresql"
        self._max_idle = max_idle
        #: Last given back, first taken: its page cache is the warmest (decision 7).
        self._idle: list[Any] = []
        self._generation = 0
        self._lock = threading.Lock()
        event.listen(engine, "engine_disposed", self._on_dispose)

    def take(self) -> tuple[Any, int]:
        """(a DBAPI connection for the caller alone, the generation to give it back with).

        :raises EngineClosed: the engine has been garbage-collected.
        :raises SQLAlchemyError: what ``engine.raw_connection()`` raises; or the driver's
            error, which it does not wrap, when the database cannot be reached.
        """
        with self._lock:
            generation = self._generation
            if self._idle:
                return self._idle.pop(), generation
        engine = self._engine()
        if engine is None:
            raise EngineClosed("the database engine is closed")
        proxied = engine.raw_connection()  # core/db.py's connect event has run on a new one
        # Detached: the engine's pool no longer counts or recycles it; it is ours to close.
        proxied.detach()
        connection: Any = proxied.dbapi_connection
        if self._postgres:
            connection.autocommit = True  # decision 2: no transaction stays open
        return connection, generation

    def give(self, connection: Any, generation: int) -> None:
        """Give back a connection :meth:`take` lent, in no transaction; closed instead when the
        engine was disposed since (``generation``) or ``max_idle`` already wait."""
        with self._lock:
            if generation == self._generation and len(self._idle) < self._max_idle:
                self._idle.append(connection)
                return
        self.discard(connection)

    @staticmethod
    def discard(connection: Any) -> None:
        """Close a connection :meth:`take` lent whose state is unknown (it is never reused)."""
        try:
            connection.close()
        except Exception:
            log.debug("closing a held connection failed", exc_info=True)

    def idle(self) -> int:
        """How many connections wait in the stash (for tests and metrics)."""
        return len(self._idle)

    def close(self) -> None:
        """Close the idle connections; one lent now is closed when given back (decision 5)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
        for connection in idle:
            self.discard(connection)

    def _on_dispose(self, _engine: Engine) -> None:
        self.close()


class HeldReader:
    """Runs one select with named bound parameters on held DBAPI connections."""

    def __init__(
        self,
        engine: Engine,
        statement: Select[Any],
        *,
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
        self._on_failure = on_failure
        self._label = label
        # Strong: a reader whose engine is gone still fails through it (EngineClosed).
        self._held = held_connections(engine)

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
        """How many connections wait in the engine's stash, shared by all its readers (for tests
        and metrics)."""
        return self._held.idle()

    def close(self) -> None:
        """Close the engine's idle held connections (new ones are opened if used again)."""
        self._held.close()

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
                self._held.discard(connection)
                if attempt == 2:
                    raise self._failed(exc) from None
                continue
            except BaseException:
                self._held.discard(connection)
                raise
            self._held.give(connection, generation)
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
        try:
            return self._held.take()
        except EngineClosed as exc:
            if self._on_failure is not None:
                raise self._on_failure(exc) from None
            raise StorageUnavailable(f"the {self._label} database engine is closed") from None
        except (SQLAlchemyError, self._dbapi_error) as exc:
            raise self._failed(exc) from None

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
