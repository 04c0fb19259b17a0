"""One stash of held connections per engine (core/held_read.py, decision 7; core/write_tx.py,
decision 2), on SQLite and PostgreSQL.

Every held reader of an engine, and on a SQLite file every write transaction, borrows its DBAPI
connection from one stash, so the connection last used is used next (on SQLite its page cache
is still warm). Pinned here: readers and SQLite writers reuse one connection in sequence, last
given back first; the idle connections of an engine are bounded; ``engine.dispose()`` closes
them; a connection whose state is unknown (a failed read, a lost or interrupted write, a failed
rollback) is closed and never lent again, while a cleanly ended transaction gives its connection
back; after-commit callbacks run once the connection is back; PostgreSQL writes stay on the pool.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, Select, bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from core.db import make_engine
from core.held_read import MAX_IDLE, HeldReader, held_connections, reader_for
from core.models import AuditEntryRow
from core.write_tx import compiled, write_transaction

_ENTRIES = AuditEntryRow.__table__.c
_EVENT_OF: Select[Any] = select(_ENTRIES.event).where(_ENTRIES.seq == bindparam("b_seq"))
_ACTOR_OF: Select[Any] = select(_ENTRIES.actor).where(_ENTRIES.seq == bindparam("b_seq"))
_INSERT_ENTRY = insert(AuditEntryRow)
_ENTRY_KEYS = ("seq", "at", "event", "actor", "subject", "data", "prev_hash", "entry_hash")
AT = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def _entry(seq: int) -> dict[str, Any]:
    return {
        "seq": seq, "at": AT, "event": f"test.entry.{seq}", "actor": f"actor:{seq}",
        "subject": None, "data": "{}", "prev_hash": "p" * 64, "entry_hash": "h" * 64,
    }  # fmt: skip


def _write(engine: Engine, *seqs: int) -> None:
    entry = compiled(_INSERT_ENTRY, engine.dialect, _ENTRY_KEYS)
    with write_transaction(engine) as tx:
        for seq in seqs:
            tx.run(entry, _entry(seq))


def _is_closed(engine: Engine, connection: Any) -> bool:
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
    except engine.dialect.loaded_dbapi.Error:
        return True
    return False


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM audit_entries")).scalar_one())


def test_readers_and_sqlite_writes_of_one_engine_reuse_one_connection(engine: Engine) -> None:
    _write(engine, 1)
    events = HeldReader(engine, _EVENT_OF, label="test")
    actors = HeldReader(engine, _ACTOR_OF, label="test")
    stash = held_connections(engine)
    assert events.fetch(1) == ("test.entry.1",)
    (connection,) = stash._idle
    assert actors.fetch(1) == ("actor:1",)
    assert events.fetch(2) is None
    assert stash._idle == [connection]  # both readers took the same one, in turn
    assert events.idle_connections() == actors.idle_connections() == 1

    sqlite = engine.dialect.name == "sqlite"
    entry = compiled(_INSERT_ENTRY, engine.dialect, _ENTRY_KEYS)
    with write_transaction(engine) as tx:
        # SQLite: the write borrows it (its page cache stays warm); PostgreSQL: the pool's.
        assert (tx.cursor.connection is connection) is sqlite
        assert stash.idle() == (0 if sqlite else 1)
        tx.run(entry, _entry(2))
    assert stash._idle == [connection]
    assert events.fetch(2) == ("test.entry.2",)  # the commit is read on the same connection
    assert stash._idle == [connection]


def test_last_given_back_is_lent_first_and_idle_ones_are_bounded(engine: Engine) -> None:
    stash = held_connections(engine)
    assert held_connections(engine) is stash
    lent = [stash.take() for _ in range(MAX_IDLE + 2)]
    connections = [connection for connection, _ in lent]
    assert len({id(c) for c in connections}) == MAX_IDLE + 2  # each lent to one user alone
    for connection, generation in lent:
        stash.give(connection, generation)
    assert stash.idle() == MAX_IDLE
    assert [_is_closed(engine, c) for c in connections] == [False] * MAX_IDLE + [True] * 2
    assert stash.take()[0] is connections[MAX_IDLE - 1]  # the last one kept
    # Many readers of one engine share that bound.
    readers = [
        HeldReader(engine, select(_ENTRIES.event).where(_ENTRIES.seq == bindparam("b")), label="t")
        for _ in range(MAX_IDLE + 2)
    ]
    for reader in readers:
        assert reader.fetch(1) is None
    assert stash.idle() == MAX_IDLE - 1  # the one still taken above is not back


def test_concurrent_readers_and_writers_stay_within_the_bound(engine: Engine) -> None:
    errors: list[BaseException] = []
    events = reader_for(engine, _EVENT_OF, label="test")
    assert events is not None
    start = threading.Barrier(MAX_IDLE + 4)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                seq = 1 + n * 100 + i
                _write(engine, seq)
                assert events.fetch(seq) == (f"test.entry.{seq}",)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(MAX_IDLE + 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _count(engine) == (MAX_IDLE + 4) * 10
    assert 1 <= events.idle_connections() <= MAX_IDLE


def test_dispose_closes_idle_connections_and_one_lent_when_it_comes_back(engine: Engine) -> None:
    _write(engine, 1)
    events = HeldReader(engine, _EVENT_OF, label="test")
    assert events.fetch(1) == ("test.entry.1",)
    stash = held_connections(engine)
    (idle,) = stash._idle
    lent, generation = stash.take()
    assert lent is idle
    second, second_generation = stash.take()
    stash.give(second, second_generation)
    engine.dispose()
    assert stash.idle() == 0 and _is_closed(engine, second)
    stash.give(lent, generation)  # in use during the dispose: closed when given back
    assert stash.idle() == 0 and _is_closed(engine, lent)
    assert events.fetch(1) == ("test.entry.1",)  # reading goes on, on a new connection
    _write(engine, 2)
    assert events.fetch(2) == ("test.entry.2",)
    assert stash.idle() == 1 and not _is_closed(engine, stash._idle[0])


def test_a_broken_connection_is_discarded_by_the_reader(engine: Engine) -> None:
    _write(engine, 1)
    events = HeldReader(engine, _EVENT_OF, label="test")
    assert events.fetch(1) == ("test.entry.1",)
    stash = held_connections(engine)
    (broken,) = stash._idle
    broken.close()  # the server went away under the held connection
    assert events.fetch(1) == ("test.entry.1",)  # retried once on a fresh connection
    (fresh,) = stash._idle
    assert fresh is not broken


# PostgreSQL's write transactions use the pool (tests/core/test_write_tx.py).
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_cleanly_ended_sqlite_write_gives_its_connection_back(engine: Engine) -> None:
    stash = held_connections(engine)
    _write(engine, 1)
    (connection,) = stash._idle
    entry = compiled(_INSERT_ENTRY, engine.dialect, _ENTRY_KEYS)
    # Rolled back without error (a failing statement, an error in the block): given back.
    with pytest.raises(IntegrityError), write_transaction(engine) as tx:
        tx.run(entry, _entry(2))
        tx.run(entry, _entry(1))
    with pytest.raises(RuntimeError), write_transaction(engine) as tx:
        tx.run(entry, _entry(2))
        raise RuntimeError("the business write failed")
    with pytest.raises(KeyboardInterrupt), write_transaction(engine) as tx:
        tx.run(entry, _entry(2))
        raise KeyboardInterrupt  # between statements: the rollback is clean
    assert stash._idle == [connection] and _count(engine) == 1
    assert connection.in_transaction is False

    told: list[int] = []

    def committed() -> None:
        told.append(stash.idle())  # the connection is back before anyone is told
        assert _count(engine) == 2

    with write_transaction(engine) as tx:
        tx.after_commit(committed)
        tx.run(entry, _entry(2))
        assert stash.idle() == 0
    assert told == [1] and stash._idle == [connection]


class _Interrupted:
    """A cursor whose next statement is interrupted (Ctrl-C inside the driver's call)."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, *_args: Any) -> None:
        raise KeyboardInterrupt

    def close(self) -> None:
        self._cursor.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_sqlite_write_connection_in_an_unknown_state_is_never_lent_again(
    engine: Engine,
) -> None:
    stash = held_connections(engine)
    entry = compiled(_INSERT_ENTRY, engine.dialect, _ENTRY_KEYS)
    _write(engine, 1)
    (first,) = stash._idle

    # Interrupted in the middle of a statement: closed, its transaction undone.
    with pytest.raises(KeyboardInterrupt), write_transaction(engine) as tx:
        tx.run(entry, _entry(2))
        tx.cursor = _Interrupted(tx.cursor)
        tx.run(entry, _entry(3))
    assert stash.idle() == 0 and _is_closed(engine, first)

    # Lost under a statement (a disconnect to SQLAlchemy): SQLAlchemy's error, invalidated.
    _write(engine, 2)
    (second,) = stash._idle
    assert second is not first
    with pytest.raises(ProgrammingError) as lost, write_transaction(engine) as tx:
        second.close()
        tx.run(entry, _entry(3))
    assert lost.value.connection_invalidated
    assert stash.idle() == 0

    # A rollback that fails: the block's own error is raised, the connection is not kept.
    _write(engine, 3)
    (third,) = stash._idle
    with pytest.raises(RuntimeError, match="business"), write_transaction(engine) as tx:
        tx.run(entry, _entry(4))
        third.close()
        raise RuntimeError("the business write failed")
    assert stash.idle() == 0

    _write(engine, 4)  # a fresh connection, and nothing the failures wrote
    assert stash.idle() == 1 and stash._idle[0] not in (first, second, third)
    assert _count(engine) == 4
    with pytest.raises(OperationalError), write_transaction(engine) as tx:
        tx.execute("INSERT INTO no_such_table VALUES (1)", ())
    assert stash.idle() == 1  # an ordinary error rolls back cleanly


def test_engines_that_share_one_connection_write_on_their_pool() -> None:
    engine = make_engine("sqlite://")
    try:
        with write_transaction(engine) as tx:
            tx.execute("CREATE TABLE t (v TEXT)", ())
            tx.execute("INSERT INTO t (v) VALUES ('a')", ())
        # The one in-memory database is the pool's connection: the write is there.
        with engine.connect() as conn:
            assert conn.execute(text("SELECT v FROM t")).scalars().all() == ["a"]
    finally:
        engine.dispose()
