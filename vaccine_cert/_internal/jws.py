"""JWS with a detached payload (RFC 7515 §7.1 compact serialization, Appendix F), ES256 only.

Trust lists and revocation lists are signed this way (:mod:`vaccine_cert.trustlist`,
:mod:`vaccine_cert.revocation`): the token is ``<header>..<signature>``, the payload being the
canonical JSON the receiver recomputes. The header is ``{"alg":"ES256","kid":<key id>}``; ES256
signatures are ``r || s``, 32 bytes each (RFC 7518 §3.4). Any JOSE library that takes a
detached payload verifies these tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

__all__ = ["b64url", "canonical_json", "key_id", "sign_detached", "verify_detached"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, ASCII: the bytes both sides sign and check."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """base64url of the first 8 bytes of SHA-256 of the key's SubjectPublicKeyInfo."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64url(hashlib.sha256(spki).digest()[:8])


def sign_detached(key: ec.EllipticCurvePrivateKey, payload: bytes) -> str:
    header = b64url(canonical_json({"alg": "ES256", "kid": key_id(key.public_key())}))
    signing_input = f"{header}.{b64url(payload)}".encode("ascii")
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return f"{header}..{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def verify_detached(  # noqa: PLR0911 - one return per reason a token is refused
    token: object, payload: bytes, public_key: ec.EllipticCurvePublicKey
) -> str | None:
    """None if ``token`` is a valid ES256 signature of ``payload`` by ``public_key``, else why."""
    if not isinstance(token, str) or token.count(".") != 2:
        return "the signature is not a compact JWS with a detached payload"
    header_b64, body, signature_b64 = token.split(".")
    if body:
        return "the JWS must have a detached (empty) payload"
    try:
        header = json.loads(_unb64url(header_b64))
        signature = _unb64url(signature_b64)
    except (ValueError, UnicodeDecodeError):
        return "the JWS is not valid base64url and JSON"
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        return "the JWS algorithm must be ES256"
    if set(header) - {"alg", "kid", "typ"}:
        return "the JWS header has parameters this verifier does not understand"
    if len(signature) != 64:
        return "an ES256 signature is 64 bytes"
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    signing_input = f"{header_b64}.{b64url(payload)}".encode("ascii")
    try:
        public_key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "the signature does not verify under the anchor key"
    return None
