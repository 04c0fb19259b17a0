"""The verifier on credentials signed in the tests: what a border officer and a caller see.

The first test decodes such a credential with an independent decoder written here from the
specifications (cbor2, Base45, zlib and cryptography, no vaccine_cert decoding code), so NatID's
verifier and a stranger's agree on the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zlib

import cbor2
import pytest
import zxingcpp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from PIL import Image

from core.errors import InvalidInput
from vaccine_cert import (
    CertificateType,
    Check,
    CredentialRejected,
    HealthCertError,
    Outcome,
    ReasonCode,
    RevocationQuery,
    TrustedSigner,
    TrustedSigners,
    VerifiedCredential,
    read_qr_texts,
    verify,
)
from vaccine_cert.base45 import b45decode

from .conftest import (
    CHECKED,
    EXPIRES,
    ISSUED,
    RECOVERY_OID,
    TEST_OID,
    VACCINATION_OID,
    claims,
    kid_for,
    lab_test_dcc,
    make_dsc,
    sign_cose,
    sign_hc1,
    vaccination_dcc,
    wrap_hc1,
)


def independent_decode(text: str, signer: x509.Certificate) -> dict[object, object]:
    """HCERT decoding and ES256 verification straight from the specifications."""
    assert text[:4] == "HC1:"
    cose = cbor2.loads(zlib.decompress(b45decode(text[4:])))
    assert isinstance(cose, cbor2.CBORTag) and cose.tag == 18
    protected_bytes, _unprotected, payload, signature = cose.value
    protected = cbor2.loads(protected_bytes)
    assert protected[1] == -7
    der = signer.public_bytes(serialization.Encoding.DER)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    assert protected[4] == digest.finalize()[:8]
    to_be_signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    der_signature = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    public_key = signer.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(der_signature, to_be_signed, ec.ECDSA(hashes.SHA256()))
    result: dict[object, object] = cbor2.loads(payload)
    return result


def test_credential_verifies_in_an_independent_decoder_and_in_natid(
    credential: str, dsc: x509.Certificate, trusted: TrustedSigners
) -> None:
    decoded = independent_decode(credential, dsc)
    assert decoded[1] == "KH"
    assert decoded[4] == int(EXPIRES.timestamp())
    assert decoded[-260] == {1: vaccination_dcc()}

    report = verify(credential, trusted=trusted, at=CHECKED)
    assert report.valid
    verified = report.require_valid()
    assert json.loads(verified.dcc_json) == vaccination_dcc()
    assert verified.certificate_type is CertificateType.VACCINATION
    assert verified.uvci == "URN:UVCI:01:KH:TESTVACC0001#5"
    assert verified.issued_at == ISSUED.replace(microsecond=0)
    assert verified.signer.certificate == dsc


def test_altered_credential_fails_in_both_decoders(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, trusted: TrustedSigners
) -> None:
    good = sign_cose(claims(vaccination_dcc()), key=ec_key, protected={1: -7, 4: kid_for(dsc)})
    message = cbor2.loads(good).value
    forged_payload = claims(vaccination_dcc(dob="1950-01-01"))
    forged = wrap_hc1(cbor2.dumps(cbor2.CBORTag(18, [message[0], {}, forged_payload, message[3]])))
    with pytest.raises(InvalidSignature):
        independent_decode(forged, dsc)
    report = verify(forged, trusted=trusted, at=CHECKED)
    assert not report.valid
    assert report.codes(Check.SIGNATURE) == {ReasonCode.SIGNATURE_INVALID}


def test_report_has_the_issue_json_shape(credential: str, trusted: TrustedSigners) -> None:
    out = verify(credential, trusted=trusted, at=CHECKED).as_dict()
    assert list(out)[:5] == ["valid", "checks", "holder", "kid", "reasons"]
    assert out["valid"] is True
    assert out["checks"] == {
        "decode": "pass",
        "signature": "pass",
        "expiry": "pass",
        "schema": "pass",
        "revocation": "skipped",
    }
    assert out["holder"] == {
        "fn": "Sok",
        "gn": "Dara",
        "fnt": "SOK",
        "gnt": "DARA",
        "dob": "1990-04-14",
    }
    assert out["reasons"] == ["revocation: not checked: no revocation list given"]
    assert out["issuer_country"] == "KH"
    json.dumps(out)  # printable as is


def test_ps256_credential_with_rsa_dsc_verifies() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = make_dsc(key)
    report = verify(sign_hc1(vaccination_dcc(), key=key, cert=cert), trusted=[cert], at=CHECKED)
    assert report.valid, report.reasons


def test_es256_header_with_rsa_signer_is_rejected() -> None:
    # CO27 in the test-case list: an algorithm that does not match the key must fail.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = make_dsc(key)
    report = verify(
        sign_hc1(vaccination_dcc(), key=key, cert=cert, alg=-7), trusted=[cert], at=CHECKED
    )
    assert report.outcome(Check.SIGNATURE) is Outcome.FAIL
    assert "needs a P-256 signer key" in " ".join(report.reasons)


@pytest.mark.parametrize(
    ("purposes", "dcc", "allowed"),
    [
        ((VACCINATION_OID,), vaccination_dcc(), True),
        ((TEST_OID,), vaccination_dcc(), False),
        ((VACCINATION_OID, RECOVERY_OID), lab_test_dcc(), False),
        ((TEST_OID,), lab_test_dcc(), True),
        (("1.3.6.1.4.1.0.1847.2021.1.1",), vaccination_dcc(), False),  # alternative arc
        (("1.3.6.1.4.1.0.1847.2021.1.2",), vaccination_dcc(), True),
        (("1.3.6.1.5.5.7.3.2",), lab_test_dcc(), True),  # no DCC purpose at all: any kind
    ],
)
def test_signer_purpose_oids_limit_the_kinds_it_may_sign(
    ec_key: ec.EllipticCurvePrivateKey,
    purposes: tuple[str, ...],
    dcc: dict[str, object],
    allowed: bool,
) -> None:
    cert = make_dsc(ec_key, purposes=purposes)
    report = verify(sign_hc1(dcc, key=ec_key, cert=cert), trusted=[cert], at=CHECKED)
    assert report.valid is allowed
    if not allowed:
        assert report.codes(Check.SIGNATURE) == {ReasonCode.SIGNER_PURPOSE}


@pytest.mark.parametrize(
    ("at", "code"),
    [
        (ISSUED, None),  # iat <= at: the boundary is valid
        (EXPIRES, None),  # at <= exp: the boundary is valid
        (EXPIRES + dt.timedelta(seconds=1), ReasonCode.EXPIRED),
        (ISSUED - dt.timedelta(seconds=1), ReasonCode.NOT_YET_VALID),
    ],
)
def test_expiry_window_is_iat_to_exp(
    credential: str, trusted: TrustedSigners, at: dt.datetime, code: ReasonCode | None
) -> None:
    report = verify(credential, trusted=trusted, at=at)
    assert report.valid is (code is None)
    if code is not None:
        assert report.codes(Check.EXPIRY) == {code}
        # The other checks still ran: the officer learns all that is wrong at once.
        assert report.outcome(Check.SIGNATURE) is Outcome.PASS


def test_credential_outliving_its_signer_certificate_is_rejected(
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    cert = make_dsc(ec_key, not_after=ISSUED + dt.timedelta(days=10))
    text = sign_hc1(vaccination_dcc(), key=ec_key, cert=cert)
    report = verify(text, trusted=[cert], at=ISSUED + dt.timedelta(days=20))
    assert report.codes(Check.EXPIRY) == {ReasonCode.SIGNER_CERTIFICATE_NOT_VALID}


@pytest.mark.parametrize("missing", ["iat", "exp"])
def test_missing_iat_or_exp_fails_expiry(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, missing: str
) -> None:
    text = sign_hc1(vaccination_dcc(), key=ec_key, cert=dsc, **{missing: None})
    report = verify(text, trusted=[dsc], at=CHECKED)
    assert report.codes(Check.EXPIRY) == {ReasonCode.CLAIM_MISSING}
    assert not report.valid


def test_schema_failure_is_reported_without_the_holders_data(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate
) -> None:
    dcc = vaccination_dcc(dob="14.04.1990")
    text = sign_hc1(dcc, key=ec_key, cert=dsc)
    report = verify(text, trusted=[dsc], at=CHECKED)
    assert report.outcome(Check.SCHEMA) is Outcome.FAIL
    assert any("$.dob" in reason for reason in report.reasons)
    assert "14.04.1990" not in " ".join(report.reasons)
    with pytest.raises(CredentialRejected) as info:
        report.require_valid()
    assert "14.04.1990" not in str(info.value) and "Sok" not in str(info.value)


def test_every_trusted_signer_sharing_the_kid_is_tried(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, credential: str
) -> None:
    real = TrustedSigner.from_certificate(dsc)
    other_key = ec.generate_private_key(ec.SECP256R1())
    impostor_cert = make_dsc(other_key, common_name="same kid, other key")
    impostor = TrustedSigner.from_certificate(impostor_cert)
    collided = TrustedSigner(
        certificate=impostor_cert,
        kid=real.kid,
        public_key=impostor.public_key,
        allowed_types=impostor.allowed_types,
        not_before=impostor.not_before,
        not_after=impostor.not_after,
    )
    assert verify(credential, trusted=TrustedSigners([collided, real]), at=CHECKED).valid
    report = verify(credential, trusted=TrustedSigners([collided]), at=CHECKED)
    assert "1 trusted signer(s)" in " ".join(report.reasons)


def test_revocation_hook_sees_the_identifiers_and_can_revoke(
    credential: str, trusted: TrustedSigners
) -> None:
    seen: list[RevocationQuery] = []

    def revoked(query: RevocationQuery) -> str | None:
        seen.append(query)
        return "UVCI hash on the revocation list"

    report = verify(credential, trusted=trusted, at=CHECKED, revocation=revoked)
    assert not report.valid
    assert report.outcome(Check.REVOCATION) is Outcome.FAIL
    assert report.codes(Check.REVOCATION) == {ReasonCode.REVOKED}
    assert seen[0].uvci == "URN:UVCI:01:KH:TESTVACC0001#5"
    assert seen[0].issuer_country == "KH"
    assert seen[0].certificate_type is CertificateType.VACCINATION

    clean = verify(credential, trusted=trusted, at=CHECKED, revocation=lambda _q: None)
    assert clean.valid
    assert clean.outcome(Check.REVOCATION) is Outcome.PASS
    assert clean.reasons == ()


def test_revocation_is_not_consulted_for_an_unverified_signature(credential: str) -> None:
    calls: list[RevocationQuery] = []
    report = verify(credential, trusted=[], at=CHECKED, revocation=calls.append)
    assert report.outcome(Check.REVOCATION) is Outcome.SKIPPED
    assert calls == []


def test_a_verified_credential_cannot_be_forged(credential: str, trusted: TrustedSigners) -> None:
    real = verify(credential, trusted=trusted, at=CHECKED).require_valid()
    with pytest.raises(HealthCertError, match=r"only out of vaccine_cert\.verify"):
        VerifiedCredential(
            certificate_type=real.certificate_type,
            holder=real.holder,
            issuer_country="KH",
            uvci=real.uvci,
            issued_at=real.issued_at,
            expires_at=real.expires_at,
            signer=real.signer,
            dcc_json=real.dcc_json,
        )


def test_naive_verification_time_is_a_programming_error(
    credential: str, trusted: TrustedSigners
) -> None:
    with pytest.raises(InvalidInput, match="timezone-aware"):
        verify(credential, trusted=trusted, at=dt.datetime(2026, 11, 2))


def test_credential_read_back_from_its_qr_picture_verifies(
    credential: str, trusted: TrustedSigners
) -> None:
    # Alphanumeric mode and error correction Q, as the issue asks of NatID's QR codes.
    code = zxingcpp.create_barcode(credential, zxingcpp.BarcodeFormat.QRCode, ec_level="Q")
    pixels = memoryview(code.to_image(scale=4))
    picture = Image.frombytes("L", (pixels.shape[1], pixels.shape[0]), pixels.tobytes())
    png = io.BytesIO()
    picture.save(png, "PNG")
    (text,) = read_qr_texts(png.getvalue())
    assert text == credential
    assert verify(text, trusted=trusted, at=CHECKED).valid


def test_forged_credential_contents_are_not_processed(credential: str) -> None:
    # HCERT "Input Data Validation": no trusted signature, no expiry or schema verdicts.
    report = verify(credential, trusted=[], at=EXPIRES + dt.timedelta(days=1))
    assert report.codes() == {ReasonCode.SIGNER_UNKNOWN}
    assert [report.outcome(c) for c in Check] == [
        Outcome.PASS,
        Outcome.FAIL,
        Outcome.SKIPPED,
        Outcome.SKIPPED,
        Outcome.SKIPPED,
    ]


def test_report_cannot_be_edited_into_a_valid_one(credential: str) -> None:
    report = verify(credential, trusted=[], at=CHECKED)
    with pytest.raises(TypeError):
        report.checks[Check.SIGNATURE] = Outcome.PASS  # type: ignore[index]
    assert not report.valid


# --- what an officer is shown of a credential that fails -----------------------------------------


def test_forged_holder_is_not_reported(
    ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate, trusted: TrustedSigners
) -> None:
    """A credential with another date of birth and the original signature: the report names no
    holder, so no screen shows the forger's name and date of birth beside "NOT VALID"."""
    good = sign_cose(claims(vaccination_dcc()), key=ec_key, protected={1: -7, 4: kid_for(dsc)})
    message = cbor2.loads(good).value
    forged_payload = claims(vaccination_dcc(dob="1950-01-01"))
    forged = wrap_hc1(cbor2.dumps(cbor2.CBORTag(18, [message[0], {}, forged_payload, message[3]])))
    report = verify(forged, trusted=trusted, at=CHECKED)
    assert report.codes(Check.SIGNATURE) == {ReasonCode.SIGNATURE_INVALID}
    assert report.holder is None
    shown = report.as_dict(include_dcc=True)
    assert shown["holder"] is None
    assert shown["dcc"] is None
    assert "1950-01-01" not in json.dumps(shown)
    assert "Sok" not in json.dumps(shown)
    # An unknown signer's credential is as unproven.
    assert verify(forged, trusted=[], at=CHECKED).holder is None


def test_signed_holder_of_an_expired_credential_is_still_reported(
    credential: str, trusted: TrustedSigners
) -> None:
    """Authentic data stays visible when the credential fails for another reason."""
    report = verify(credential, trusted=trusted, at=EXPIRES + dt.timedelta(days=1))
    assert not report.valid
    assert report.outcome(Check.SIGNATURE) is Outcome.PASS
    assert report.holder is not None
    assert report.as_dict()["holder"]["dob"] == "1990-04-14"


def test_findings_carry_their_codes_in_the_json(credential: str) -> None:
    out = verify(credential, trusted=[], at=CHECKED).as_dict()
    assert out["findings"] == [
        {
            "check": "signature",
            "code": "signer_unknown",
            "message": out["reasons"][0].removeprefix("signature: "),
            "details": {},
        }
    ]
