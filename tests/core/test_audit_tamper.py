"""Attacks on the stored ledger are detected and the first bad entry is named.

Each test plays someone with write access to the database (SQL, not the ledger's API) and
checks that verification fails at the right ``seq`` with a reason an auditor can act on. The
ledger has 12 entries with signed checkpoints at 5 and 10 (interval 5).
"""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger, AuditLedgerBroken, LedgerHead
from core.audit_format import GENESIS_HASH, checkpoint_message, compute_entry_hash
from core.clock import FixedClock

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


def _rewrite_chain_from(engine: Engine, start: int) -> None:
    """What a careful attacker does after editing entry ``start``: recompute every hash."""
    with engine.begin() as conn:
        rows = conn.execute(
            text(
                "SELECT seq, at, event, actor, subject, data, entry_hash FROM audit_entries "
                "ORDER BY seq"
            )
        ).all()
        prev = GENESIS_HASH
        for seq, stored_at, event, actor, subject, data, entry_hash in rows:
            if seq < start:
                prev = entry_hash
                continue
            # SQLite hands a text() query the raw stored text, without a zone.
            at = dt.datetime.fromisoformat(stored_at) if isinstance(stored_at, str) else stored_at
            if at.tzinfo is None:
                at = at.replace(tzinfo=dt.UTC)
            new_hash = compute_entry_hash(
                seq=seq,
                at=at,
                event=event,
                actor=actor,
                subject=subject,
                data_json=data,
                prev_hash=prev,
            )
            conn.execute(
                text("UPDATE audit_entries SET prev_hash = :p, entry_hash = :h WHERE seq = :s"),
                {"p": prev, "h": new_hash, "s": seq},
            )
            prev = new_hash
        conn.execute(text("UPDATE audit_head SET last_hash = :h WHERE id = 1"), {"h": prev})


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
    _rewrite_chain_from(engine, 3)
    report = ledger.verify(trusted)
    assert not report.ok
    # The chain itself is consistent again; the signed checkpoint at 5 is where it shows.
    assert report.first_bad_seq == 5
    assert report.reason is not None
    assert "signed checkpoint" in report.reason


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
