"""Fixtures for the HCERT tests: the public DCC test vectors, test DSCs, and a test-only issuer.

The issuer here (:func:`sign_hc1`) is deliberately written from the specifications with cbor2,
cryptography and zlib, not with vaccine_cert's decoding code, so the verifier is tested against
credentials it had no hand in making. Issuing with NatID's health CA is a later slice.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.conftest import require
from vaccine_cert import DccSchema, TrustedSigners
from vaccine_cert.base45 import b45encode

#: The public test vectors: shared/ beside the repository clone (here and in CI).
DCC_DIR = Path(__file__).parents[2] / ".." / "shared" / "testdata" / "dcc"

#: When the test credentials are issued and checked.
ISSUED = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
CHECKED = ISSUED + dt.timedelta(days=1)
EXPIRES = ISSUED + dt.timedelta(days=365)

TEST_OID = "1.3.6.1.4.1.1847.2021.1.1"
VACCINATION_OID = "1.3.6.1.4.1.1847.2021.1.2"
RECOVERY_OID = "1.3.6.1.4.1.1847.2021.1.3"


def require_test_vectors() -> Path:
    require(DCC_DIR.is_dir(), f"the DCC test vectors in {DCC_DIR.resolve()}")
    return DCC_DIR


def vaccination_dcc(**changes: Any) -> dict[str, Any]:
    """A schema-1.3.3 vaccination DCC for a fictitious Cambodian holder."""
    dcc: dict[str, Any] = {
        "ver": "1.3.0",
        "nam": {"fn": "Sok", "fnt": "SOK", "gn": "Dara", "gnt": "DARA"},
        "dob": "1990-04-14",
        "v": [
            {
                "tg": "840539006",
                "vp": "1119349007",
                "mp": "EU/1/20/1528",
                "ma": "ORG-100030215",
                "dn": 2,
                "sd": 2,
                "dt": "2026-10-01",
                "co": "KH",
                "is": "Ministry of Health, Cambodia",
                "ci": "URN:UVCI:01:KH:TESTVACC0001#5",
            }
        ],
    }
    dcc.update(changes)
    return dcc


def lab_test_dcc() -> dict[str, Any]:
    """A negative NAAT test DCC for the same holder."""
    dcc = vaccination_dcc()
    del dcc["v"]
    dcc["t"] = [
        {
            "tg": "840539006",
            "tt": "LP6464-4",
            "nm": "NAAT",
            "sc": "2026-10-31T08:00:00Z",
            "tr": "260415000",
            "tc": "Calmette Hospital",
            "co": "KH",
            "is": "Ministry of Health, Cambodia",
            "ci": "URN:UVCI:01:KH:TESTTEST0001#3",
        }
    ]
    return dcc


def make_dsc(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    *,
    purposes: tuple[str, ...] = (),
    not_before: dt.datetime = ISSUED - dt.timedelta(days=30),
    not_after: dt.datetime = ISSUED + dt.timedelta(days=730),
    common_name: str = "NatID test DSC",
) -> x509.Certificate:
    """A self-signed document signer certificate (purpose OIDs as extended key usage)."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KH"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if purposes:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier(oid) for oid in purposes]),
            critical=False,
        )
    return builder.sign(key, hashes.SHA256())


def kid_for(certificate: x509.Certificate) -> bytes:
    """HCERT kid, computed here independently of vaccine_cert.trust."""
    return hashes_sha256(certificate.public_bytes(serialization.Encoding.DER))[:8]


def hashes_sha256(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def sign_cose(
    payload: bytes,
    *,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    protected: Mapping[int, Any],
    unprotected: Mapping[int, Any] | None = None,
    tagged: bool = True,
) -> bytes:
    """COSE_Sign1 (RFC 9052 §4.2, §4.4) over ``payload``, encoded as CBOR."""
    protected_bytes = cbor2.dumps(dict(protected)) if protected else b""
    to_be_signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = key.sign(to_be_signed, pss, hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(to_be_signed, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    message = [protected_bytes, dict(unprotected or {}), payload, signature]
    return cbor2.dumps(cbor2.CBORTag(18, message) if tagged else message)


def claims(
    dcc: Mapping[str, Any],
    *,
    iat: dt.datetime | None = ISSUED,
    exp: dt.datetime | None = EXPIRES,
    iss: str | None = "KH",
) -> bytes:
    """CWT claims (RFC 8392) with the hcert claim -260 {1: dcc}."""
    body: dict[int, Any] = {-260: {1: dict(dcc)}}
    if iss is not None:
        body[1] = iss
    if iat is not None:
        body[6] = int(iat.timestamp())
    if exp is not None:
        body[4] = int(exp.timestamp())
    return cbor2.dumps(body)


def wrap_hc1(cose: bytes, *, compress: bool = True, prefix: str = "HC1:") -> str:
    return prefix + b45encode(zlib.compress(cose, 9) if compress else cose)


def sign_hc1(
    dcc: Mapping[str, Any],
    *,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    cert: x509.Certificate,
    alg: int | None = None,
    **claim_options: Any,
) -> str:
    """A complete ``HC1:`` credential, kid and alg in the protected header."""
    algorithm = alg if alg is not None else (-37 if isinstance(key, rsa.RSAPrivateKey) else -7)
    cose = sign_cose(
        claims(dcc, **claim_options), key=key, protected={1: algorithm, 4: kid_for(cert)}
    )
    return wrap_hc1(cose)


@pytest.fixture(scope="session")
def schema() -> DccSchema:
    return DccSchema.bundled()


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def dsc(ec_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return make_dsc(ec_key)


@pytest.fixture(scope="session")
def trusted(dsc: x509.Certificate) -> TrustedSigners:
    return TrustedSigners.from_certificates([dsc])


@pytest.fixture(scope="session")
def credential(ec_key: ec.EllipticCurvePrivateKey, dsc: x509.Certificate) -> str:
    return sign_hc1(vaccination_dcc(), key=ec_key, cert=dsc)
