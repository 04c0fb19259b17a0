"""Checkpoints: signed every N entries and on demand, with every backend algorithm.

A checkpoint is what protects the chain against someone who rewrites it and recomputes the
hashes, so it must verify under an independent implementation of the documented parameters,
and an HSM outage must delay it, never lose an entry.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger, NoCheckpointPossible
from core.audit_format import checkpoint_message
from core.clock import FixedClock
from core.errors import InfrastructureError

LABEL = "natid-audit-ledger"


@pytest.fixture
def ledger(session_factory: sessionmaker[Session], clock: FixedClock) -> AuditLedger:
    key = ec.generate_private_key(ec.SECP256R1())
    return AuditLedger(
        session_factory, clock=clock, signing_key=key, key_label=LABEL, checkpoint_interval=5
    )


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(ed25519.Ed25519PrivateKey.generate, id="ed25519"),
        pytest.param(lambda: rsa.generate_private_key(65537, 2048), id="rsa-pss"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP384R1()), id="ecdsa-p384"),
    ],
)
def test_checkpoints_verify_for_every_backend_algorithm(
    session_factory: sessionmaker[Session], clock: FixedClock, key: Any
) -> None:
    private = key()
    ledger = AuditLedger(
        session_factory, clock=clock, signing_key=private, key_label=LABEL, checkpoint_interval=2
    )
    for _ in range(4):
        ledger.append("ca.certificate.issued", actor="ra:1")
    report = ledger.verify({LABEL: private.public_key()})
    assert report.ok, report.reason
    assert report.checkpoints_checked == 2
    # The stored public key is the signer's SPKI (for information), not something trusted.
    spki = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert ledger.checkpoints()[0].public_key == spki


def test_rsa_checkpoint_is_pss_with_sha256_and_32_byte_salt(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    private = rsa.generate_private_key(65537, 2048)
    ledger = AuditLedger(session_factory, clock=clock, signing_key=private, key_label=LABEL)
    ledger.append("admin.settings.changed", actor="admin:1")
    cp = ledger.checkpoint()
    message = checkpoint_message(
        seq=cp.seq, entry_hash=cp.entry_hash, at=cp.at, key_label=LABEL, algorithm=cp.algorithm
    )
    # An independent verifier with the documented parameters accepts it (no exception).
    private.public_key().verify(
        cp.signature,
        message,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )


def test_checkpoint_on_demand_covers_the_newest_entry_once(ledger: AuditLedger) -> None:
    for _ in range(3):
        ledger.append("signing.document.sealed", actor="entity:42")
    cp = ledger.checkpoint()
    assert (cp.seq, cp.entry_hash, cp.key_label) == (3, ledger.head().entry_hash, LABEL)
    assert ledger.checkpoint() == cp
    assert len(ledger.checkpoints()) == 1
    # The periodic schedule counts from the newest checkpoint: the next one is at 3 + 5.
    for _ in range(5):
        ledger.append("signing.document.sealed", actor="entity:42")
    assert [c.seq for c in ledger.checkpoints()] == [3, 8]
    assert ledger.verify().checkpoints_checked == 2


def test_checkpoint_needs_a_key_and_an_entry(
    ledger: AuditLedger, session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    with pytest.raises(NoCheckpointPossible, match="empty"):
        ledger.checkpoint()
    unsigned = AuditLedger(session_factory, clock=clock)
    unsigned.append("test.no.key")
    with pytest.raises(NoCheckpointPossible, match="signing key"):
        unsigned.checkpoint()


def test_ledger_without_key_verifies_and_says_it_has_no_checkpoints(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    ledger = AuditLedger(session_factory, clock=clock, signing_key=None, checkpoint_interval=1)
    for _ in range(3):
        ledger.append("test.unsigned.entry")
    report = ledger.verify()
    assert report.ok
    assert report.checkpoints_checked == 0
    assert any("no signed checkpoints" in w for w in report.warnings)


class _HsmDownError(InfrastructureError):
    code = "key_backend_unavailable"


class _FlakyBackendKey(ec.EllipticCurvePrivateKey):
    """Stands in for a key backend's key whose HSM can go away (sign() raises)."""

    def __init__(self, inner: ec.EllipticCurvePrivateKey) -> None:
        self._inner = inner
        self.down = False

    def sign(self, data: Any, signature_algorithm: Any) -> bytes:
        if self.down:
            raise _HsmDownError("the HSM does not answer")
        return self._inner.sign(data, signature_algorithm)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._inner.public_key()

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._inner.curve

    @property
    def key_size(self) -> int:
        return self._inner.key_size

    def exchange(self, algorithm: Any, peer_public_key: Any) -> bytes:
        raise NotImplementedError

    def private_numbers(self) -> Any:
        raise NotImplementedError

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:  # noqa: A002
        raise NotImplementedError

    def __copy__(self) -> _FlakyBackendKey:
        return self

    def __deepcopy__(self, memo: Any) -> _FlakyBackendKey:
        return self


def test_hsm_outage_delays_the_checkpoint_but_loses_no_entry(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    key = _FlakyBackendKey(ec.generate_private_key(ec.SECP256R1()))
    assert copy.copy(key) is key
    ledger = AuditLedger(
        session_factory, clock=clock, signing_key=key, key_label=LABEL, checkpoint_interval=3
    )
    key.down = True
    for _ in range(4):
        ledger.append("ca.certificate.revoked", actor="ra:2")
    assert ledger.checkpoints() == []
    key.down = False
    ledger.append("ca.certificate.revoked", actor="ra:2")
    assert [c.seq for c in ledger.checkpoints()] == [5]
    report = ledger.verify({LABEL: key.public_key()})
    assert report.ok, report.reason
    assert report.entries_checked == 5


def test_hsm_outage_after_the_first_checkpoint_only_warns(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    key = _FlakyBackendKey(ec.generate_private_key(ec.SECP256R1()))
    ledger = AuditLedger(
        session_factory, clock=clock, signing_key=key, key_label=LABEL, checkpoint_interval=3
    )
    ledger.append("admin.settings.changed", actor="admin:1")
    ledger.checkpoint()  # as `natid init` does
    key.down = True
    for _ in range(5):
        ledger.append("ca.certificate.revoked", actor="ra:2")
    report = ledger.verify({LABEL: key.public_key()})
    assert report.ok, report.reason
    assert report.checkpoints_checked == 1
    assert any(w.startswith("entries 2..6 follow the last checkpoint") for w in report.warnings)


def test_ledger_whose_initialisation_never_signed_fails_until_a_checkpoint_is_signed(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    # `natid init` died after writing entries and before its checkpoint. In the database this
    # looks exactly like a ledger whose checkpoints were deleted, so it fails with a trusted
    # key; running init again signs the checkpoint (ledger.checkpoint()) and it passes.
    key = ec.generate_private_key(ec.SECP256R1())
    ledger = AuditLedger(session_factory, clock=clock, signing_key=key, key_label=LABEL)
    for _ in range(4):
        ledger.append("ca.authority.created", actor="natid-init")
    trusted = {LABEL: key.public_key()}
    report = ledger.verify(trusted)
    assert (report.ok, report.first_bad_seq) == (False, 4)
    assert report.reason is not None
    assert report.reason.endswith("the checkpoints were deleted, or `natid init` never finished")
    ledger.checkpoint()
    report = ledger.verify(trusted)
    assert report.ok, report.reason
    assert (report.entries_checked, report.checkpoints_checked, report.warnings) == (4, 1, ())


def test_trusted_head_vouches_for_a_ledger_without_checkpoints(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    ledger = AuditLedger(session_factory, clock=clock, signing_key=key, key_label=LABEL)
    for _ in range(3):
        ledger.append("ca.authority.created", actor="natid-init")
    exported = ledger.head()
    ledger.append("ca.authority.created", actor="natid-init")
    report = ledger.verify({LABEL: key.public_key()}, expect_head=exported)
    assert report.ok, report.reason
    assert report.warnings == (
        "no signed checkpoints: entries 1..3 authenticated only by the trusted head "
        "and entry 4 only by the hash chain",
    )
