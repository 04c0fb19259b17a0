"""The audit ledger records events as a verifiable chain, on SQLite and PostgreSQL.

What a user of the ledger notices: entries come back as written and in order; a business write
and its audit entry commit or roll back together; concurrent writers never fork or lose the
chain; input that could leak personal data or break the encoding is refused. Checkpoints have
their own module (test_audit_checkpoints.py), attacks on stored rows too (test_audit_tamper.py).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from core.audit import (
    AuditLedger,
    AuditLedgerBroken,
    CheckpointAlgorithm,
    InvalidAuditEntry,
    LedgerHead,
)
from core.audit_format import GENESIS_HASH, MAX_DATA_BYTES
from core.clock import FixedClock
from core.db import transaction
from core.errors import InvalidInput
from core.models import AuditCheckpointRow, AuditEntryRow

LABEL = "natid-audit-ledger"


@pytest.fixture(scope="module")
def ledger_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def ledger(
    session_factory: sessionmaker[Session],
    clock: FixedClock,
    ledger_key: ec.EllipticCurvePrivateKey,
) -> AuditLedger:
    return AuditLedger(
        session_factory,
        clock=clock,
        signing_key=ledger_key,
        key_label=LABEL,
        checkpoint_interval=5,
    )


def _count(session_factory: sessionmaker[Session], model: Any) -> int:
    with session_factory() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


# --- append and read back ---------------------------------------------------------------------


def test_append_and_read_back(ledger: AuditLedger, clock: FixedClock) -> None:
    first = ledger.append(
        "registry.person.added",
        actor="officer:7f3a",
        subject="person:91b2",
        data={"office": "phnom-penh-1", "loa": "high", "documents": ["id-card"]},
    )
    clock.advance(dt.timedelta(seconds=1, microseconds=250))
    second = ledger.append("idp.login.succeeded", subject="person:91b2")

    entries = ledger.tail(10)
    assert [e.seq for e in entries] == [1, 2]
    assert entries == [first, second]
    assert entries[0].data == {"documents": ["id-card"], "loa": "high", "office": "phnom-penh-1"}
    assert entries[1].data == {}
    assert entries[1].actor is None
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[1].prev_hash == entries[0].entry_hash
    # Times come back exactly, timezone-aware, in UTC.
    assert entries[1].at == dt.datetime(2026, 11, 1, 9, 0, 1, 250, tzinfo=dt.UTC)
    assert entries[1].at.utcoffset() == dt.timedelta(0)
    assert ledger.head() == LedgerHead(2, second.entry_hash)


def test_tail_returns_newest_entries_oldest_first(ledger: AuditLedger) -> None:
    for i in range(7):
        ledger.append("test.event.happened", data={"i": i})
    assert [e.seq for e in ledger.tail(3)] == [5, 6, 7]


def test_empty_ledger_verifies(ledger: AuditLedger) -> None:
    report = ledger.verify()
    assert report.ok
    assert report.entries_checked == 0
    assert ledger.head() == LedgerHead(0, GENESIS_HASH)


def test_chain_verifies_with_periodic_checkpoints(ledger: AuditLedger) -> None:
    for i in range(12):
        ledger.append("kyc.attributes.released", actor="rp:bank-1", data={"n": i})
    checkpoints = ledger.checkpoints()
    assert [c.seq for c in checkpoints] == [5, 10]
    assert checkpoints[0].algorithm == CheckpointAlgorithm.ECDSA_SHA256
    report = ledger.verify()
    assert report.ok, report.reason
    assert (report.entries_checked, report.checkpoints_checked) == (12, 2)
    assert report.verified_head == ledger.head()
    # Entries 11 and 12 are protected by the chain only, and the report says so.
    assert any("11..12" in w for w in report.warnings)


# --- transactions ---------------------------------------------------------------------------


def test_entry_commits_with_the_callers_transaction(
    ledger: AuditLedger, session_factory: sessionmaker[Session]
) -> None:
    with transaction(session_factory) as session:
        entry = ledger.append("registry.person.added", actor="officer:1", session=session)
        session.execute(text("SELECT 1"))  # the caller's own business write would go here
    assert ledger.tail(1) == [entry]


def test_rolled_back_caller_transaction_leaves_no_entry_and_no_gap(
    ledger: AuditLedger, session_factory: sessionmaker[Session]
) -> None:
    for _ in range(4):
        ledger.append("idp.login.succeeded", subject="person:1")

    class BusinessRuleError(Exception):
        pass

    with pytest.raises(BusinessRuleError), transaction(session_factory) as session:
        # Entry 5 would also trigger a checkpoint (interval 5): both must vanish.
        ledger.append("registry.person.removed", actor="officer:9", session=session)
        raise BusinessRuleError

    assert ledger.head().seq == 4
    assert _count(session_factory, AuditCheckpointRow) == 0
    after = ledger.append("idp.login.succeeded", subject="person:1")
    assert after.seq == 5
    assert all(e.event != "registry.person.removed" for e in ledger.tail(100))
    report = ledger.verify()
    assert report.ok, report.reason
    assert report.checkpoints_checked == 1


# --- concurrency ----------------------------------------------------------------------------


@pytest.mark.parametrize("head_row", ["migrated", "truncated"])
def test_concurrent_writers_form_one_chain_without_forks_or_lost_entries(
    engine: Engine, session_factory: sessionmaker[Session], clock: FixedClock, head_row: str
) -> None:
    if head_row == "truncated":
        # An emptied database: the first writers race to re-seed the head row.
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_head"))
    key = ec.generate_private_key(ec.SECP256R1())
    ledger = AuditLedger(
        session_factory, clock=clock, signing_key=key, key_label=LABEL, checkpoint_interval=25
    )
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(50):
                # Each append runs in its own session and transaction from the shared factory.
                ledger.append("test.concurrent.append", actor=f"worker:{n}", data={"i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    with session_factory() as s:
        seqs = list(s.execute(select(AuditEntryRow.seq).order_by(AuditEntryRow.seq)).scalars())
    assert seqs == list(range(1, 401))
    report = ledger.verify()
    assert report.ok, report.reason
    assert (report.entries_checked, report.checkpoints_checked) == (400, 16)
    per_worker = {f"worker:{n}": 0 for n in range(8)}
    for entry in ledger.tail(400):
        assert entry.actor is not None
        per_worker[entry.actor] += 1
    assert set(per_worker.values()) == {50}


def test_writers_racing_to_reseed_an_emptied_ledger_do_not_report_tampering(
    engine: Engine, session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    ledger = AuditLedger(session_factory, clock=clock)
    errors: list[BaseException] = []
    for _ in range(15):
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_entries"))
            conn.execute(text("DELETE FROM audit_head"))
        start = threading.Barrier(8)

        def writer(start: threading.Barrier = start) -> None:
            start.wait()
            try:
                ledger.append("test.reseed.race")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert ledger.head().seq == 8
        assert ledger.verify().ok


def test_verify_during_concurrent_appends_sees_one_consistent_snapshot(
    ledger: AuditLedger,
) -> None:
    done = threading.Event()
    failures: list[BaseException] = []
    # Initialised as `natid init` leaves it: with its key, a ledger without any checkpoint fails.
    ledger.append("test.ledger.initialised")
    ledger.checkpoint()

    def writer() -> None:
        try:
            for i in range(150):
                ledger.append("test.background.append", data={"i": i})
        except BaseException as exc:
            failures.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reports = []
    while not done.is_set():
        reports.append(ledger.verify())
    thread.join()
    reports.append(ledger.verify())
    assert failures == []
    assert all(r.ok for r in reports), [r.reason for r in reports if not r.ok]
    assert reports[-1].entries_checked == 151


# --- input the ledger refuses ---------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        "Login",
        "login",
        "registry..person",
        "registry.person added",
        "",
        ".a.b",
        "a.b.",
        "ä.b",
        "registry.person.added\n",
        "a." + "b" * 300,
    ],
)
def test_event_name_must_be_dotted_lowercase(ledger: AuditLedger, event: str) -> None:
    with pytest.raises(InvalidAuditEntry) as info:
        ledger.append(event)
    assert isinstance(info.value, InvalidInput)
    assert ledger.head().seq == 0


@pytest.mark.parametrize("name", ["Sok Dara", "សុខ ដារា", "", "x" * 201, "tab\tid"])
def test_name_instead_of_id_rejected_as_actor_or_subject(ledger: AuditLedger, name: str) -> None:
    with pytest.raises(InvalidAuditEntry, match="identifier"):
        ledger.append("registry.person.viewed", actor=name)
    with pytest.raises(InvalidAuditEntry, match="identifier"):
        ledger.append("registry.person.viewed", subject=name)
    assert ledger.head().seq == 0


@pytest.mark.parametrize(
    "data",
    [
        {"amount": 1.5},
        {"nan": float("nan")},
        {"when": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
        {"raw": b"bytes"},
        {"set": {1, 2}},
        {1: "integer key"},
        {"big": 2**53},
        {"lone": "\ud800"},
        ["not", "an", "object"],
    ],
)
def test_non_json_data_rejected(ledger: AuditLedger, data: Any) -> None:
    with pytest.raises(InvalidAuditEntry):
        ledger.append("test.data.rejected", data=data)
    assert ledger.head().seq == 0


def test_oversized_data_rejected(ledger: AuditLedger) -> None:
    with pytest.raises(InvalidAuditEntry, match="16384"):
        ledger.append("test.data.big", data={"blob": "x" * MAX_DATA_BYTES})
    ledger.append("test.data.fits", data={"blob": "x" * (MAX_DATA_BYTES - 20)})
    assert ledger.head().seq == 1


def test_deeply_nested_data_rejected(ledger: AuditLedger) -> None:
    nested: Any = "leaf"
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(InvalidAuditEntry, match="nest"):
        ledger.append("test.data.deep", data={"x": nested})


class _NaiveClock:
    def now(self) -> dt.datetime:
        return dt.datetime(2026, 11, 1, 9, 0)  # naive: the point of the test


def test_naive_datetime_cannot_enter_the_ledger(session_factory: sessionmaker[Session]) -> None:
    ledger = AuditLedger(session_factory, clock=_NaiveClock())
    with pytest.raises(InvalidInput, match="timezone"):
        ledger.append("test.naive.time")
    assert _count(session_factory, AuditEntryRow) == 0


# --- the head row ---------------------------------------------------------------------------


def test_missing_head_row_is_reseeded_only_for_an_empty_ledger(
    ledger: AuditLedger, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_head"))
    ledger.append("test.after.truncate")  # an emptied database (TRUNCATE) starts afresh
    assert ledger.head().seq == 1
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_head"))
    with pytest.raises(AuditLedgerBroken, match="head row is missing"):
        ledger.append("test.restart.chain")
    assert not ledger.verify().ok
