"""OCSP requests: the DER OCSPRequest (RFC 6960 §4.1.1) and the GET path (RFC 6960 §A.1).

Split from ca/ocsp.py (which re-exports these names). Only what a responder answering one
certificate per request needs is read: the CertID, and the nonce (RFC 9654). Decisions are
numbered as in ca/ocsp.py's docstring (1: one Request per OCSPRequest; 3: CertID hashes; 4: the
nonce; 7: garbage, truncated, oversized and multi-request input is ``malformedRequest``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509 import ocsp

from ca.errors import MalformedOCSPRequest, UnsupportedOCSPRequest

__all__ = [
    "CERTID_HASH_NAMES",
    "MAX_GET_PATH_CHARS",
    "MAX_NONCE_BYTES",
    "MAX_REQUEST_BYTES",
    "OCSPQuery",
    "decode_get_path",
    "parse_request",
]

#: The CertID hash algorithms answered (decision 3), by hashlib name.
CERTID_HASH_NAMES = frozenset({"sha1", "sha224", "sha256", "sha384", "sha512"})
#: Larger requests are refused unparsed; an RFC 5019 request is about 80-120 bytes.
MAX_REQUEST_BYTES = 8 * 1024
#: RFC 9654 §2.1: a nonce is 1 to 128 octets.
MAX_NONCE_BYTES = 128
#: A GET path longer than base64 of MAX_REQUEST_BYTES with every character %-escaped is refused.
MAX_GET_PATH_CHARS = 3 * 4 * (MAX_REQUEST_BYTES // 3 + 1)


@dataclass(frozen=True, slots=True)
class OCSPQuery:
    """A well-formed single-certificate OCSP request (RFC 6960 §4.1.1, RFC 5019 §2.1.1)."""

    #: The CertID hash algorithm, by hashlib name (``sha1``, ``sha256``, ...).
    hash_algorithm: str
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int
    nonce: bytes | None


def parse_request(der: bytes) -> OCSPQuery:
    """Read a DER OCSPRequest holding one Request (RFC 6960 §4.1.1).

    :raises MalformedOCSPRequest: not DER, not an OCSPRequest, trailing data, more than
        :data:`MAX_REQUEST_BYTES`, several Requests, or a nonce of 0 or > 128 octets.
    :raises UnsupportedOCSPRequest: the CertID uses a hash algorithm this responder lacks.
    """
    if not isinstance(der, bytes | bytearray | memoryview):
        raise MalformedOCSPRequest(f"an OCSP request must be bytes, got {type(der).__name__}")
    if len(der) > MAX_REQUEST_BYTES:
        raise MalformedOCSPRequest(
            f"the OCSP request has {len(der)} bytes; at most {MAX_REQUEST_BYTES} are accepted"
        )
    try:
        request = ocsp.load_der_ocsp_request(bytes(der))
    except NotImplementedError as exc:
        # cryptography reads one Request per OCSPRequest, as RFC 5019 §2.1.1 has clients send.
        raise MalformedOCSPRequest(
            "the OCSP request asks for several certificates; this responder answers one "
            "per request (RFC 5019 §2.1.1)"
        ) from exc
    except ValueError as exc:
        raise MalformedOCSPRequest("the body is not a DER OCSPRequest (RFC 6960 §4.1.1)") from exc
    try:
        algorithm = request.hash_algorithm
    except UnsupportedAlgorithm as exc:
        raise UnsupportedOCSPRequest("the CertID hash algorithm is not supported") from exc
    if algorithm.name not in CERTID_HASH_NAMES:
        raise UnsupportedOCSPRequest(f"the CertID hash algorithm {algorithm.name} is not supported")
    try:
        extensions = request.extensions
        nonce_ext = extensions.get_extension_for_class(x509.OCSPNonce)
    except x509.ExtensionNotFound:
        nonce = None
    except ValueError as exc:
        raise MalformedOCSPRequest("the OCSP request extensions cannot be decoded") from exc
    else:
        nonce = nonce_ext.value.nonce
        if not 1 <= len(nonce) <= MAX_NONCE_BYTES:
            raise MalformedOCSPRequest(
                f"the nonce has {len(nonce)} octets; RFC 9654 §2.1 allows 1 to {MAX_NONCE_BYTES}"
            )
    return OCSPQuery(
        hash_algorithm=algorithm.name,
        issuer_name_hash=request.issuer_name_hash,
        issuer_key_hash=request.issuer_key_hash,
        serial=request.serial_number,
        nonce=nonce,
    )


def decode_get_path(path: str) -> bytes:
    """The DER request in an RFC 6960 Appendix A.1 GET path: ``url-encoding of base64 of DER``.

    ``path`` is everything after the responder URL and its ``/`` separator; it is not
    stripped, since base64 may itself start with ``/``. %-escapes are decoded first; then a
    space is read as ``+`` (clients that form-encode), the base64url letters ``-`` and ``_``
    as ``+`` and ``/``, and missing ``=`` padding is restored.

    :raises MalformedOCSPRequest: the path is too long or is not base64 after decoding.
    """
    if not isinstance(path, str):
        raise MalformedOCSPRequest(f"an OCSP GET path must be a string, got {type(path).__name__}")
    if len(path) > MAX_GET_PATH_CHARS:
        raise MalformedOCSPRequest(
            f"the OCSP GET path has {len(path)} characters; at most {MAX_GET_PATH_CHARS}"
        )
    try:
        text = unquote_to_bytes(path).decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedOCSPRequest("the OCSP GET path is not base64 (RFC 6960 §A.1)") from exc
    text = text.replace(" ", "+").replace("-", "+").replace("_", "/")
    text = "".join(text.split())
    text += "=" * (-len(text) % 4) if "=" not in text else ""
    try:
        der = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedOCSPRequest("the OCSP GET path is not base64 (RFC 6960 §A.1)") from exc
    if not der:
        raise MalformedOCSPRequest("the OCSP GET path is empty")
    return der
