"""Identity proofing: recording events and the level of assurance a person holds."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from core.clock import FixedClock
from registry import (
    AssuranceLevel,
    EvidenceType,
    InvalidRecord,
    ProofingMethod,
    SubjectNotFound,
)
from registry.service import EmbeddedRegister
from tests.registry.conftest import RecordingLedger, ministry, person

OFFICE = "One Window Office, Phnom Penh"


@pytest.fixture
def dara(register: EmbeddedRegister) -> str:
    return register.add_person(person()).id


@pytest.fixture
def officer(register: EmbeddedRegister) -> str:
    interior = register.add_entity(
        ministry(register_no="MIN-MOI", name_en="Ministry of Interior", name_km="ក្រសួងមហាផ្ទៃ")
    ).id
    clerk = register.add_person(person(national_id="200000001", name_latin="Chan Thida")).id
    servant = register.add_servant(
        {
            "person_id": clerk,
            "ministry_id": interior,
            "unit": "Identification",
            "title": "Registration Officer",
        }
    )
    return servant.id


def test_person_never_proven_has_no_level(register: EmbeddedRegister, dara: str) -> None:
    assert register.proofing_level(dara) is None
    assert register.current_proofing(dara) is None


def test_recorded_proofing_gives_level_and_record(
    register: EmbeddedRegister, ledger: RecordingLedger, dara: str, officer: str
) -> None:
    record = register.record_proofing(
        dara,
        method="in_person",
        level="high",
        evidence="national_id_card",
        office=OFFICE,
        officer_id=officer,
        actor="ra-officer-7",
    )
    assert register.proofing_level(dara) is AssuranceLevel.HIGH
    assert register.current_proofing(dara) == record
    assert record.method is ProofingMethod.IN_PERSON
    assert record.evidence is EvidenceType.NATIONAL_ID_CARD
    assert record.at == dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
    entry = ledger.entries[-1]
    assert (entry.event, entry.subject, entry.actor) == (
        "registry.proofing.recorded",
        dara,
        "ra-officer-7",
    )
    assert entry.data["level"] == "high" and entry.data["officer_id"] == officer


def test_highest_level_wins_and_newest_among_equals(
    register: EmbeddedRegister, clock: FixedClock, dara: str
) -> None:
    earlier = clock.now() - dt.timedelta(days=30)
    register.record_proofing(
        dara,
        method="remote_video",
        level="substantial",
        evidence="passport",
        office="Video",
        at=earlier,
    )
    newer = register.record_proofing(
        dara, method="remote_video", level="substantial", evidence="passport", office="Video"
    )
    register.record_proofing(
        dara, method="self_declared", level="low", evidence="none", office="Web"
    )
    assert register.proofing_level(dara) is AssuranceLevel.SUBSTANTIAL
    assert register.current_proofing(dara) == newer
    assert len(register.proofing_records(dara)) == 3


@pytest.mark.parametrize(
    ("method", "level", "evidence", "expected"),
    [
        (
            "remote_video",
            "high",
            "national_id_card",
            "remote_video proofing reaches at most substantial",
        ),
        ("self_declared", "substantial", "none", "self_declared proofing reaches at most low"),
        ("in_person", "high", "none", "evidence: in_person proofing checks one of"),
        (
            "existing_certificate",
            "high",
            "passport",
            "existing_certificate proofing checks one of qualified_cert",
        ),
        ("telepathy", "high", "passport", "method: expected one of in_person"),
        ("in_person", "ultra", "passport", "level: expected one of low, substantial, high"),
    ],
)
def test_level_beyond_what_the_method_reaches_is_rejected(
    register: EmbeddedRegister, dara: str, method: str, level: str, evidence: str, expected: str
) -> None:
    with pytest.raises(InvalidRecord, match=expected):
        register.record_proofing(dara, method=method, level=level, evidence=evidence, office=OFFICE)
    assert register.proofing_records(dara) == ()


def test_officer_cannot_proof_themselves(register: EmbeddedRegister, officer: str) -> None:
    own_person = register.get_servant(officer).person_id
    with pytest.raises(InvalidRecord, match="cannot prove their own identity"):
        register.record_proofing(
            own_person,
            method="in_person",
            level="high",
            evidence="passport",
            office=OFFICE,
            officer_id=officer,
        )
    assert register.proofing_level(own_person) is None


def test_unknown_officer_rejected(register: EmbeddedRegister, dara: str) -> None:
    with pytest.raises(InvalidRecord, match="officer_id: not an active civil servant"):
        register.record_proofing(
            dara,
            method="in_person",
            level="high",
            evidence="passport",
            office=OFFICE,
            officer_id=str(uuid.uuid4()),
        )


def test_backdated_future_or_naive_time_rejected(
    register: EmbeddedRegister, clock: FixedClock, dara: str
) -> None:
    with pytest.raises(InvalidRecord, match="at: in the future"):
        register.record_proofing(
            dara,
            method="in_person",
            level="high",
            evidence="passport",
            office=OFFICE,
            at=clock.now() + dt.timedelta(minutes=1),
        )
    with pytest.raises(InvalidRecord, match="at: a timezone-aware time is required"):
        register.record_proofing(
            dara,
            method="in_person",
            level="high",
            evidence="passport",
            office=OFFICE,
            at=dt.datetime(2026, 1, 1),
        )


def test_proofing_unknown_person_not_found(register: EmbeddedRegister) -> None:
    with pytest.raises(SubjectNotFound):
        register.record_proofing(
            str(uuid.uuid4()), method="in_person", level="high", evidence="passport", office=OFFICE
        )


def test_deceased_person_holds_no_level_and_cannot_be_proven(register: EmbeddedRegister) -> None:
    late = register.add_person(person(national_id="300000001", status="deceased")).id
    assert register.proofing_level(late) is None
    with pytest.raises(InvalidRecord, match="person_id: the person is not active"):
        register.record_proofing(
            late, method="in_person", level="high", evidence="passport", office=OFFICE
        )
