"""ORM tables of the embedded population register (migration ``0003_registry``).

Design choices:

* Primary keys are random UUIDs (``Uuid``: native ``uuid`` on PostgreSQL, 32 hex characters on
  SQLite; Python sees the canonical hyphenated string). They are never derived from the
  national ID number, which is an ordinary attribute with a unique constraint
  (ARCHITECTURE.md, "Identifiers"). Other packages reference subjects by these ids.
* Names are stored split (family / given, Khmer and Latin) because certificates (ETSI EN
  319 412-2 §4.2.4 ``surname``/``givenName``) and OIDC (``family_name``/``given_name``) need the
  parts; full names are derived.
* Rows become the frozen values of :mod:`registry.records` through ``to_*()``; the rows
  themselves never leave the package.
* Wire codes are stored as their ``StrEnum`` values with a CHECK constraint per column, so a
  row written by anything other than this package still holds a known code. Adding a code
  means a migration that replaces the constraint.
* A civil servant's ministry is a foreign key to ``registry_legal_entities`` (ministries are
  entities of kind ``ministry``); employee numbers are unique per ministry. Rows are never
  deleted by the register (``ON DELETE RESTRICT`` is the default), only marked.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime
from registry.records import (
    AssuranceLevel,
    CivilServant,
    EntityKind,
    EntityStatus,
    EvidenceType,
    LegalEntity,
    Person,
    PersonStatus,
    ProofingMethod,
    ProofingRecord,
    Sex,
)

__all__ = ["CivilServantRow", "LegalEntityRow", "PersonRow", "ProofingRow"]

_ID = Uuid(as_uuid=False)


def _one_of(column: str, codes: type[StrEnum]) -> CheckConstraint:
    """``column IN (...)`` over the enum's values, named ``ck_<table>_<column>``."""
    values = ", ".join(f"'{member.value}'" for member in codes)
    return CheckConstraint(f"{column} IN ({values})", name=column)


class PersonRow(Base):
    __tablename__ = "registry_persons"
    __table_args__ = (
        _one_of("sex", Sex),
        _one_of("status", PersonStatus),
        Index("ix_registry_persons_name_latin", "family_name_latin", "given_name_latin"),
    )

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    national_id: Mapped[str] = mapped_column(String(9), unique=True)
    family_name_km: Mapped[str] = mapped_column(String(100))
    given_name_km: Mapped[str] = mapped_column(String(100))
    family_name_latin: Mapped[str] = mapped_column(String(100))
    given_name_latin: Mapped[str] = mapped_column(String(100))
    birthdate: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(1))
    nationality: Mapped[str] = mapped_column(String(3))
    address: Mapped[str | None] = mapped_column(String(500))
    phone: Mapped[str | None] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        # Never the national ID number or other personal data (ARCHITECTURE.md, "Identifiers").
        return f"PersonRow(id={self.id!r})"

    def to_person(self) -> Person:
        return Person(
            id=self.id,
            national_id=self.national_id,
            family_name_km=self.family_name_km,
            given_name_km=self.given_name_km,
            family_name_latin=self.family_name_latin,
            given_name_latin=self.given_name_latin,
            birthdate=self.birthdate,
            sex=Sex(self.sex) if self.sex is not None else None,
            nationality=self.nationality,
            address=self.address,
            phone=self.phone,
            email=self.email,
            status=PersonStatus(self.status),
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class LegalEntityRow(Base):
    __tablename__ = "registry_legal_entities"
    __table_args__ = (_one_of("kind", EntityKind), _one_of("status", EntityStatus))

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    register_no: Mapped[str] = mapped_column(String(20), unique=True)
    name_km: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    def to_entity(self) -> LegalEntity:
        return LegalEntity(
            id=self.id,
            register_no=self.register_no,
            name_km=self.name_km,
            name_en=self.name_en,
            kind=EntityKind(self.kind),
            status=EntityStatus(self.status),
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class CivilServantRow(Base):
    __tablename__ = "registry_civil_servants"
    __table_args__ = (
        # Named by hand: the convention would name it after ministry_id alone.
        UniqueConstraint(
            "ministry_id",
            "employee_number",
            name="uq_registry_civil_servants_ministry_id_employee_number",
        ),
    )

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    person_id: Mapped[str] = mapped_column(_ID, ForeignKey("registry_persons.id"), index=True)
    ministry_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("registry_legal_entities.id"), index=True
    )
    unit: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    unit_km: Mapped[str | None] = mapped_column(String(200))
    title_km: Mapped[str | None] = mapped_column(String(200))
    employee_number: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    def to_servant(self, ministry: LegalEntityRow) -> CivilServant:
        return CivilServant(
            id=self.id,
            person_id=self.person_id,
            ministry_id=self.ministry_id,
            ministry_name_en=ministry.name_en,
            ministry_name_km=ministry.name_km,
            unit=self.unit,
            title=self.title,
            unit_km=self.unit_km,
            title_km=self.title_km,
            employee_number=self.employee_number,
            active=self.active,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class ProofingRow(Base):
    __tablename__ = "registry_proofing_records"
    __table_args__ = (
        _one_of("method", ProofingMethod),
        _one_of("level", AssuranceLevel),
        _one_of("evidence", EvidenceType),
    )

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    person_id: Mapped[str] = mapped_column(_ID, ForeignKey("registry_persons.id"), index=True)
    method: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[str] = mapped_column(String(32))
    office: Mapped[str] = mapped_column(String(200))
    officer_id: Mapped[str | None] = mapped_column(
        _ID, ForeignKey("registry_civil_servants.id"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    def to_record(self) -> ProofingRecord:
        return ProofingRecord(
            id=self.id,
            person_id=self.person_id,
            method=ProofingMethod(self.method),
            level=AssuranceLevel(self.level),
            evidence=EvidenceType(self.evidence),
            office=self.office,
            officer_id=self.officer_id,
            at=self.at,
        )
