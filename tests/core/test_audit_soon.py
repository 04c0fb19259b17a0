"""Entries recorded soon (``AuditLedger.append_soon``): with the process's next audited write,
in its commit and before its own entries, or by the flusher thread; never lost to a rollback,
never left waiting on a failing store, and always there for whoever reads the ledger.

Most tests stop the flusher thread from seeing their ledger, so only what the test does writes.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

import core.audit
from core.audit import AuditEvent, AuditLedger, AuditUnavailable, InvalidAuditEntry
from core.clock import FixedClock
from core.db import make_engine, make_session_factory
from core.models import AuditEntryRow
from core.write_tx import write_transaction


@pytest.fixture
def no_flusher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.audit._FLUSHER, "watch", lambda ledger: None)


@pytest.fixture
def ledger(session_factory: sessionmaker[Session], clock: FixedClock) -> AuditLedger:
    return AuditLedger(session_factory, clock=clock)


def stored(session_factory: sessionmaker[Session]) -> list[tuple[int, str]]:
    """The entries in the database, read past the ledger (whose reads write what waits)."""
    with session_factory() as session:
        rows = session.execute(
            select(AuditEntryRow.seq, AuditEntryRow.event).order_by(AuditEntryRow.seq)
        ).all()
    return [(int(seq), str(event)) for seq, event in rows]


@pytest.mark.usefixtures("no_flusher")
def test_waiting_entry_commits_first_in_the_next_write_transaction(
    ledger: AuditLedger, session_factory: sessionmaker[Session]
) -> None:
    ledger.append_soon("idp.authorization.granted", actor="acct-1", subject="client-1")
    assert stored(session_factory) == []
    engine = session_factory.kw["bind"]
    with write_transaction(engine) as tx:
        (token,) = ledger.append_many([AuditEvent("idp.token.issued", "client-1", "p-1")], tx=tx)
    # One commit: the waiting entry just before the caller's, which gets its own entry back.
    assert token.event == "idp.token.issued"
    assert stored(session_factory) == [
        (token.seq - 1, "idp.authorization.granted"),
        (token.seq, "idp.token.issued"),
    ]
    assert ledger.verify().ok


@pytest.mark.usefixtures("no_flusher")
def test_a_flush_waiting_behind_a_write_leaves_the_entry_to_that_write(
    ledger: AuditLedger, session_factory: sessionmaker[Session]
) -> None:
    # The flusher takes waiting entries only once it holds the ledger's lock: one that had
    # taken the entry and then waited would write it after the token it belongs before.
    engine = session_factory.kw["bind"]
    with write_transaction(engine) as tx:
        ledger.append("idp.login.succeeded", actor="acct-1", tx=tx)  # holds the lock
        ledger.append_soon("idp.authorization.granted", actor="acct-1", subject="client-1")
        flusher = threading.Thread(target=ledger.flush_soon)
        flusher.start()
        time.sleep(0.3)  # the flush is now waiting for the lock
        ledger.append("idp.token.issued", actor="client-1", tx=tx)
    flusher.join(timeout=30)
    assert not flusher.is_alive()
    assert [event for _seq, event in stored(session_factory)] == [
        "idp.login.succeeded",
        "idp.authorization.granted",
        "idp.token.issued",
    ]


@pytest.mark.usefixtures("no_flusher")
def test_an_append_of_its_own_takes_the_waiting_entries_too(
    ledger: AuditLedger, session_factory: sessionmaker[Session]
) -> None:
    ledger.append_soon("idp.authorization.granted", actor="acct-1", subject="client-1")
    ledger.append_soon("idp.authorization.granted", actor="acct-2", subject="client-1")
    entry = ledger.append("idp.login.succeeded", actor="acct-3")
    assert entry.event == "idp.login.succeeded"
    assert [event for _seq, event in stored(session_factory)] == [
        "idp.authorization.granted",
        "idp.authorization.granted",
        "idp.login.succeeded",
    ]


@pytest.fixture
def waiting_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The clock of the waiting entries' ages, moved by the test (it stands still otherwise)."""
    now = [1_000.0]
    monkeypatch.setattr(core.audit, "_monotonic", lambda: now[0])
    return now


@pytest.mark.usefixtures("no_flusher")
def test_the_flusher_leaves_a_fresh_entry_to_the_write_that_comes_soon(
    ledger: AuditLedger, session_factory: sessionmaker[Session], waiting_clock: list[float]
) -> None:
    # Under load the token's write comes within milliseconds: a flusher that wrote whatever it
    # found would race it for SQLite's lock with a transaction of its own, ~20 a second.
    ledger.append_soon("idp.authorization.granted", actor="acct-1", subject="client-1")
    waiting_clock[0] += core.audit.SOON_SECONDS / 2 - 0.001
    ledger.flush_due()
    assert stored(session_factory) == []
    engine = session_factory.kw["bind"]
    with write_transaction(engine) as tx:
        ledger.append("idp.token.issued", actor="client-1", tx=tx)
    assert [event for _seq, event in stored(session_factory)] == [
        "idp.authorization.granted",
        "idp.token.issued",
    ]
    # No write comes: the flusher's next look (every SOON_SECONDS / 2) writes it, so no entry
    # waits longer than SOON_SECONDS.
    ledger.append_soon("idp.authorization.granted", actor="acct-2", subject="client-1")
    ledger.flush_due()
    assert len(stored(session_factory)) == 2
    waiting_clock[0] += core.audit.SOON_SECONDS / 2 + 0.001
    ledger.flush_due()
    assert [event for _seq, event in stored(session_factory)][-1] == "idp.authorization.granted"
    assert len(stored(session_factory)) == 3


@pytest.mark.usefixtures("no_flusher")
def test_a_rolled_back_transaction_puts_the_waiting_entries_back(
    ledger: AuditLedger, session_factory: sessionmaker[Session], waiting_clock: list[float]
) -> None:
    ledger.append_soon("idp.authorization.granted", actor="acct-1", subject="client-1")
    engine = session_factory.kw["bind"]
    with pytest.raises(RuntimeError), write_transaction(engine) as tx:
        ledger.append("idp.token.issued", actor="client-1", tx=tx)
        raise RuntimeError("the token's write failed")
    assert stored(session_factory) == []
    # Due at once (the clock has not moved): the write it waited for did not commit.
    ledger.flush_due()
    # Written once, by the next write, not lost with the rollback and not doubled.
    assert [event for _seq, event in stored(session_factory)] == ["idp.authorization.granted"]
    ledger.flush_soon()
    assert len(stored(session_factory)) == 1


@pytest.mark.usefixtures("no_flusher")
def test_reading_the_ledger_writes_what_waits_first(
    ledger: AuditLedger, session_factory: sessionmaker[Session]
) -> None:
    ledger.append_soon("idp.authorization.granted", actor="acct-1", subject="client-1")
    assert [e.event for e in ledger.tail(5)] == ["idp.authorization.granted"]
    assert ledger.head().seq == 1
    assert ledger.verify().entries_checked == 1


@pytest.mark.usefixtures("no_flusher")
def test_a_refused_event_raises_at_once_and_waits_nowhere(
    ledger: AuditLedger, session_factory: sessionmaker[Session]
) -> None:
    with pytest.raises(InvalidAuditEntry):
        ledger.append_soon("Not An Event", actor="acct-1")
    with pytest.raises(InvalidAuditEntry):
        ledger.append_soon("idp.authorization.granted", actor="name with spaces")
    ledger.flush_soon()
    assert stored(session_factory) == []


def test_the_flusher_writes_a_waiting_entry_without_any_other_write(
    ledger: AuditLedger, session_factory: sessionmaker[Session]
) -> None:
    ledger.append_soon("idp.authorization.granted", actor="acct-1", subject="client-1")
    deadline = time.monotonic() + 5
    while not stored(session_factory) and time.monotonic() < deadline:
        time.sleep(core.audit.SOON_SECONDS / 5)
    assert [event for _seq, event in stored(session_factory)] == ["idp.authorization.granted"]


def create_ledger_tables(engine: Engine) -> None:
    """The store comes back: the two tables an append needs, on a database made without them."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE audit_head (id INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL,"
            " last_hash VARCHAR(64) NOT NULL, checkpoint_seq INTEGER NOT NULL)"
        )
        conn.exec_driver_sql(
            "CREATE TABLE audit_entries (seq INTEGER PRIMARY KEY, at DATETIME NOT NULL,"
            " event VARCHAR(200) NOT NULL, actor VARCHAR(200), subject VARCHAR(200),"
            " data TEXT NOT NULL, prev_hash VARCHAR(64) NOT NULL,"
            " entry_hash VARCHAR(64) NOT NULL)"
        )


def actors(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.exec_driver_sql("SELECT actor FROM audit_entries")]


@pytest.mark.usefixtures("no_flusher")
def test_a_failing_store_makes_append_soon_fail_at_once_and_keeps_what_waits(
    tmp_path: Path, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'not-migrated.db'}")
    try:
        ledger = AuditLedger(make_session_factory(engine), clock=clock)
        ledger.append_soon("idp.authorization.granted", actor="acct-1", subject="client-1")
        with caplog.at_level(logging.WARNING, logger="core.audit"):
            ledger.flush_soon()
        (record,) = [r for r in caplog.records if r.name == "core.audit"]
        assert "1 waiting" in record.getMessage()
        assert "acct-1" not in record.getMessage()
        # Nothing more is promised for later while the store fails: the caller hears of it.
        with pytest.raises(AuditUnavailable):
            ledger.append_soon("idp.authorization.granted", actor="acct-2", subject="client-1")
        create_ledger_tables(engine)
        # The store is back: the first entry, kept while it failed, is written before the next.
        ledger.append_soon("idp.authorization.granted", actor="acct-3", subject="client-1")
        assert actors(engine) == ["acct-1", "acct-3"]
    finally:
        engine.dispose()


@pytest.mark.usefixtures("no_flusher")
def test_while_the_store_fails_the_flusher_tries_once_a_second(
    tmp_path: Path,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
    waiting_clock: list[float],
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'not-migrated.db'}")
    try:
        ledger = AuditLedger(make_session_factory(engine), clock=clock)
        ledger.append_soon("idp.authorization.granted", actor="acct-1", subject="client-1")
        look = core.audit.SOON_SECONDS / 2
        with caplog.at_level(logging.WARNING, logger="core.audit"):
            waiting_clock[0] += core.audit.SOON_SECONDS
            failed_at = waiting_clock[0]
            ledger.flush_due()
            for n in range(1, int(core.audit.SOON_RETRY_SECONDS / look)):
                waiting_clock[0] = failed_at + n * look
                ledger.flush_due()
            # One warning for the looks of almost a second, not one per look.
            assert len([r for r in caplog.records if r.name == "core.audit"]) == 1
            waiting_clock[0] = failed_at + core.audit.SOON_RETRY_SECONDS + 0.001
            ledger.flush_due()
        assert len([r for r in caplog.records if r.name == "core.audit"]) == 2
        # The store is back: the next event is written at once (with the one kept), and the
        # one after waits for the flusher's usual look again, not for a second.
        create_ledger_tables(engine)
        ledger.append_soon("idp.authorization.granted", actor="acct-2", subject="client-1")
        assert actors(engine) == ["acct-1", "acct-2"]
        ledger.append_soon("idp.authorization.granted", actor="acct-3", subject="client-1")
        waiting_clock[0] += core.audit.SOON_SECONDS
        ledger.flush_due()
        assert actors(engine) == ["acct-1", "acct-2", "acct-3"]
    finally:
        engine.dispose()


@pytest.mark.usefixtures("no_flusher")
def test_too_many_waiting_entries_are_written_at_once(
    ledger: AuditLedger, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core.audit, "SOON_MAX_PENDING", 3)
    for n in range(4):
        ledger.append_soon("idp.authorization.granted", actor=f"acct-{n}", subject="client-1")
    with session_factory() as session:
        count = session.execute(select(func.count()).select_from(AuditEntryRow)).scalar_one()
    assert count == 4
