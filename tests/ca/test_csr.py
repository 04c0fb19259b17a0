"""Strict CSR parsing (ca/csr.py): exactly PEM or DER, proof of possession, nothing else.

The parser takes outside bytes, so besides the named cases hypothesis feeds it random bytes,
every truncation and every single-byte change of a valid request: each must end in
``InvalidCertificateRequest`` (one readable line), never in another exception or a request
that passes.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ca.csr import MAX_CSR_BYTES, parse_csr, spki_sha256
from ca.errors import InvalidCertificateRequest, ProofOfPossessionFailed
from tests.ca._issuance import ec_key, make_csr
from tests.conftest import require_command

KEY = ec_key()
PEM = make_csr(KEY, dns_names=("www.moh.gov.kh", "moh.gov.kh"))
DER = x509.load_pem_x509_csr(PEM).public_bytes(serialization.Encoding.DER)


def broken_signature(der: bytes) -> bytes:
    """The same request with the last byte of its signature flipped (structure intact)."""
    return der[:-1] + bytes([der[-1] ^ 0x01])


def test_pem_and_der_give_the_same_request() -> None:
    from_pem, from_der = parse_csr(PEM), parse_csr(DER)
    assert from_pem.der == from_der.der == DER
    assert from_pem.public_key == KEY.public_key()
    assert from_pem.spki_sha256 == spki_sha256(KEY.public_key())
    assert from_pem.dns_names == ("www.moh.gov.kh", "moh.gov.kh")


def test_pem_as_text_with_explanatory_lines_and_legacy_label() -> None:
    text = PEM.decode().replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
    parsed = parse_csr("Certificate request for the Ministry of Health\n" + text + "\n")
    assert parsed.der == DER


def test_csr_without_proof_of_possession_rejected() -> None:
    with pytest.raises(ProofOfPossessionFailed, match="no proof of possession"):
        parse_csr(broken_signature(DER))


def test_ed25519_request_is_parsed_with_its_own_hash() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, None)
        .public_bytes(serialization.Encoding.DER)
    )
    assert parse_csr(csr).public_key == key.public_key()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x30" + b"\x00" * MAX_CSR_BYTES, "at most 65536"),
        (DER[:-10], "truncated"),
        (DER + b"\x00", "bytes follow"),
        (b"hello world", "neither PEM nor DER"),
        (PEM + PEM, "exactly one"),
        (PEM.replace(b"CERTIFICATE REQUEST", b"CERTIFICATE"), "expected 'CERTIFICATE REQUEST'"),
        (PEM.replace(b"-----END CERTIFICATE REQUEST-----", b""), "no matching END"),
        (PEM[:40] + b"!!" + PEM[40:], "not base64"),
        (PEM.replace(b"\n-----END", b"A\n-----END"), "malformed"),
        ("-----BEGIN CERTIFICATE REQUEST-----\nÄ\n", "ASCII"),
    ],
    ids=[
        "empty", "oversized", "truncated", "trailing-bytes", "text", "two-blocks",
        "certificate-block", "no-end-line", "bad-base64", "bad-padding", "non-ascii",
    ],
)  # fmt: skip
def test_malformed_requests_get_one_readable_line(data: bytes | str, message: str) -> None:
    with pytest.raises(InvalidCertificateRequest) as raised:
        parse_csr(data)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_non_bytes_input_refused() -> None:
    with pytest.raises(InvalidCertificateRequest, match="must be bytes"):
        parse_csr(12345)  # type: ignore[arg-type]


# --- property tests -----------------------------------------------------------------------------


@given(st.binary(max_size=4096))
def test_random_bytes_never_pass(data: bytes) -> None:
    with pytest.raises(InvalidCertificateRequest):
        parse_csr(data)


@given(st.binary(max_size=2048))
def test_random_bytes_in_pem_armour_never_pass(data: bytes) -> None:
    body = base64.encodebytes(data).decode()
    text = f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"
    with pytest.raises(InvalidCertificateRequest):
        parse_csr(text)


@given(st.integers(min_value=0, max_value=len(DER) - 1))
def test_every_truncation_is_refused(length: int) -> None:
    with pytest.raises(InvalidCertificateRequest):
        parse_csr(DER[:length])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(DER) - 1), st.integers(min_value=1, max_value=255))
def test_every_single_byte_change_is_refused(position: int, xor: int) -> None:
    """A change anywhere - structure, signed content or signature - never yields a request
    that passes: either it no longer parses or the proof of possession fails."""
    mutated = bytearray(DER)
    mutated[position] ^= xor
    with pytest.raises(InvalidCertificateRequest):
        parse_csr(bytes(mutated))


def test_a_sha1_signature_is_refused(tmp_path: Path) -> None:
    """A CSR signed with SHA-1 gives no real proof of possession (chosen-prefix collisions)."""
    # cryptography no longer makes SHA-1 signatures; OpenSSL still does.
    openssl = require_command("openssl")
    key = tmp_path / "key.pem"
    key.write_bytes(
        KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    out = tmp_path / "sha1.der"
    subprocess.run(
        [openssl, "req", "-new", "-key", str(key), "-sha1", "-subj", "/CN=x", "-outform",
         "DER", "-out", str(out)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    with pytest.raises(InvalidCertificateRequest, match="signed with SHA1"):
        parse_csr(out.read_bytes())


def test_request_hash_algorithm_is_read_from_the_request() -> None:
    """SHA-384 and SHA-512 signed requests pass."""
    for algorithm in (hashes.SHA384(), hashes.SHA512()):
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([]))
            .sign(KEY, algorithm)
            .public_bytes(serialization.Encoding.DER)
        )
        assert parse_csr(csr).public_key == KEY.public_key()
