"""Persons: adding, reading, finding by national ID, and what never leaks the ID number."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import pytest

from core.clock import FixedClock
from core.errors import Conflict, InvalidInput
from registry import (
    DuplicateRecord,
    InvalidRecord,
    PersonStatus,
    RecordKind,
    Sex,
    SubjectNotFound,
)
from registry.service import EmbeddedRegister
from tests.registry.conftest import RecordingLedger, person

NID = "123456789"


def test_added_person_can_be_read_back_by_id(register: EmbeddedRegister) -> None:
    added = register.add_person(person(email="dara@example.com", phone="+855 12 345 678"))
    got = register.get_person(added.id)
    assert got == added
    assert uuid.UUID(got.id).version == 4
    assert got.national_id == NID
    assert (got.family_name_km, got.given_name_km) == ("សុខ", "ដារ៉ា")
    assert (got.family_name_latin, got.given_name_latin) == ("Sok", "Dara")
    assert (got.name_km, got.name_latin) == ("សុខ ដារ៉ា", "Sok Dara")
    assert got.birthdate == dt.date(1990, 4, 17)
    assert got.sex is Sex.MALE
    assert got.nationality == "KHM"
    assert got.phone == "+85512345678"
    assert got.status is PersonStatus.ACTIVE
    assert got.created_at == dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def test_split_names_are_accepted_instead_of_full_names(register: EmbeddedRegister) -> None:
    added = register.add_person(
        person(
            name_km=None,
            name_latin=None,
            family_name_km="ហេង",
            given_name_km="សុវណ្ណារី",
            family_name_latin="Heng",
            given_name_latin="Sovannary",
        )
    )
    assert (added.name_km, added.name_latin) == ("ហេង សុវណ្ណារី", "Heng Sovannary")


def test_given_name_with_several_words_keeps_them(register: EmbeddedRegister) -> None:
    added = register.add_person(person(name_latin="Chan Sok Dara"))
    assert (added.family_name_latin, added.given_name_latin) == ("Chan", "Sok Dara")


def test_given_id_is_used_and_canonicalised(register: EmbeddedRegister) -> None:
    wanted = uuid.uuid4()
    added = register.add_person(person(id=str(wanted).upper()))
    assert added.id == str(wanted)
    assert register.get_person(str(wanted)).id == str(wanted)


def test_id_is_random_not_derived_from_national_id(register: EmbeddedRegister) -> None:
    first = register.add_person(person())
    second = register.add_person(person(national_id="223456789"))
    assert NID not in first.id.replace("-", "")
    assert first.id != second.id


def test_find_by_national_id(register: EmbeddedRegister) -> None:
    added = register.add_person(person())
    assert register.find_person_by_national_id(NID) == added
    assert register.find_person_by_national_id("987654321") is None


def test_find_by_malformed_national_id_is_invalid_input_without_echo(
    register: EmbeddedRegister,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        register.find_person_by_national_id("12345678X")
    assert "12345678X" not in str(caught.value)


def test_duplicate_national_id_error_does_not_leak_number(register: EmbeddedRegister) -> None:
    register.add_person(person())
    with pytest.raises(DuplicateRecord) as caught:
        register.add_person(person(name_latin="Chan Thida", name_km="ចាន់ ធីតា"))
    assert isinstance(caught.value, Conflict)
    assert "a person with this national ID already exists" in str(caught.value)
    assert NID not in str(caught.value)
    assert caught.value.__cause__ is None
    assert register.count(RecordKind.PERSONS) == 1


def test_duplicate_id_rejected(register: EmbeddedRegister) -> None:
    added = register.add_person(person())
    with pytest.raises(DuplicateRecord, match="a person with this id already exists"):
        register.add_person(person(id=added.id, national_id="223456789"))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"birthdate": "17/04/1990"}, "birthdate: not a date (expected YYYY-MM-DD)"),
        ({"birthdate": "1990-02-30"}, "birthdate: not a date (expected YYYY-MM-DD)"),
        ({"birthdate": "2026-11-02"}, "birthdate: in the future"),
        ({"birthdate": "1899-12-31"}, "birthdate: before 1900-01-01"),
        ({"name_km": "Sok Dara"}, "name_km: expected Khmer script"),
        ({"name_km": "សុខ Dara"}, "name_km: expected Khmer script"),
        ({"name_latin": "សុខ ដារ៉ា"}, "name_latin: expected Latin letters"),
        ({"name_latin": "Sok D4ra"}, "name_latin: expected Latin letters"),
        ({"name_latin": "Sok"}, "name_latin: expected family name and given name"),
        ({"national_id": "12345678"}, "national_id: expected 9 digits as text"),
        ({"national_id": "1234567890"}, "national_id: expected 9 digits as text"),
        ({"national_id": "12345678٩"}, "national_id: expected 9 digits as text"),
        ({"national_id": 123456789}, "national_id: expected 9 digits as text"),
        ({"national_id": None}, "national_id: required"),
        ({"sex": "male"}, "sex: expected one of M, F, X"),
        ({"nationality": "KH"}, "nationality: expected an ISO 3166-1 alpha-3 code"),
        ({"phone": "012 345 678"}, "phone: expected an E.164 number"),
        ({"email": "not-an-email"}, "email: expected an email address"),
        ({"id": "not-a-uuid"}, "id: not a UUID"),
        ({"address": "Street\x00 1"}, "address: contains a control or unassigned character"),
        ({"nickname": "Dara"}, "nickname: unknown field"),
        ({"name_latin": None}, "name_latin: required"),
    ],
)
def test_invalid_person_is_rejected_and_nothing_stored(
    register: EmbeddedRegister,
    ledger: RecordingLedger,
    overrides: dict[str, object],
    expected: str,
) -> None:
    with pytest.raises(InvalidRecord) as caught:
        register.add_person(person(**overrides))
    assert isinstance(caught.value, InvalidInput)
    assert expected in str(caught.value)
    assert register.count(RecordKind.PERSONS) == 0
    assert ledger.entries == []


def test_national_id_in_wrong_field_is_not_echoed(register: EmbeddedRegister) -> None:
    # An operator who pastes the ID number into the name column must not see it in the error.
    with pytest.raises(InvalidRecord) as caught:
        register.add_person(person(name_latin="987654321", birthdate="987654321"))
    assert "987654321" not in str(caught.value)


def test_unknown_numeric_key_is_not_echoed(register: EmbeddedRegister) -> None:
    with pytest.raises(InvalidRecord) as caught:
        register.add_person({**person(), "987654321": "x"})
    assert "987654321" not in str(caught.value)


def test_mismatched_full_and_split_names_rejected(register: EmbeddedRegister) -> None:
    with pytest.raises(InvalidRecord, match="name_latin: does not match"):
        register.add_person(person(family_name_latin="Chan", given_name_latin="Dara"))


def test_birthdate_today_in_cambodia_is_not_in_the_future(
    register: EmbeddedRegister, clock: FixedClock
) -> None:
    # 2026-11-01 20:00 UTC is already 2026-11-02 03:00 in Phnom Penh.
    clock.set(dt.datetime(2026, 11, 1, 20, 0, tzinfo=dt.UTC))
    assert register.add_person(person(birthdate="2026-11-02")).birthdate == dt.date(2026, 11, 2)


def test_text_is_nfc_normalised_and_whitespace_collapsed(register: EmbeddedRegister) -> None:
    decomposed = "Nguye\u0302\u0303n  Van"  # NFD with a double space
    added = register.add_person(person(name_latin=decomposed))
    assert added.name_latin == "Nguyễn Van"


def test_repr_of_person_hides_national_id_and_contact_data(register: EmbeddedRegister) -> None:
    added = register.add_person(person(email="dara@example.com"))
    text = repr(added)
    assert added.id in text
    for secret in (NID, "1990", "dara@example.com", "Street 271"):
        assert secret not in text


def test_add_person_logs_never_contain_national_id(
    register: EmbeddedRegister, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    added = register.add_person(person())
    with pytest.raises(DuplicateRecord):
        register.add_person(person())
    register.find_person_by_national_id(NID)
    assert any(added.id in str(r.__dict__) for r in caplog.records)
    for record in caplog.records:
        assert NID not in record.getMessage()
        assert NID not in str(record.__dict__)


def test_unknown_person_id_not_found(register: EmbeddedRegister) -> None:
    missing = str(uuid.uuid4())
    with pytest.raises(SubjectNotFound, match=missing):
        register.get_person(missing)


def test_national_id_passed_as_person_id_is_not_echoed(register: EmbeddedRegister) -> None:
    with pytest.raises(InvalidRecord) as caught:
        register.get_person(NID)
    assert NID not in str(caught.value)


def test_list_persons_sorted_by_latin_name_and_paged(register: EmbeddedRegister) -> None:
    register.add_person(person(national_id="100000001", name_latin="Sok Dara"))
    register.add_person(person(national_id="100000002", name_latin="Chan Thida"))
    register.add_person(person(national_id="100000003", name_latin="Ly Bora"))
    names = [p.name_latin for p in register.list_persons()]
    assert names == ["Chan Thida", "Ly Bora", "Sok Dara"]
    assert [p.name_latin for p in register.list_persons(limit=1, offset=1)] == ["Ly Bora"]
    with pytest.raises(InvalidRecord, match="limit"):
        register.list_persons(limit=0)
