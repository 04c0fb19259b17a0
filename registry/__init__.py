"""Who exists: persons, legal entities and civil servants, and how their identity was proven.

The CA, the IdP and KYC depend on the :class:`PopulationRegister` port (read side); the
embedded adapter :class:`EmbeddedRegister` keeps the register in NatID's own database and adds
the write side (add, CSV import, identity proofing, demo data). Values handed out are frozen
dataclasses; the national ID card number is an attribute, never a key, and never appears in
``repr()``, log lines, audit entries or error messages (ARCHITECTURE.md, "Identifiers").
"""

from registry.errors import (
    DuplicateRecord,
    ImportFileRejected,
    InvalidRecord,
    RegistryError,
    RegistryUnavailable,
    SubjectNotFound,
)
from registry.events import EventFeed, EventIn, EventOutcome, EventSource, EventType, RegisterEvent
from registry.ports import AuditSink, PopulationRegister
from registry.records import (
    AssuranceLevel,
    CivilServant,
    EntityKind,
    EntityStatus,
    EvidenceType,
    ImportReport,
    LegalEntity,
    Person,
    PersonStatus,
    ProofingMethod,
    ProofingRecord,
    RecordKind,
    RejectedRow,
    Sex,
)
from registry.service import EmbeddedRegister

__all__ = [
    "AssuranceLevel",
    "AuditSink",
    "CivilServant",
    "DuplicateRecord",
    "EmbeddedRegister",
    "EntityKind",
    "EntityStatus",
    "EventFeed",
    "EventIn",
    "EventOutcome",
    "EventSource",
    "EventType",
    "EvidenceType",
    "ImportFileRejected",
    "ImportReport",
    "InvalidRecord",
    "LegalEntity",
    "Person",
    "PersonStatus",
    "PopulationRegister",
    "ProofingMethod",
    "ProofingRecord",
    "RecordKind",
    "RegisterEvent",
    "RegistryError",
    "RegistryUnavailable",
    "RejectedRow",
    "Sex",
    "SubjectNotFound",
]
