"""Who may have which certificate, under which name: from register records to subject DNs.

Issuance asks the register (:class:`~registry.ports.PopulationRegister`), never the CSR, who
the subject is. :func:`resolve_target` maps a profile and a register id to the subject DN
(ETSI EN 319 412-2 / -3 through :mod:`ca.names`) after these checks:

=================  ================  ========================================================
profile            subject id        eligible when
=================  ================  ========================================================
citizen-auth/sign  person            active; identity proven at the profile's level or above
gov-auth/sign      civil servant     position active; the person active and proven likewise
eseal              legal entity      active (see the note on proofing below)
health-dsc         legal entity      active ministry or public institution
tls-server         legal entity      active ministry or public institution; DNS names given
=================  ================  ========================================================

Root, issuing-CA, OCSP-responder and TSA certificates are made by the hierarchy
(:meth:`ca.service.CAService.ensure_hierarchy`), never on request.

Names (docs/ca-profiles.md, "Names"): givenName/surname and organizationName carry the Khmer
names as registered; commonName the Latin transliteration. The register allows accented Latin
letters, the CA only ASCII (A-Z, a-z, space, ``. ' -``), so accents are dropped (NFKD, then
combining marks removed: ``Sók`` becomes ``Sok``); a name that still is not ASCII is refused
with a request to correct the transliteration. A civil servant's DN carries the ministry's
Khmer name, and the unit and title in Khmer where the register has them (else in English).
Service certificates name the owning entity in English: ``C=KH, O=<English name>,
CN=<first DNS name>`` for web sites, ``CN=DCC Document Signer`` for health signers.

Proofing and legal persons: the register proves persons, not organisations
(``proofing_level(person_id)``). An entity's registration in the register stands for its
proof here; binding an e-seal to a proven representative of the entity (EN 319 411-1
§6.2.2) belongs to the RA slice.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from cryptography import x509

from ca.errors import (
    CertificateNotRenewable,
    KeyPolicyViolation,
    ProfileViolation,
    SubjectNotEligible,
    UnknownSubject,
)
from ca.names import (
    CivilServantSubject,
    LegalPersonSubject,
    NaturalPersonSubject,
    civil_servant_name,
    legal_person_name,
    natural_person_name,
    service_name,
)
from ca.profiles import CertificateProfile, DccPurpose, ProfileName, get_profile
from ca.store import CertificateStatus, IssuedCertificate
from hsm_adapters.base import KeyAlgorithm
from registry.errors import InvalidRecord, SubjectNotFound
from registry.ports import PopulationRegister
from registry.records import (
    CivilServant,
    EntityKind,
    EntityStatus,
    LegalEntity,
    Person,
    PersonStatus,
)

__all__ = [
    "ISSUABLE_PROFILES",
    "SubjectSource",
    "Target",
    "ascii_transliteration",
    "check_renewable",
    "entity_subject",
    "issuable_profile",
    "person_subject",
    "renewal_target",
    "resolve_target",
    "servant_subject",
    "server_key_algorithm",
]

#: The country of the identity documents behind IDCKH- / NTRKH- identifiers.
COUNTRY = "KH"
DSC_COMMON_NAME = "DCC Document Signer"
_GOVERNMENT_KINDS = frozenset({EntityKind.MINISTRY, EntityKind.PUBLIC_INSTITUTION})
_R = TypeVar("_R")


class SubjectSource(StrEnum):
    """Which register record a profile's subject id names."""

    PERSON = "person"
    SERVANT = "civil servant"
    ENTITY = "legal entity"
    GOVERNMENT_SERVICE = "government entity"


#: The profiles a certificate may be requested for, and whom they name.
ISSUABLE_PROFILES: Mapping[ProfileName, SubjectSource] = MappingProxyType(
    {
        ProfileName.CITIZEN_AUTH: SubjectSource.PERSON,
        ProfileName.CITIZEN_SIGN: SubjectSource.PERSON,
        ProfileName.GOV_AUTH: SubjectSource.SERVANT,
        ProfileName.GOV_SIGN: SubjectSource.SERVANT,
        ProfileName.ESEAL: SubjectSource.ENTITY,
        ProfileName.HEALTH_DSC: SubjectSource.GOVERNMENT_SERVICE,
        ProfileName.TLS_SERVER: SubjectSource.GOVERNMENT_SERVICE,
    }
)


@dataclass(frozen=True, slots=True)
class Target:
    """Everything a certificate says about its subject, checked against the register."""

    profile: CertificateProfile
    subject_id: str
    subject: x509.Name
    dns_names: tuple[str, ...] = ()
    dcc_purposes: frozenset[DccPurpose] = frozenset()


def issuable_profile(name: str | ProfileName) -> CertificateProfile:
    """The profile ``name`` if certificates may be requested for it; raise otherwise."""
    profile = get_profile(name)
    if profile.name not in ISSUABLE_PROFILES:
        raise ProfileViolation(
            f"profile {profile.name} is issued only with the CA hierarchy, not on request; "
            f"requestable: {', '.join(ISSUABLE_PROFILES)}"
        )
    return profile


def ascii_transliteration(text: str, what: str) -> str:
    """``text`` without accents (NFKD, combining marks dropped); raise if still not ASCII."""
    stripped = "".join(
        ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch)
    )
    if not stripped.isascii():
        raise SubjectNotEligible(
            f"the register's {what} cannot be written in ASCII for the commonName; "
            "correct its Latin transliteration in the register"
        )
    return stripped


def person_subject(person: Person) -> NaturalPersonSubject:
    return NaturalPersonSubject(
        given_name_km=person.given_name_km,
        family_name_km=person.family_name_km,
        given_name_latin=ascii_transliteration(person.given_name_latin, "Latin given name"),
        family_name_latin=ascii_transliteration(person.family_name_latin, "Latin family name"),
        national_id=person.national_id,
        country=COUNTRY,
    )


def servant_subject(servant: CivilServant, person: Person) -> CivilServantSubject:
    return CivilServantSubject(
        person=person_subject(person),
        organisation_name=servant.ministry_name_km,
        organisation_unit=servant.unit_km or servant.unit,
        title=servant.title_km or servant.title,
    )


def entity_subject(entity: LegalEntity) -> LegalPersonSubject:
    return LegalPersonSubject(
        name_en=ascii_transliteration(entity.name_en, "English name"),
        name_km=entity.name_km,
        register_no=entity.register_no,
        country=COUNTRY,
    )


def resolve_target(
    register: PopulationRegister,
    profile: CertificateProfile,
    subject_id: str,
    *,
    dns_names: Sequence[str] = (),
    dcc_purposes: Collection[DccPurpose] | None = None,
) -> Target:
    """Check ``subject_id`` against the register for ``profile`` and build its subject DN.

    ``dns_names`` are used by ``tls-server`` only (and required there); ``dcc_purposes`` by
    ``health-dsc`` only (default: every purpose the profile allows). Raises
    :class:`~ca.errors.UnknownSubject`, :class:`~ca.errors.SubjectNotEligible`,
    :class:`~ca.errors.InvalidSubjectName` or :class:`~ca.errors.ProfileViolation`.
    """
    source = ISSUABLE_PROFILES.get(profile.name)
    if source is None:
        issuable_profile(profile.name)  # raises
        raise AssertionError  # pragma: no cover
    if dns_names and not profile.san_dns:
        raise ProfileViolation(f"profile {profile.name} takes no DNS names")
    purposes: frozenset[DccPurpose] = frozenset()
    if profile.dcc_purposes:
        purposes = profile.dcc_purposes if dcc_purposes is None else frozenset(dcc_purposes)
    elif dcc_purposes:
        raise ProfileViolation(f"profile {profile.name} takes no DCC purposes")

    if source is SubjectSource.PERSON:
        person = _lookup(register.get_person, subject_id, source)
        _check_person(register, profile, person)
        subject = natural_person_name(person_subject(person))
    elif source is SubjectSource.SERVANT:
        servant = _lookup(register.get_servant, subject_id, source)
        if not servant.active:
            raise SubjectNotEligible(f"civil servant {servant.id} no longer holds the position")
        person = _lookup(register.get_person, servant.person_id, SubjectSource.PERSON)
        _check_person(register, profile, person)
        subject = civil_servant_name(servant_subject(servant, person))
    else:
        entity = _lookup(register.get_entity, subject_id, source)
        if entity.status is not EntityStatus.ACTIVE:
            raise SubjectNotEligible(f"legal entity {entity.id} is {entity.status.value}")
        if source is SubjectSource.ENTITY:
            subject = legal_person_name(entity_subject(entity))
        else:
            subject = _service_name(profile, entity, dns_names)
    return Target(
        profile=profile,
        subject_id=subject_id,
        subject=subject,
        dns_names=tuple(dns_names),
        dcc_purposes=purposes,
    )


def _lookup(fetch: Callable[[str], _R], subject_id: str, source: SubjectSource) -> _R:
    try:
        return fetch(subject_id)
    except (SubjectNotFound, InvalidRecord):
        pass
    try:
        shown = str(uuid.UUID(subject_id))
    except (ValueError, TypeError, AttributeError):
        # Not echoed: a national ID number passed by mistake must not reach a log line.
        raise UnknownSubject(
            f"the subject id is not a register id (a UUID); this profile needs a {source.value}"
        ) from None
    raise UnknownSubject(f"no {source.value} with id {shown} in the register")


def _check_person(
    register: PopulationRegister, profile: CertificateProfile, person: Person
) -> None:
    if person.status is not PersonStatus.ACTIVE:
        raise SubjectNotEligible(f"person {person.id} is not active ({person.status.value})")
    required = profile.proofing_level
    if required is None:
        return
    level = register.proofing_level(person.id)
    if level is None or level.rank < required.rank:
        raise SubjectNotEligible(
            f"profile {profile.name} needs identity proofing at level {required.value} or "
            f"higher; person {person.id} has {level.value if level else 'none'}"
        )


def _service_name(
    profile: CertificateProfile, entity: LegalEntity, dns_names: Sequence[str]
) -> x509.Name:
    if entity.kind not in _GOVERNMENT_KINDS:
        raise SubjectNotEligible(
            f"profile {profile.name} is for ministries and public institutions; legal entity "
            f"{entity.id} is a {entity.kind.value}"
        )
    organisation = ascii_transliteration(entity.name_en, "English name")
    if profile.san_dns:
        if not dns_names:
            raise ProfileViolation(
                f"profile {profile.name} needs DNS names (a subjectAltName in the CSR)"
            )
        common_name = dns_names[0]
    else:
        common_name = DSC_COMMON_NAME
    return service_name(common_name, organisation=organisation, country=COUNTRY)


# --- renewal and server-side keys --------------------------------------------------------------

#: Server-side keys by preference: P-256 signs fastest and every relying party takes it.
_SERVER_KEY_PREFERENCE = (
    KeyAlgorithm.EC_P256,
    KeyAlgorithm.EC_P384,
    KeyAlgorithm.RSA_3072,
    KeyAlgorithm.RSA_2048,
    KeyAlgorithm.RSA_4096,
)


def check_renewable(old: IssuedCertificate, *, at: dt.datetime) -> None:
    """Raise :class:`~ca.errors.CertificateNotRenewable` unless ``old`` may be renewed or
    re-keyed at ``at``: good, within its validity, not yet replaced, of a registered subject."""
    problem = None
    if old.status is not CertificateStatus.GOOD:
        problem = f"it is {old.status.value}"
    elif not old.not_before <= at <= old.not_after:
        problem = "it is outside its validity period (an expired certificate needs a new request)"
    elif old.replaced_by is not None:
        problem = f"it was already replaced by {old.replaced_by}; renew that one"
    elif old.subject_id is None or old.profile not in ISSUABLE_PROFILES:
        problem = "it is a certificate of the CA hierarchy"
    if problem is not None:
        raise CertificateNotRenewable(f"certificate {old.serial_hex} cannot be renewed: {problem}")


def renewal_target(register: PopulationRegister, old: IssuedCertificate) -> Target:
    """The subject of ``old``, checked against the register again, with the same DNS names
    and DCC purposes as ``old``."""
    assert old.subject_id is not None
    cert = old.certificate
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = tuple(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        dns_names = ()
    profile = issuable_profile(old.profile)
    purposes = None
    if profile.dcc_purposes:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        purposes = frozenset(p for p in DccPurpose if p.oid in eku)
    return resolve_target(
        register, profile, old.subject_id, dns_names=dns_names, dcc_purposes=purposes
    )


def server_key_algorithm(
    profile: CertificateProfile,
    supported: frozenset[KeyAlgorithm],
    requested: KeyAlgorithm | str | None,
) -> KeyAlgorithm:
    """The algorithm of a key to generate for ``profile`` in a backend supporting
    ``supported``: ``requested`` if allowed, else the first of P-256, P-384, RSA."""
    allowed = profile.key_algorithms & supported
    names = ", ".join(sorted(allowed)) or "none"
    if requested is None:
        for candidate in _SERVER_KEY_PREFERENCE:
            if candidate in allowed:
                return candidate
        raise KeyPolicyViolation(
            f"the key backend can generate no key that profile {profile.name} accepts"
        )
    try:
        chosen = KeyAlgorithm(requested)
    except ValueError:
        raise KeyPolicyViolation(
            f"unknown key algorithm {str(requested)[:20]!r}; expected one of {names}"
        ) from None
    if chosen not in allowed:
        raise KeyPolicyViolation(
            f"profile {profile.name} with this key backend accepts {names}, not {chosen}"
        )
    return chosen
