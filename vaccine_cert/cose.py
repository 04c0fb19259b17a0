"""COSE_Sign1 as HCERT uses it (RFC 9052 §4.2, §4.4; RFC 9053 §2.1; RFC 8230 §2), over
bounded CBOR (RFC 8949).

* Bounded CBOR - :func:`loads_bounded` decodes with cbor2 under limits a hostile QR code cannot
  get past: nesting at most :data:`MAX_DEPTH` levels (cbor2 counts tags too), no duplicate map
  keys (RFC 8949 §5.6: a decoder may reject them, and two readings of one header are how
  signature-bypass bugs start), and only the semantic tags the caller allows. cbor2 would
  otherwise interpret dozens of tags (dates, big numbers, regular expressions, shared and so
  cyclic references, ...); :class:`_TagPolicy` answers cbor2's look-up for *every* tag number,
  so a tag that is not allowed fails the decoding instead of reaching a built-in decoder. The
  size of the input is bounded by the caller (the zlib layer of :mod:`vaccine_cert.hcert`), and
  cbor2 reads lengths lazily, so an array header claiming 2^64 items costs nothing.
* COSE_Sign1 (RFC 9052 §4.2) - ``[protected: bstr, unprotected: map, payload: bstr, signature:
  bstr]``, optionally tagged 18, and in HCERT optionally inside the CWT tag 61 (RFC 8392 §6).
  An empty protected bstr is an empty map (§3). :class:`CoseSign1` keeps the protected header's
  bytes as received, because the signature covers those bytes, not a re-encoding.
* Signature (RFC 9052 §4.4) - ``Sig_structure = ["Signature1", body_protected, external_aad =
  b"", payload]``. ES256 (-7): ECDSA P-256 with SHA-256, the signature is ``r || s``, 32 bytes
  each (RFC 9053 §2.1), converted to DER for cryptography. PS256 (-37): RSASSA-PSS with SHA-256,
  MGF1-SHA-256 and a salt of 32 bytes, the hash length (RFC 8230 §2).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import Any, TypeGuard

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from vaccine_cert.errors import DecodeStage, HcertDecodeError

__all__ = [
    "MAX_DEPTH",
    "CoseAlgorithm",
    "CoseSign1",
    "TagDecoder",
    "loads_bounded",
    "parse_cose_sign1",
    "sig_structure",
    "tag_policy",
    "verify_signature",
]

#: Deepest nesting of arrays, maps and tags accepted. A DCC nests 5 levels below the COSE array
#: (claims -> hcert -> DCC -> v -> entry); 16 leaves room and refuses stack-exhaustion attempts.
MAX_DEPTH = 16

#: COSE header labels (RFC 9052 §3.1).
HEADER_ALG = 1
HEADER_CRIT = 2
HEADER_KID = 4

#: CBOR tags (RFC 9052 §2, RFC 8392 §6).
TAG_COSE_SIGN1 = 18
TAG_CWT = 61

#: A decoder for an allowed tag: receives the tagged item and cbor2's "immutable" flag.
TagDecoder = Callable[[Any, bool], Any]


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_PSS_SHA256 = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


class CoseAlgorithm(IntEnum):
    """The algorithms HCERT allows (HCERT spec, "Signature Algorithm"), with their COSE ids."""

    ES256 = -7
    PS256 = -37


class _TagPolicy(Mapping[int, TagDecoder]):
    """cbor2's ``semantic_decoders``, answering for every tag: allowed ones or a refusal."""

    __slots__ = ("_allowed",)

    def __init__(self, allowed: Mapping[int, TagDecoder]) -> None:
        self._allowed = dict(allowed)

    def __getitem__(self, tag: int) -> TagDecoder:
        decoder = self._allowed.get(tag)
        if decoder is not None:
            return decoder

        def refuse(_value: Any, _immutable: bool) -> Any:
            raise ValueError(f"CBOR tag {tag} is not allowed here")

        return refuse

    def __contains__(self, tag: object) -> bool:
        return True

    def __iter__(self) -> Iterator[int]:
        return iter(self._allowed)

    def __len__(self) -> int:
        return len(self._allowed)


def tag_policy(allowed: Mapping[int, TagDecoder]) -> Mapping[int, TagDecoder]:
    """``allowed`` as :func:`loads_bounded` uses it, built once by a caller that decodes often
    (otherwise each call builds it again)."""
    return _TagPolicy(allowed)


def _keep_tag(tag: int) -> TagDecoder:
    return lambda value, _immutable: cbor2.CBORTag(tag, value)


_ENVELOPE_TAGS = _TagPolicy(
    {TAG_COSE_SIGN1: _keep_tag(TAG_COSE_SIGN1), TAG_CWT: _keep_tag(TAG_CWT)}
)
_NO_TAGS = _TagPolicy({})


def loads_bounded(data: bytes, *, tags: Mapping[int, TagDecoder], stage: DecodeStage) -> Any:
    """Decode one CBOR item under NatID's limits (module docstring); raise at ``stage``."""
    try:
        return cbor2.loads(
            data,
            max_depth=MAX_DEPTH,
            allow_duplicate_keys=False,
            # type(), not isinstance(): _TagPolicy is a Mapping, so isinstance() would run
            # ABCMeta's Python-level check on every decoding.
            semantic_decoders=tags if type(tags) is _TagPolicy else _TagPolicy(tags),
        )
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        # cbor2 chains the ValueError of a refused tag; say what was wrong, not where in Rust.
        cause = exc.__cause__ or exc
        raise HcertDecodeError(stage, f"invalid CBOR: {cause}") from exc


@dataclass(frozen=True, slots=True)
class CoseSign1:
    """A parsed COSE_Sign1 message; nothing about it is verified yet."""

    protected_bytes: bytes
    protected: Mapping[Any, Any]
    unprotected: Mapping[Any, Any]
    payload: bytes
    signature: bytes

    def header(self, label: int) -> Any:
        """A header parameter, from the protected bucket if it is there, else the unprotected.

        The HCERT spec puts ``alg`` and ``kid`` in the protected header, and of the kid says
        "it MAY also be placed in an unprotected header ... Verifiers MUST accept both options"
        ("Key Identifier"). The public test vectors fix the precedence (CO19-CO23): a value in
        the protected header wins even when it is wrong, the unprotected one is only a fallback,
        and that holds for ``alg`` too (CO20 has both in the unprotected header and is valid;
        the key type of the trusted signer still has to match the algorithm).
        """
        if label in self.protected:
            return self.protected[label]
        return self.unprotected.get(label)


def parse_cose_sign1(data: bytes) -> CoseSign1:
    """Parse a (possibly tagged) COSE_Sign1 message; raise :class:`HcertDecodeError`."""
    fields = _common_envelope(data)
    if fields is not None:
        protected_bytes, payload, signature = fields
        return CoseSign1(
            protected_bytes, _protected(protected_bytes), _EMPTY_UNPROTECTED, payload, signature
        )
    item = loads_bounded(data, tags=_ENVELOPE_TAGS, stage=DecodeStage.CBOR)
    # Untagged, COSE_Sign1-tagged, or CWT-tagged around a COSE_Sign1-tagged message (CO28).
    if isinstance(item, cbor2.CBORTag) and item.tag == TAG_CWT:
        item = item.value
        if not (isinstance(item, cbor2.CBORTag) and item.tag == TAG_COSE_SIGN1):
            raise HcertDecodeError(DecodeStage.COSE, "CWT tag 61 must wrap a COSE_Sign1 tag 18")
    if isinstance(item, cbor2.CBORTag):
        if item.tag != TAG_COSE_SIGN1:
            raise HcertDecodeError(
                DecodeStage.COSE, f"expected COSE_Sign1 (tag 18), got tag {item.tag}"
            )
        item = item.value
    if not isinstance(item, list | tuple) or len(item) != 4:
        raise HcertDecodeError(DecodeStage.COSE, "COSE_Sign1 must be an array of 4 items")
    protected_bytes, unprotected, payload, signature = item
    if not isinstance(protected_bytes, bytes):
        raise HcertDecodeError(DecodeStage.COSE, "protected header must be a byte string")
    if not isinstance(unprotected, Mapping):
        raise HcertDecodeError(DecodeStage.COSE, "unprotected header must be a map")
    if not isinstance(payload, bytes):
        raise HcertDecodeError(DecodeStage.COSE, "payload must be a byte string (not detached)")
    if not isinstance(signature, bytes):
        raise HcertDecodeError(DecodeStage.COSE, "signature must be a byte string")
    return CoseSign1(protected_bytes, _protected(protected_bytes), unprotected, payload, signature)


# The envelope nearly every issuer writes: tag 18 (alone or inside tag 61), an array of four
# items, byte strings with definite lengths, and an empty unprotected header.
_TAG_CWT_SIGN1 = b"\xd8\x3d\xd2"  # tag 61, then tag 18
_TAG_SIGN1 = b"\xd2"  # tag 18
_ARRAY_OF_4 = 0x84
_EMPTY_MAP = 0xA0
_EMPTY_UNPROTECTED: Mapping[Any, Any] = MappingProxyType({})


def _common_envelope(data: bytes) -> tuple[bytes, bytes, bytes] | None:
    """The protected header, payload and signature of a COSE_Sign1 in the common shape (the
    comment above), read without a general CBOR decoder; None for any other shape.

    Speed only: every byte string here is read exactly as cbor2 reads it, and anything else
    (an indefinite length, a non-empty unprotected header, other tags, trailing bytes) is
    left to :func:`loads_bounded`, which accepts or refuses it as before.
    """
    at = 3 if data.startswith(_TAG_CWT_SIGN1) else 1 if data.startswith(_TAG_SIGN1) else 0
    if len(data) <= at or data[at] != _ARRAY_OF_4:
        return None
    protected, at = _byte_string(data, at + 1)
    if protected is None or at >= len(data) or data[at] != _EMPTY_MAP:
        return None
    payload, at = _byte_string(data, at + 1)
    if payload is None:
        return None
    signature, at = _byte_string(data, at)
    if signature is None or at != len(data):
        return None
    return protected, payload, signature


def _byte_string(data: bytes, at: int) -> tuple[bytes | None, int]:
    """RFC 8949 §3.1, major type 2 with a definite length of at most 65535 bytes."""
    try:  # an IndexError: the head or its length bytes run past the end
        head = data[at]
        if 0x40 <= head <= 0x57:  # the length is in the head byte itself
            size, at = head - 0x40, at + 1
        elif head == 0x58:  # one length byte follows
            size, at = data[at + 1], at + 2
        elif head == 0x59:  # two length bytes follow
            size, at = data[at + 1] << 8 | data[at + 2], at + 3
        else:
            return None, at
    except IndexError:
        return None, at
    end = at + size
    if end > len(data):
        return None, at
    return data[at:end], end


def _protected(protected_bytes: bytes) -> Mapping[Any, Any]:
    # Real protected headers are about a dozen bytes (alg and an 8-byte kid); only such small
    # ones are remembered, so the cache can never hold more than 256 x 64 bytes.
    if len(protected_bytes) <= 64:
        return _remembered_protected_header(protected_bytes)
    return _protected_header(protected_bytes)


def _protected_header(protected_bytes: bytes) -> Mapping[Any, Any]:
    """Parse and check a protected header (read-only result)."""
    # RFC 9052 §3: a zero-length protected bstr stands for an empty map.
    if not protected_bytes:
        return MappingProxyType({})
    protected = loads_bounded(protected_bytes, tags=_NO_TAGS, stage=DecodeStage.COSE)
    if not isinstance(protected, dict):
        raise HcertDecodeError(DecodeStage.COSE, "protected header must encode a map")
    # RFC 9052 §3.1: a recipient must reject critical parameters it does not understand; HCERT
    # defines none, so any "crit" is one we do not understand.
    if HEADER_CRIT in protected:
        raise HcertDecodeError(DecodeStage.COSE, "critical header parameters are not supported")
    return MappingProxyType(protected)


# One signer's protected headers are identical, so parsing each once saves a CBOR decoding per
# credential. A header that fails raises and is not remembered; results are read-only.
_remembered_protected_header = functools.lru_cache(maxsize=256)(_protected_header)


def sig_structure(message: CoseSign1) -> bytes:
    """The bytes that were signed (RFC 9052 §4.4), with empty external_aad.

    Written out directly (RFC 8949 §4.2.1 preferred serialization, as ``cbor2.dumps`` writes
    it; a test compares the two): an array of four, the text "Signature1", and three byte
    strings.
    """
    protected, payload = message.protected_bytes, message.payload
    return b"".join(
        (_SIG_STRUCTURE_HEAD, _bstr_head(len(protected)), protected, b"\x40",
         _bstr_head(len(payload)), payload)
    )  # fmt: skip


# 0x84: an array of 4 items; 0x6a: a text string of 10 bytes, "Signature1".
_SIG_STRUCTURE_HEAD = b"\x84\x6aSignature1"


def _bstr_head(size: int) -> bytes:
    """The head of a byte string of ``size`` bytes (RFC 8949 §3.1, major type 2)."""
    if size < 24:  # RFC 8949 §3.1: lengths below 24 sit in the head byte
        return bytes((0x40 + size,))
    if size < 0x100:
        return bytes((0x58, size))
    if size < 0x10000:  # every HCERT payload: 2 length bytes
        return bytes((0x59, size >> 8, size & 0xFF))
    for head, width in ((0x5A, 4), (0x5B, 8)):
        if size < 1 << (8 * width):
            return bytes((head,)) + size.to_bytes(width, "big")
    raise ValueError("byte string too long for CBOR")


def verify_signature(
    message: CoseSign1,
    algorithm: CoseAlgorithm,
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
) -> str | None:
    """Check the signature under ``key``; return None if it verifies, else why not."""
    if algorithm is _ES256:
        if not (_is_ec_key(key) and key.curve.name == "secp256r1"):
            return "algorithm ES256 needs a P-256 signer key"
        return _verify_es256(message, key)
    if not isinstance(key, rsa.RSAPublicKey):
        return "algorithm PS256 needs an RSA signer key"
    return _verify_ps256(message, key)


def _is_ec_key(key: object) -> TypeGuard[ec.EllipticCurvePublicKey]:
    """``isinstance(key, ec.EllipticCurvePublicKey)``, remembered per concrete key class.

    The ABC's own check runs Python code and allocates on every call; it answered the same for
    a class before (classes can be registered with an ABC, never unregistered).
    """
    if type(key) in _EC_KEY_TYPES:
        return True
    if isinstance(key, ec.EllipticCurvePublicKey):
        _EC_KEY_TYPES.add(type(key))
        return True
    return False


_EC_KEY_TYPES: set[type] = set()

# A global, not ``CoseAlgorithm.ES256`` on every call: in Python 3.11 reading an enum member off
# its class takes the slow attribute path that EnumType's ``__getattr__`` installs.
_ES256 = CoseAlgorithm.ES256


def _verify_es256(message: CoseSign1, key: ec.EllipticCurvePublicKey) -> str | None:
    # RFC 9053 §2.1: the signature is r and s as 32-byte big-endian integers, concatenated.
    if len(message.signature) != 64:
        return f"an ES256 signature is 64 bytes (r || s), got {len(message.signature)}"
    try:
        key.verify(_der_signature(message.signature), sig_structure(message), _ECDSA_SHA256)
    except InvalidSignature:
        return "signature does not verify"
    return None


def _der_signature(raw: bytes) -> bytes:
    """``r || s`` (32 bytes each) as the DER ``SEQUENCE { INTEGER r, INTEGER s }`` cryptography
    takes: what ``encode_dss_signature`` writes (a test compares the two), without two big
    integers and a call into its ASN.1 module per verification.

    Each INTEGER (X.690 §8.3) is non-negative: minimal big-endian bytes, a leading 0x00 when
    the top bit is set (it would read as negative), one 0x00 byte for zero. Every length is
    below 128, so each fits its short form in one byte. One function, no helpers: it runs once
    per verification.
    """
    r = raw[:32].lstrip(b"\x00") or b"\x00"
    s = raw[32:].lstrip(b"\x00") or b"\x00"
    if r[0] & 0x80:
        r = b"\x00" + r
    if s[0] & 0x80:
        s = b"\x00" + s
    return b"".join((bytes((0x30, len(r) + len(s) + 4, 0x02, len(r))), r, bytes((0x02, len(s))), s))


def _verify_ps256(message: CoseSign1, key: rsa.RSAPublicKey) -> str | None:
    # RFC 8230 §2: RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt as long as the hash (32 bytes).
    size = math.ceil(key.key_size / 8)
    if len(message.signature) != size:
        return f"a PS256 signature is {size} bytes for this key, got {len(message.signature)}"
    try:
        key.verify(message.signature, sig_structure(message), _PSS_SHA256, hashes.SHA256())
    except InvalidSignature:
        return "signature does not verify"
    return None
