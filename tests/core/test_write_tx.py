"""Write transactions on a DBAPI connection (core/write_tx.py), on SQLite and PostgreSQL.

What a user notices must not change when a write goes through :func:`write_transaction`
instead of ``engine.begin()``/a ``Session``: the same rows (entries and checkpoints byte for
byte), the same exceptions for the same failures, all or nothing, the write lock taken up front
on SQLite, listeners told only after the commit, and a lost connection never reused.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger, AuditUnavailable
from core.clock import FixedClock
from core.db import make_engine, make_session_factory
from core.errors import InvalidInput
from core.models import AuditCheckpointRow, AuditEntryRow
from core.write_tx import compiled, joined, write_transaction

LABEL = "natid-audit-ledger"
KEY = ed25519.Ed25519PrivateKey.generate()
START = dt.datetime(2026, 11, 1, 16, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=7)))
_INSERT_ENTRY = insert(AuditEntryRow)
_ENTRY_KEYS = ("seq", "at", "event", "actor", "subject", "data", "prev_hash", "entry_hash")


def _ledger(sessions: sessionmaker[Session], clock: FixedClock) -> AuditLedger:
    return AuditLedger(
        sessions, clock=clock, signing_key=KEY, key_label=LABEL, checkpoint_interval=3
    )


def _entry(seq: int, at: Any = START) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at,
        "event": "test.raw.entry",
        "actor": None,
        "subject": None,
        "data": "{}",
        "prev_hash": "p" * 64,
        "entry_hash": "h" * 64,
    }


def _count(engine: Engine, table: str = "audit_entries") -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _raw_checkpoints(engine: Engine) -> dict[int, tuple[Any, ...]]:
    if engine.dialect.name == "sqlite":
        sql = (
            "SELECT seq, entry_hash, typeof(at), at, key_label, algorithm, hex(signature),"
            " hex(public_key) FROM audit_checkpoints"
        )
    else:
        sql = (
            "SELECT seq, entry_hash, at::text, key_label, algorithm, encode(signature, 'hex'),"
            " encode(public_key, 'hex') FROM audit_checkpoints"
        )
    with engine.connect() as conn:
        return {int(row[0]): tuple(row[1:]) for row in conn.exec_driver_sql(sql)}


def test_checkpoint_rows_are_the_rows_sqlalchemy_stores(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """Appends in their own write transactions sign checkpoints; each checkpoint row equals the
    row SQLAlchemy stores for it (deleted and inserted again through ``Connection.execute``)."""
    ledger = _ledger(session_factory, FixedClock(START))
    for i in range(7):
        ledger.append("test.own.append", data={"i": i})
    checkpoints = ledger.checkpoints()
    assert [c.seq for c in checkpoints] == [3, 6]
    ours = _raw_checkpoints(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoints"))
        for c in checkpoints:
            conn.execute(
                insert(AuditCheckpointRow).values(
                    seq=c.seq,
                    entry_hash=c.entry_hash,
                    at=c.at,
                    key_label=c.key_label,
                    algorithm=str(c.algorithm),
                    signature=c.signature,
                    public_key=c.public_key,
                )
            )
    assert _raw_checkpoints(engine) == ours
    assert ledger.verify().ok


def test_all_or_nothing_and_after_commit_only(engine: Engine) -> None:
    told: list[str] = []
    entry = compiled(_INSERT_ENTRY, engine.dialect, _ENTRY_KEYS)
    # An error in the block: nothing stored, nothing told, the error itself raised.
    with pytest.raises(RuntimeError, match="business"), write_transaction(engine) as tx:
        tx.after_commit(lambda: told.append("rolled back"))
        tx.run(entry, _entry(1))
        raise RuntimeError("the business write failed")
    # A failing statement: SQLAlchemy's IntegrityError; the earlier statement is undone.
    with pytest.raises(IntegrityError), write_transaction(engine) as tx:
        tx.after_commit(lambda: told.append("failed"))
        tx.run(entry, _entry(1))
        tx.run(entry, _entry(1))
    assert _count(engine) == 0 and told == []
    # An interrupt: rolled back as well, and the pool still works afterwards.
    with pytest.raises(KeyboardInterrupt), write_transaction(engine) as tx:
        tx.run(entry, _entry(1))
        raise KeyboardInterrupt
    assert _count(engine) == 0

    def committed() -> None:
        told.append("committed")
        assert _count(engine) == 1  # visible to another connection: after the commit

    with write_transaction(engine) as tx:
        tx.after_commit(committed)
        tx.run(entry, _entry(1))
        assert told == []
    assert told == ["committed"]


def test_errors_are_the_errors_connection_execute_raises(engine: Engine) -> None:
    entry = compiled(_INSERT_ENTRY, engine.dialect, _ENTRY_KEYS)
    with write_transaction(engine) as tx:
        tx.run(entry, _entry(1))
    failures: list[tuple[type[BaseException], type[Any], str]] = []
    for values in (_entry(1), _entry(2, at=START.replace(tzinfo=None))):
        with pytest.raises(StatementError) as old, engine.begin() as conn:
            conn.execute(_INSERT_ENTRY, values)
        with pytest.raises(StatementError) as new, write_transaction(engine) as tx:
            tx.run(entry, values)
        assert type(new.value) is type(old.value)
        assert type(new.value.orig) is type(old.value.orig)
        assert new.value.statement == old.value.statement
        failures.append((type(new.value), type(new.value.orig), str(new.value.orig)))
    assert failures[0][0] is IntegrityError
    assert failures[1][1] is InvalidInput  # a bind processor's refusal, wrapped as SQLAlchemy does
    with pytest.raises(TypeError), engine.connect() as conn, joined(conn) as tx:
        tx.after_commit(lambda: None)  # a joined transaction commits with its owner


def test_unreachable_database_fails_as_engine_connect_does(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'natid.db'}")
    try:
        with pytest.raises(OperationalError):
            engine.connect()
        with pytest.raises(OperationalError), write_transaction(engine):
            pass
        ledger = _ledger(make_session_factory(engine), FixedClock(START))
        with pytest.raises(AuditUnavailable, match=r"\(OperationalError\); is it migrated"):
            ledger.append("test.no.database")
    finally:
        engine.dispose()


def test_sqlite_write_lock_is_taken_up_front(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE before the first statement: another writer waits (or, without a busy
    timeout, fails at once) while the transaction is open, and proceeds once it commits."""
    path = tmp_path / "lock.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (v TEXT)")
        other = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        with write_transaction(engine) as tx:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            tx.execute("INSERT INTO t (v) VALUES ('a')", ())
        other.execute("BEGIN IMMEDIATE")  # free again after the commit

        def release() -> None:
            time.sleep(0.3)
            other.execute("COMMIT")

        releaser = threading.Thread(target=release)
        started = time.monotonic()
        releaser.start()
        with write_transaction(engine) as tx:  # waits behind the busy timeout
            tx.execute("INSERT INTO t (v) VALUES ('b')", ())
        releaser.join()
        assert time.monotonic() - started >= 0.25
        other.close()
        assert _count(engine, "t") == 2
    finally:
        engine.dispose()


def test_concurrent_own_appends_never_fork_the_chain(engine: Engine) -> None:
    ledger = _ledger(make_session_factory(engine), FixedClock(START))
    told: list[int] = []
    ledger.add_listener("test", lambda e: told.append(e.seq))
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(20):
                ledger.append("test.concurrent.own", actor=f"worker:{n}", data={"i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(told) == list(range(1, 81))
    report = ledger.verify()
    assert report.ok, report.reason


@pytest.mark.postgres
def test_lost_connection_is_never_reused(pg_migrated_engine: Engine) -> None:
    engine = pg_migrated_engine
    with engine.connect() as admin:
        admin.execute(text("SELECT 1"))
        with pytest.raises(OperationalError) as lost, write_transaction(engine) as tx:
            (pid,) = tx.run(
                compiled(text("SELECT pg_backend_pid()"), engine.dialect), {}
            ).fetchone()
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.commit()
            time.sleep(0.2)
            tx.run(compiled(_INSERT_ENTRY, engine.dialect, _ENTRY_KEYS), _entry(1))
    assert lost.value.connection_invalidated
    ledger = _ledger(make_session_factory(engine), FixedClock(START))
    assert ledger.append("test.after.reconnect").seq == 1
    assert _count(engine) == 1
