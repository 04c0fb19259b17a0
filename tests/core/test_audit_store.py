"""The audit ledger's append path on the driver's cursor (core/audit_store.py), on SQLite and
PostgreSQL.

What a user of the ledger notices: the rows an append stores are exactly the rows SQLAlchemy
itself stores for the same values; listeners hear of an entry once, after its transaction
commits, and never of one that was rolled back, whichever session factory the caller uses;
a failing database is still ``AuditUnavailable`` and leaves the caller's session usable;
appends inside concurrent business transactions never fork the chain.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditEntry, AuditEvent, AuditLedger, AuditUnavailable
from core.clock import FixedClock
from core.db import make_engine, make_session_factory, transaction
from core.models import AuditEntryRow

LABEL = "natid-audit-ledger"
KEY = ed25519.Ed25519PrivateKey.generate()
# Not UTC, with microseconds: the stored form must still be the one SQLAlchemy writes.
START = dt.datetime(2026, 11, 1, 16, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=7)))
COPY_OFFSET = 1000


def _ledger(sessions: sessionmaker[Session], clock: FixedClock, **kwargs: Any) -> AuditLedger:
    return AuditLedger(
        sessions, clock=clock, signing_key=KEY, key_label=LABEL, checkpoint_interval=3, **kwargs
    )


def _raw_rows(engine: Engine) -> dict[int, tuple[Any, ...]]:
    """Every entry column as the database holds it (text of the timestamp, bytes of data)."""
    if engine.dialect.name == "sqlite":
        sql = (
            "SELECT seq, typeof(at), at, event, actor, subject, hex(data), prev_hash, entry_hash"
            " FROM audit_entries"
        )
    else:
        sql = (
            "SELECT seq, pg_typeof(at)::text, at::text, event, actor, subject,"
            " encode(convert_to(data, 'UTF8'), 'hex'), prev_hash, entry_hash FROM audit_entries"
        )
    with engine.connect() as conn:
        return {int(row[0]): tuple(row[1:]) for row in conn.exec_driver_sql(sql)}


def test_stored_rows_are_the_rows_sqlalchemy_stores(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """Single appends (own and joined transactions), a batch and a batch that signs a
    checkpoint half-way: each row equals a copy of the same entry inserted by SQLAlchemy."""
    clock = FixedClock(START)
    ledger = _ledger(session_factory, clock)
    entries = [ledger.append("idp.token.issued", actor="client:rp", data={"n": "ស្រី", "i": 1})]
    clock.advance(dt.timedelta(microseconds=1))
    with transaction(session_factory) as session:
        entries.append(ledger.append("kyc.release.done", subject="person:1", session=session))
    entries += ledger.append_many([AuditEvent("ca.cert.issued", data={"k": k}) for k in range(5)])
    with transaction(session_factory) as session:
        entries += ledger.append_many([AuditEvent("ca.cert.revoked")] * 2, session=session)
    with engine.begin() as conn:
        conn.execute(
            insert(AuditEntryRow),
            [
                {
                    "seq": e.seq + COPY_OFFSET,
                    "at": e.at,
                    "event": e.event,
                    "actor": e.actor,
                    "subject": e.subject,
                    "data": e.data_json,
                    "prev_hash": e.prev_hash,
                    "entry_hash": e.entry_hash,
                }
                for e in entries
            ],
        )
    stored = _raw_rows(engine)
    assert len(stored) == 2 * len(entries) == 18
    for entry in entries:
        assert stored[entry.seq] == stored[entry.seq + COPY_OFFSET], entry.seq


# --- listeners ---------------------------------------------------------------------------------


def _listening(ledger: AuditLedger) -> list[int]:
    told: list[int] = []
    ledger.add_listener("test", lambda entry: told.append(entry.seq))
    return told


def test_listeners_hear_after_the_commit_and_never_of_a_rollback(
    session_factory: sessionmaker[Session],
) -> None:
    ledger = _ledger(session_factory, FixedClock(START))
    told = _listening(ledger)
    with transaction(session_factory) as session:
        ledger.append("test.first.entry", session=session)
        ledger.append_many([AuditEvent("test.batch.entry")] * 2, session=session)
        assert told == []  # not before the commit
    assert told == [1, 2, 3]

    with pytest.raises(RuntimeError), transaction(session_factory) as session:
        ledger.append("test.rolled.back", session=session)
        raise RuntimeError("the business write failed")
    assert told == [1, 2, 3]

    # One session, used for a rolled-back and then a committed transaction.
    with session_factory() as session:
        session.begin()
        ledger.append("test.rolled.back", session=session)
        session.rollback()
        session.begin()
        ledger.append("test.committed.later", session=session)
        session.commit()
        session.begin()
        session.execute(text("SELECT 1"))  # a transaction without entries tells nothing
        session.commit()
    assert told == [1, 2, 3, 4]
    assert ledger.append("test.own.transaction").seq == 5
    assert told == [1, 2, 3, 4, 5]


def test_listeners_hear_of_savepoint_entries_only_when_the_transaction_commits(
    session_factory: sessionmaker[Session],
) -> None:
    """Releasing a SAVEPOINT commits nothing: a listener told then would run while the caller
    still holds the write lock (bulk issuance writes each batch in one). A rolled-back
    SAVEPOINT's entries are never told; those of the SAVEPOINTs around and beside it are."""
    ledger = _ledger(session_factory, FixedClock(START))
    told = _listening(ledger)
    with transaction(session_factory) as session:
        with session.begin_nested():
            ledger.append("test.kept.entry", session=session)
        assert told == []  # released, not committed
        with pytest.raises(RuntimeError), session.begin_nested():
            ledger.append("test.rolled.back", session=session)
            raise RuntimeError("this line failed")
        with session.begin_nested():
            ledger.append("test.outer.savepoint", session=session)
            with pytest.raises(RuntimeError), session.begin_nested():
                ledger.append("test.inner.rolled.back", session=session)
                raise RuntimeError("this one too")
        assert told == []
    assert told == [1, 2]  # the rolled-back entries' numbers were never stored
    assert [e.event for e in ledger.tail(5)] == ["test.kept.entry", "test.outer.savepoint"]

    with pytest.raises(RuntimeError), transaction(session_factory) as session:
        with session.begin_nested():
            ledger.append("test.released.then.rolled.back", session=session)
        raise RuntimeError("the whole transaction failed")
    assert told == [1, 2]


def test_failing_listener_is_named_in_the_log_without_its_message(
    session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    """The operator learns which listener failed and how; the error's message, which may
    quote the subject's data, is not logged."""
    ledger = _ledger(session_factory, FixedClock(START))

    def broken(entry: AuditEntry) -> None:
        raise ValueError("no person with national ID 012345678")

    ledger.add_listener("broken", broken)
    told = _listening(ledger)
    assert ledger.append("test.first.entry").seq == 1
    assert told == [1]  # the other listeners still hear of it
    (record,) = [r for r in caplog.records if r.name == "core.audit"]
    assert (
        record.getMessage()
        == "audit listener failed: broken on test.first.entry (entry 1): ValueError"
    )
    assert "012345678" not in caplog.text


def test_listeners_hear_of_entries_from_sessions_of_any_factory(engine: Engine) -> None:
    """Sessions opened before the ledger first saw their factory, and sessions of a second
    factory, are told as well."""
    first, second = make_session_factory(engine), make_session_factory(engine)
    ledger = _ledger(first, FixedClock(START))
    told = _listening(ledger)
    early = first()
    early.begin()
    with transaction(second) as session:
        ledger.append("test.second.factory", session=session)
    assert told == [1]
    ledger.append("test.early.session", session=early)
    early.commit()
    early.close()
    assert told == [1, 2]


# --- failures ----------------------------------------------------------------------------------


def test_failed_append_in_a_business_transaction_leaves_the_session_usable(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    ledger = _ledger(session_factory, FixedClock(START))
    told = _listening(ledger)
    ledger.append("test.first.entry")
    with engine.begin() as conn:  # entry 2 written behind the ledger's back
        conn.execute(
            text(
                "INSERT INTO audit_entries (seq, at, event, data, prev_hash, entry_hash) "
                "VALUES (2, '2026-11-01 09:00:00', 'test.foreign.row', '{}', 'x', 'y')"
            )
        )
    with session_factory() as session:
        session.begin()
        with pytest.raises(AuditUnavailable, match=r"failed \(IntegrityError\)"):
            ledger.append("test.second.entry", session=session)
        session.rollback()
        assert session.execute(text("SELECT 1")).scalar_one() == 1
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq = 2"))
    assert ledger.append("test.second.entry").seq == 2
    assert told == [1, 2]
    # Signed as `natid init` signs one: with its key, a ledger without any checkpoint fails.
    ledger.checkpoint()
    assert ledger.verify().ok


def test_unmigrated_database_is_audit_unavailable(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    sessions = make_session_factory(engine)
    ledger = _ledger(sessions, FixedClock(START))
    try:
        with pytest.raises(AuditUnavailable, match=r"\(OperationalError\); is it migrated"):
            ledger.append("test.no.table")
        with (
            pytest.raises(AuditUnavailable, match="is it migrated"),
            transaction(sessions) as session,
        ):
            ledger.append("test.no.table", session=session)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_lost_connection_is_discarded_and_the_next_append_works(pg_migrated_engine: Engine) -> None:
    """Only a server connection can be lost: PostgreSQL alone."""
    engine = pg_migrated_engine
    session_factory = make_session_factory(engine)
    ledger = _ledger(session_factory, FixedClock(START))
    session = session_factory()
    session.begin()
    conn = session.connection()
    pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    with engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.commit()
    time.sleep(0.2)  # the backend is gone once its socket closes
    with pytest.raises(AuditUnavailable, match="OperationalError"):
        ledger.append("test.lost.connection", session=session)
    assert conn.invalidated  # never handed back to the pool
    session.rollback()
    session.close()
    assert ledger.append("test.after.reconnect").seq == 1


def test_factory_bound_to_a_connection_appends_on_its_own(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """A factory bound to something other than an engine still gets its own transaction."""
    with engine.connect() as conn:
        factory = sessionmaker(bind=conn, expire_on_commit=False)
        entry = _ledger(factory, FixedClock(START)).append("test.bound.connection")
    assert _ledger(session_factory, FixedClock(START)).tail(1) == [entry]


# --- concurrency -------------------------------------------------------------------------------


def test_concurrent_business_transactions_never_fork_the_chain(engine: Engine) -> None:
    """Writers appending inside their own business transactions, through a factory the ledger
    has not seen yet: one chain, every entry once, and every listener call once."""
    sessions = make_session_factory(engine)
    ledger = _ledger(sessions, FixedClock(START))
    told = _listening(ledger)
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(20):
                with transaction(sessions) as session:
                    session.execute(text("SELECT 1"))  # the business write would go here
                    entries: Sequence[AuditEntry] = ledger.append_many(
                        [AuditEvent("test.concurrent.append", actor=f"worker:{n}", data={"i": i})]
                        * (1 + i % 2),
                        session=session,
                    )
                assert len(entries) == 1 + i % 2
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(told) == list(range(1, 121))
    entries = ledger.tail(200)
    assert [e.seq for e in entries] == list(range(1, 121))
    report = ledger.verify()
    assert report.ok, report.reason
    assert report.checkpoints_checked == 40
