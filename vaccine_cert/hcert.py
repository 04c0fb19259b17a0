"""Decoding ``HC1:`` payloads: the layers of the HCERT format (eHealth Network, "Electronic Health
Certificate Specification" v1.0.5, "Transport Encodings" and "CWT Claims"), each bounded
against hostile input.

Outermost first; each step raises :class:`~vaccine_cert.errors.HcertDecodeError` naming its
:class:`~vaccine_cert.errors.DecodeStage`:

1. Prefix - the Context Identifier ``HC1:`` ("QR 2D Barcode": a version that breaks backwards
   compatibility gets the next number). Any other prefix (``HC2:``, ``HL0:``) or none fails: a
   verifier cannot know the rules of a version it has not seen. The whole text may hold at
   most :data:`MAX_PAYLOAD_CHARS` characters.
2. Base45 - RFC 9285, strict (:mod:`vaccine_cert.base45`).
3. zlib - RFC 1950, required: "the CWT SHALL be compressed using ZLIB" ("Payload (CWT)
   Compression"), and the public test vectors agree (Z2, an uncompressed payload, expects the
   compression step to fail; every valid vector is compressed). Output is capped at
   :data:`MAX_DECOMPRESSED_BYTES` (64 KiB; real credentials inflate to under 1 KiB): the
   decompressor is told to stop there, so a zip bomb costs at most that much memory and time.
   A truncated stream or bytes after its end fail too.
4. CBOR and COSE_Sign1 - :func:`vaccine_cert.cose.parse_cose_sign1` (depth, tag and duplicate-key
   limits there).
5. CWT claims (RFC 8392 §3.1, HCERT "CWT Claims") - the payload is a map: ``1`` iss (text,
   optional), ``4`` exp and ``6`` iat (NumericDate: an integer, or a finite float per RFC 8392
   §2; missing ones are for the expiry check to report), ``-260`` hcert, a map whose key ``1``
   holds the DCC. Inside the DCC, tag 0 (a date-time string, as Sweden's vectors tag ``sc``)
   is read as its string; no other tag is allowed. The DCC must be plain JSON - text keys,
   JSON values - so no CBOR-only value (bytes, undefined, a non-text key) can reach the schema
   or the caller; it is returned as decoded and as JSON text.

Speed: the verifier's benchmark decodes once per credential. The JSON text comes from orjson,
which refuses non-text map keys and non-JSON values by itself; only what it cannot settle alone
(a ``null``, which is how it writes NaN and the infinities; an integer beyond 64 bits; any
refusal, to say why) goes through the exact check and :func:`json.dumps`.

Nothing here checks a signature or a time; :mod:`vaccine_cert.verify` does.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from vaccine_cert.base45 import b45decode
from vaccine_cert.cose import CoseSign1, loads_bounded, parse_cose_sign1, tag_policy
from vaccine_cert.errors import Base45Error, DecodeStage, HcertDecodeError

__all__ = [
    "HC1_PREFIX",
    "MAX_DECOMPRESSED_BYTES",
    "MAX_PAYLOAD_CHARS",
    "DecodedHcert",
    "decode_hc1",
    "inflate_bounded",
]

#: The Context Identifier of HCERT version 1 (HCERT spec, "QR 2D Barcode").
HC1_PREFIX = "HC1:"

#: Longest ``HC1:`` text accepted: four times what the largest QR code holds (4,296
#: alphanumeric characters, ISO/IEC 18004 version 40-L), so text from any channel fits.
MAX_PAYLOAD_CHARS = 16 * 1024

#: Most bytes the zlib layer may inflate to.
MAX_DECOMPRESSED_BYTES = 64 * 1024

#: CWT claim keys (RFC 8392 §3.1) and the hcert claim (HCERT spec, "Health Certificate Claim").
CLAIM_ISS = 1
CLAIM_EXP = 4
CLAIM_IAT = 6
CLAIM_HCERT = -260
HCERT_EU_DCC_V1 = 1

# Inside the payload only tag 0 (RFC 8949 §3.4.1, a date-time string) is allowed, and it is
# read as the string it tags: DCC JSON has no date type.
_PAYLOAD_TAGS = tag_policy({0: lambda value, _immutable: _tagged_text(value)})


# A global: in Python 3.11 reading an enum member off its class takes the slow attribute path
# that EnumType's ``__getattr__`` installs, and this one is read on every decoding.
_CWT_STAGE = DecodeStage.CWT


def _tagged_text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("tag 0 must tag a text string")
    return value


@dataclass(frozen=True, slots=True)
class DecodedHcert:
    """An ``HC1:`` payload taken apart; nothing in it is verified yet."""

    cose: CoseSign1
    issuer: str | None
    issued_at: int | float | None
    expires_at: int | float | None
    #: The DCC as JSON text (the signed order of keys, no spaces): immutable and printable.
    dcc_json: str
    #: The DCC as decoded, plain JSON types only; a fresh object per decoding.
    dcc: dict[str, Any]


def decode_hc1(text: str) -> DecodedHcert:
    """Take an ``HC1:`` payload apart (module docstring, steps 1-5)."""
    # 1. Prefix.
    if not isinstance(text, str):
        raise HcertDecodeError(
            DecodeStage.PREFIX, f"payload must be text, got {type(text).__name__}"
        )
    if len(text) > MAX_PAYLOAD_CHARS:
        raise HcertDecodeError(
            DecodeStage.PREFIX,
            f"payload is {len(text)} characters, more than the {MAX_PAYLOAD_CHARS} accepted",
        )
    if not text.startswith(HC1_PREFIX):
        raise HcertDecodeError(DecodeStage.PREFIX, f"payload does not start with {HC1_PREFIX!r}")
    # 2. Base45.
    try:
        compressed = b45decode(text[len(HC1_PREFIX) :])
    except Base45Error as exc:
        raise HcertDecodeError(DecodeStage.BASE45, exc.message) from exc
    # 3. zlib.
    cose_bytes = inflate_bounded(compressed, MAX_DECOMPRESSED_BYTES)
    # 4. COSE_Sign1.
    cose = parse_cose_sign1(cose_bytes)
    # 5. CWT claims and the DCC.
    claims = loads_bounded(cose.payload, tags=_PAYLOAD_TAGS, stage=_CWT_STAGE)
    # cbor2 decodes every map outside a map key as a dict.
    if not isinstance(claims, dict):
        raise HcertDecodeError(DecodeStage.CWT, "CWT claims must be a map")
    issuer = claims.get(CLAIM_ISS)
    if issuer is not None and not isinstance(issuer, str):
        raise HcertDecodeError(DecodeStage.CWT, "claim 1 (iss) must be a text string")
    hcert = claims.get(CLAIM_HCERT)
    if not isinstance(hcert, dict):
        raise HcertDecodeError(DecodeStage.CWT, "claim -260 (hcert) must be a map")
    dcc = hcert.get(HCERT_EU_DCC_V1)
    if not isinstance(dcc, dict):
        raise HcertDecodeError(DecodeStage.CWT, "hcert key 1 (the EU DCC) must be a map")
    dcc_json = _as_json(dcc)
    # An integer NumericDate, as issuers write them, needs no further check.
    issued_at = claims.get(CLAIM_IAT)
    if type(issued_at) is not int:
        issued_at = _numeric_date(claims, CLAIM_IAT, "iat")
    expires_at = claims.get(CLAIM_EXP)
    if type(expires_at) is not int:
        expires_at = _numeric_date(claims, CLAIM_EXP, "exp")
    return DecodedHcert(
        cose=cose,
        issuer=issuer,
        issued_at=issued_at,
        expires_at=expires_at,
        dcc_json=dcc_json,
        dcc=dcc,
    )


def inflate_bounded(data: bytes, limit: int) -> bytes:
    """Inflate one complete zlib stream (RFC 1950) to at most ``limit`` bytes, or raise."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise HcertDecodeError(DecodeStage.ZLIB, f"not a valid zlib stream ({exc})") from exc
    if len(out) > limit:
        raise HcertDecodeError(
            DecodeStage.ZLIB, f"inflates to more than {limit} bytes; refused as a zip bomb"
        )
    if not inflater.eof:
        raise HcertDecodeError(DecodeStage.ZLIB, "zlib stream is truncated")
    if inflater.unused_data:
        raise HcertDecodeError(
            DecodeStage.ZLIB, f"{len(inflater.unused_data)} bytes follow the zlib stream"
        )
    return out


def _numeric_date(claims: Mapping[Any, Any], key: int, name: str) -> int | float | None:
    value = claims.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HcertDecodeError(DecodeStage.CWT, f"claim {key} ({name}) must be a NumericDate")
    if isinstance(value, float) and not math.isfinite(value):
        raise HcertDecodeError(DecodeStage.CWT, f"claim {key} ({name}) must be finite")
    return value


def _as_json(dcc: dict[str, Any]) -> str:
    """The DCC as JSON text, once it is known to be plain JSON; or raise."""
    try:
        # orjson raises for a non-text map key and for any value JSON does not have (bytes,
        # undefined, simple values), but writes NaN and the infinities as null.
        text = orjson.dumps(dcc)
    except orjson.JSONEncodeError:
        pass  # the exact path says why, or accepts an integer orjson cannot write
    else:
        if b"null" not in text:
            return text.decode("utf-8")
    return _as_json_exact(dcc)


def _as_json_exact(dcc: Mapping[Any, Any]) -> str:
    """:func:`_as_json` for what orjson does not settle, with :mod:`json`'s exact rules."""
    # json.dumps refuses values JSON does not have (bytes, undefined, NaN) but turns integer,
    # float, boolean and null map keys into text without complaint: look at the keys first.
    pending: list[Any] = [dcc]
    while pending:
        item = pending.pop()
        if type(item) is dict:
            for key, value in item.items():
                if type(key) is not str:
                    raise HcertDecodeError(
                        DecodeStage.CWT, "the DCC has a map key that is not a text string"
                    )
                if type(value) in _CONTAINERS:
                    pending.append(value)
        elif type(item) in _CONTAINERS:
            pending.extend(value for value in item if type(value) in _CONTAINERS)
        else:
            raise HcertDecodeError(DecodeStage.CWT, f"the DCC holds a {type(item).__name__} map")
    try:
        text = json.dumps(dcc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise HcertDecodeError(DecodeStage.CWT, f"the DCC is not JSON: {exc}") from exc
    return text


# cbor2 decodes arrays as lists (tuples inside an immutable map key, which the key check then
# refuses) and maps as dicts.
_CONTAINERS = (dict, list, tuple)
