"""Strict parsing of PKCS#10 certificate signing requests, with proof of possession.

A CSR is outside bytes (an RA upload, a bulk file, the CLI), so :func:`parse_csr` accepts
exactly two shapes and refuses everything else with one readable line
(:class:`~ca.errors.InvalidCertificateRequest`), before anything is stored:

1. size: at most :data:`MAX_CSR_BYTES` (64 KiB; a 4096-bit RSA CSR is under 2 KiB);
2. form: DER (RFC 2986 ``CertificationRequest``, no trailing bytes), or PEM per RFC 7468 §7
   with exactly one ``-----BEGIN CERTIFICATE REQUEST-----`` block (the legacy label
   ``NEW CERTIFICATE REQUEST`` is accepted, as RFC 7468 §7 asks of parsers); text outside the
   block is ignored (RFC 7468 §5.2), the base64 body is decoded strictly;
3. structure: cryptography's DER parser (version 0, a known public-key algorithm);
4. signature algorithm: SHA-256, SHA-384 or SHA-512, or Ed25519 - a CSR signed with MD5 or
   SHA-1 is refused, since its proof of possession can be forged by a collision;
5. proof of possession (RFC 2986 §3, RFC 4211 §4): the request's signature verifies with the
   public key it carries (:class:`~ca.errors.ProofOfPossessionFailed` otherwise).

What the CA uses from a CSR is its public key and, for ``tls-server``, the DNS names of a
subjectAltName extension request. The subject DN and every other extension are ignored: the
certificate's content comes from the register and the profile, never from the requester.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from ca.errors import InvalidCertificateRequest, ProofOfPossessionFailed

__all__ = ["MAX_CSR_BYTES", "CertificateRequest", "parse_csr", "spki_sha256"]

#: Largest CSR accepted, PEM or DER.
MAX_CSR_BYTES = 64 * 1024

_PEM_LABELS = frozenset({"CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"})
_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,64})-----")
_BASE64_LINE = re.compile(r"[A-Za-z0-9+/=]*")
_SIGNATURE_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    """A CSR that passed every check of :func:`parse_csr`, proof of possession included."""

    der: bytes = field(repr=False)
    public_key: CertificatePublicKeyTypes
    #: DNS names of the subjectAltName extension request, in request order (may be empty).
    dns_names: tuple[str, ...]

    @property
    def spki_sha256(self) -> str:
        return spki_sha256(self.public_key)


def spki_sha256(public_key: CertificatePublicKeyTypes) -> str:
    """Lowercase hex SHA-256 of the key's SubjectPublicKeyInfo DER (RFC 5280 §4.1.2.7)."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def parse_csr(data: bytes | str) -> CertificateRequest:
    """Parse and check a CSR given as PEM or DER; raise ``InvalidCertificateRequest``."""
    raw = _as_bytes(data)
    if not raw:
        raise InvalidCertificateRequest("the certificate request is empty")
    if len(raw) > MAX_CSR_BYTES:
        raise InvalidCertificateRequest(
            f"the certificate request is {len(raw)} bytes; at most {MAX_CSR_BYTES} are accepted"
        )
    der = _pem_body(raw) if b"-----BEGIN" in raw else raw
    if der[:1] != b"\x30":
        raise InvalidCertificateRequest(
            "the certificate request is neither PEM nor DER (RFC 2986 CertificationRequest)"
        )
    csr = _load_der(der)
    public_key = _public_key(csr)
    _check_signature_algorithm(csr)
    # Step 5: proof of possession - the requester signed the request with the private key.
    try:
        valid = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidCertificateRequest(
            "the certificate request's signature cannot be checked (unsupported algorithm)"
        ) from exc
    if not valid:
        raise ProofOfPossessionFailed(
            "the certificate request's signature does not verify with its public key: "
            "no proof of possession of the private key (RFC 2986 §3)"
        )
    return CertificateRequest(der=der, public_key=public_key, dns_names=_dns_names(csr))


def _as_bytes(data: bytes | str) -> bytes:
    if isinstance(data, str):
        try:
            return data.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidCertificateRequest(
                "a PEM certificate request must be ASCII text"
            ) from None
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise InvalidCertificateRequest(
        f"a certificate request must be bytes (PEM or DER), got {type(data).__name__}"
    )


def _pem_body(raw: bytes) -> bytes:
    """Step 2: the DER inside the one PEM block (RFC 7468 §2, §3 strict base64)."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise InvalidCertificateRequest(
            "the PEM certificate request contains bytes that are not ASCII"
        ) from None
    blocks = list(_BEGIN.finditer(text))
    if len(blocks) != 1 or text.count("-----BEGIN") != 1:
        raise InvalidCertificateRequest(
            "a PEM certificate request must hold exactly one "
            f"'-----BEGIN CERTIFICATE REQUEST-----' block, found {text.count('-----BEGIN')} "
            "BEGIN lines"
        )
    label = blocks[0].group(1)
    if label not in _PEM_LABELS:
        raise InvalidCertificateRequest(
            f"the PEM block is a {label[:40]!r}, expected 'CERTIFICATE REQUEST'"
        )
    end_marker = f"-----END {label}-----"
    end = text.find(end_marker, blocks[0].end())
    if end < 0:
        raise InvalidCertificateRequest(
            "the PEM certificate request has no matching END line (truncated?)"
        )
    lines = [line.strip() for line in text[blocks[0].end() : end].splitlines()]
    body = "".join(lines)
    if not body or not all(_BASE64_LINE.fullmatch(line) for line in lines):
        raise InvalidCertificateRequest(
            "the PEM certificate request's body is not base64 (headers are not allowed)"
        )
    try:
        return binascii.a2b_base64(body, strict_mode=True)
    except binascii.Error:
        raise InvalidCertificateRequest(
            "the PEM certificate request's base64 body is malformed (truncated or padded wrong)"
        ) from None


def _load_der(der: bytes) -> x509.CertificateSigningRequest:
    """Step 3: RFC 2986 structure; cryptography refuses trailing bytes and bad versions."""
    try:
        return x509.load_der_x509_csr(der)
    except (ValueError, x509.InvalidVersion) as exc:
        detail = str(exc)
        hint = ""
        if "ShortData" in detail:
            hint = ": it is truncated"
        elif "ExtraData" in detail:
            hint = ": bytes follow the request"
        elif isinstance(exc, x509.InvalidVersion):
            hint = ": unknown version (RFC 2986 §4.1 requires version 0)"
        raise InvalidCertificateRequest(
            f"the data is not a DER-encoded PKCS#10 certification request (RFC 2986){hint}"
        ) from None


def _public_key(csr: x509.CertificateSigningRequest) -> CertificatePublicKeyTypes:
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidCertificateRequest(
            "the certificate request's public key is malformed or of an unknown algorithm"
        ) from None
    return key


def _check_signature_algorithm(csr: x509.CertificateSigningRequest) -> None:
    """Step 4: a collision-resistant hash (or Ed25519, which has its own)."""
    try:
        algorithm = csr.signature_hash_algorithm
    except UnsupportedAlgorithm:
        raise InvalidCertificateRequest(
            "the certificate request is signed with an unsupported signature algorithm"
        ) from None
    if algorithm is None:
        if csr.signature_algorithm_oid != x509.SignatureAlgorithmOID.ED25519:
            raise InvalidCertificateRequest(
                "the certificate request's signature algorithm names no hash"
            )
        return
    if not isinstance(algorithm, _SIGNATURE_HASHES):
        raise InvalidCertificateRequest(
            f"the certificate request is signed with {algorithm.name.upper()}; "
            "use SHA-256, SHA-384 or SHA-512"
        )


def _dns_names(csr: x509.CertificateSigningRequest) -> tuple[str, ...]:
    try:
        extensions = csr.extensions
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        raise InvalidCertificateRequest(
            "the certificate request's extension request is malformed"
        ) from None
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(san.get_values_for_type(x509.DNSName))
