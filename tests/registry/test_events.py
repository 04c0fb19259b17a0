"""The register's life-event feed (registry/events.py): each event changes the register's own
records and is stored with its audit entry in one transaction; replays are recognised; a bad
event changes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import FixedClock
from registry import DuplicateRecord, EventType, InvalidRecord, PersonStatus, SubjectNotFound
from registry.event_models import RegisterEventRow
from registry.service import EmbeddedRegister
from tests.registry.conftest import RecordingLedger, ministry, person


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(RegisterEventRow)) or 0


def test_death_marks_the_person_deceased_and_ends_positions(
    register: EmbeddedRegister, ledger: RecordingLedger
) -> None:
    dara = register.add_person(person())
    moh = register.add_entity(ministry())
    post = register.add_servant(
        {"person_id": dara.id, "ministry_id": moh.id, "unit": "Cabinet", "title": "Advisor"}
    )

    event, created = register.record_event(
        {"type": "death", "subject": dara.id, "date": "2026-10-30"}, actor="crvs"
    )

    assert created and event.type is EventType.DEATH
    assert event.effective_date == dt.date(2026, 10, 30)
    assert event.payload == {"positions_ended": [post.id]}
    assert register.get_person(dara.id).status is PersonStatus.DECEASED
    assert register.proofing_level(dara.id) is None
    assert not register.get_servant(post.id).active
    recorded = ledger.entries[-1]
    assert recorded.event == "registry.event.recorded"
    assert recorded.subject == dara.id and recorded.in_transaction
    assert recorded.data == {"event_id": event.id, "type": "death", "source": "embedded"}
    # A dead person has no further life events.
    with pytest.raises(InvalidRecord, match="deceased"):
        register.record_event({"type": "death", "subject": dara.id, "date": "2026-10-31"})


def test_name_change_and_renewal_update_the_person(
    register: EmbeddedRegister, session_factory: sessionmaker[Session]
) -> None:
    dara = register.add_person(person())
    register.record_event(
        {
            "type": "name_change",
            "subject": dara.id,
            "date": "2026-10-01",
            "family_name_latin": "Chan",
            "family_name_km": "ចាន់",
        }
    )
    renewed, _ = register.record_event(
        {
            "type": "id_card_renewal",
            "subject": dara.id,
            "date": "2026-10-02",
            "national_id": "222333444",
        }
    )
    now = register.get_person(dara.id)
    assert (now.family_name_latin, now.family_name_km, now.given_name_latin) == (
        "Chan",
        "ចាន់",
        "Dara",
    )
    assert now.national_id == "222333444"
    assert "222333444" not in repr(renewed) and "222333444" not in str(renewed.payload)
    with session_factory() as session:
        stored = session.scalars(select(RegisterEventRow.payload)).all()
    assert all("222333444" not in str(p) and "123456789" not in str(p) for p in stored)


def test_renewal_to_a_number_held_by_another_person_is_refused(
    register: EmbeddedRegister, session_factory: sessionmaker[Session]
) -> None:
    dara = register.add_person(person())
    register.add_person(person(national_id="999888777", name_latin="Chan Sophea"))
    with pytest.raises(DuplicateRecord) as caught:
        register.record_event(
            {"type": "id_card_renewal", "subject": dara.id, "date": "2026-10-02",
             "national_id": "999888777"}
        )  # fmt: skip
    assert "999888777" not in str(caught.value)
    assert register.get_person(dara.id).national_id == "123456789"
    assert _count(session_factory) == 0


def test_servant_joins_moves_and_leaves(register: EmbeddedRegister) -> None:
    dara = register.add_person(person())
    moh = register.add_entity(ministry())
    joined, _ = register.record_event(
        {"type": "servant_joined", "subject": dara.id, "date": "2026-09-01",
         "ministry_id": moh.id, "unit": "Cabinet", "title": "Advisor", "employee_number": "A-1"}
    )  # fmt: skip
    first = str(joined.payload["servant_id"])
    assert register.get_servant(first).active
    moved, _ = register.record_event(
        {"type": "servant_moved", "subject": dara.id, "date": "2026-10-01", "servant_id": first,
         "ministry": "MIN-MOH", "unit": "Department of Hospitals", "title": "Director"}
    )  # fmt: skip
    second = str(moved.payload["servant_id"])
    assert moved.payload["from_servant_id"] == first
    assert not register.get_servant(first).active
    assert register.get_servant(second).title == "Director"
    register.record_event(
        {"type": "servant_left", "subject": dara.id, "date": "2026-10-15", "servant_id": second}
    )
    assert not any(s.active for s in register.servants_of_person(dara.id))
    with pytest.raises(InvalidRecord, match="already ended"):
        register.record_event(
            {"type": "servant_left", "subject": dara.id, "date": "2026-10-16", "servant_id": second}
        )


def test_replayed_event_id_is_not_applied_twice(
    register: EmbeddedRegister, session_factory: sessionmaker[Session], ledger: RecordingLedger
) -> None:
    dara = register.add_person(person())
    event = {"id": "crvs-77", "type": "name_change", "subject": dara.id, "date": "2026-10-01",
             "given_name_latin": "Dany"}  # fmt: skip
    first, created = register.record_event(event)
    entries = len(ledger.entries)
    again, created_again = register.record_event(event)
    assert created and not created_again
    assert again == first
    assert len(ledger.entries) == entries
    assert _count(session_factory) == 1
    with pytest.raises(DuplicateRecord, match="crvs-77"):
        register.record_event({**event, "type": "death", "given_name_latin": None})


def test_bad_events_change_nothing(
    register: EmbeddedRegister, session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    dara = register.add_person(person())
    with pytest.raises(InvalidRecord, match="already registered"):
        register.record_event(
            {"type": "name_change", "subject": dara.id, "date": "2026-10-01",
             "given_name_latin": "Dara"}
        )  # fmt: skip
    with pytest.raises(SubjectNotFound):
        register.record_event(
            {"type": "death", "subject": "0b6f5a7e-1111-4e2b-9c3d-5a6b7c8d9e0f",
             "date": "2026-10-01"}
        )  # fmt: skip
    tomorrow = (clock.now() + dt.timedelta(days=2)).date().isoformat()
    with pytest.raises(InvalidRecord, match="future"):
        register.record_event({"type": "death", "subject": dara.id, "date": tomorrow})
    with pytest.raises(InvalidRecord, match="id: expected"):
        register.record_event(
            {"id": "a b", "type": "death", "subject": dara.id, "date": "2026-10-01"}
        )
    assert register.get_person(dara.id).status is PersonStatus.ACTIVE
    assert _count(session_factory) == 0
