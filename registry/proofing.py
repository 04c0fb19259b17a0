"""Identity proofing records: the rules a record must meet, and the level a person holds.

The levels are the eIDAS levels of assurance (Commission Implementing Regulation (EU)
2015/1502, annex §2.1 "Identity proofing and verification"), the same three values the IdP
puts in ``acr``. The rules enforced here:

1. The method caps the level (:attr:`ProofingMethod.max_level`): self-declaration reaches
   low, remote video substantial, in person or an existing certificate high (annex §2.1.2).
2. Each method checks a fitting kind of evidence (:data:`EVIDENCE_FOR`): an identity document
   in person or on video, a qualified certificate for ``existing_certificate``, nothing for
   self-declaration.
3. The proofing time is timezone-aware and not in the future.
4. (In the service, against the database:) the person exists and is active; the officer, if
   named, is an active civil servant and not the person being proven.

A person's *current* level is that of their highest record; among records at that level the
newest one is the one reported (its time and evidence go into OpenID Connect for Identity
Assurance ``verification``). A deceased person has no current level.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from core.clock import require_aware
from core.errors import InvalidInput
from registry.errors import InvalidRecord
from registry.records import AssuranceLevel, EvidenceType, ProofingMethod, ProofingRecord
from registry.schemas import free_text

__all__ = ["EVIDENCE_FOR", "ProofingSpec", "check_proofing", "newest_highest"]

_DOCUMENTS = frozenset(
    {
        EvidenceType.NATIONAL_ID_CARD,
        EvidenceType.PASSPORT,
        EvidenceType.BIRTH_CERTIFICATE,
        EvidenceType.FAMILY_BOOK,
    }
)
EVIDENCE_FOR: dict[ProofingMethod, frozenset[EvidenceType]] = {
    ProofingMethod.IN_PERSON: _DOCUMENTS,
    ProofingMethod.REMOTE_VIDEO: frozenset({EvidenceType.NATIONAL_ID_CARD, EvidenceType.PASSPORT}),
    ProofingMethod.EXISTING_CERTIFICATE: frozenset({EvidenceType.QUALIFIED_CERTIFICATE}),
    ProofingMethod.SELF_DECLARED: frozenset({EvidenceType.NONE}),
}

E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class ProofingSpec:
    """A proofing event that passed the rules that need no database."""

    method: ProofingMethod
    level: AssuranceLevel
    evidence: EvidenceType
    office: str
    at: dt.datetime

    def row(
        self, person_id: str, *, officer_id: str | None, recorded_at: dt.datetime
    ) -> dict[str, Any]:
        """The ``registry_proofing_records`` row for this event, with a new random id."""
        return {
            "id": str(uuid.uuid4()),
            "person_id": person_id,
            "method": self.method.value,
            "level": self.level.value,
            "evidence": self.evidence.value,
            "office": self.office,
            "officer_id": officer_id,
            "at": self.at,
            "recorded_at": recorded_at,
        }


def _code(enum: type[E], value: object, field: str) -> E:
    try:
        return enum(str(value))
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidRecord([f"{field}: expected one of {allowed}"]) from None


def check_proofing(
    *,
    method: ProofingMethod | str,
    level: AssuranceLevel | str,
    evidence: EvidenceType | str,
    office: str,
    at: dt.datetime,
    now: dt.datetime,
) -> ProofingSpec:
    """Apply rules 1-3 of the module docstring; raise :class:`InvalidRecord` listing problems."""
    problems: list[str] = []
    method = _code(ProofingMethod, method, "method")
    level = _code(AssuranceLevel, level, "level")
    evidence = _code(EvidenceType, evidence, "evidence")
    if level.rank > method.max_level.rank:
        problems.append(f"level: {method.value} proofing reaches at most {method.max_level.value}")
    if evidence not in EVIDENCE_FOR[method]:
        allowed = ", ".join(sorted(e.value for e in EVIDENCE_FOR[method]))
        problems.append(f"evidence: {method.value} proofing checks one of {allowed}")
    try:
        office = free_text(office)
    except ValueError as exc:
        problems.append(f"office: {exc}")
    if not isinstance(at, dt.datetime):
        problems.append("at: expected a datetime")
    else:
        try:
            at = require_aware(at, "at")
        except InvalidInput:
            problems.append("at: a timezone-aware time is required")
        else:
            if at > now:
                problems.append("at: in the future")
    if problems:
        raise InvalidRecord(problems)
    return ProofingSpec(method, level, evidence, office, at)


def newest_highest(records: Iterable[ProofingRecord]) -> ProofingRecord | None:
    """The record at the highest level, the newest among equals; ``None`` for no records."""
    return max(records, key=lambda r: (r.level.rank, r.at), default=None)
