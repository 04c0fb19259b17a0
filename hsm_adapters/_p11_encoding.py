"""Byte-level encodings between PKCS#11 attributes and cryptography's key objects.

Pure functions, no PKCS#11 calls:

* ``CKA_EC_PARAMS`` for the curves NatID uses: a DER ``namedCurve`` OID (RFC 5480 §2.1.1.1;
  for Ed25519 the OID of RFC 8410 §3, or the PrintableString ``edwards25519`` that PKCS#11 v3.0
  §2.3.5 also allows).
* ``CKA_EC_POINT``: a DER OCTET STRING around the point (PKCS#11 v2.40 §2.3.3); some tokens
  return the bare point, so both are accepted, told apart by length.
* The DER ``DigestInfo`` that RSASSA-PKCS1-v1_5 signs (RFC 8017 §9.2, with the NULL
  parameters of note 1), because ``CKM_RSA_PKCS`` only pads what it is given.
* ECDSA signatures: PKCS#11 returns ``r || s`` (v2.40 §2.3.1), cryptography wants DER.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from hsm_adapters.base import KeyAlgorithm
from hsm_adapters.errors import KeyStoreCorrupt, UnsupportedAlgorithm

__all__ = [
    "EC_PARAMS",
    "ED25519_PARAMS_ALTERNATIVES",
    "RSA_BITS",
    "digest_info",
    "ecdsa_raw_to_der",
    "ecdsa_truncate",
    "public_ec",
    "public_ed25519",
    "public_rsa",
]

#: DER ``namedCurve`` parameters (the value of ``CKA_EC_PARAMS``) per algorithm.
EC_PARAMS: dict[KeyAlgorithm, bytes] = {
    KeyAlgorithm.EC_P256: bytes.fromhex("06082a8648ce3d030107"),  # 1.2.840.10045.3.1.7
    KeyAlgorithm.EC_P384: bytes.fromhex("06052b81040022"),  # 1.3.132.0.34
    KeyAlgorithm.ED25519: bytes.fromhex("06032b6570"),  # 1.3.101.112
}
ED25519_PARAMS_ALTERNATIVES = frozenset({EC_PARAMS[KeyAlgorithm.ED25519], b"\x13\x0cedwards25519"})
RSA_BITS: dict[KeyAlgorithm, int] = {
    KeyAlgorithm.RSA_2048: 2048,
    KeyAlgorithm.RSA_3072: 3072,
    KeyAlgorithm.RSA_4096: 4096,
}
_CURVES: dict[KeyAlgorithm, ec.EllipticCurve] = {
    KeyAlgorithm.EC_P256: ec.SECP256R1(),
    KeyAlgorithm.EC_P384: ec.SECP384R1(),
}

# The hash OIDs of RFC 8017 Appendix A.2.4 and NIST's 2.16.840.1.101.3.4.2 arc (SHA-2, SHA-3).
_NIST_HASH_ARC = bytes.fromhex("6086480165030402")
_HASH_OIDS: dict[str, bytes] = {
    "sha1": bytes.fromhex("2b0e03021a"),
    "sha256": _NIST_HASH_ARC + b"\x01",
    "sha384": _NIST_HASH_ARC + b"\x02",
    "sha512": _NIST_HASH_ARC + b"\x03",
    "sha224": _NIST_HASH_ARC + b"\x04",
    "sha512-224": _NIST_HASH_ARC + b"\x05",
    "sha512-256": _NIST_HASH_ARC + b"\x06",
    "sha3-224": _NIST_HASH_ARC + b"\x07",
    "sha3-256": _NIST_HASH_ARC + b"\x08",
    "sha3-384": _NIST_HASH_ARC + b"\x09",
    "sha3-512": _NIST_HASH_ARC + b"\x0a",
}


def _der(tag: int, body: bytes) -> bytes:
    # Every structure here is shorter than 128 bytes, so the short length form suffices.
    assert len(body) < 128
    return bytes([tag, len(body)]) + body


def digest_info(algorithm: hashes.HashAlgorithm, digest: bytes) -> bytes:
    """The DER ``DigestInfo`` (digestAlgorithm, digest OCTET STRING) around ``digest``."""
    oid = _HASH_OIDS.get(algorithm.name)
    if oid is None:
        raise UnsupportedAlgorithm(f"no PKCS#1 v1.5 DigestInfo for {algorithm.name}")
    algorithm_identifier = _der(0x30, _der(0x06, oid) + b"\x05\x00")
    return _der(0x30, algorithm_identifier + _der(0x04, digest))


def _unwrap_octet_string(value: bytes, raw_length: int, what: str) -> bytes:
    if len(value) == raw_length:
        return value
    if len(value) == raw_length + 2 and value[0] == 0x04 and value[1] == raw_length:
        return value[2:]
    raise KeyStoreCorrupt(f"{what}: CKA_EC_POINT of {len(value)} bytes is not a valid point")


def public_ec(algorithm: KeyAlgorithm, ec_point: bytes, what: str) -> ec.EllipticCurvePublicKey:
    curve = _CURVES[algorithm]
    coordinate = (curve.key_size + 7) // 8
    point = _unwrap_octet_string(ec_point, 1 + 2 * coordinate, what)
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    except ValueError as exc:
        raise KeyStoreCorrupt(f"{what}: CKA_EC_POINT is not on {curve.name}") from exc


def public_ed25519(ec_point: bytes, what: str) -> ed25519.Ed25519PublicKey:
    raw = _unwrap_octet_string(ec_point, 32, what)
    try:
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise KeyStoreCorrupt(f"{what}: CKA_EC_POINT is not an Ed25519 key") from exc


def public_rsa(modulus: bytes, exponent: bytes, what: str) -> rsa.RSAPublicKey:
    try:
        numbers = rsa.RSAPublicNumbers(
            e=int.from_bytes(exponent, "big"), n=int.from_bytes(modulus, "big")
        )
        return numbers.public_key()
    except ValueError as exc:
        raise KeyStoreCorrupt(f"{what}: the RSA modulus or exponent is invalid") from exc


def ecdsa_raw_to_der(signature: bytes) -> bytes:
    """``r || s`` (PKCS#11 v2.40 §2.3.1) to DER ``Ecdsa-Sig-Value`` (RFC 3279 §2.2.3)."""
    if not signature or len(signature) % 2:
        raise KeyStoreCorrupt(f"the token returned a {len(signature)}-byte ECDSA signature")
    half = len(signature) // 2
    return encode_dss_signature(
        int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    )


def ecdsa_truncate(digest: bytes, key_size: int) -> bytes:
    """Keep the leftmost ``key_size`` bits of a digest (FIPS 186-5 §6.4.1, step 3).

    Tokens may refuse a digest longer than the group order with ``CKR_DATA_LEN_RANGE``; the
    truncation is what ECDSA does anyway. P-256 and P-384 orders are whole bytes.
    """
    return digest[: (key_size + 7) // 8]
