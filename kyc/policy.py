"""What a bank may receive: the attribute and purpose vocabulary, relying parties, and the rule
that combines a bank's policy with the citizen's consent (issue 6, "Relying parties").

**Attributes** are named by the claim they become inside ``verified_claims.claims`` (OpenID
Connect for Identity Assurance 1.0 §5.2; OIDC Core §5.1 names): ``given_name``,
``family_name``, ``name`` (Latin script, the register's transliteration), the same three in
Khmer script as ``given_name#km``, ``family_name#km``, ``name#km`` (OIDC Core §5.2 language
tags), ``birthdate``, ``gender``, ``nationalities`` (IDA §4.1, ISO 3166-1 alpha-3 as the
register stores it), ``address``, ``phone_number``, ``email``, and ``national_id_number`` (a
NatID claim). The register keeps no photograph, so there is no photo attribute.

**Purposes** are ``account_opening``, ``loan`` and ``periodic_review``.

**How a request states them (the OAuth side).** The bank asks the IdP for the scope ``kyc``,
exactly one purpose scope ``kyc:purpose:<purpose>``, and the attributes: the OIDC scopes
``profile`` (names, birthdate, gender), ``email``, ``phone``, ``address``, the NatID scopes
``kyc:nationalities`` and ``kyc:national_id_number``, or single OIDC claims by name in the
``claims`` parameter's ``userinfo`` member (OIDC Core §5.5). Purposes and the two NatID
attributes are scopes on purpose: the consent page lists every requested scope and lets the
citizen untick each one, whereas it lists only the claims it knows (the OIDC ones), so a
claim it does not show could never count as consented.

**The rule** (:func:`decide_release`), in order:

1. There must be a live consent of this person for this client (none, expired or withdrawn:
   :class:`~kyc.errors.KYCAccessDenied`).
2. The token states exactly one purpose scope; the purpose must be one the bank was onboarded
   with (else :class:`~kyc.errors.PolicyViolation`, the bank's own fault).
3. The live consent must still hold ``kyc`` and that purpose scope (else ``KYCAccessDenied``).
4. Released = the bank's allowed attributes ∩ what the token's grant asked for ∩ what the live
   consent still allows (by scope, or by claim name for the OIDC claims). Nothing left is
   ``KYCAccessDenied``.

Pure: no I/O; the service hands in the policy, the grant and the consent it found.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kyc.errors import InvalidRelyingParty, KYCAccessDenied, PolicyViolation

__all__ = [
    "ATTRIBUTES_BY_SCOPE",
    "CLAIM_CONSENTABLE",
    "DEFAULT_RATE_LIMIT",
    "KYC_SCOPE",
    "MATCHABLE",
    "PURPOSE_SCOPE_PREFIX",
    "Attribute",
    "ConsentView",
    "GrantView",
    "Purpose",
    "Release",
    "RelyingParty",
    "decide_release",
    "parse_attributes",
    "parse_purposes",
    "parse_rate_limit",
    "purpose_scope",
]

KYC_SCOPE = "kyc"
PURPOSE_SCOPE_PREFIX = "kyc:purpose:"
DEFAULT_RATE_LIMIT = 60
MAX_RATE_LIMIT = 100_000


class Attribute(StrEnum):
    """An attribute a bank may receive, spelled as its claim name."""

    NAME = "name"
    GIVEN_NAME = "given_name"
    FAMILY_NAME = "family_name"
    NAME_KM = "name#km"
    GIVEN_NAME_KM = "given_name#km"
    FAMILY_NAME_KM = "family_name#km"
    BIRTHDATE = "birthdate"
    GENDER = "gender"
    NATIONALITIES = "nationalities"
    ADDRESS = "address"
    PHONE_NUMBER = "phone_number"
    EMAIL = "email"
    NATIONAL_ID_NUMBER = "national_id_number"


class Purpose(StrEnum):
    ACCOUNT_OPENING = "account_opening"
    LOAN = "loan"
    PERIODIC_REVIEW = "periodic_review"


_NAMES = (
    Attribute.NAME,
    Attribute.GIVEN_NAME,
    Attribute.FAMILY_NAME,
    Attribute.NAME_KM,
    Attribute.GIVEN_NAME_KM,
    Attribute.FAMILY_NAME_KM,
)
#: Which attributes each scope releases (the OIDC scopes as OIDC Core §5.4 defines them).
ATTRIBUTES_BY_SCOPE: Mapping[str, frozenset[Attribute]] = {
    "profile": frozenset({*_NAMES, Attribute.BIRTHDATE, Attribute.GENDER}),
    "email": frozenset({Attribute.EMAIL}),
    "phone": frozenset({Attribute.PHONE_NUMBER}),
    "address": frozenset({Attribute.ADDRESS}),
    "kyc:nationalities": frozenset({Attribute.NATIONALITIES}),
    "kyc:national_id_number": frozenset({Attribute.NATIONAL_ID_NUMBER}),
}
#: Attributes that may be consented by claim name: the OIDC claims the consent page shows.
CLAIM_CONSENTABLE = frozenset(a for a in Attribute) - {
    Attribute.NATIONALITIES,
    Attribute.NATIONAL_ID_NUMBER,
}
#: Attributes a match check compares (yes/no; see :mod:`kyc.match`).
MATCHABLE = frozenset({*_NAMES, Attribute.BIRTHDATE, Attribute.NATIONAL_ID_NUMBER})


def purpose_scope(purpose: Purpose) -> str:
    return PURPOSE_SCOPE_PREFIX + purpose.value


def _codes(values: Iterable[str] | str, enum: type[Attribute] | type[Purpose], what: str) -> Any:
    items = values.split(",") if isinstance(values, str) else list(values)
    cleaned = [v.strip() for v in items if isinstance(v, str) and v.strip()]
    if not cleaned:
        raise InvalidRelyingParty(f"{what}: at least one is required")
    allowed = [m.value for m in enum]
    unknown = sorted({v for v in cleaned if v not in allowed})
    if unknown:
        shown = ", ".join(u[:40] for u in unknown[:5])
        raise InvalidRelyingParty(f"{what}: unknown {shown}; expected some of {', '.join(allowed)}")
    return frozenset(enum(v) for v in cleaned)


def parse_attributes(values: Iterable[str] | str) -> frozenset[Attribute]:
    """``a,b,c`` (or a list) to attributes; raises :class:`InvalidRelyingParty`."""
    result: frozenset[Attribute] = _codes(values, Attribute, "attributes")
    return result


def parse_purposes(values: Iterable[str] | str) -> frozenset[Purpose]:
    result: frozenset[Purpose] = _codes(values, Purpose, "purposes")
    return result


_RATE = re.compile(r"\s*(\d{1,6})\s*(?:/\s*(?:min|minute|m))?\s*")


def parse_rate_limit(value: str | int) -> int:
    """``N/min`` (or ``N``) to requests per minute, 1 to :data:`MAX_RATE_LIMIT`."""
    match = _RATE.fullmatch(str(value))
    if match is None:
        raise InvalidRelyingParty("rate limit: expected N/min, for example 120/min")
    limit = int(match.group(1))
    if not 1 <= limit <= MAX_RATE_LIMIT:
        raise InvalidRelyingParty(f"rate limit: expected 1 to {MAX_RATE_LIMIT} per minute")
    return limit


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """A bank onboarded for KYC: its register entity, its IdP client and its policy."""

    id: str
    entity_id: str
    client_id: str
    attributes: frozenset[Attribute]
    purposes: frozenset[Purpose]
    rate_limit_per_minute: int
    contact: str | None
    legal_basis_match: bool
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    #: The bank's public key (JWK) to encrypt responses to, when it registered one.
    encryption_jwk: Mapping[str, Any] | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "entity_id": self.entity_id,
            "client_id": self.client_id,
            "attributes": sorted(a.value for a in self.attributes),
            "purposes": sorted(p.value for p in self.purposes),
            "rate_limit": f"{self.rate_limit_per_minute}/min",
            "contact": self.contact,
            "legal_basis_match": self.legal_basis_match,
            "encryption": self.encryption_jwk is not None,
            "active": self.active,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class GrantView:
    """What the bank's access token carries: its scopes and the claims it asked for by name."""

    scopes: frozenset[str]
    requested_claims: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ConsentView:
    """The citizen's live consent for this client, as the IdP stores it."""

    scopes: frozenset[str]
    claims: frozenset[str]
    granted_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Release:
    purpose: Purpose
    attributes: frozenset[Attribute]


def _purpose(rp: RelyingParty, scopes: Collection[str]) -> Purpose:
    stated = [s for s in scopes if s.startswith(PURPOSE_SCOPE_PREFIX)]
    if len(stated) != 1:
        raise PolicyViolation(
            f"state exactly one purpose scope {PURPOSE_SCOPE_PREFIX}<purpose>; got {len(stated)}"
        )
    code = stated[0].removeprefix(PURPOSE_SCOPE_PREFIX)
    if code not in {p.value for p in rp.purposes}:
        raise PolicyViolation(f"the purpose {code[:40]!r} is not allowed for this relying party")
    return Purpose(code)


def _by_scopes(scopes: Iterable[str]) -> set[Attribute]:
    return {a for s in scopes for a in ATTRIBUTES_BY_SCOPE.get(s, ())}


def consented_attributes(grant: GrantView, consent: ConsentView) -> frozenset[Attribute]:
    """Attributes both the grant asked for and the live consent still allows (step 4)."""
    scopes = grant.scopes & consent.scopes
    named = {
        Attribute(n)
        for n in grant.requested_claims & consent.claims
        if n in {a.value for a in CLAIM_CONSENTABLE}
    }
    return frozenset(_by_scopes(scopes) | named)


def decide_release(
    rp: RelyingParty, grant: GrantView, consent: ConsentView | None, *, at: dt.datetime
) -> Release:
    """Apply steps 1-4 of the module docstring."""
    if consent is None or consent.expires_at <= at:
        raise KYCAccessDenied
    purpose = _purpose(rp, grant.scopes)
    if not {KYC_SCOPE, purpose_scope(purpose)} <= consent.scopes:
        raise KYCAccessDenied
    attributes = rp.attributes & consented_attributes(grant, consent)
    if not attributes:
        raise KYCAccessDenied
    return Release(purpose=purpose, attributes=attributes)
