"""Batch appends to the transparency log (``TransparencyLog.append_many``), SQLite and PostgreSQL.

What a log client notices: a batch builds exactly the tree that one append per certificate
builds - the same leaves at the same indexes, the same stored subtrees, so the same root of
every size and proofs that verify against heads signed before and after; a certificate logged
before keeps its index; a batch with one refused certificate logs none of it.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ca.errors import InvalidLogRequest
from ca.merkle import MerkleTree, leaf_hash
from ca.models import CTLogEntryRow, CTLogNodeRow
from ca.transparency import TransparencyLog
from core.db import make_engine, make_session_factory, transaction
from tests.ca.test_transparency import LOG_KEY, NOW, der, issue


class TickingClock:
    """Moves 1 ms on every reading: each entry's ``logged_at`` shows when it was taken."""

    def __init__(self) -> None:
        self._now = NOW

    def now(self) -> dt.datetime:
        self._now += dt.timedelta(milliseconds=1)
        return self._now


def log_on(sessions: sessionmaker[Session], clock: TickingClock | None = None) -> TransparencyLog:
    return TransparencyLog(
        sessions, clock=clock or TickingClock(), signing_key=LOG_KEY, key_label="ct-log"
    )


@pytest.fixture
def log(session_factory: sessionmaker[Session]) -> TransparencyLog:
    return log_on(session_factory)


@pytest.fixture
def reference(_sqlite_template: Path, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A second, freshly migrated SQLite database for the one-by-one reference run."""
    target = tmp_path / "reference.db"
    shutil.copyfile(_sqlite_template, target)
    engine = make_engine(f"sqlite:///{target}")
    yield make_session_factory(engine)
    engine.dispose()


def stored(sessions: sessionmaker[Session]) -> tuple[list[tuple[object, ...]], list[object]]:
    """Every entry (index, leaf hash, serial, subject, time) and stored subtree, in order."""
    with sessions() as session:
        entries = session.execute(
            select(
                CTLogEntryRow.leaf_index,
                CTLogEntryRow.leaf_hash,
                CTLogEntryRow.serial_hex,
                CTLogEntryRow.subject_id,
                CTLogEntryRow.logged_at,
            ).order_by(CTLogEntryRow.leaf_index)
        ).all()
        nodes = session.execute(
            select(CTLogNodeRow.level, CTLogNodeRow.node_index, CTLogNodeRow.subtree_hash).order_by(
                CTLogNodeRow.level, CTLogNodeRow.node_index
            )
        ).all()
    return [tuple(e) for e in entries], [tuple(n) for n in nodes]


@pytest.mark.parametrize("split", [[37], [1, 36], [5, 3, 8, 16, 5], [2] * 18 + [1]], ids=str)
def test_batches_build_the_tree_single_appends_build(
    session_factory: sessionmaker[Session],
    reference: sessionmaker[Session],
    split: list[int],
) -> None:
    certs = issue(37)
    subjects = [f"person-{i % 4}" for i in range(37)]
    one_by_one = log_on(reference)
    expected = [one_by_one.append(c, subject_id=s) for c, s in zip(certs, subjects, strict=True)]

    log = log_on(session_factory)
    indexes: list[int] = []
    start = 0
    for size in split:
        items = list(zip(certs, subjects, strict=True))[start : start + size]
        indexes += log.append_many(items)
        start += size

    assert indexes == expected == list(range(37))
    assert stored(session_factory) == stored(reference)
    tree = MerkleTree(leaf_hash(der(c)) for c in certs)
    assert [log.root_hash(n) for n in range(38)] == [tree.root(n) for n in range(38)]
    head = log.sign_tree_head()
    assert head.root_hash == one_by_one.sign_tree_head().root_hash == tree.root()
    for index, cert in enumerate(certs):
        proof = log.inclusion_proof(index, 37)
        assert proof.leaf_hash == leaf_hash(der(cert))
        proof.verify(head.root_hash)
    assert log.verify_against(certs).tree_size == 37


def test_heads_signed_between_batches_stay_consistent(
    session_factory: sessionmaker[Session],
) -> None:
    log = log_on(session_factory)
    first_certs, second_certs = issue(6), issue(11)
    log.append_many([(c, None) for c in first_certs])
    first = log.sign_tree_head()
    log.append_many([(c, "person-1") for c in second_certs])
    second = log.sign_tree_head()
    assert (first.tree_size, second.tree_size) == (6, 17)
    log.consistency_proof(6, 17).verify(first.root_hash, second.root_hash)
    log.inclusion_proof(5, 6).verify(first.root_hash)
    log.inclusion_proof(16, 17).verify(second.root_hash)
    assert log.verify_against([*first_certs, *second_certs]).tree_heads_checked == 2


def test_logged_certificates_keep_their_index_in_a_batch(log: TransparencyLog) -> None:
    """Logged before, or twice in the same batch: one entry, its first index, as with
    appending one by one."""
    old, new = issue(3), issue(4)
    assert log.append_many([(c, "person-1") for c in old]) == [0, 1, 2]
    batch: list[tuple[x509.Certificate, str | None]] = [
        (new[0], "person-1"),
        (old[1], "person-1"),
        (new[1], "person-2"),
    ]
    batch += [(new[0], "person-1"), (new[2], None), (new[3], None), (old[2], "person-1")]
    assert log.append_many(batch) == [3, 1, 4, 3, 5, 6, 2]
    assert log.tree_size() == 7
    assert log.append_many([(c, "person-1") for c in old]) == [0, 1, 2]
    assert log.tree_size() == 7
    assert log.verify_against([*old, *new]).tree_size == 7


@pytest.mark.parametrize("bad", ["logged for another subject", "twice for two subjects", "id"])
def test_one_refused_certificate_logs_none_of_the_batch(log: TransparencyLog, bad: str) -> None:
    """Nobody can re-attribute a logged certificate, not even hidden in a batch; and a batch
    is logged whole or not at all."""
    logged = issue()[0]
    log.append(logged, subject_id="person-1")
    fresh = issue(3)
    items: list[tuple[x509.Certificate, str | None]] = [(c, "person-2") for c in fresh]
    if bad == "logged for another subject":
        items.insert(2, (logged, "person-2"))
    elif bad == "twice for two subjects":
        items.append((fresh[0], "person-3"))
    else:
        items.insert(1, (issue()[0], "Sok Dara"))
    with pytest.raises(InvalidLogRequest):
        log.append_many(items)
    assert log.tree_size() == 1
    assert all(log.entry_for_certificate(c) is None for c in fresh)


def test_batch_rolls_back_with_the_issuance_transaction(
    log: TransparencyLog, session_factory: sessionmaker[Session]
) -> None:
    certs = issue(5)
    with pytest.raises(RuntimeError), transaction(session_factory) as session:
        assert log.append_many([(c, None) for c in certs], session=session) == [0, 1, 2, 3, 4]
        raise RuntimeError("issuance failed after logging")
    assert log.tree_size() == 0
    assert log.append_many([]) == []
    assert log.append_many([(c, None) for c in certs]) == [0, 1, 2, 3, 4]


def test_concurrent_batches_get_contiguous_indexes(
    session_factory: sessionmaker[Session],
) -> None:
    """Batches appended at the same time never share or skip an index (PostgreSQL: row lock
    on the head; SQLite: serialised writers), and the tree verifies."""
    batches = [issue(7) for _ in range(6)]
    errors: list[BaseException] = []
    clock = TickingClock()  # read under the head lock only, so one clock serves all

    def appender(certs: list[x509.Certificate]) -> None:
        try:
            log_on(session_factory, clock).append_many([(c, None) for c in certs])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=appender, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    log = log_on(session_factory, clock)
    everything = [c for b in batches for c in b]
    assert log.tree_size() == 42
    indexes = sorted(log.entry_for_certificate(c).leaf_index for c in everything)  # type: ignore[union-attr]
    assert indexes == list(range(42))
    assert log.verify_against(everything).tree_size == 42
