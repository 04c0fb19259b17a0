"""Making an HCERT: the DCC payload from a record, then CWT, COSE_Sign1, zlib, Base45, ``HC1:``.

eHealth Network, "Electronic Health Certificate Specification" v1.0.5 (HCERT) and the DCC JSON
schema 1.3.x; the steps mirror the decoder in :mod:`vaccine_cert.hcert`, in reverse:

1. The DCC (:func:`build_dcc`). The caller's record holds the schema's own fields of ONE kind
   (:data:`RECORD_FIELDS`); anything else - another kind's field, a field NatID fills (``co``,
   ``is``, ``ci``), an unknown key - is refused, naming the field. NatID adds the holder
   (``nam``: ``fn``/``gn`` from the register's Latin names, ``fnt``/``gnt`` their ICAO 9303
   transliteration, :func:`icao_transliteration`; ``dob``), ``ver`` :data:`DCC_VERSION`, and
   per entry ``co``, ``is`` and ``ci`` (the UVCI, :mod:`vaccine_cert.uvci`). The result must
   pass the DCC JSON schema and the value sets (:mod:`vaccine_cert.valuesets`), and dates must
   be dates (``dt``, ``fr``, ``df``, ``du``: ``YYYY-MM-DD``; ``sc``: RFC 3339 with an offset,
   the schema's ``format`` that jsonschema does not assert) and not lie after the moment of
   issue (``du`` excepted: it is the end of validity of a recovery).
2. CWT claims (RFC 8392 §3.1; HCERT "CWT Claims"): ``1`` iss (the issuing country), ``6`` iat,
   ``4`` exp (whole seconds), ``-260`` hcert ``{1: dcc}``.
3. COSE_Sign1 (RFC 9052 §4.2, tagged 18): protected header ``{1: alg, 4: kid}`` - ES256 (-7)
   for a P-256 key, PS256 (-37) for RSA (RFC 8230 §2: SHA-256, MGF1-SHA-256, salt 32) - and an
   empty unprotected header. The key signs ``Sig_structure`` (RFC 9052 §4.4) through whatever
   backend holds it; ECDSA's DER signature is turned into ``r || s`` of 32 bytes each
   (RFC 9053 §2.1).
4. zlib (level 9), Base45 (RFC 9285), prefix ``HC1:``.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from core.clock import require_aware
from vaccine_cert.base45 import b45encode
from vaccine_cert.cose import HEADER_ALG, HEADER_KID, TAG_COSE_SIGN1, CoseAlgorithm
from vaccine_cert.errors import InvalidDccRecord
from vaccine_cert.hcert import CLAIM_EXP, CLAIM_HCERT, CLAIM_IAT, CLAIM_ISS, HC1_PREFIX
from vaccine_cert.schema import DccSchema
from vaccine_cert.trust import CertificateType
from vaccine_cert.valuesets import ValueSets

__all__ = [
    "DCC_VERSION",
    "NATID_FIELDS",
    "RECORD_FIELDS",
    "CredentialKind",
    "HolderData",
    "SignedHcert",
    "build_dcc",
    "icao_transliteration",
    "sign_hc1",
]

#: The DCC schema version NatID writes in ``ver``.
DCC_VERSION = "1.3.0"

#: Fields of an entry that NatID fills itself, never the caller.
NATID_FIELDS = frozenset({"co", "is", "ci"})


class CredentialKind(StrEnum):
    """What a health credential certifies (the CLI's and API's ``kind``)."""

    VACCINATION = "vaccination"
    TEST = "test"
    RECOVERY = "recovery"

    @property
    def group(self) -> CertificateType:
        """The DCC's group key for this kind (``v``, ``t``, ``r``)."""
        return _GROUPS[self]


_GROUPS = {
    CredentialKind.VACCINATION: CertificateType.VACCINATION,
    CredentialKind.TEST: CertificateType.TEST,
    CredentialKind.RECOVERY: CertificateType.RECOVERY,
}

#: kind -> (required fields, optional fields) of the caller's record (DCC schema 1.3.x).
RECORD_FIELDS: Mapping[CredentialKind, tuple[frozenset[str], frozenset[str]]] = MappingProxyType(
    {
        CredentialKind.VACCINATION: (
            frozenset({"tg", "vp", "mp", "ma", "dn", "sd", "dt"}), frozenset()
        ),
        CredentialKind.TEST: (frozenset({"tg", "tt", "sc", "tr"}), frozenset({"nm", "ma", "tc"})),
        CredentialKind.RECOVERY: (frozenset({"tg", "fr", "df", "du"}), frozenset()),
    }
)  # fmt: skip

_INTEGER_FIELDS = frozenset({"dn", "sd"})
_DATE_FIELDS = frozenset({"dt", "fr", "df", "du"})
_PAST_FIELDS = frozenset({"dt", "fr", "df", "sc"})
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")

# ICAO Doc 9303 Part 3 §6.A: the recommended transliterations of Latin letters with
# diacritics that are not simply the base letter (the rest lose their marks, NFKD).
_ICAO_SPECIAL = {
    "Ä": "AE", "Å": "AA", "Æ": "AE", "Ö": "OE", "Ø": "OE", "Ü": "UE", "ß": "SS", "Þ": "TH",
    "Œ": "OE", "Ĳ": "IJ", "Ð": "D", "Đ": "D", "Ł": "L", "Ħ": "H", "Ŧ": "T", "Ŋ": "N",
}  # fmt: skip
_MAX_NAME = 80


def icao_transliteration(name: str) -> str:
    """``name`` as ICAO 9303 machine-readable text: ``A-Z`` and ``<``, at most 80 characters.

    Letters are upper-cased and transliterated (``Ä`` -> ``AE``, ``é`` -> ``E``); apostrophes
    are dropped; spaces, hyphens and other separators become one ``<`` each (Doc 9303 Part 3
    §4.6); characters with no Latin transliteration (Khmer script) are refused - the register's
    Latin name is what goes in.
    """
    out: list[str] = []
    for ch in name.upper():
        special = _ICAO_SPECIAL.get(ch)
        if special is not None:
            out.append(special)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        if base.isascii() and base.isalpha():
            out.append(base.upper())
        elif ch in "'’`":
            continue
        elif ch in " -,.‐" or ch.isspace():
            out.append("<")
        else:
            raise InvalidDccRecord(
                "nam", "the register's Latin name has a character ICAO 9303 cannot write"
            )
    text = re.sub("<+", "<", "".join(out)).strip("<")
    return text[:_MAX_NAME]


@dataclass(frozen=True, slots=True)
class HolderData:
    """The holder as the DCC names them, taken from the register."""

    family_name: str
    given_name: str
    date_of_birth: dt.date

    def nam(self) -> dict[str, str]:
        names: dict[str, str] = {}
        if self.family_name:
            names["fn"] = self.family_name[:_MAX_NAME]
            names["fnt"] = icao_transliteration(self.family_name)
        if self.given_name:
            names["gn"] = self.given_name[:_MAX_NAME]
            names["gnt"] = icao_transliteration(self.given_name)
        return names


def build_dcc(
    kind: CredentialKind,
    record: Mapping[str, Any],
    *,
    holder: HolderData,
    country: str,
    issuer: str,
    uvci: str,
    at: dt.datetime,
    schema: DccSchema | None = None,
    value_sets: ValueSets | None = None,
) -> dict[str, Any]:
    """The DCC for one record (module docstring, step 1); raise :class:`InvalidDccRecord`."""
    at = require_aware(at)
    group = kind.group.value
    if not isinstance(record, Mapping):
        raise InvalidDccRecord("record", "must be a JSON object of the DCC's fields")
    required, optional = RECORD_FIELDS[kind]
    for field in sorted(str(f) for f in record):
        if field in NATID_FIELDS:
            raise InvalidDccRecord(f"{group}[0].{field}", "is filled in by NatID; leave it out")
        if field not in required | optional:
            other = [k.value for k, (req, opt) in RECORD_FIELDS.items() if field in req | opt]
            hint = f"a {' or '.join(other)} field, not a {kind.value} one" if other else "unknown"
            raise InvalidDccRecord(f"{group}[0].{field}", f"is {hint}")
    for field in sorted(required - set(record)):
        raise InvalidDccRecord(f"{group}[0].{field}", f"is required for a {kind.value}")
    entry: dict[str, Any] = {}
    for field, value in record.items():
        entry[field] = _checked_value(group, field, value, at)
    entry.update({"co": country, "is": issuer, "ci": uvci})
    dcc: dict[str, Any] = {
        "ver": DCC_VERSION,
        "nam": holder.nam(),
        "dob": holder.date_of_birth.isoformat(),
        group: [entry],
    }
    problems = (schema or DccSchema.bundled()).errors(dcc)
    if problems:
        path, _, message = problems[0].partition(": ")
        raise InvalidDccRecord(path.removeprefix("$."), message or "does not conform")
    values = value_sets or ValueSets.bundled()
    for field in sorted(entry):
        problem = values.problem(group, field, entry[field])
        if problem is not None:
            raise InvalidDccRecord(f"{group}[0].{field}", problem.partition(": ")[2])
    return dcc


def _checked_value(group: str, field: str, value: Any, at: dt.datetime) -> Any:
    where = f"{group}[0].{field}"
    if field in _INTEGER_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidDccRecord(where, "must be a whole number")
        return value
    if not isinstance(value, str):
        raise InvalidDccRecord(where, "must be a string")
    moment: dt.datetime | None = None
    if field in _DATE_FIELDS:
        if not _DATE.fullmatch(value):
            raise InvalidDccRecord(where, "must be a date YYYY-MM-DD")
        try:
            moment = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC)
        except ValueError:
            raise InvalidDccRecord(where, "is not a calendar date") from None
    elif field == "sc":
        if not _DATE_TIME.fullmatch(value):
            raise InvalidDccRecord(where, "must be an RFC 3339 date-time with an offset")
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidDccRecord(where, "is not a valid date-time") from None
    if moment is not None and field in _PAST_FIELDS and moment > at:
        raise InvalidDccRecord(where, "lies after the moment of issue")
    return value


@dataclass(frozen=True, slots=True)
class SignedHcert:
    """A freshly made credential: the ``HC1:`` text and what the issuer keeps about it."""

    payload: str
    algorithm: CoseAlgorithm
    #: The COSE signature as carried in the credential (ES256: ``r || s``).
    signature: bytes
    issued_at: int
    expires_at: int


def sign_hc1(
    dcc: Mapping[str, Any],
    *,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    kid: bytes,
    issuer_country: str,
    issued_at: dt.datetime,
    expires_at: dt.datetime,
) -> SignedHcert:
    """Steps 2-4 of the module docstring; ``key`` may live in any key backend."""
    iat = int(require_aware(issued_at, "issued_at").timestamp())
    exp = int(require_aware(expires_at, "expires_at").timestamp())
    if exp <= iat:
        raise InvalidDccRecord("exp", "the credential would expire before it is issued")
    claims = cbor2.dumps(
        {CLAIM_ISS: issuer_country, CLAIM_IAT: iat, CLAIM_EXP: exp, CLAIM_HCERT: {1: dict(dcc)}}
    )
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name != "secp256r1":
            raise InvalidDccRecord("alg", "an HCERT ECDSA signer key must be P-256 (ES256)")
        algorithm = CoseAlgorithm.ES256
    else:
        algorithm = CoseAlgorithm.PS256
    protected = cbor2.dumps({HEADER_ALG: algorithm.value, HEADER_KID: kid})
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", claims])
    if isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(to_be_signed, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = key.sign(to_be_signed, pss, hashes.SHA256())
    cose = cbor2.dumps(cbor2.CBORTag(TAG_COSE_SIGN1, [protected, {}, claims, signature]))
    payload = HC1_PREFIX + b45encode(zlib.compress(cose, 9))
    return SignedHcert(payload, algorithm, signature, iat, exp)
