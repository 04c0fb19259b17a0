"""Legal entities (companies, banks, ministries) and civil servants."""

from __future__ import annotations

import uuid

import pytest

from registry import (
    DuplicateRecord,
    EntityKind,
    EntityStatus,
    InvalidRecord,
    RecordKind,
    SubjectNotFound,
)
from registry.service import EmbeddedRegister
from tests.registry.conftest import entity, ministry, person


def test_added_entity_can_be_read_back(register: EmbeddedRegister) -> None:
    added = register.add_entity(entity(kind="bank", register_no="bank-0042"))
    got = register.get_entity(added.id)
    assert got == added
    assert got.kind is EntityKind.BANK
    assert got.register_no == "BANK-0042"  # upper-cased on the way in
    assert got.status is EntityStatus.ACTIVE
    assert got.name_km == "ក្រុមហ៊ុន ស្រូវ កំពត ឯ.ក"


def test_duplicate_register_number_rejected_case_insensitively(
    register: EmbeddedRegister,
) -> None:
    register.add_entity(entity(register_no="ABC-1234"))
    with pytest.raises(DuplicateRecord, match="register_no: a legal entity with this register"):
        register.add_entity(entity(register_no="abc-1234"))
    assert register.count(RecordKind.ENTITIES) == 1


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"register_no": "AB"}, "register_no: expected 4-20 characters"),
        ({"register_no": "ABC 1234"}, "register_no: expected 4-20 characters"),
        ({"name_km": "Kampot Rice"}, "name_km: expected text in Khmer script"),
        ({"name_en": "ក្រុមហ៊ុន"}, "name_en: expected text in Latin script"),
        ({"kind": "bakery"}, "kind: expected one of company, bank, ministry"),
        ({"kind": None}, "kind: required"),
    ],
)
def test_invalid_entity_rejected_and_nothing_stored(
    register: EmbeddedRegister, overrides: dict[str, object], expected: str
) -> None:
    with pytest.raises(InvalidRecord, match=expected):
        register.add_entity({k: v for k, v in entity(**overrides).items() if v is not None})
    assert register.count(RecordKind.ENTITIES) == 0


def test_list_entities_filters_by_kind(register: EmbeddedRegister) -> None:
    register.add_entity(entity())
    register.add_entity(entity(register_no="BANK-1", name_en="Bokor Bank Plc.", kind="bank"))
    register.add_entity(ministry())
    banks = register.list_entities(kind=EntityKind.BANK)
    assert [e.name_en for e in banks] == ["Bokor Bank Plc."]
    assert len(register.list_entities()) == 3


@pytest.fixture
def health(register: EmbeddedRegister) -> str:
    return register.add_entity(ministry()).id


@pytest.fixture
def dara(register: EmbeddedRegister) -> str:
    return register.add_person(person()).id


@pytest.mark.parametrize("how", ["id", "register_no", "name_en", "name_en_casefolded", "name_km"])
def test_servant_names_ministry_by_id_register_number_or_name(
    register: EmbeddedRegister, health: str, dara: str, how: str
) -> None:
    ministry_ref = {
        "id": health,
        "register_no": "min-moh",
        "name_en": "Ministry of Health",
        "name_en_casefolded": "ministry of health",
        "name_km": "ក្រសួងសុខាភិបាល",
    }[how]
    added = register.add_servant(
        {
            "person_id": dara,
            "ministry": ministry_ref,
            "unit": "Department of Hospital Services",
            "title": "Officer",
            "employee_number": "MOH-001",
        }
    )
    got = register.get_servant(added.id)
    assert got == added
    assert got.ministry_id == health
    assert (got.ministry_name_en, got.ministry_name_km) == ("Ministry of Health", "ក្រសួងសុខាភិបាល")
    assert (got.unit, got.title, got.active) == ("Department of Hospital Services", "Officer", True)
    assert register.servants_of_person(dara) == (got,)


def test_servant_of_a_company_is_rejected(register: EmbeddedRegister, dara: str) -> None:
    company = register.add_entity(entity()).id
    with pytest.raises(InvalidRecord, match="ministry: no ministry with this id"):
        register.add_servant({"person_id": dara, "ministry": company, "unit": "U", "title": "T"})
    assert register.count(RecordKind.SERVANTS) == 0


def test_servant_of_unknown_person_is_rejected(register: EmbeddedRegister, health: str) -> None:
    with pytest.raises(InvalidRecord, match="person_id: no person with this id"):
        register.add_servant(
            {"person_id": str(uuid.uuid4()), "ministry_id": health, "unit": "U", "title": "T"}
        )


def test_employee_number_unique_per_ministry_only(
    register: EmbeddedRegister, health: str, dara: str
) -> None:
    interior = register.add_entity(
        ministry(register_no="MIN-MOI", name_en="Ministry of Interior", name_km="ក្រសួងមហាផ្ទៃ")
    ).id
    base = {"person_id": dara, "unit": "U", "title": "T", "employee_number": "E-1"}
    register.add_servant({**base, "ministry_id": health})
    register.add_servant({**base, "ministry_id": interior})
    with pytest.raises(DuplicateRecord, match="employee_number: this employee number"):
        register.add_servant({**base, "ministry_id": health})
    assert len(register.servants_of_person(dara)) == 2


def test_servant_without_ministry_is_rejected(register: EmbeddedRegister, dara: str) -> None:
    with pytest.raises(InvalidRecord, match="ministry: required"):
        register.add_servant({"person_id": dara, "unit": "U", "title": "T"})


def test_servants_of_unknown_person_not_found(register: EmbeddedRegister) -> None:
    with pytest.raises(SubjectNotFound):
        register.servants_of_person(str(uuid.uuid4()))


def test_list_servants_by_ministry(register: EmbeddedRegister, health: str, dara: str) -> None:
    register.add_servant({"person_id": dara, "ministry_id": health, "unit": "U", "title": "T"})
    assert len(register.list_servants(ministry_id=health)) == 1
    assert register.list_servants(ministry_id=str(uuid.uuid4())) == ()
