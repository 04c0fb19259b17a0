"""CRL publication: CRLs made on revocation and before nextUpdate, one strictly increasing
number sequence per issuer shared by full and delta CRLs (also across two processes), delta
CRLs with removeFromCRL, the root CRL, and what ``openssl`` and pkilint say of the result.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session, sessionmaker

from ca.crl import entries_of
from ca.crlstore import CrlKind, CrlRecord, CrlUnavailable, UnknownCrl
from ca.hierarchy import Hierarchy
from ca.revocation import RevocationReason, RevokedEntry
from ca.service import CAService
from ca.store import IssuedCertificate
from ca.transparency import TransparencyLog
from core.audit import AuditLedger
from core.clock import FixedClock
from core.db import make_engine, make_session_factory
from hsm_adapters import SoftKeyBackend
from registry import EmbeddedRegister
from tests.ca._issuance import (
    ACTOR,
    NOW,
    add_person,
    build_service,
    ca_service,
    ec_key,
    hierarchy_keys,
    ledger,
    make_csr,
    pem,
    register,
    session_hierarchy,
    transparency,
)
from tests.ca._lint import errors
from tests.ca._pki import lint_crl
from tests.conftest import require_command

__all__ = [  # fixtures used by this module
    "ca_service",
    "hierarchy_keys",
    "ledger",
    "register",
    "session_hierarchy",
    "transparency",
]

R = RevocationReason
MINUTE = dt.timedelta(minutes=1)


def _issue(service: CAService, register: EmbeddedRegister) -> IssuedCertificate:
    person = add_person(register)
    return service.issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor=ACTOR)


def _crl(
    service: CAService, issuer: str = "citizen", *, delta: bool = False
) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(service.crl(issuer, delta=delta))


def _by_serial(crl: x509.CertificateRevocationList) -> dict[int, RevokedEntry]:
    return {e.serial: e for e in entries_of(crl)}


def _number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def _history(service: CAService, issuer: str = "citizen") -> list[CrlRecord]:
    return service._crls.history(issuer)


# --- publication ---------------------------------------------------------------------------------


def test_a_revocation_shows_at_once_in_the_delta_and_the_full_crl_follows_its_schedule(
    ca_service: CAService, register: EmbeddedRegister, clock: FixedClock
) -> None:
    first = _issue(ca_service, register)
    second = _issue(ca_service, register)
    full0 = _crl(ca_service)  # the first request publishes the first full CRL and its delta
    assert len(full0) == 0

    ca_service.revoke(first.serial_hex, reason=R.KEY_COMPROMISE, actor=ACTOR)
    delta = _crl(ca_service, delta=True)
    entry = _by_serial(delta)[first.certificate.serial_number]
    assert (entry.reason, entry.revoked_at) == (R.KEY_COMPROMISE, clock.now())
    base = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value.crl_number
    assert base == _number(full0)
    # The full CRL is renewed after a change only once full_min_interval (15 min) has passed.
    assert _number(_crl(ca_service)) == _number(full0)

    clock.advance(dt.timedelta(minutes=16))
    ca_service.revoke(second.serial_hex, reason=R.SUPERSEDED, actor=ACTOR)
    full = _crl(ca_service)
    assert _number(full) > _number(full0)
    assert set(_by_serial(full)) == {
        first.certificate.serial_number, second.certificate.serial_number,
    }  # fmt: skip
    new_delta = _crl(ca_service, delta=True)
    base = new_delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value.crl_number
    assert base == _number(full)
    assert len(new_delta) == 0  # nothing changed since its base

    numbers = [r.number for r in _history(ca_service)]
    assert numbers == sorted(set(numbers))
    assert numbers == list(range(1, len(numbers) + 1))


def test_crls_are_renewed_before_next_update_and_never_served_past_it(
    ca_service: CAService, clock: FixedClock
) -> None:
    full = _crl(ca_service)
    delta = _crl(ca_service, delta=True)
    assert _crl(ca_service) == full  # nothing due: the same bytes
    assert full.next_update_utc == NOW + dt.timedelta(days=7)

    # Within the delta's margin (12 h before its nextUpdate), a new delta; the full stays.
    clock.advance(dt.timedelta(hours=13))
    assert _number(_crl(ca_service, delta=True)) > _number(delta)
    assert _number(_crl(ca_service)) == _number(full)
    # Within the full CRL's margin (3 days before its nextUpdate), a new full CRL.
    clock.advance(dt.timedelta(days=4))
    renewed = _crl(ca_service)
    assert _number(renewed) > _number(full)
    assert renewed.last_update_utc == clock.now()


def test_a_released_hold_is_remove_from_crl_in_the_delta(
    ca_service: CAService, register: EmbeddedRegister, clock: FixedClock
) -> None:
    cert = _issue(ca_service, register)
    serial = cert.certificate.serial_number
    ca_service.hold(cert.serial_hex, actor=ACTOR)  # publishes the first full CRL with it
    full = _crl(ca_service)
    assert _by_serial(full)[serial].reason is R.CERTIFICATE_HOLD

    clock.advance(MINUTE)
    ca_service.resume(cert.serial_hex, actor=ACTOR)
    delta = _crl(ca_service, delta=True)
    assert _by_serial(delta)[serial].reason is R.REMOVE_FROM_CRL
    assert _crl(ca_service) == full  # the full CRL waits for its interval

    clock.advance(dt.timedelta(minutes=20))
    assert serial not in _by_serial(_crl(ca_service))


def test_the_root_crl_lists_a_revoked_issuing_ca_at_once_and_has_no_delta(
    ca_service: CAService, session_hierarchy: Hierarchy
) -> None:
    before = _crl(ca_service, "root")
    with pytest.raises(x509.ExtensionNotFound):
        before.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    serial = session_hierarchy.cas["health"].serial_number
    ca_service.revoke(serial, reason=R.CA_COMPROMISE, actor=ACTOR)
    after = _crl(ca_service, "root")
    assert _number(after) > _number(before)
    assert _by_serial(after)[serial].reason is R.CA_COMPROMISE
    assert after.is_signature_valid(session_hierarchy.root.public_key())  # type: ignore[arg-type]
    with pytest.raises(UnknownCrl, match="no delta"):
        ca_service.crl("root", delta=True)
    with pytest.raises(UnknownCrl, match="no CA named 'mars'"):
        ca_service.crl("mars")


def test_issuing_ca_crls_name_their_distribution_point_and_delta(ca_service: CAService) -> None:
    full = _crl(ca_service)
    idp = full.extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    assert idp.full_name == [
        x509.UniformResourceIdentifier("http://pki.natid.gov.kh/pki/crl/citizen.crl")
    ]
    freshest = full.extensions.get_extension_for_class(x509.FreshestCRL).value
    assert freshest[0].full_name == [
        x509.UniformResourceIdentifier("http://pki.natid.gov.kh/pki/crl/citizen-delta.crl")
    ]


def test_an_unsignable_crl_is_served_while_current_then_refused(
    session_factory: sessionmaker[Session],
    ca_service: CAService,
    register: EmbeddedRegister,
    ledger: AuditLedger,
    transparency: TransparencyLog,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    published = ca_service.crl("citizen")
    # Another node whose key backend lacks the CA keys (an HSM that is down).
    empty = SoftKeyBackend(tmp_path / "empty", "x", scrypt_n=2**14)
    other = build_service(session_factory, empty, register, ledger, transparency, clock)
    clock.advance(dt.timedelta(days=5))  # the full CRL is due (margin), not expired
    assert other.crl("citizen") == published
    clock.advance(dt.timedelta(days=3))  # now past its nextUpdate
    with pytest.raises(CrlUnavailable, match="cannot be signed"):
        other.crl("citizen")
    assert _number(_crl(ca_service)) > 1  # a node with the key publishes again


# --- numbering across processes ----------------------------------------------------------------


@pytest.fixture
def second_service(
    db_url: str,
    hierarchy_keys: SoftKeyBackend,
    register: EmbeddedRegister,
    clock: FixedClock,
) -> Iterator[CAService]:
    """A second CA service on the same database with its own engine (another process)."""
    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    ledger2 = AuditLedger(sessions, clock=clock)
    log2 = TransparencyLog(sessions, clock=clock, signing_key=ec_key(), key_label="ct-log")
    yield build_service(sessions, hierarchy_keys, register, ledger2, log2, clock)
    engine.dispose()


def test_crl_numbers_strictly_increase_across_full_delta_and_two_services(
    ca_service: CAService,
    second_service: CAService,
    register: EmbeddedRegister,
    clock: FixedClock,
) -> None:
    certs = [_issue(ca_service, register) for _ in range(6)]
    for i, cert in enumerate(certs):
        service = (ca_service, second_service)[i % 2]
        service.revoke(cert.serial_hex, reason=R.UNSPECIFIED, actor=ACTOR)
        clock.advance(dt.timedelta(minutes=8))  # a full CRL every other change
        (second_service, ca_service)[i % 2].crl("citizen")
    history = _history(ca_service)
    numbers = [r.number for r in history]
    assert numbers == list(range(1, len(numbers) + 1))  # no duplicate, no reuse, no gap
    kinds = {r.kind for r in history}
    assert kinds == {CrlKind.FULL, CrlKind.DELTA}
    for record in history:
        if record.kind is CrlKind.DELTA:
            assert record.delta_base is not None
            assert record.delta_base < record.number
    # The newest delta over the newest full CRL has every revocation since that base.
    full = _crl(second_service)
    delta = _crl(ca_service, delta=True)
    listed = set(_by_serial(full)) | set(_by_serial(delta))
    assert listed == {c.certificate.serial_number for c in certs}


def test_two_services_publishing_at_once_never_share_a_number(
    ca_service: CAService, second_service: CAService, clock: FixedClock
) -> None:
    ca_service.crl("citizen")
    clock.advance(dt.timedelta(days=6, hours=1))  # both kinds due
    results: list[object] = []

    def publish(service: CAService) -> None:
        try:
            results.append(service.publish_crls("citizen"))
        except Exception as exc:  # collected for the assertion
            results.append(exc)

    threads = [threading.Thread(target=publish, args=(s,)) for s in (ca_service, second_service)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not [r for r in results if isinstance(r, Exception)], results
    made = [r for batch in results for r in batch]  # type: ignore[attr-defined]
    assert len(made) == 2  # one process published the full + delta, the other found them
    numbers = [r.number for r in _history(ca_service)]
    assert numbers == list(range(1, len(numbers) + 1))


# --- interoperability ----------------------------------------------------------------------------


def test_openssl_reads_the_crl_and_verify_says_revoked(
    ca_service: CAService,
    register: EmbeddedRegister,
    session_hierarchy: Hierarchy,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    openssl = require_command("openssl")
    revoked = _issue(ca_service, register)
    fine = _issue(ca_service, register)
    ca_service.revoke(revoked.serial_hex, reason=R.KEY_COMPROMISE, actor=ACTOR)
    clock.advance(dt.timedelta(minutes=16))
    der = ca_service.crl("citizen")
    crl_file = tmp_path / "citizen.crl"
    crl_file.write_bytes(der)

    text = subprocess.run(
        [openssl, "crl", "-inform", "DER", "-in", str(crl_file), "-noout", "-text"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert f"Serial Number: {revoked.serial_hex}" in text
    assert "Key Compromise" in text
    assert fine.serial_hex not in text
    assert re.search(r"X509v3 CRL Number: *\n +\d+\n", text)

    crl_pem = tmp_path / "citizen-crl.pem"
    crl_pem.write_bytes(x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM))
    root = tmp_path / "root.pem"
    root.write_bytes(pem(session_hierarchy.root))
    issuing = tmp_path / "issuing.pem"
    issuing.write_bytes(pem(session_hierarchy.cas["citizen"]))
    at = str(int((clock.now() + MINUTE).timestamp()))
    for cert, verdict in ((revoked, "certificate revoked"), (fine, ": OK")):
        leaf = tmp_path / "leaf.pem"
        leaf.write_bytes(pem(cert.certificate))
        result = subprocess.run(
            [openssl, "verify", "-x509_strict", "-attime", at, "-crl_check",
             "-CRLfile", str(crl_pem), "-CAfile", str(root), "-untrusted", str(issuing), str(leaf)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert verdict in result.stdout + result.stderr, result.stdout + result.stderr


def test_pkilint_finds_no_error_in_published_crls(
    ca_service: CAService, register: EmbeddedRegister, clock: FixedClock
) -> None:
    cert = _issue(ca_service, register)
    ca_service.hold(cert.serial_hex, actor=ACTOR)
    clock.advance(dt.timedelta(minutes=16))
    ca_service.publish_crls()
    ca_service.resume(cert.serial_hex, actor=ACTOR)
    for issuer, delta in (("citizen", False), ("citizen", True), ("root", False)):
        assert errors(lint_crl(ca_service.crl(issuer, delta=delta))) == [], (issuer, delta)
