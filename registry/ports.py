"""Ports of the register: what other packages read from it, and what it writes audit to.

:class:`PopulationRegister` is the read side the CA (subject names and identifiers), the IdP
(claims, ``acr`` from the proofing level) and KYC (attribute release) depend on. The embedded
adapter is :class:`registry.service.EmbeddedRegister` (its own tables); an adapter for a
national civil register would implement the same protocol. It returns frozen values from
:mod:`registry.records`, never ORM rows.

:class:`AuditSink` is the slice of ``core.audit.AuditLedger`` the register uses, declared here
so the register can be tested with a recording fake (STYLE.md: ports are Protocols).
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.orm import Session

from registry.records import (
    AssuranceLevel,
    CivilServant,
    LegalEntity,
    Person,
    ProofingRecord,
)

__all__ = ["AuditSink", "PopulationRegister"]


class PopulationRegister(Protocol):
    """Who exists, and how well their identity was proven.

    ``get_*`` raise :class:`~registry.errors.SubjectNotFound` for an unknown id and
    :class:`~registry.errors.InvalidRecord` for a malformed one; ``find_*`` return ``None``.
    """

    def get_person(self, person_id: str) -> Person: ...

    def find_person_by_national_id(self, national_id: str) -> Person | None:
        """The person holding this national ID card number, if any. The number is looked
        up, never logged or echoed in errors."""
        ...

    def get_entity(self, entity_id: str) -> LegalEntity: ...

    def get_servant(self, servant_id: str) -> CivilServant: ...

    def servants_of_person(self, person_id: str) -> tuple[CivilServant, ...]:
        """The person's positions in ministries (active and inactive), oldest first."""
        ...

    def proofing_level(self, person_id: str) -> AssuranceLevel | None:
        """The highest level of assurance currently reached; ``None`` if never proven or if
        the person is no longer active (deceased)."""
        ...

    def current_proofing(self, person_id: str) -> ProofingRecord | None:
        """The record behind :meth:`proofing_level` (the newest at the highest level), for
        OpenID Connect for Identity Assurance ``verification`` (method, evidence, time)."""
        ...


class AuditSink(Protocol):
    """Appends one audit entry, in the caller's transaction when ``session`` is given."""

    def append(
        self,
        event: str,
        *,
        actor: str | None = None,
        subject: str | None = None,
        data: dict[str, Any] | None = None,
        session: Session | None = None,
    ) -> object: ...
