"""The storage-backed transparency log (ca/transparency.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from sqlalchemy import delete, text, update
from sqlalchemy.orm import Session, sessionmaker

from ca.errors import (
    InvalidLogRequest,
    MerkleProofInvalid,
    TransparencyLogBroken,
    TransparencyLogUnavailable,
)
from ca.merkle import MerkleTree, leaf_hash, verify_tree_head
from ca.models import CTLogEntryRow, CTLogNodeRow, CTTreeHeadRow
from ca.transparency import TransparencyLog
from core.clock import FixedClock
from core.db import make_engine, make_session_factory, transaction

NOW = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
CA_KEY = ec.generate_private_key(ec.SECP256R1())
LEAF_KEY = ec.generate_private_key(ec.SECP256R1())
CA_NAME = x509.Name(
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "KH"),
        x509.NameAttribute(NameOID.COMMON_NAME, "NatID Test Citizen CA"),
    ]
)
LOG_KEY = ec.generate_private_key(ec.SECP256R1())


def issue(n: int = 1, *, cn: str = "subject") -> list[x509.Certificate]:
    """Certificates as an issuing CA would make them (random serials, one test key)."""
    return [
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(CA_NAME)
        .public_key(LEAF_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=365))
        .sign(CA_KEY, hashes.SHA256())
        for _ in range(n)
    ]


def openssl_serial(cert: x509.Certificate) -> str:
    text = f"{cert.serial_number:X}"
    return "0" * (len(text) % 2) + text


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def log(session_factory: sessionmaker[Session], clock: FixedClock) -> TransparencyLog:
    return TransparencyLog(session_factory, clock=clock, signing_key=LOG_KEY, key_label="ct-log")


# --- appending, proofs and tree heads ----------------------------------------------------------


@pytest.mark.parametrize(
    "key", [LOG_KEY, ed25519.Ed25519PrivateKey.generate()], ids=["ecdsa-p256", "ed25519"]
)
def test_every_logged_certificate_has_an_inclusion_proof_to_the_signed_head(
    session_factory: sessionmaker[Session],
    clock: FixedClock,
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
) -> None:
    log = TransparencyLog(session_factory, clock=clock, signing_key=key, key_label="ct-log")
    certs = issue(13)
    assert [log.append(c, subject_id="person-1") for c in certs] == list(range(13))
    head = log.sign_tree_head()
    assert head.tree_size == 13
    verify_tree_head(head, key.public_key())
    for index, cert in enumerate(certs):
        proof = log.inclusion_proof(index, 13)
        assert proof.leaf_hash == leaf_hash(der(cert))  # checkable from the certificate alone
        proof.verify(head.root_hash)
    with pytest.raises(MerkleProofInvalid):
        log.inclusion_proof(3, 13).verify(log.root_hash(12))


def test_signed_heads_are_consistent_and_old_proofs_keep_verifying(
    log: TransparencyLog, clock: FixedClock
) -> None:
    for cert in issue(5):
        log.append(cert, subject_id=None)
    first = log.sign_tree_head()
    clock.advance(dt.timedelta(minutes=5))
    for cert in issue(8):
        log.append(cert, subject_id=None)
    second = log.sign_tree_head()
    assert (first.tree_size, second.tree_size) == (5, 13)
    assert second.timestamp == NOW + dt.timedelta(minutes=5)
    log.consistency_proof(5, 13).verify(first.root_hash, second.root_hash)
    log.inclusion_proof(4, 5).verify(first.root_hash)
    with pytest.raises(MerkleProofInvalid):  # a log that rewrote history cannot prove it
        log.consistency_proof(5, 13).verify(log.root_hash(4), second.root_hash)
    assert log.latest_tree_head() == second


def test_roots_of_every_size_match_an_in_memory_tree(log: TransparencyLog) -> None:
    certs = issue(37)
    for cert in certs:
        log.append(cert, subject_id=None)
    tree = MerkleTree(leaf_hash(der(c)) for c in certs)
    assert [log.root_hash(n) for n in range(38)] == [tree.root(n) for n in range(38)]
    for old in range(38):
        assert list(log.consistency_proof(old, 37).path) == tree.consistency_proof(old, 37)


def test_signing_the_same_size_twice_returns_the_stored_head(
    log: TransparencyLog, clock: FixedClock
) -> None:
    log.append(issue()[0], subject_id=None)
    clock.advance(dt.timedelta(microseconds=123456))
    first = log.sign_tree_head()
    clock.advance(dt.timedelta(hours=1))
    assert log.sign_tree_head() == first  # read back from the database, microseconds intact
    verify_tree_head(first, LOG_KEY.public_key())


def test_empty_log_signs_the_empty_tree(log: TransparencyLog) -> None:
    head = log.sign_tree_head()
    assert head.tree_size == 0
    assert head.root_hash.hex().startswith("e3b0c442")


def test_proofs_beyond_the_log_are_refused(log: TransparencyLog) -> None:
    for cert in issue(3):
        log.append(cert, subject_id=None)
    for ask in [
        lambda: log.inclusion_proof(3, 3),
        lambda: log.inclusion_proof(0, 4),
        lambda: log.consistency_proof(2, 4),
        lambda: log.consistency_proof(3, 2),
        lambda: log.root_hash(-1),
    ]:
        with pytest.raises(InvalidLogRequest):
            ask()


# --- transactions and subjects -----------------------------------------------------------------


def test_append_in_a_rolled_back_issuance_leaves_no_trace(
    log: TransparencyLog, session_factory: sessionmaker[Session]
) -> None:
    cert = issue()[0]
    with pytest.raises(RuntimeError), transaction(session_factory) as session:
        assert log.append(cert, subject_id="person-1", session=session) == 0
        raise RuntimeError("issuance failed after logging")
    assert log.tree_size() == 0
    assert log.entry_for_certificate(cert) is None
    with transaction(session_factory) as session:
        assert log.append(cert, subject_id="person-1", session=session) == 0
    assert log.entry_for_certificate(cert) is not None


def test_logging_the_same_certificate_again_keeps_one_entry(log: TransparencyLog) -> None:
    cert = issue()[0]
    assert log.append(cert, subject_id="person-1") == 0
    assert log.append(cert, subject_id="person-1") == 0
    assert log.tree_size() == 1
    with pytest.raises(InvalidLogRequest):  # nobody can re-attribute a logged certificate
        log.append(cert, subject_id="person-2")


def test_subject_lists_every_certificate_issued_under_their_identity(log: TransparencyLog) -> None:
    mine = issue(3, cn="me")
    for index, cert in enumerate(issue(4, cn="others")):
        log.append(cert, subject_id=f"person-{index}")
        if index < len(mine):
            log.append(mine[index], subject_id="person-me")
    entries = log.entries_for_subject("person-me")
    assert [e.certificate for e in entries] == mine
    # As `openssl x509 -serial` prints them: upper-case hex with an even number of digits.
    assert [e.serial_hex for e in entries] == [openssl_serial(c) for c in mine]
    assert all(e.issuer == "CN=NatID Test Citizen CA,C=KH" for e in entries)
    assert all(e.logged_at == NOW for e in entries)
    assert log.entries_for_subject("person-nobody") == []


@pytest.mark.parametrize("subject_id", ["", "has space", "x" * 201, "ដារ៉ា"])
def test_subject_id_must_be_an_identifier(log: TransparencyLog, subject_id: str) -> None:
    with pytest.raises(InvalidLogRequest):
        log.append(issue()[0], subject_id=subject_id)


# --- verification against the certificate table ------------------------------------------------


def test_log_verifies_against_the_issued_certificates(log: TransparencyLog) -> None:
    certs = issue(20)
    for cert in certs:
        log.append(cert, subject_id=None)
    log.sign_tree_head()
    report = log.verify_against(certs)
    assert (report.tree_size, report.certificates_checked, report.tree_heads_checked) == (20, 20, 1)
    assert report.root_hash == MerkleTree(leaf_hash(der(c)) for c in certs).root()


def test_certificate_missing_from_the_log_is_reported(log: TransparencyLog) -> None:
    logged, hidden = issue(5), issue()[0]
    for cert in logged:
        log.append(cert, subject_id=None)
    with pytest.raises(TransparencyLogBroken) as excinfo:
        log.verify_against([*logged, hidden])
    assert f"{hidden.serial_number:X}" in str(excinfo.value)


@pytest.mark.parametrize("tamper", ["certificate", "leaf_hash", "node", "tree_head", "head_row"])
def test_tampering_with_the_stored_log_is_detected(
    log: TransparencyLog, session_factory: sessionmaker[Session], tamper: str
) -> None:
    certs = issue(8)
    for cert in certs:
        log.append(cert, subject_id=None)
    log.sign_tree_head()
    statements = {
        "certificate": update(CTLogEntryRow)
        .where(CTLogEntryRow.leaf_index == 3)
        .values(certificate=der(issue()[0])),
        "leaf_hash": update(CTLogEntryRow)
        .where(CTLogEntryRow.leaf_index == 3)
        .values(leaf_hash=bytes(32)),
        "node": delete(CTLogNodeRow).where(CTLogNodeRow.level == 2),
        "tree_head": update(CTTreeHeadRow).values(signature=b"\x30\x06\x02\x01\x01\x02\x01\x01"),
        "head_row": text("UPDATE ct_log_head SET tree_size = 7"),
    }
    with transaction(session_factory) as session:
        session.execute(statements[tamper])
    with pytest.raises(TransparencyLogBroken):
        log.verify_against(certs)


def test_eight_concurrent_appenders_get_contiguous_indexes(
    log: TransparencyLog, clock: FixedClock
) -> None:
    per_thread = 25
    batches = [issue(per_thread) for _ in range(8)]
    results: list[list[int]] = [[] for _ in batches]
    errors: list[BaseException] = []
    start = threading.Barrier(len(batches))

    def worker(slot: int) -> None:
        try:
            start.wait()
            for cert in batches[slot]:
                results[slot].append(log.append(cert, subject_id=f"person-{slot}"))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(i for r in results for i in r) == list(range(8 * per_thread))
    for r in results:  # each appender's own entries keep its order
        assert r == sorted(r)
    every = [c for batch in batches for c in batch]
    report = log.verify_against(every)
    assert report.tree_size == 8 * per_thread
    head = log.sign_tree_head()
    assert head.root_hash == report.root_hash
    for index in (0, 77, 199):
        log.inclusion_proof(index, head.tree_size).verify(head.root_hash)


def test_unmigrated_database_is_an_infrastructure_error(tmp_path: Path, clock: FixedClock) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        log = TransparencyLog(
            make_session_factory(engine), clock=clock, signing_key=LOG_KEY, key_label="ct-log"
        )
        with pytest.raises(TransparencyLogUnavailable):
            log.append(issue()[0], subject_id=None)
        with pytest.raises(TransparencyLogUnavailable):
            log.tree_size()
    finally:
        engine.dispose()
