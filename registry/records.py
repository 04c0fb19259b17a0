"""The register's value types: subjects, proofing records, wire codes.

These frozen dataclasses are what the register hands to the CA, the IdP and KYC
(:class:`registry.ports.PopulationRegister`); ORM rows never leave ``registry.service``.

Wire codes (``StrEnum``, STYLE.md "Data"):

* :class:`Sex` uses the ICAO Doc 9303 Part 4 §4.2.2 letters ``M``, ``F`` and ``X``
  (unspecified), the codes printed on Cambodian passports, rather than ISO/IEC 5218's digits,
  which no NatID consumer needs. The IdP maps them to the OIDC ``gender`` claim.
* :class:`AssuranceLevel` is the eIDAS scale (Commission Implementing Regulation (EU) 2015/1502,
  annex: low / substantial / high), the same three values the IdP uses as ``acr``.
* :class:`ProofingMethod` and :class:`EvidenceType` describe how identity was proven, in the
  vocabulary of OpenID Connect for Identity Assurance (``verification.evidence``).

Personal data is kept out of ``repr()`` (``field(repr=False)``): the national ID number above
all (ARCHITECTURE.md, "Identifiers"), and also birthdate, address, phone and email, so a
record that ends up in a log line or a traceback carries the internal id and names only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "AssuranceLevel",
    "CivilServant",
    "EntityKind",
    "EntityStatus",
    "EvidenceType",
    "ImportReport",
    "LegalEntity",
    "Person",
    "PersonStatus",
    "ProofingMethod",
    "ProofingRecord",
    "RecordKind",
    "RejectedRow",
    "Sex",
]


class Sex(StrEnum):
    """ICAO Doc 9303 sex codes."""

    MALE = "M"
    FEMALE = "F"
    UNSPECIFIED = "X"


class PersonStatus(StrEnum):
    ACTIVE = "active"
    DECEASED = "deceased"


class EntityKind(StrEnum):
    """What a legal entity is. Ministries are legal entities of kind ``ministry``."""

    COMPANY = "company"
    BANK = "bank"
    MINISTRY = "ministry"
    PUBLIC_INSTITUTION = "public_institution"
    NGO = "ngo"
    ASSOCIATION = "association"


class EntityStatus(StrEnum):
    ACTIVE = "active"
    DISSOLVED = "dissolved"


class AssuranceLevel(StrEnum):
    """eIDAS levels of assurance, ordered: ``low < substantial < high``."""

    LOW = "low"
    SUBSTANTIAL = "substantial"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _LEVEL_RANK[self]


_LEVEL_RANK = {AssuranceLevel.LOW: 1, AssuranceLevel.SUBSTANTIAL: 2, AssuranceLevel.HIGH: 3}


class ProofingMethod(StrEnum):
    """How a person's identity was proven.

    Each method caps the level it can reach (:attr:`max_level`), following the eIDAS annex
    §2.1.2: self-declaration never gets past low, a remote video check past substantial; in
    person at an office with a checked document, or by an existing certificate of level high,
    reaches high.
    """

    IN_PERSON = "in_person"
    EXISTING_CERTIFICATE = "existing_certificate"
    REMOTE_VIDEO = "remote_video"
    SELF_DECLARED = "self_declared"

    @property
    def max_level(self) -> AssuranceLevel:
        if self is ProofingMethod.SELF_DECLARED:
            return AssuranceLevel.LOW
        if self is ProofingMethod.REMOTE_VIDEO:
            return AssuranceLevel.SUBSTANTIAL
        return AssuranceLevel.HIGH


class EvidenceType(StrEnum):
    """The document (or credential) checked during proofing."""

    NATIONAL_ID_CARD = "national_id_card"
    PASSPORT = "passport"
    BIRTH_CERTIFICATE = "birth_certificate"
    FAMILY_BOOK = "family_book"
    QUALIFIED_CERTIFICATE = "qualified_certificate"
    NONE = "none"


class RecordKind(StrEnum):
    """The three kinds of subject the register lists and imports (CLI spelling)."""

    PERSONS = "persons"
    ENTITIES = "entities"
    SERVANTS = "servants"


@dataclass(frozen=True, slots=True)
class Person:
    """A natural person. Names are stored split (ETSI EN 319 412-2 §4.2.4 givenName/surname,
    OIDC given_name/family_name); ``name_km``/``name_latin`` are family name then given name,
    the Khmer order."""

    id: str
    national_id: str = field(repr=False)
    family_name_km: str
    given_name_km: str
    family_name_latin: str
    given_name_latin: str
    birthdate: dt.date = field(repr=False)
    sex: Sex | None
    nationality: str
    address: str | None = field(repr=False)
    phone: str | None = field(repr=False)
    email: str | None = field(repr=False)
    status: PersonStatus
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def name_km(self) -> str:
        return f"{self.family_name_km} {self.given_name_km}"

    @property
    def name_latin(self) -> str:
        return f"{self.family_name_latin} {self.given_name_latin}"


@dataclass(frozen=True, slots=True)
class LegalEntity:
    """A company, bank, ministry or other organisation (ETSI EN 319 412-3 subjects)."""

    id: str
    register_no: str
    name_km: str
    name_en: str
    kind: EntityKind
    status: EntityStatus
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CivilServant:
    """A person's position in a ministry. ``ministry_id`` is the ministry's entity id; its
    names are carried along so callers need not look the ministry up."""

    id: str
    person_id: str
    ministry_id: str
    ministry_name_en: str
    ministry_name_km: str
    unit: str
    title: str
    unit_km: str | None
    title_km: str | None
    employee_number: str | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ProofingRecord:
    """One identity proofing event: who proved whom, how, to which level, where and when."""

    id: str
    person_id: str
    method: ProofingMethod
    level: AssuranceLevel
    evidence: EvidenceType
    office: str
    officer_id: str | None
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """One import row that was not loaded. ``line`` is the file line where the row starts;
    ``reason`` names fields and expectations, never the rejected values."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ImportReport:
    """The outcome of one import: how many rows were loaded, and which were rejected."""

    kind: RecordKind
    loaded: int
    rejected: tuple[RejectedRow, ...]
