"""The CA service: the hierarchy on init, all-or-nothing issuance with its log and audit
entries, renewal and re-key, look-ups by serial as openssl prints it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ca.authorities import hierarchy_key_labels
from ca.errors import (
    CertificateNotFound,
    CertificateNotRenewable,
    HierarchyIncomplete,
    HierarchyNotInitialised,
    InvalidCertificateRequest,
    InvalidSerialNumber,
    KeyAlreadyCertified,
    SubjectNotEligible,
)
from ca.hierarchy import Hierarchy
from ca.models import CAAuthorityRow, CACertificateRow
from ca.service import CAService
from ca.store import CertificateStatus, normalize_serial
from ca.transparency import TransparencyLog
from core.audit import AuditLedger
from core.clock import FixedClock
from core.db import transaction
from core.errors import InvalidInput
from core.installation import PublicUrlMismatch, record_public_url, recorded_public_url
from hsm_adapters import SoftKeyBackend
from registry import EmbeddedRegister
from tests.ca._issuance import (
    ACTOR,
    BASE_URL,
    PASSPHRASE,
    add_person,
    build_service,
    ca_service,
    ec_key,
    hierarchy_keys,
    ledger,
    make_csr,
    pem,
    register,
    row_counts,
    session_hierarchy,
    transparency,
)
from tests.conftest import require_command

__all__ = [  # fixtures used by this module
    "ca_service",
    "hierarchy_keys",
    "ledger",
    "register",
    "session_hierarchy",
    "transparency",
]


# --- the hierarchy ---------------------------------------------------------------------------


@pytest.fixture
def fresh_keys(tmp_path: Path) -> SoftKeyBackend:
    return SoftKeyBackend(tmp_path / "keys", PASSPHRASE, scrypt_n=2**14)


@pytest.fixture
def fresh_service(
    session_factory: sessionmaker[Session],
    fresh_keys: SoftKeyBackend,
    register: EmbeddedRegister,
    ledger: AuditLedger,
    transparency: TransparencyLog,
    clock: FixedClock,
) -> CAService:
    """A CA service whose key backend holds no hierarchy yet."""
    return build_service(session_factory, fresh_keys, register, ledger, transparency, clock)


def test_ensure_hierarchy_creates_once_then_loads(
    fresh_service: CAService,
    fresh_keys: SoftKeyBackend,
    ledger: AuditLedger,
    transparency: TransparencyLog,
    session_factory: sessionmaker[Session],
) -> None:
    created = fresh_service.ensure_hierarchy(actor="init")
    labels = {info.label for info in fresh_keys.list()}
    assert labels == set(hierarchy_key_labels())
    assert [a.name for a in fresh_service.authorities()] == [
        "root", "citizen", "entity", "government", "health",
    ]  # fmt: skip
    assert row_counts(session_factory) == (10, 10)
    assert transparency.tree_size() == 10
    [entry] = [e for e in ledger.tail(10) if e.event == "ca.hierarchy.created"]
    assert entry.actor == "init"
    # The URL the certificates name is remembered with them (core/installation.py).
    assert entry.data["public_base_url"] == BASE_URL
    assert recorded_public_url(session_factory) == BASE_URL

    again = fresh_service.ensure_hierarchy(actor="init")
    assert {info.label for info in fresh_keys.list()} == labels
    assert row_counts(session_factory) == (10, 10)
    assert transparency.tree_size() == 10
    assert [e.event for e in ledger.tail(10)].count("ca.hierarchy.created") == 1
    assert again.root == created.root
    assert again.tsa == created.tsa
    assert dict(again.ocsp_responders) == dict(created.ocsp_responders)
    assert dict(again.cas) == dict(created.cas)


def test_no_hierarchy_is_stored_under_another_url_than_the_recorded_one(
    fresh_service: CAService,
    fresh_keys: SoftKeyBackend,
    session_factory: sessionmaker[Session],
    clock: FixedClock,
) -> None:
    with transaction(session_factory) as session:
        record_public_url(session, "https://id.natid.gov.kh", at=clock.now())
    with pytest.raises(PublicUrlMismatch, match=f"https://id.natid.gov.kh, not {BASE_URL}"):
        fresh_service.ensure_hierarchy(actor="init")
    # Nothing half-way: no CA rows, and the keys made for it are gone again.
    assert fresh_service.authorities() == ()
    assert fresh_keys.list() == []
    assert recorded_public_url(session_factory) == "https://id.natid.gov.kh"


def test_ensure_hierarchy_refuses_keys_left_by_a_half_done_run(
    session_factory: sessionmaker[Session],
    hierarchy_keys: SoftKeyBackend,
    session_hierarchy: object,
    register: EmbeddedRegister,
    ledger: AuditLedger,
    transparency: TransparencyLog,
    clock: FixedClock,
) -> None:
    """Keys without stored certificates: say what to do, generate and destroy nothing."""
    service = build_service(session_factory, hierarchy_keys, register, ledger, transparency, clock)
    before = {info.label for info in hierarchy_keys.list()}
    with pytest.raises(HierarchyIncomplete) as raised:
        service.ensure_hierarchy()
    message = str(raised.value)
    assert "ca-root" in message
    assert "natid ca init" in message
    assert "Restore the database" in message
    assert {info.label for info in hierarchy_keys.list()} == before
    assert service.authorities() == ()


def test_failed_storage_destroys_the_new_hierarchy_keys(
    fresh_service: CAService,
    fresh_keys: SoftKeyBackend,
    ledger: AuditLedger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def ledger_down(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("ledger down")

    with monkeypatch.context() as patch:
        patch.setattr(ledger, "append", ledger_down)
        with pytest.raises(RuntimeError, match="ledger down"):
            fresh_service.ensure_hierarchy()
    assert fresh_keys.list() == []
    assert fresh_service.authorities() == ()
    fresh_service.ensure_hierarchy()  # the next run starts clean
    assert len(fresh_service.authorities()) == 5


def test_issuing_before_the_hierarchy_exists_says_what_to_run(
    fresh_service: CAService, register: EmbeddedRegister
) -> None:
    person = add_person(register)
    with pytest.raises(HierarchyNotInitialised, match="natid ca init"):
        fresh_service.issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor=ACTOR)


def test_stored_ca_certificates_are_the_hierarchy(
    ca_service: CAService, session_hierarchy: object, session_factory: sessionmaker[Session]
) -> None:
    loaded = ca_service.hierarchy()
    with session_factory() as session:
        parents = dict(session.execute(select(CAAuthorityRow.name, CAAuthorityRow.parent)).all())
    assert parents == {
        "root": None, "citizen": "root", "entity": "root", "government": "root", "health": "root",
    }  # fmt: skip
    assert loaded.chain("citizen") == (loaded.cas["citizen"], loaded.root)
    tsa = ca_service.list(profile="tsa")
    assert [c.certificate for c in tsa] == [loaded.tsa]
    assert tsa[0].subject_id is None
    assert tsa[0].key_label == "tsa"


# --- one transaction: certificate, key binding, log entry, audit entry ------------------------


def test_issuance_lands_in_the_transparency_log_and_the_audit_ledger(
    ca_service: CAService,
    register: EmbeddedRegister,
    ledger: AuditLedger,
    transparency: TransparencyLog,
) -> None:
    person = add_person(register)
    issued = ca_service.issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor=ACTOR)

    [logged] = transparency.entries_for_subject(person.id)
    assert logged.certificate == issued.certificate
    assert logged.serial_hex == issued.serial_hex
    entry = ledger.tail(1)[0]
    assert (entry.event, entry.actor, entry.subject) == (
        "ca.certificate.issued", ACTOR, person.id,
    )  # fmt: skip
    data = json.loads(entry.data_json)
    assert data["serial"] == issued.serial_hex
    assert data["profile"] == "citizen-auth"
    assert data["issuer"] == "citizen"
    # Ids, never names or ID numbers.
    assert person.national_id not in entry.data_json
    assert "Sok" not in entry.data_json
    transparency.verify_against([issued.certificate])


def test_failure_in_the_middle_stores_nothing(
    ca_service: CAService,
    register: EmbeddedRegister,
    ledger: AuditLedger,
    transparency: TransparencyLog,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ledger append is the last write: when it fails, the certificate, its key binding
    and its log entry are rolled back with it."""
    person = add_person(register)
    key = ec_key()
    counts, size, seq = row_counts(session_factory), transparency.tree_size(), ledger.head().seq

    def ledger_down(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("ledger down")

    with monkeypatch.context() as patch:
        patch.setattr(ledger, "append", ledger_down)
        with pytest.raises(RuntimeError):
            ca_service.issue_from_csr("citizen-auth", person.id, make_csr(key), actor=ACTOR)

    assert row_counts(session_factory) == counts
    assert transparency.tree_size() == size
    assert transparency.entries_for_subject(person.id) == []
    assert ledger.head().seq == seq
    assert ca_service.list(subject_id=person.id) == ()
    # The key was not bound either: the same request goes through once the ledger is back.
    issued = ca_service.issue_from_csr("citizen-auth", person.id, make_csr(key), actor=ACTOR)
    assert issued.subject_id == person.id


@pytest.mark.parametrize(
    "csr",
    [b"\x30\x82\x01\x00garbage", b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", b"\x30" * 70_000],
    ids=["garbage", "truncated-pem", "oversized"],
)
def test_bad_csr_stores_nothing(
    ca_service: CAService,
    register: EmbeddedRegister,
    ledger: AuditLedger,
    transparency: TransparencyLog,
    session_factory: sessionmaker[Session],
    csr: bytes,
) -> None:
    person = add_person(register)
    counts, size, seq = row_counts(session_factory), transparency.tree_size(), ledger.head().seq
    with pytest.raises(InvalidCertificateRequest):
        ca_service.issue_from_csr("citizen-auth", person.id, csr, actor=ACTOR)
    assert (row_counts(session_factory), transparency.tree_size(), ledger.head().seq) == (
        counts, size, seq,
    )  # fmt: skip


# --- renewal and re-key --------------------------------------------------------------------------


def test_renew_keeps_key_and_subject_with_a_new_serial_and_validity(
    ca_service: CAService, register: EmbeddedRegister, ledger: AuditLedger, clock: FixedClock
) -> None:
    person = add_person(register)
    old = ca_service.issue_from_csr("citizen-sign", person.id, make_csr(ec_key()), actor=ACTOR)
    clock.advance(dt.timedelta(days=400))
    new = ca_service.renew(old.serial_hex.lower(), actor=ACTOR)

    assert new.serial_hex != old.serial_hex
    assert new.certificate.public_key() == old.certificate.public_key()
    assert new.certificate.subject == old.certificate.subject
    assert new.not_before == old.not_before + dt.timedelta(days=400)
    assert new.renewed_from == old.serial_hex
    refreshed = ca_service.get(old.serial_hex)
    assert refreshed.status is CertificateStatus.GOOD  # stays valid until expiry or revocation
    assert refreshed.replaced_by == new.serial_hex
    assert ledger.tail(1)[0].event == "ca.certificate.renewed"
    with pytest.raises(CertificateNotRenewable, match="already replaced"):
        ca_service.renew(old.serial_hex, actor=ACTOR)


def test_renewal_checks_the_register_again(
    ca_service: CAService,
    register: EmbeddedRegister,
    session_factory: sessionmaker[Session],
) -> None:
    from registry.models import PersonRow

    person = add_person(register)
    old = ca_service.issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor=ACTOR)
    with session_factory.begin() as session:
        session.get_one(PersonRow, person.id).status = "deceased"
    with pytest.raises(SubjectNotEligible, match="not active"):
        ca_service.renew(old.serial_hex, actor=ACTOR)


def test_revoked_or_expired_certificate_cannot_be_renewed(
    ca_service: CAService,
    register: EmbeddedRegister,
    session_factory: sessionmaker[Session],
    clock: FixedClock,
) -> None:
    person = add_person(register)
    first = ca_service.issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor=ACTOR)
    second = ca_service.issue_from_csr("citizen-sign", person.id, make_csr(ec_key()), actor=ACTOR)
    with session_factory.begin() as session:
        session.execute(
            update(CACertificateRow)
            .where(CACertificateRow.serial_hex == first.serial_hex)
            .values(status="revoked", revoked_at=clock.now(), revocation_reason="keyCompromise")
        )
    with pytest.raises(CertificateNotRenewable, match="it is revoked"):
        ca_service.renew(first.serial_hex, actor=ACTOR)
    clock.advance(dt.timedelta(days=6 * 365))
    with pytest.raises(CertificateNotRenewable, match="validity period"):
        ca_service.renew(second.serial_hex, actor=ACTOR)


def test_rekey_from_a_csr_and_from_a_server_key(
    ca_service: CAService, register: EmbeddedRegister, ledger: AuditLedger
) -> None:
    person = add_person(register)
    old = ca_service.issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor=ACTOR)
    new = ca_service.rekey(old.serial_hex, make_csr(ec_key()), actor=ACTOR)
    assert new.certificate.public_key() != old.certificate.public_key()
    assert (new.subject_id, new.profile, new.renewed_from) == (
        person.id, old.profile, old.serial_hex,
    )  # fmt: skip
    assert ledger.tail(1)[0].event == "ca.certificate.rekeyed"

    newest = ca_service.rekey(new.serial_hex, actor=ACTOR, server_key=True)
    assert newest.key_label is not None
    assert newest.renewed_from == new.serial_hex


def test_rekey_with_the_old_key_is_refused(
    ca_service: CAService, register: EmbeddedRegister
) -> None:
    key = ec_key()
    person = add_person(register)
    old = ca_service.issue_from_csr("citizen-auth", person.id, make_csr(key), actor=ACTOR)
    with pytest.raises(KeyAlreadyCertified):
        ca_service.rekey(old.serial_hex, make_csr(key), actor=ACTOR)
    assert ca_service.get(old.serial_hex).replaced_by is None


def test_rekey_needs_exactly_one_key_source(ca_service: CAService) -> None:
    with pytest.raises(InvalidInput):
        ca_service.rekey("01", make_csr(ec_key()), actor=ACTOR, server_key=True)


def test_hierarchy_certificates_cannot_be_renewed(
    ca_service: CAService, session_hierarchy: object
) -> None:
    [tsa] = ca_service.list(profile="tsa")
    with pytest.raises(CertificateNotRenewable, match="hierarchy"):
        ca_service.renew(tsa.serial_hex, actor=ACTOR)


# --- look-ups -----------------------------------------------------------------------------------


def test_serial_is_what_openssl_x509_serial_prints(
    ca_service: CAService, register: EmbeddedRegister, tmp_path: Path
) -> None:
    openssl = require_command("openssl")
    person = add_person(register)
    issued = ca_service.issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor=ACTOR)
    path = tmp_path / "cert.pem"
    path.write_bytes(pem(issued.certificate))
    printed = subprocess.run(
        [openssl, "x509", "-in", str(path), "-noout", "-serial"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert printed == f"serial={issued.serial_hex}"
    assert ca_service.get(printed).serial_hex == issued.serial_hex


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0a1b", "0A1B"),
        ("A1B", "0A1B"),
        ("serial=0A1B", "0A1B"),
        ("0a:1b", "0A1B"),
        ("0x0A1B", "0A1B"),
        ("000A1B", "0A1B"),
        (0x0A1B, "0A1B"),
    ],
)
def test_serial_numbers_are_normalised(given: str | int, expected: str) -> None:
    assert normalize_serial(given) == expected


@pytest.mark.parametrize("text", ["", "xyz", "00", "-1", "1" * 81, "12 34"])
def test_malformed_serial_numbers_refused(text: str) -> None:
    with pytest.raises(InvalidSerialNumber):
        normalize_serial(text)


@given(st.integers(min_value=1, max_value=(1 << 159) - 1))
def test_serial_round_trips_through_every_spelling(number: int) -> None:
    canonical = normalize_serial(number)
    assert int(canonical, 16) == number
    assert len(canonical) % 2 == 0
    assert canonical == canonical.upper()
    for spelling in (canonical.lower(), f"serial={canonical}", f"0x{number:x}", f"{number:X}"):
        assert normalize_serial(spelling) == canonical


@given(st.text(max_size=100))
def test_any_text_is_a_serial_or_refused_cleanly(text: str) -> None:
    try:
        canonical = normalize_serial(text)
    except InvalidSerialNumber as exc:
        assert "\n" not in str(exc) or "\n" in text
    else:
        assert int(canonical, 16) > 0


def test_unknown_serial_is_not_found(ca_service: CAService) -> None:
    with pytest.raises(CertificateNotFound, match="0BADC0DE"):
        ca_service.get("0badc0de")


def test_list_filters_by_subject_profile_and_status(
    ca_service: CAService, register: EmbeddedRegister, clock: FixedClock
) -> None:
    person, other = add_person(register), add_person(register)
    auth = ca_service.issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor=ACTOR)
    clock.advance(dt.timedelta(seconds=5))
    sign = ca_service.issue_from_csr("citizen-sign", person.id, make_csr(ec_key()), actor=ACTOR)
    ca_service.issue_from_csr("citizen-auth", other.id, make_csr(ec_key()), actor=ACTOR)

    mine = ca_service.list(subject_id=person.id)
    assert [c.serial_hex for c in mine] == [sign.serial_hex, auth.serial_hex]  # newest first
    assert [
        c.serial_hex for c in ca_service.list(subject_id=person.id, profile="citizen-auth")
    ] == [auth.serial_hex]
    assert ca_service.list(subject_id=person.id, status="revoked") == ()
    assert len(ca_service.list(profile="citizen-auth", limit=1)) == 1
    with pytest.raises(InvalidInput):
        ca_service.list(limit=0)
    with pytest.raises(InvalidInput, match="unknown status"):
        ca_service.list(status="expired")


def test_ensure_hierarchy_refuses_a_database_whose_keys_are_gone(
    session_factory: sessionmaker[Session],
    session_hierarchy: Hierarchy,
    fresh_keys: SoftKeyBackend,
    register: EmbeddedRegister,
    ledger: AuditLedger,
    transparency: TransparencyLog,
    clock: FixedClock,
    ca_service: CAService,
) -> None:
    """The stored hierarchy with an empty key store (wrong NATID_SOFT_KEY_DIR): say so."""
    elsewhere = build_service(session_factory, fresh_keys, register, ledger, transparency, clock)
    with pytest.raises(HierarchyIncomplete, match="lacks its keys") as raised:
        elsewhere.ensure_hierarchy()
    assert "ca-citizen" in str(raised.value)
    assert "ca-root" not in str(raised.value)  # the root key may stay offline
    assert fresh_keys.list() == []
