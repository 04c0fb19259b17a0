"""The signed KYC responses: OpenID Connect for Identity Assurance 1.0 ``verified_claims``
(final, 2024), signed as a JWS and optionally encrypted to the bank (JWE).

**verified_claims** (IDA §5): ``verification`` says under which rules, how, when and how well
the identity was proven, ``claims`` holds the released attributes (:mod:`kyc.policy` names).

* ``trust_framework``: ``kh_natid`` - NatID's own framework (the identity-proofing rules of
  :mod:`registry.proofing`: eIDAS-style levels, a method capping the level). It is not one of
  IDA's predefined values (those name foreign schemes such as ``de_aml`` or ``eidas``), so the
  name is defined here and in docs: a bank that sees ``kh_natid`` knows the rules.
* ``assurance_level``: the eIDAS level the register holds (``low``/``substantial``/``high``).
* ``time``: when the proofing that gives that level happened; ``verification_process``: the
  proofing record's id, the reference NatID can look the event up by.
* ``evidence`` (IDA §5.1.1): in person with a document - ``{"type": "document",
  "document_details": {"type": "idcard" | "passport" | "birth_certificate" |
  "family_register"}, "check_details": [{"check_method": "vpip"}, {"check_method": "pvp"}]}``
  (document inspected physically in person; the face compared in person by an officer); by
  video - the same with ``vri`` and ``pvr`` (remote); by an existing qualified certificate -
  ``{"type": "electronic_signature", "signature_type": "qes", "created_at": ...}``;
  self-declared - no evidence. Each check carries its ``time``. (The early IDA drafts had a
  ``method`` member with ``pipp``/``sripp``; the final specification replaced it with
  ``check_details``, which is what is sent.)
* Where the register holds no proofing record (or the person is no longer active), the
  verification is ``assurance_level`` ``none`` with no evidence, so the bank sees the data is
  not verified rather than being told something untrue.

**The envelope** (JWS, RFC 7515): ``iss`` (the IdP), ``aud`` (the bank's client id), ``iat``,
``txn`` (IDA §4: the transaction id, the same as the access-log entry's, so bank and citizen
can point at the same event), ``sub`` (the subject the bank knows from its ID token, pairwise),
``natid:purpose``, and ``verified_claims`` or ``natid:match``. The header ``typ`` is
``kyc+jwt`` (RFC 8725 §3.11 explicit typing: a KYC response can never pass for an ID token or
access token signed by the same key). It is signed with the IdP's active signing key, so a bank
verifies it against ``/jwks`` as it does ID tokens; no expiry, because it is evidence kept by
the bank, who should store the JWKS of the day alongside it (retired keys leave ``/jwks``).

**Encryption** (optional): when the bank registered a public encryption key, the JWS is the
payload of a compact JWE (RFC 7516, nested JWT per RFC 7519 §5.2, ``cty: JWT``) with
``ECDH-ES+A256KW`` (EC P-256 key) or ``RSA-OAEP-256`` (RSA key) and ``A256GCM``, made with
joserfc.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, Protocol

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from kyc.errors import InvalidRelyingParty
from kyc.policy import Attribute
from registry.records import EvidenceType, Person, ProofingMethod, ProofingRecord, Sex

__all__ = [
    "KYC_JWT_TYPE",
    "TRUST_FRAMEWORK",
    "ResponseSigner",
    "attribute_values",
    "check_encryption_jwk",
    "encrypt_for",
    "verification_of",
    "verified_claims",
]

TRUST_FRAMEWORK = "kh_natid"
KYC_JWT_TYPE = "kyc+jwt"
_DOCUMENT_TYPE = {
    EvidenceType.NATIONAL_ID_CARD: "idcard",
    EvidenceType.PASSPORT: "passport",
    EvidenceType.BIRTH_CERTIFICATE: "birth_certificate",
    EvidenceType.FAMILY_BOOK: "family_register",
}
_CHECKS = {
    ProofingMethod.IN_PERSON: ("vpip", "pvp"),
    ProofingMethod.REMOTE_VIDEO: ("vri", "pvr"),
}


class ResponseSigner(Protocol):
    """Signs a KYC response (the api layer wires the IdP's active key)."""

    @property
    def issuer(self) -> str: ...

    def sign(self, claims: Mapping[str, Any]) -> str: ...


def _time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def attribute_values(person: Person) -> dict[Attribute, Any]:
    """Every attribute the register holds for ``person`` (absent ones are left out)."""
    values: dict[Attribute, Any] = {
        Attribute.NAME: person.name_latin,
        Attribute.GIVEN_NAME: person.given_name_latin,
        Attribute.FAMILY_NAME: person.family_name_latin,
        Attribute.NAME_KM: person.name_km,
        Attribute.GIVEN_NAME_KM: person.given_name_km,
        Attribute.FAMILY_NAME_KM: person.family_name_km,
        Attribute.BIRTHDATE: person.birthdate.isoformat(),
        Attribute.NATIONALITIES: [person.nationality],
        Attribute.NATIONAL_ID_NUMBER: person.national_id,
    }
    if person.sex in (Sex.MALE, Sex.FEMALE):
        values[Attribute.GENDER] = "male" if person.sex is Sex.MALE else "female"
    if person.address:
        values[Attribute.ADDRESS] = {"formatted": person.address, "country": "KH"}
    if person.phone:
        values[Attribute.PHONE_NUMBER] = person.phone
    if person.email:
        values[Attribute.EMAIL] = person.email
    return values


def _evidence(record: ProofingRecord) -> list[dict[str, Any]]:
    when = _time(record.at)
    if record.method is ProofingMethod.EXISTING_CERTIFICATE:
        return [{"type": "electronic_signature", "signature_type": "qes", "created_at": when}]
    checks = _CHECKS.get(record.method)
    document = _DOCUMENT_TYPE.get(record.evidence)
    if checks is None or document is None:
        return []
    return [
        {
            "type": "document",
            "document_details": {"type": document},
            "check_details": [{"check_method": c, "time": when} for c in checks],
        }
    ]


def verification_of(record: ProofingRecord | None) -> dict[str, Any]:
    """The ``verification`` element for the person's current proofing record."""
    if record is None:
        return {"trust_framework": TRUST_FRAMEWORK, "assurance_level": "none"}
    verification: dict[str, Any] = {
        "trust_framework": TRUST_FRAMEWORK,
        "assurance_level": record.level.value,
        "time": _time(record.at),
        "verification_process": record.id,
    }
    evidence = _evidence(record)
    if evidence:
        verification["evidence"] = evidence
    return verification


def verified_claims(
    person: Person, record: ProofingRecord | None, attributes: frozenset[Attribute]
) -> dict[str, Any]:
    """``{"verification": ..., "claims": ...}`` with exactly ``attributes`` the register holds."""
    values = attribute_values(person)
    claims = {a.value: values[a] for a in sorted(attributes) if a in values}
    return {"verification": verification_of(record), "claims": claims}


# --- encryption ---------------------------------------------------------------------------------


def _import_public(jwk: Mapping[str, Any]) -> ECKey | RSAKey:
    members = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
    if members & set(jwk):
        raise InvalidRelyingParty("encryption key: a public key is expected, not a private one")
    try:
        if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            return ECKey.import_key(dict(jwk))
        if jwk.get("kty") == "RSA":
            key = RSAKey.import_key(dict(jwk))
            if key.public_key.key_size < 2048:
                raise InvalidRelyingParty("encryption key: RSA keys need at least 2048 bits")
            return key
    except (JoseError, ValueError, TypeError) as exc:
        reason = type(exc).__name__
        raise InvalidRelyingParty(f"encryption key: not a valid JWK ({reason})") from exc
    raise InvalidRelyingParty("encryption key: expected an EC P-256 or RSA public JWK")


def check_encryption_jwk(jwk: Mapping[str, Any] | str) -> dict[str, Any]:
    """A bank's public encryption JWK, checked; returns the members to store."""
    if isinstance(jwk, str):
        try:
            jwk = json.loads(jwk)
        except ValueError:
            raise InvalidRelyingParty("encryption key: not JSON") from None
    if not isinstance(jwk, Mapping):
        raise InvalidRelyingParty("encryption key: expected a JWK object")
    if "keys" in jwk:
        keys = jwk["keys"]
        if not isinstance(keys, list) or len(keys) != 1 or not isinstance(keys[0], Mapping):
            raise InvalidRelyingParty("encryption key: a JWK Set must hold exactly one key")
        jwk = keys[0]
    _import_public(jwk)
    return dict(jwk)


def encrypt_for(jwk: Mapping[str, Any], signed: str) -> str:
    """The compact JWE of the signed response for the bank's key (nested JWT)."""
    key = _import_public(jwk)
    alg = "ECDH-ES+A256KW" if isinstance(key, ECKey) else "RSA-OAEP-256"
    header: dict[str, Any] = {"alg": alg, "enc": "A256GCM", "cty": "JWT"}
    if isinstance(jwk.get("kid"), str):
        header["kid"] = jwk["kid"]
    return jwe.encrypt_compact(header, signed.encode("ascii"), key)
