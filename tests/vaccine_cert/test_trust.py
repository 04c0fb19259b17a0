"""Trusted document signers: kid, purpose OIDs, and certificates the verifier cannot use."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from vaccine_cert import (
    CertificateType,
    InvalidTrustedCertificate,
    ReasonCode,
    TrustedSigner,
    TrustedSigners,
    kid_of,
    verify,
)
from vaccine_cert.trust import RevokedSigner

from .conftest import (
    CHECKED,
    DCC_DIR,
    EXPIRES,
    ISSUED,
    RECOVERY_OID,
    TEST_OID,
    VACCINATION_OID,
    kid_for,
    make_dsc,
    require_test_vectors,
    sign_hc1,
    vaccination_dcc,
)


def vector_certificate(case: str) -> x509.Certificate:
    require_test_vectors()
    context = json.loads((DCC_DIR / case).read_text())["TESTCTX"]
    return x509.load_der_x509_certificate(base64.b64decode(context["CERTIFICATE"]))


def test_kid_is_the_first_8_bytes_of_the_certificate_hash(dsc: x509.Certificate) -> None:
    assert kid_of(dsc) == kid_for(dsc)
    # And on a published DSC: the kid CO3's signer is known by.
    assert kid_of(vector_certificate("common/2DCode/raw/CO3.json")).hex() == "ac3690ee8361cc96"


def test_purpose_oids_of_both_arcs_are_understood(ec_key: ec.EllipticCurvePrivateKey) -> None:
    signer = TrustedSigner.from_certificate(
        make_dsc(ec_key, purposes=(TEST_OID, "1.3.6.1.4.1.0.1847.2021.1.3"))
    )
    assert signer.allowed_types == {CertificateType.TEST, CertificateType.RECOVERY}
    every = TrustedSigner.from_certificate(
        make_dsc(ec_key, purposes=(VACCINATION_OID, TEST_OID, RECOVERY_OID))
    )
    assert every.allowed_types == set(CertificateType)


def test_dsc_without_purpose_oids_may_sign_every_kind(dsc: x509.Certificate) -> None:
    assert TrustedSigner.from_certificate(dsc).allowed_types == set(CertificateType)


def test_purpose_oids_are_read_from_a_dsc_cryptography_refuses_to_parse() -> None:
    # Finland's test DSC encodes BasicConstraints' default cA=FALSE, which DER forbids.
    cert = vector_certificate("FI/2DCode/raw/1.json")
    with pytest.raises(ValueError, match="EncodedDefault"):
        _ = cert.extensions
    signer = TrustedSigner.from_certificate(cert)
    assert signer.allowed_types == set(CertificateType)  # all three alternative-arc OIDs
    restricted = TrustedSigner.from_certificate(vector_certificate("common/2DCode/raw/CO6.json"))
    assert restricted.allowed_types == {CertificateType.TEST}


def test_signer_with_an_unusable_key_type_is_refused() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(ISSUED)
        .not_valid_after(EXPIRES)
        .sign(key, None)
    )
    with pytest.raises(InvalidTrustedCertificate, match="ECDSA or RSA"):
        TrustedSigners.from_certificates([cert])


def test_signers_are_found_by_kid(
    dsc: x509.Certificate, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    other = make_dsc(ec_key, common_name="second")
    signers = TrustedSigners.from_certificates([dsc, other])
    assert len(signers) == 2
    assert [s.certificate for s in signers.with_kid(kid_of(other))] == [other]
    assert signers.with_kid(bytes(8)) == ()


# --- revoked signers -----------------------------------------------------------------------------

REVOKED_AT = ISSUED + dt.timedelta(days=3, microseconds=123)


def _revoked(certificate: x509.Certificate, reason: str = "keyCompromise") -> RevokedSigner:
    return RevokedSigner.from_certificate(certificate, revoked_at=REVOKED_AT, reason=reason)


def test_credential_of_a_revoked_signer_names_the_revocation(
    credential: str, dsc: x509.Certificate
) -> None:
    """Not "no trusted signer", which is what a forger's key gets: the officer learns that the
    issuer withdrew the signer, when, and why."""
    report = verify(credential, trusted=TrustedSigners([], [_revoked(dsc)]), at=CHECKED)
    assert not report.valid
    (finding,) = report.findings
    assert finding.code is ReasonCode.SIGNER_REVOKED
    assert "was revoked on 2026-11-04T09:00:00+00:00 (keyCompromise)" in finding.message
    assert dict(finding.details) == {
        "kid": base64.b64encode(kid_for(dsc)).decode(),
        "revoked_at": "2026-11-04T09:00:00+00:00",
        "reason": "keyCompromise",
    }
    assert report.holder is None
    held = verify(
        credential, trusted=TrustedSigners([], [_revoked(dsc, "certificateHold")]), at=CHECKED
    )
    assert "is suspended since 2026-11-04T09:00:00+00:00 (certificateHold)" in held.reasons[0]


def test_revoked_signer_still_in_a_trust_list_is_not_trusted(
    credential: str, dsc: x509.Certificate
) -> None:
    """A stale trust list carrying a signer the verifier knows to be revoked does not win."""
    listed = TrustedSigners.from_certificates([dsc])
    assert verify(credential, trusted=listed, at=CHECKED).valid
    known = listed.with_revoked([_revoked(dsc)])
    assert len(known) == 0
    assert verify(credential, trusted=known, at=CHECKED).codes() == {ReasonCode.SIGNER_REVOKED}


def test_copying_a_revoked_signers_kid_does_not_borrow_its_revocation(
    dsc: x509.Certificate,
) -> None:
    """A forger who puts a revoked signer's kid on a credential signed with another key gets
    the unknown-signer answer: "revoked" would say the data was the issuer's."""
    forger = ec.generate_private_key(ec.SECP256R1())
    forged = sign_hc1(vaccination_dcc(), key=forger, cert=dsc)  # dsc's kid, forger's key
    report = verify(forged, trusted=TrustedSigners([], [_revoked(dsc)]), at=CHECKED)
    assert report.codes() == {ReasonCode.SIGNER_UNKNOWN}
