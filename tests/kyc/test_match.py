"""Name normalisation and match checks (kyc.match): the documented tolerance, and no more."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kyc.errors import InvalidMatchRequest
from kyc.match import match_person, normalise_name, parse_match_request
from kyc.policy import Attribute
from registry.records import Person, PersonStatus, Sex

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
PERSON = Person(
    id="p1",
    national_id="000123456",
    family_name_km="សុខ",
    given_name_km="ដារា",
    family_name_latin="Sok",
    given_name_latin="Dara",
    birthdate=dt.date(1990, 4, 17),
    sex=Sex.FEMALE,
    nationality="KHM",
    address=None,
    phone=None,
    email=None,
    status=PersonStatus.ACTIVE,
    created_at=NOW,
    updated_at=NOW,
)


@pytest.mark.parametrize(
    ("held", "stored"),
    [
        ("  SOK   dara ", "Sok Dara"),
        ("Sók Dārā", "Sok Dara"),
        ("Sok-Dara", "Sok Dara"),
        ("ＳＯＫ", "Sok"),
        ("សុខ\u200bដារា", "សុខ ដារា"),
        ("\u200dសុខ", "សុខ"),
    ],
)
def test_tolerated_differences_match(held: str, stored: str) -> None:
    assert normalise_name(held) == normalise_name(stored)


@pytest.mark.parametrize(
    ("held", "stored"),
    [
        ("Sokh Dara", "Sok Dara"),
        ("Dara Sok", "Sok Dara"),
        ("Sok", "Sok Dara"),
        # A Khmer vowel sign changes the name: it is never dropped like a Latin accent.
        ("សខ", "សុខ"),
    ],
)
def test_other_names_do_not_match(held: str, stored: str) -> None:
    assert normalise_name(held) != normalise_name(stored)


def test_match_answers_booleans_and_unknown_person_is_all_false() -> None:
    values = parse_match_request(
        {"name": "sok dara", "birthdate": "1990-04-17", "national_id_number": "000 123 456"}
    )
    assert match_person(PERSON, values) == {
        "name": True,
        "birthdate": True,
        "national_id_number": True,
    }
    assert match_person(None, values) == dict.fromkeys(
        ("name", "birthdate", "national_id_number"), False
    )


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"email": "a@b.kh"},
        {"favourite": "x"},
        {"birthdate": "17/04/1990"},
        {"birthdate": "1990-4-17"},
        {"name": ""},
        {"name": "x" * 201},
        {"name": 3},
    ],
)
def test_malformed_requests_refused_without_echo(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidMatchRequest) as caught:
        parse_match_request(bad)
    assert "17/04" not in str(caught.value)


@given(st.text(max_size=60))
def test_normalise_is_idempotent_and_total(text: str) -> None:
    once = normalise_name(text)
    assert normalise_name(once) == once


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=200))
def test_parse_never_raises_anything_but_invalid_match_request(text: str) -> None:
    try:
        parsed = parse_match_request({"name": text, "birthdate": text})
    except InvalidMatchRequest:
        return
    assert parsed[Attribute.NAME] == text
