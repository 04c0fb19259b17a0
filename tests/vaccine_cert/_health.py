"""Shared fixtures of the issuing-side tests: a HealthService on this test's database (SQLite and
PostgreSQL), with the CA hierarchy of the test session adopted into it, a Ministry of Health and
a proven holder in the register, and an independent HC1 decoder.

The decoder (:func:`independent_decode`) is written from the specifications with cbor2, zlib and
cryptography only - its Base45 too - and imports nothing from vaccine_cert, so a credential it
accepts is one any other implementation of HCERT would accept.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy.orm import Session, sessionmaker

from ca.service import CAService
from core.audit import AuditLedger
from core.clock import FixedClock
from hsm_adapters import SoftKeyBackend
from registry import EmbeddedRegister, LegalEntity, Person
from tests.ca._issuance import add_entity, add_person
from vaccine_cert.service import HealthService

VACCINATION = {
    "tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
    "dn": 2, "sd": 2, "dt": "2026-10-01",
}  # fmt: skip
TEST = {
    "tg": "840539006", "tt": "LP6464-4", "nm": "Cobas SARS-CoV-2",
    "sc": "2026-10-31T08:00:00Z", "tr": "260415000", "tc": "Calmette Hospital",
}  # fmt: skip
RECOVERY = {"tg": "840539006", "fr": "2026-09-01", "df": "2026-09-12", "du": "2027-03-01"}

_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


@dataclass(frozen=True)
class World:
    health: HealthService
    ministry: LegalEntity
    holder: Person


def make_health(
    session_factory: sessionmaker[Session],
    ca_service: CAService,
    register: EmbeddedRegister,
    hierarchy_keys: SoftKeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
    **options: Any,
) -> World:
    ministry = add_entity(register, kind="ministry")
    holder = add_person(register, name_latin="Sok Dara")
    health = HealthService(
        session_factory,
        ca=ca_service,
        register=register,
        keys=hierarchy_keys,
        ledger=ledger,
        clock=clock,
        entity_id=ministry.id,
        **options,
    )
    # What `natid health signer ensure` does first: the lists are signed by this anchor. The
    # key store lives for the whole session, so the first test to get here would find the
    # anchor's audit entry in its ledger: it is made unaudited, as set-up.
    HealthService(
        session_factory, ca=ca_service, register=register, keys=hierarchy_keys, ledger=None,
        clock=clock, entity_id=ministry.id,
    ).ensure_anchor(actor="test")  # fmt: skip
    return World(health, ministry, holder)


@pytest.fixture
def world(
    session_factory: sessionmaker[Session],
    ca_service: CAService,
    register: EmbeddedRegister,
    hierarchy_keys: SoftKeyBackend,
    ledger: AuditLedger,
    clock: FixedClock,
) -> World:
    return make_health(session_factory, ca_service, register, hierarchy_keys, ledger, clock)


def _b45decode(text: str) -> bytes:
    out = bytearray()
    for i in range(0, len(text), 3):
        chunk = [_B45.index(c) for c in text[i : i + 3]]
        n = sum(v * 45**k for k, v in enumerate(chunk))
        out += n.to_bytes(2 if len(chunk) == 3 else 1, "big")
    return bytes(out)


def independent_decode(payload: str, dsc: x509.Certificate) -> dict[Any, Any]:
    """Unwrap and verify an HC1 payload by the specifications alone; return the CWT claims."""
    assert payload.startswith("HC1:")
    cose = cbor2.loads(zlib.decompress(_b45decode(payload[4:])))
    assert isinstance(cose, cbor2.CBORTag)
    assert cose.tag == 18
    protected, unprotected, body, signature = cose.value
    header = cbor2.loads(protected)
    assert unprotected == {}
    der = dsc.public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    assert header[4] == digest.finalize()[:8]
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", body])
    key = dsc.public_key()
    if header[1] == -7:
        assert isinstance(key, ec.EllipticCurvePublicKey)
        assert len(signature) == 64
        der_sig = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        key.verify(der_sig, to_be_signed, ec.ECDSA(hashes.SHA256()))
    else:
        assert header[1] == -37
        assert isinstance(key, rsa.RSAPublicKey)
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        key.verify(signature, to_be_signed, pss, hashes.SHA256())
    claims: dict[Any, Any] = cbor2.loads(body)
    return claims
