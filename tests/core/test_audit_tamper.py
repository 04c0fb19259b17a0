"""Attacks on the stored ledger are detected and the first bad entry is named.

Each test plays someone with write access to the database (SQL, not the ledger's API) and
checks that verification fails at the right ``seq`` with a reason an auditor can act on. The
ledger has 12 entries with signed checkpoints at 5 and 10 (interval 5); its head row records
the checkpoint at 10.
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger, AuditLedgerBroken, LedgerHead
from core.audit_format import checkpoint_message, compute_entry_hash
from core.clock import FixedClock
from tests.core._audit_sql import rewrite_chain_from

LABEL = "natid-audit-ledger"


@pytest.fixture(scope="module")
def ledger_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def trusted(ledger_key: ec.EllipticCurvePrivateKey) -> dict[str, ec.EllipticCurvePublicKey]:
    return {LABEL: ledger_key.public_key()}


@pytest.fixture
def ledger(
    session_factory: sessionmaker[Session],
    clock: FixedClock,
    ledger_key: ec.EllipticCurvePrivateKey,
) -> AuditLedger:
    ledger = AuditLedger(
        session_factory, clock=clock, signing_key=ledger_key, key_label=LABEL, checkpoint_interval=5
    )
    for i in range(12):
        clock.advance(dt.timedelta(seconds=1))
        ledger.append(
            "kyc.attributes.released",
            actor=f"rp:bank-{i % 3}",
            subject=f"person:{i:04d}",
            data={"claims": ["name", "birthdate"], "consent": f"c-{i}"},
        )
    return ledger


def _sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def test_untouched_ledger_verifies(ledger: AuditLedger, trusted: dict) -> None:
    report = ledger.verify(trusted)
    assert report.ok, report.reason
    assert (report.entries_checked, report.checkpoints_checked) == (12, 2)


def test_modified_entry_detected(ledger: AuditLedger, engine: Engine, trusted: dict) -> None:
    _sql(
        engine,
        """UPDATE audit_entries SET data = '{"claims":["name"],"consent":"c-2"}' WHERE seq = 3""",
    )
    report = ledger.verify(trusted)
    assert not report.ok
    assert report.first_bad_seq == 3
    assert report.reason == "entry 3: hash does not match its contents"
    with pytest.raises(AuditLedgerBroken, match="entry 3"):
        report.raise_for_failure()


@pytest.mark.parametrize(
    ("column", "value"),
    [("event", "kyc.attributes.refused"), ("actor", "rp:bank-9"), ("subject", None)],
)
def test_modified_field_detected(
    ledger: AuditLedger, engine: Engine, trusted: dict, column: str, value: str | None
) -> None:
    _sql(engine, f"UPDATE audit_entries SET {column} = :v WHERE seq = 7", v=value)
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 7)


def test_backdated_entry_detected(ledger: AuditLedger, engine: Engine, trusted: dict) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_entries SET at = :at WHERE seq = 6"),
            {"at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)},
        )
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 6)


def test_reformatted_data_detected(ledger: AuditLedger, engine: Engine, trusted: dict) -> None:
    # Same JSON value, different bytes: still a change to the stored entry.
    _sql(
        engine,
        """UPDATE audit_entries SET data = '{"claims": ["name","birthdate"],"consent":"c-1"}' """
        "WHERE seq = 2",
    )
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert report.reason == "entry 2: stored data is not Canonical JSON"


def test_modified_entry_with_recomputed_chain_detected_by_checkpoint(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    _sql(engine, "UPDATE audit_entries SET subject = 'person:9999' WHERE seq = 3")
    rewrite_chain_from(engine, 3)
    report = ledger.verify(trusted)
    assert not report.ok
    # The chain itself is consistent again; the signed checkpoint at 5 is where it shows.
    assert report.first_bad_seq == 5
    assert report.reason is not None
    assert "signed checkpoint" in report.reason


def test_checkpoints_deleted_and_chain_rewritten_detected_by_the_head_row(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    # The auditor's walk-through: every checkpoint deleted, entry 2 changed, every hash and
    # the head row's hash recomputed. The head row still records the checkpoint at 10.
    _sql(engine, "DELETE FROM audit_checkpoints")
    _sql(engine, "UPDATE audit_entries SET subject = 'person:9999' WHERE seq = 2")
    rewrite_chain_from(engine, 2)
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 10)
    assert report.reason == (
        "checkpoint at entry 10: missing (the head row records it as the newest signed "
        "checkpoint, but none is left): checkpoints were deleted"
    )


def test_checkpoints_deleted_and_chain_and_head_rewritten_fail_without_any_checkpoint(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    # The same, and the head row's checkpoint_seq set back to 0 as well: consistent in the
    # database, but a ledger with entries and no checkpoint cannot be tied to the trusted key.
    _sql(engine, "DELETE FROM audit_checkpoints")
    _sql(engine, "UPDATE audit_entries SET subject = 'person:9999' WHERE seq = 2")
    rewrite_chain_from(engine, 2)
    _sql(engine, "UPDATE audit_head SET checkpoint_seq = 0 WHERE id = 1")
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 12)
    assert report.reason is not None
    assert report.reason.startswith("entry 12: no signed checkpoint covers it")
    assert "entries 1..12 cannot be authenticated against the trusted key" in report.reason
    # Without a trusted key nothing could be authenticated anyway: a warning, as before.
    unkeyed = ledger.verify({})
    assert unkeyed.ok
    assert any("no signed checkpoints" in w for w in unkeyed.warnings)


def test_newest_checkpoint_deleted_detected_by_the_head_row(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    _sql(engine, "DELETE FROM audit_checkpoints WHERE seq = 10")
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 10)
    assert report.reason == (
        "checkpoint at entry 10: missing (the head row records it as the newest signed "
        "checkpoint, but the newest one left covers entry 5): checkpoints were deleted"
    )


def test_head_row_that_forgets_a_checkpoint_detected(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    _sql(engine, "UPDATE audit_head SET checkpoint_seq = 5 WHERE id = 1")
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 10)
    assert report.reason == (
        "checkpoint at entry 10: not recorded by the head row (it names entry 5 as the "
        "newest checkpoint): the head row was rewritten"
    )


def test_rewrite_after_the_newest_checkpoint_left_is_caught_only_by_expect_head(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    # The documented limit: delete the checkpoint at 10, rewrite entries 7..12 and set the
    # head row's checkpoint_seq back to 5. Everything the database holds agrees again.
    exported = ledger.head()  # kept outside NatID, e.g. printed by `natid audit head`
    _sql(engine, "DELETE FROM audit_checkpoints WHERE seq = 10")
    _sql(engine, "UPDATE audit_entries SET subject = 'person:9999' WHERE seq = 7")
    rewrite_chain_from(engine, 7)
    _sql(engine, "UPDATE audit_head SET checkpoint_seq = 5 WHERE id = 1")
    report = ledger.verify(trusted)
    assert report.ok, report.reason
    assert any(w.startswith("entries 6..12 follow the last checkpoint") for w in report.warnings)
    caught = ledger.verify(trusted, expect_head=exported)
    assert (caught.ok, caught.first_bad_seq) == (False, 12)
    assert caught.reason == "entry 12: hash differs from the trusted head"


def test_deleted_entry_detected(ledger: AuditLedger, engine: Engine, trusted: dict) -> None:
    _sql(engine, "DELETE FROM audit_entries WHERE seq = 4")
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert report.reason == "entry 4: missing (the ledger jumps from entry 3 to entry 5)"


def test_deleted_first_entry_detected(ledger: AuditLedger, engine: Engine, trusted: dict) -> None:
    _sql(engine, "DELETE FROM audit_entries WHERE seq = 1")
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 1)


def test_reordered_entries_detected(ledger: AuditLedger, engine: Engine, trusted: dict) -> None:
    # Swap the contents of entries 3 and 7, keeping their seq: the order of events changes.
    cols = "at, event, actor, subject, data, prev_hash, entry_hash"
    with engine.begin() as conn:
        row3 = conn.execute(text(f"SELECT {cols} FROM audit_entries WHERE seq = 3")).one()
        row7 = conn.execute(text(f"SELECT {cols} FROM audit_entries WHERE seq = 7")).one()
        assign = ", ".join(f"{c} = :{c}" for c in cols.split(", "))
        for seq, row in ((3, row7), (7, row3)):
            conn.execute(
                text(f"UPDATE audit_entries SET {assign} WHERE seq = :seq"),
                {**row._asdict(), "seq": seq},
            )
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 3)


def test_forged_checkpoint_signature_detected(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    # The attacker signs the genuine checkpoint statement with a key of their own.
    cp = ledger.checkpoints()[0]
    forger = ec.generate_private_key(ec.SECP256R1())
    message = checkpoint_message(
        seq=cp.seq, entry_hash=cp.entry_hash, at=cp.at, key_label=LABEL, algorithm=cp.algorithm
    )
    _sql(
        engine,
        "UPDATE audit_checkpoints SET signature = :sig WHERE seq = :seq",
        sig=forger.sign(message, ec.ECDSA(hashes.SHA256())),
        seq=cp.seq,
    )
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 5)
    assert report.reason == f"checkpoint at entry 5: signature does not verify under key {LABEL!r}"


def test_checkpoint_moved_to_another_entry_detected(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    _sql(engine, "UPDATE audit_checkpoints SET seq = 4 WHERE seq = 5")
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 4)


def test_checkpoint_algorithm_substitution_rejected(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    _sql(engine, "UPDATE audit_checkpoints SET algorithm = 'ed25519' WHERE seq = 10")
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 10)


def test_checkpoint_with_unknown_key_rejected(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    _sql(engine, "UPDATE audit_checkpoints SET key_label = 'attacker-key' WHERE seq = 10")
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 10)
    assert report.reason == "checkpoint at entry 10: signed by an unknown key 'attacker-key'"


def test_checkpoints_not_trusted_without_a_trusted_key(ledger: AuditLedger) -> None:
    report = ledger.verify({})
    assert (report.ok, report.first_bad_seq) == (False, 5)


def test_truncated_tail_detected_by_checkpoint(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    # Remove entries 9..12 and rewind the head row: a consistent but shorter chain.
    with engine.begin() as conn:
        h8 = conn.execute(text("SELECT entry_hash FROM audit_entries WHERE seq = 8")).scalar_one()
        conn.execute(text("DELETE FROM audit_entries WHERE seq > 8"))
        conn.execute(
            text("UPDATE audit_head SET last_seq = 8, last_hash = :h WHERE id = 1"), {"h": h8}
        )
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 9)
    assert report.reason is not None
    assert "truncated" in report.reason
    assert "checkpoint covers entry 10" in report.reason


def test_truncated_tail_after_last_checkpoint_detected_by_expect_head(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    exported = ledger.head()  # kept outside NatID, e.g. printed by `natid audit head`
    with engine.begin() as conn:
        h10 = conn.execute(text("SELECT entry_hash FROM audit_entries WHERE seq = 10")).scalar_one()
        conn.execute(text("DELETE FROM audit_entries WHERE seq > 10"))
        conn.execute(
            text("UPDATE audit_head SET last_seq = 10, last_hash = :h WHERE id = 1"), {"h": h10}
        )
    # Without an outside reference this truncation is invisible (documented limitation) ...
    assert ledger.verify(trusted).ok
    # ... and with the exported head it is caught.
    report = ledger.verify(trusted, expect_head=exported)
    assert (report.ok, report.first_bad_seq) == (False, 11)
    assert report.reason is not None
    assert "trusted head" in report.reason


def test_expect_head_with_a_different_hash_detected(ledger: AuditLedger, trusted: dict) -> None:
    report = ledger.verify(trusted, expect_head=LedgerHead(12, "ab" * 32))
    assert (report.ok, report.first_bad_seq) == (False, 12)


def test_deleted_last_entry_detected_by_head_row(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    _sql(engine, "DELETE FROM audit_entries WHERE seq = 12")
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 12)
    assert report.reason is not None
    assert "head row" in report.reason


def test_entry_inserted_behind_the_ledgers_back_detected(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    head = ledger.head()
    at = dt.datetime(2026, 11, 1, 10, 0, tzinfo=dt.UTC)
    forged = compute_entry_hash(
        seq=13,
        at=at,
        event="admin.user.added",
        actor="admin:1",
        subject=None,
        data_json="{}",
        prev_hash=head.entry_hash,
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_entries (seq, at, event, actor, subject, data, prev_hash, "
                "entry_hash) VALUES (13, :at, 'admin.user.added', 'admin:1', NULL, '{}', :p, :h)"
            ),
            {
                "at": at if engine.dialect.name != "sqlite" else "2026-11-01 10:00:00.000000",
                "p": head.entry_hash,
                "h": forged,
            },
        )
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 13)


def test_garbage_rows_fail_verification_without_crashing(
    ledger: AuditLedger, engine: Engine, trusted: dict
) -> None:
    _sql(
        engine,
        "UPDATE audit_entries SET data = 'not json {', prev_hash = '', entry_hash = 'zz' "
        "WHERE seq = 9",
    )
    _sql(engine, "UPDATE audit_checkpoints SET signature = :s WHERE seq = 10", s=b"\x00")
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 9)
    assert report.reason == "entry 9: stored data is not Canonical JSON"
