"""Batch appends to the audit ledger (``AuditLedger.append_many``), on SQLite and PostgreSQL.

What a user of the ledger notices: a batch leaves exactly the chain - entries, hashes, times,
checkpoints - that the same events appended one by one would have left, so ``natid audit
verify`` and an offline verifier cannot tell them apart; a batch with one bad event records
nothing; a batch inside a business transaction rolls back with it; concurrent batches never
fork the chain.
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditEntry, AuditEvent, AuditLedger, InvalidAuditEntry, LedgerHead
from core.audit_format import GENESIS_HASH
from core.db import make_engine, make_session_factory, transaction
from core.errors import InfrastructureError

LABEL = "natid-audit-ledger"
KEY = ec.generate_private_key(ec.SECP256R1())
START = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)

EVENTS = [
    AuditEvent(
        "ca.certificate.issued",
        actor="officer-7",
        subject=f"person-{i}",
        data={"serial": f"{i:04X}", "profile": "citizen-auth", "nested": {"n": i, "ok": True}},
    )
    for i in range(9)
] + [
    AuditEvent("registry.import.completed"),
    AuditEvent("idp.login.succeeded", subject="person-1", data={"acr": "ក្រុមហ៊ុន"}),
    AuditEvent("ca.certificate.revoked", actor="ra:2", data={"reasons": ["keyCompromise", None]}),
]


class TickingClock:
    """A clock that moves 1 ms on every reading, so each entry and checkpoint gets its own
    time and any difference in when the ledger reads the clock shows up in the hashes."""

    def __init__(self) -> None:
        self._now = START

    def now(self) -> dt.datetime:
        self._now += dt.timedelta(milliseconds=1)
        return self._now


def ledger_on(
    sessions: sessionmaker[Session], *, interval: int = 5, clock: TickingClock | None = None
) -> AuditLedger:
    return AuditLedger(
        sessions,
        clock=clock or TickingClock(),
        signing_key=KEY,
        key_label=LABEL,
        checkpoint_interval=interval,
    )


@pytest.fixture
def reference(_sqlite_template: Path, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A second, freshly migrated SQLite database for the one-by-one reference run."""
    target = tmp_path / "reference.db"
    shutil.copyfile(_sqlite_template, target)
    engine = make_engine(f"sqlite:///{target}")
    yield make_session_factory(engine)
    engine.dispose()


def one_by_one(ledger: AuditLedger, events: list[AuditEvent]) -> list[AuditEntry]:
    return [ledger.append(e.event, actor=e.actor, subject=e.subject, data=e.data) for e in events]


def checkpoint_view(ledger: AuditLedger) -> list[tuple[int, str, dt.datetime]]:
    # ECDSA signatures differ run to run (random k); what they cover must not.
    return [(c.seq, c.entry_hash, c.at) for c in ledger.checkpoints()]


@pytest.mark.parametrize("split", [[12], [3, 9], [1, 4, 7], [5, 5, 2]], ids=str)
def test_batches_write_the_chain_single_appends_write(
    session_factory: sessionmaker[Session],
    reference: sessionmaker[Session],
    split: list[int],
) -> None:
    expected_ledger = ledger_on(reference)
    expected = one_by_one(expected_ledger, EVENTS)

    ledger = ledger_on(session_factory)
    written: list[AuditEntry] = []
    start = 0
    for size in split:
        written += ledger.append_many(EVENTS[start : start + size])
        start += size

    assert written == expected
    assert ledger.tail(100) == expected
    assert checkpoint_view(ledger) == checkpoint_view(expected_ledger)
    assert [seq for seq, _h, _at in checkpoint_view(ledger)] == [5, 10]
    assert ledger.head() == LedgerHead(12, expected[-1].entry_hash)
    report = ledger.verify({LABEL: KEY.public_key()})
    assert report.ok, report.reason
    assert report.entries_checked == 12


def test_batch_continues_a_chain_of_single_appends(
    session_factory: sessionmaker[Session],
) -> None:
    ledger = ledger_on(session_factory, interval=4)
    first = ledger.append("registry.person.added", subject="person-0")
    batch = ledger.append_many(EVENTS[:6])
    last = ledger.append("registry.person.added", subject="person-9")
    chain = [first, *batch, last]
    assert [e.seq for e in chain] == list(range(1, 9))
    assert all(e.prev_hash == p.entry_hash for p, e in itertools.pairwise(chain))
    assert chain[0].prev_hash == GENESIS_HASH
    assert [c.seq for c in ledger.checkpoints()] == [4, 8]
    assert ledger.verify({LABEL: KEY.public_key()}).ok


def test_one_refused_event_records_none_of_the_batch(
    session_factory: sessionmaker[Session],
) -> None:
    """A national ID number typed as the subject (with a space) is refused, and its batch with
    it: no entry of the batch may exist without the others."""
    ledger = ledger_on(session_factory)
    ledger.append("registry.person.added", subject="person-0")
    head = ledger.head()
    bad = AuditEvent("ca.certificate.issued", subject="Sok Dara 012345678")
    with pytest.raises(InvalidAuditEntry) as refused:
        ledger.append_many([*EVENTS[:3], bad, *EVENTS[3:5]])
    assert "012345678" not in str(refused.value)
    with pytest.raises(InvalidAuditEntry):
        ledger.append_many([AuditEvent("ca.certificate.issued", data={"amount": 1.5})])
    assert ledger.head() == head
    assert [e.seq for e in ledger.tail(100)] == [1]


def test_empty_batch_writes_nothing(session_factory: sessionmaker[Session]) -> None:
    ledger = ledger_on(session_factory)
    assert ledger.append_many([]) == []
    assert ledger.head() == LedgerHead(0, GENESIS_HASH)


def test_batch_rolls_back_with_the_business_transaction(
    session_factory: sessionmaker[Session],
) -> None:
    ledger = ledger_on(session_factory)
    with pytest.raises(RuntimeError), transaction(session_factory) as session:
        ledger.append_many(EVENTS[:7], session=session)
        raise RuntimeError("the business write failed after its audit entries")
    assert ledger.head() == LedgerHead(0, GENESIS_HASH)
    assert ledger.checkpoints() == []
    with transaction(session_factory) as session:
        stored = ledger.append_many(EVENTS[:7], session=session)
    assert ledger.tail(100) == stored
    assert [c.seq for c in ledger.checkpoints()] == [5]


_ECDSA = ec.ECDSA(hashes.SHA256())


class _HsmDownError(InfrastructureError):
    code = "key_backend_unavailable"


class _HsmThatFailsOnce:
    """The ledger key behind an HSM that drops the first signing request."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> bytes:
        self.calls += 1
        if self.calls == 1:
            raise _HsmDownError("the HSM does not answer")
        return KEY.sign(*args, **kwargs)


def test_checkpoint_failing_inside_a_batch_is_retried_on_the_next_entry(
    session_factory: sessionmaker[Session],
    reference: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As with single appends: the entries are recorded, and the checkpoint comes one entry
    later - in the same batch - once the HSM answers again."""
    import core.audit

    hsm = _HsmThatFailsOnce()
    monkeypatch.setattr(core.audit, "sign_checkpoint", lambda _key, m: hsm(m, _ECDSA))
    expected_ledger = ledger_on(reference, interval=4)
    one_by_one(expected_ledger, EVENTS[:10])
    hsm.calls = 0
    ledger = ledger_on(session_factory, interval=4)
    ledger.append_many(EVENTS[:10])
    assert [c.seq for c in ledger.checkpoints()] == [5, 9]
    assert checkpoint_view(ledger) == checkpoint_view(expected_ledger)
    assert ledger.tail(100) == expected_ledger.tail(100)
    assert ledger.verify({LABEL: KEY.public_key()}).ok


def test_concurrent_batches_never_fork_the_chain(
    session_factory: sessionmaker[Session],
) -> None:
    """Two writers appending batches at the same time (concurrent transactions on
    PostgreSQL; serialised by BEGIN IMMEDIATE on SQLite) leave one unbroken chain with every
    entry of both."""
    errors: list[BaseException] = []
    clock = TickingClock()  # read under the ledger's lock only, so one clock serves both

    def writer(name: str) -> None:
        ledger = ledger_on(session_factory, interval=7, clock=clock)
        try:
            for round_ in range(6):
                ledger.append_many(
                    [AuditEvent("ca.certificate.issued", actor=name, data={"n": round_})] * 5
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ledger = ledger_on(session_factory, interval=7, clock=clock)
    entries = ledger.tail(100)
    assert [e.seq for e in entries] == list(range(1, 61))
    # A batch is contiguous: nobody else's entry lands inside it.
    actors = [e.actor for e in entries]
    assert all(len(set(actors[i : i + 5])) == 1 for i in range(0, 60, 5))
    assert ledger.verify({LABEL: KEY.public_key()}).ok
    with session_factory() as session:
        assert session.execute(text("SELECT count(*) FROM audit_entries")).scalar_one() == 60
