"""Claims about the end-user, by scope and by the ``claims`` request parameter (OIDC Core §5).

Which claims a scope releases (OIDC Core §5.4, plus one NatID scope):

* ``profile`` - ``name``, ``given_name``, ``family_name`` in Latin script (the register's
  transliteration, so stock relying-party libraries get ASCII-friendly names), the same three
  in Khmer script as ``name#km``, ``given_name#km``, ``family_name#km`` (language tags,
  §5.2), ``birthdate`` (``YYYY-MM-DD``), ``gender`` (``male``/``female``; nothing for the
  register's ``X``), ``zoneinfo`` and ``updated_at``.
* ``email`` - ``email``, ``email_verified``; ``phone`` - ``phone_number`` (E.164, §5.1),
  ``phone_number_verified``. "Verified" means the account proved control of it (a code sent
  there), not merely that the register holds it.
* ``address`` - the §5.1.1 structured ``address`` object. The register keeps an address as one
  text, so it is ``formatted`` plus ``country`` ``KH`` (ISO 3166-1 alpha-2).
* ``civil_servant`` (NatID) - for an active civil servant: ``natid:ministry`` (English name),
  ``natid:ministry#km``, ``natid:ministry_id`` (the register's entity id), ``natid:unit``,
  ``natid:title`` (with ``#km`` variants where the register has them), and ``roles`` (the
  operator roles of the account). Names are collision-resistant per §5.1.2 by the ``natid:``
  prefix. With several active positions, the newest one is reported.

``claims_locales`` (§5.2): the untagged claims are always Latin script; the ``#km`` variants
are released unless the locales asked for leave Khmer out.

The ``claims`` parameter (§5.5) adds individual claims to those of the scopes; ``value`` and
``values`` (§5.5.1) release a claim only if it matches. An essential claim the subject does not
have is no error (§5.5.1: the OP MUST NOT generate one); it is reported in
:attr:`ReleasedClaims.missing_essential` so the consent page can say so.

No scope releases the national ID card number, and nothing here reads it (ARCHITECTURE.md,
"Identifiers").
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from idp.errors import InvalidClaimsRequest
from registry.records import CivilServant, Person, Sex

__all__ = [
    "CLAIMS_BY_SCOPE",
    "SCOPE_CIVIL_SERVANT",
    "ClaimRequest",
    "ClaimsRequest",
    "ClaimsSubject",
    "ReleasedClaims",
    "parse_claims_request",
    "release_claims",
    "within_scopes",
]

SCOPE_CIVIL_SERVANT = "civil_servant"
ZONEINFO = "Asia/Phnom_Penh"
KHMER = "km"

CLAIMS_BY_SCOPE: Mapping[str, tuple[str, ...]] = {
    "profile": (
        "name",
        "given_name",
        "family_name",
        "name#km",
        "given_name#km",
        "family_name#km",
        "birthdate",
        "gender",
        "zoneinfo",
        "updated_at",
    ),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address",),
    SCOPE_CIVIL_SERVANT: (
        "natid:ministry",
        "natid:ministry#km",
        "natid:ministry_id",
        "natid:unit",
        "natid:unit#km",
        "natid:title",
        "natid:title#km",
        "roles",
    ),
}
_SUPPORTED = frozenset(name for names in CLAIMS_BY_SCOPE.values() for name in names)
#: The scope each scope claim belongs to.
_SCOPE_OF = {name: scope for scope, names in CLAIMS_BY_SCOPE.items() for name in names}
_MAX_CLAIMS = 100


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """One entry of the ``claims`` parameter (§5.5.1)."""

    essential: bool = False
    values: tuple[Any, ...] | None = None


@dataclass(frozen=True, slots=True)
class ClaimsRequest:
    """The parsed ``claims`` parameter: per target, claim name -> request."""

    userinfo: Mapping[str, ClaimRequest] = field(default_factory=dict)
    id_token: Mapping[str, ClaimRequest] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClaimsSubject:
    """What claims are built from: the register's person, positions, and account facts."""

    person: Person
    servants: tuple[CivilServant, ...] = ()
    roles: frozenset[str] = frozenset()
    email_verified: bool = False
    phone_verified: bool = False


@dataclass(frozen=True, slots=True)
class ReleasedClaims:
    claims: dict[str, Any]
    missing_essential: tuple[str, ...]


def _parse_entry(name: str, raw: object) -> ClaimRequest:
    if raw is None:
        return ClaimRequest()
    if not isinstance(raw, Mapping):
        raise InvalidClaimsRequest(f"claims: the request for {name!r} must be null or an object")
    essential = raw.get("essential", False)
    if not isinstance(essential, bool):
        raise InvalidClaimsRequest(f"claims: 'essential' of {name!r} must be true or false")
    values: tuple[Any, ...] | None = None
    if "value" in raw:
        values = (raw["value"],)
    if "values" in raw:
        if not isinstance(raw["values"], list):
            raise InvalidClaimsRequest(f"claims: 'values' of {name!r} must be an array")
        values = (*(values or ()), *raw["values"])
    return ClaimRequest(essential=essential, values=values)


def parse_claims_request(raw: str | Mapping[str, Any] | None) -> ClaimsRequest:
    """Parse the ``claims`` parameter (a JSON object, §5.5); unknown claims are kept (and
    later ignored), unknown members other than ``userinfo``/``id_token`` are ignored."""
    if raw is None or raw == "":
        return ClaimsRequest()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise InvalidClaimsRequest("claims: not valid JSON") from None
    if not isinstance(raw, Mapping):
        raise InvalidClaimsRequest("claims: expected a JSON object")
    parsed: dict[str, dict[str, ClaimRequest]] = {"userinfo": {}, "id_token": {}}
    for target, into in parsed.items():
        members = raw.get(target)
        if members is None:
            continue
        if not isinstance(members, Mapping):
            raise InvalidClaimsRequest(f"claims: {target!r} must be an object")
        if len(members) > _MAX_CLAIMS:
            raise InvalidClaimsRequest(f"claims: at most {_MAX_CLAIMS} claims per target")
        for name, entry in members.items():
            if not isinstance(name, str) or not 0 < len(name) <= 100:
                raise InvalidClaimsRequest("claims: claim names must be short strings")
            into[name] = _parse_entry(name, entry)
    return ClaimsRequest(userinfo=parsed["userinfo"], id_token=parsed["id_token"])


def _wants_khmer(locales: Sequence[str] | None) -> bool:
    if not locales:
        return True
    return any(tag.lower().split("-")[0] == KHMER for tag in locales)


def _available(subject: ClaimsSubject) -> dict[str, Any]:
    """Every claim the subject has, by name (only the requested ones are released)."""
    p = subject.person
    claims: dict[str, Any] = {
        "name": p.name_latin,
        "given_name": p.given_name_latin,
        "family_name": p.family_name_latin,
        "name#km": p.name_km,
        "given_name#km": p.given_name_km,
        "family_name#km": p.family_name_km,
        "birthdate": p.birthdate.isoformat(),
        "zoneinfo": ZONEINFO,
        "updated_at": int(p.updated_at.timestamp()),
    }
    if p.sex in (Sex.MALE, Sex.FEMALE):
        claims["gender"] = "male" if p.sex is Sex.MALE else "female"
    if p.email:
        claims["email"] = p.email
        claims["email_verified"] = subject.email_verified
    if p.phone:
        claims["phone_number"] = p.phone
        claims["phone_number_verified"] = subject.phone_verified
    if p.address:
        claims["address"] = {"formatted": p.address, "country": "KH"}
    active = [s for s in subject.servants if s.active]
    if active:
        newest = max(active, key=lambda s: (s.created_at, s.id))
        claims["natid:ministry"] = newest.ministry_name_en
        claims["natid:ministry#km"] = newest.ministry_name_km
        claims["natid:ministry_id"] = newest.ministry_id
        claims["natid:unit"] = newest.unit
        claims["natid:title"] = newest.title
        if newest.unit_km:
            claims["natid:unit#km"] = newest.unit_km
        if newest.title_km:
            claims["natid:title#km"] = newest.title_km
    if active or subject.roles:
        claims["roles"] = sorted(subject.roles)
    return claims


def within_scopes(claims: Mapping[str, Any], allowed_scopes: Collection[str]) -> dict[str, Any]:
    """A parsed ``claims`` request parameter without the scope claims of scopes the client
    may not ask for: the operator's allowed scopes bound the ``claims`` parameter as they bound
    ``scope`` (a site allowed only ``openid`` cannot get ``email`` or ``roles`` by naming
    them). Other members and claims (``acr``, ``auth_time``) are kept as they are."""
    kept: dict[str, Any] = {}
    for target, members in claims.items():
        if target in ("userinfo", "id_token") and isinstance(members, Mapping):
            kept[target] = {
                name: spec
                for name, spec in members.items()
                if name not in _SCOPE_OF or _SCOPE_OF[name] in allowed_scopes
            }
        else:
            kept[target] = members
    return kept


def release_claims(
    subject: ClaimsSubject,
    *,
    scopes: Collection[str],
    requested: Mapping[str, ClaimRequest] | None = None,
    claims_locales: Sequence[str] | None = None,
) -> ReleasedClaims:
    """The claims to release for ``scopes`` plus the ``requested`` ones of one target.

    The caller decides what reaches this function: the scopes and claims the end-user
    consented to, and whether scope claims go to the ID token or to UserInfo (§5.4).
    """
    requested = requested or {}
    wanted = {name for scope in scopes for name in CLAIMS_BY_SCOPE.get(scope, ())}
    wanted |= {name for name in requested if name in _SUPPORTED}
    if not _wants_khmer(claims_locales):
        wanted = {name for name in wanted if not name.endswith("#km") or name in requested}
    # Nothing wanted (an ID token whose claims all go to UserInfo): nothing to compute.
    available = _available(subject) if wanted else {}
    released: dict[str, Any] = {}
    for name in sorted(wanted):
        if name not in available:
            continue
        spec = requested.get(name)
        if spec is not None and spec.values is not None and available[name] not in spec.values:
            continue
        released[name] = available[name]
    missing = tuple(
        sorted(name for name, spec in requested.items() if spec.essential and name not in released)
    )
    return ReleasedClaims(claims=released, missing_essential=missing)
