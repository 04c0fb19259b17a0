"""Every write is audited, in the same transaction, with ids and no personal data."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.clock import FixedClock
from core.errors import InfrastructureError
from registry import RecordKind
from registry.service import EmbeddedRegister
from tests.registry.conftest import RecordingLedger, ministry, person

NID = "123456789"


def test_each_write_appends_one_entry_named_by_id(
    register: EmbeddedRegister, ledger: RecordingLedger
) -> None:
    dara = register.add_person(person(), actor="cli")
    health = register.add_entity(ministry())
    servant = register.add_servant(
        {"person_id": dara.id, "ministry_id": health.id, "unit": "U", "title": "T"}
    )
    register.record_proofing(
        dara.id, method="in_person", level="high", evidence="passport", office="Office"
    )
    assert [(e.event, e.subject) for e in ledger.entries] == [
        ("registry.person.added", dara.id),
        ("registry.entity.added", health.id),
        ("registry.servant.added", servant.id),
        ("registry.proofing.recorded", dara.id),
    ]
    assert ledger.entries[0].actor == "cli"
    assert ledger.entries[1].data == {"kind": "ministry"}
    assert ledger.entries[2].data == {"person_id": dara.id, "ministry_id": health.id}
    assert all(e.in_transaction for e in ledger.entries)


def test_audit_entries_carry_no_personal_data(
    register: EmbeddedRegister, ledger: RecordingLedger
) -> None:
    register.add_person(person(email="dara@example.com"))
    register.import_csv(
        "national_id,name_km,name_latin,birthdate\n223456789,ចាន់ ធីតា,Chan Thida,1991-01-01\n"
    )
    text = json.dumps([e.__dict__ for e in ledger.entries], ensure_ascii=False)
    for personal in (NID, "223456789", "Sok", "ដារ៉ា", "Thida", "1990", "dara@example.com"):
        assert personal not in text


class FailingLedger:
    def append(self, event: str, **kwargs: Any) -> None:
        raise InfrastructureError("ledger unavailable")


def test_write_is_rolled_back_when_its_audit_entry_fails(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    register = EmbeddedRegister(session_factory, clock=clock, ledger=FailingLedger())
    with pytest.raises(InfrastructureError):
        register.add_person(person())
    with pytest.raises(InfrastructureError):
        register.import_csv(
            "national_id,name_km,name_latin,birthdate\n"
            + "223456789,ចាន់ ធីតា,Chan Thida,1991-01-01\n"
        )
    assert register.count(RecordKind.PERSONS) == 0


def test_without_ledger_writes_still_work(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    register = EmbeddedRegister(session_factory, clock=clock)
    assert register.get_person(register.add_person(person()).id).national_id == NID


def test_with_the_real_audit_ledger(
    session_factory: sessionmaker[Session], clock: FixedClock
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from core.audit import AuditLedger

    ledger = AuditLedger(
        session_factory,
        clock=clock,
        signing_key=ec.generate_private_key(ec.SECP256R1()),
        key_label="test-audit",
        checkpoint_interval=100,
    )
    register = EmbeddedRegister(session_factory, clock=clock, ledger=ledger)
    dara = register.add_person(person())
    register.load_demo()
    entries = ledger.tail(10)
    assert [(e.event, e.subject) for e in entries] == [
        ("registry.person.added", dara.id),
        ("registry.demo.loaded", None),
    ]
    assert entries[1].data["persons"] == 1000
    assert NID not in " ".join(e.data_json for e in entries)
    # Signed as `natid init` signs one: with its key, a ledger without any checkpoint fails.
    ledger.checkpoint()
    ledger.verify().raise_for_failure()
