"""Shared fixtures and helpers of the issuance tests (test_service*, test_issuance*, test_csr*).

The hierarchy's keys are made once per test session in a soft key backend under a temporary
directory (key generation is the slow part); every test gets a fresh database (SQLite and
PostgreSQL, from ``tests/conftest.py``) into which :func:`ca_service` stores that hierarchy
with ``adopt_hierarchy``, so database state never leaks between tests.

A test module imports the fixtures it uses by name (pytest finds fixtures imported into a
module); ``tests/ca/conftest.py`` belongs to the building-block tests and is left alone.
"""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ca.hierarchy import Hierarchy, create_hierarchy
from ca.models import CACertificateRow, CAKeyBindingRow
from ca.service import CAService
from ca.transparency import TransparencyLog
from ca.tsa_renewal import TsaRenewal
from ca.urls import PkiUrls
from core.audit import AuditLedger
from core.clock import FixedClock
from hsm_adapters import SoftKeyBackend
from registry import CivilServant, EmbeddedRegister, LegalEntity, Person
from tests.conftest import require_command

#: The ``clock`` fixture's time: the hierarchy starts then, so every test can issue at once.
NOW = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
BASE_URL = "http://pki.natid.gov.kh"
LOG_KEY = ec.generate_private_key(ec.SECP256R1())
PASSPHRASE = "test passphrase"
ACTOR = "officer-7"
_NUMBERS = itertools.count(100_000_001)


# --- keys and CSRs -------------------------------------------------------------------------------


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    subject: x509.Name | None = None,
    dns_names: Sequence[str] = (),
    extensions: Sequence[x509.ExtensionType] = (),
    encoding: serialization.Encoding = serialization.Encoding.PEM,
) -> bytes:
    """A CSR signed by ``key``, claiming whatever the caller wants it to claim."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mallory")])
    )
    if dns_names:
        names = [x509.DNSName(n) for n in dns_names]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(encoding)


# --- the register ---------------------------------------------------------------------------------


def add_person(
    register: EmbeddedRegister,
    *,
    level: str | None = "high",
    name_latin: str = "Sok Dara",
    status: str = "active",
) -> Person:
    """A person in the register, proven in person at ``level`` (None: never proven)."""
    person = register.add_person(
        {
            "national_id": f"{next(_NUMBERS):09d}",
            "name_km": "សុខ ដារ៉ា",
            "name_latin": name_latin,
            "birthdate": "1990-04-17",
        }
    )
    if level is not None:
        method = "remote_video" if level == "substantial" else "in_person"
        if level == "low":
            method, evidence = "self_declared", "none"
        else:
            evidence = "national_id_card"
        register.record_proofing(
            person.id, method=method, level=level, evidence=evidence, office="Phnom Penh"
        )
    if status != "active":
        # The register has no update API yet: record the death straight in the row, as a
        # civil-register adapter would report it.
        from registry.models import PersonRow

        with register._sessions.begin() as session:
            session.get_one(PersonRow, person.id).status = status
        person = register.get_person(person.id)
    return person


def add_entity(
    register: EmbeddedRegister, *, kind: str = "company", status: str = "active"
) -> LegalEntity:
    number = next(_NUMBERS)
    return register.add_entity(
        {
            "register_no": f"{kind[:3].upper()}-{number}",
            "name_km": "ក្រុមហ៊ុន ស្រូវ កំពត",
            "name_en": "Kampot Rice Co., Ltd." if kind == "company" else f"Ministry {number}",
            "kind": kind,
            "status": status,
        }
    )


def add_servant(
    register: EmbeddedRegister, person: Person, ministry: LegalEntity, *, active: bool = True
) -> CivilServant:
    return register.add_servant(
        {
            "person_id": person.id,
            "ministry_id": ministry.id,
            "unit": "Department of Digital Government",
            "unit_km": "នាយកដ្ឋានរដ្ឋាភិបាលឌីជីថល",
            "title": "Director",
            "title_km": "ប្រធាននាយកដ្ឋាន",
            "active": active,
        }
    )


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def hierarchy_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftKeyBackend]:
    """One soft key store holding the hierarchy's keys, for the whole session."""
    backend = SoftKeyBackend(tmp_path_factory.mktemp("ca-keys"), PASSPHRASE, scrypt_n=2**14)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def session_hierarchy(hierarchy_keys: SoftKeyBackend) -> Hierarchy:
    return create_hierarchy(hierarchy_keys, urls=PkiUrls(BASE_URL), at=NOW)


@pytest.fixture
def ledger(session_factory: sessionmaker[Session], clock: FixedClock) -> AuditLedger:
    return AuditLedger(session_factory, clock=clock)


@pytest.fixture
def register(
    session_factory: sessionmaker[Session], clock: FixedClock, ledger: AuditLedger
) -> EmbeddedRegister:
    return EmbeddedRegister(session_factory, clock=clock, ledger=ledger)


@pytest.fixture
def transparency(session_factory: sessionmaker[Session], clock: FixedClock) -> TransparencyLog:
    return TransparencyLog(session_factory, clock=clock, signing_key=LOG_KEY, key_label="ct-log")


def build_service(
    session_factory: sessionmaker[Session],
    keys: SoftKeyBackend,
    register: EmbeddedRegister,
    ledger: AuditLedger,
    transparency: TransparencyLog,
    clock: FixedClock,
) -> CAService:
    return CAService(
        session_factory,
        keys=keys,
        register=register,
        ledger=ledger,
        log=transparency,
        clock=clock,
        urls=PkiUrls(BASE_URL),
    )


@pytest.fixture
def ca_service(
    session_factory: sessionmaker[Session],
    hierarchy_keys: SoftKeyBackend,
    session_hierarchy: Hierarchy,
    register: EmbeddedRegister,
    ledger: AuditLedger,
    transparency: TransparencyLog,
    clock: FixedClock,
) -> CAService:
    """A CA service on this test's database, with the session's hierarchy stored in it."""
    service = build_service(session_factory, hierarchy_keys, register, ledger, transparency, clock)
    service.adopt_hierarchy(session_hierarchy, actor="test-init")
    return service


@pytest.fixture
def tsa_renewal(
    session_factory: sessionmaker[Session],
    hierarchy_keys: SoftKeyBackend,
    ledger: AuditLedger,
    transparency: TransparencyLog,
    clock: FixedClock,
    ca_service: CAService,  # stores the hierarchy first
) -> TsaRenewal:
    """The time-stamping unit's renewal on this test's database (ca/tsa_renewal.py)."""
    return TsaRenewal(
        session_factory,
        keys=hierarchy_keys,
        ledger=ledger,
        log=transparency,
        clock=clock,
        urls=PkiUrls(BASE_URL),
    )


# --- assertions ---------------------------------------------------------------------------------


def row_counts(session_factory: sessionmaker[Session]) -> tuple[int, int]:
    """(certificates, key bindings) stored."""
    with session_factory() as session:
        certs = session.scalar(select(func.count()).select_from(CACertificateRow)) or 0
        keys = session.scalar(select(func.count()).select_from(CAKeyBindingRow)) or 0
    return certs, keys


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def openssl_verify(
    tmp_path: Path, leaf: x509.Certificate, chain: Sequence[x509.Certificate]
) -> subprocess.CompletedProcess[str]:
    """``openssl verify -x509_strict`` of ``leaf`` against ``chain`` (issuing CA first, root
    last), at an hour after :data:`NOW`."""
    openssl = require_command("openssl")
    root = tmp_path / "root.pem"
    root.write_bytes(pem(chain[-1]))
    untrusted = tmp_path / "untrusted.pem"
    untrusted.write_bytes(b"".join(pem(c) for c in chain[:-1]))
    target = tmp_path / "leaf.pem"
    target.write_bytes(pem(leaf))
    at = int((NOW + dt.timedelta(hours=1)).timestamp())
    args = [openssl, "verify", "-x509_strict", "-attime", str(at), "-CAfile", str(root)]
    if chain[:-1]:
        args += ["-untrusted", str(untrusted)]
    return subprocess.run([*args, str(target)], capture_output=True, text=True, check=False)
