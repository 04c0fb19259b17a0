# ruff: noqa: F811 - pytest fixtures are imported from tests/idp/_accounts.py
"""Claims by scope from the register, language-tagged Khmer names, the claims parameter."""

from __future__ import annotations

import json

import pytest

import idp.claims
from core.clock import FixedClock
from idp.accounts import Account, AccountService
from idp.claims import (
    CLAIMS_BY_SCOPE,
    ClaimsSubject,
    parse_claims_request,
    release_claims,
)
from idp.errors import InvalidClaimsRequest
from registry.records import Person
from registry.service import EmbeddedRegister
from tests.idp._accounts import (  # noqa: F401 - fixtures
    NATIONAL_ID,
    account,
    accounts,
    cache,
    ledger,
    passwords,
    person,
    register,
    throttle,
    totp,
)


@pytest.fixture
def subject(accounts: AccountService, account: Account) -> ClaimsSubject:
    return accounts.claims_subject(account.id)


def test_profile_names_in_latin_and_khmer(subject: ClaimsSubject) -> None:
    claims = release_claims(subject, scopes=["openid", "profile"]).claims
    assert claims["name"] == "Sok Dara"
    assert (claims["family_name"], claims["given_name"]) == ("Sok", "Dara")
    assert claims["name#km"] == "សុខ ដារា"
    assert (claims["family_name#km"], claims["given_name#km"]) == ("សុខ", "ដារា")
    assert claims["birthdate"] == "1990-04-17"
    assert claims["gender"] == "female"
    assert claims["zoneinfo"] == "Asia/Phnom_Penh"
    assert isinstance(claims["updated_at"], int)
    assert "email" not in claims and "address" not in claims


def test_claims_locales_without_khmer_drops_the_tagged_names(subject: ClaimsSubject) -> None:
    claims = release_claims(subject, scopes=["profile"], claims_locales=["en"]).claims
    assert "name#km" not in claims and claims["name"] == "Sok Dara"
    claims = release_claims(subject, scopes=["profile"], claims_locales=["km-KH", "en"]).claims
    assert claims["name#km"] == "សុខ ដារា"


def test_email_phone_address_scopes(subject: ClaimsSubject) -> None:
    claims = release_claims(subject, scopes=["email", "phone", "address"]).claims
    assert claims == {
        "email": "sok.dara@example.com",
        "email_verified": False,
        "phone_number": "+85512345678",
        "phone_number_verified": False,
        "address": {"formatted": "No. 12, Street 271, Phnom Penh, Cambodia", "country": "KH"},
    }


def test_no_scope_ever_releases_the_national_id(subject: ClaimsSubject) -> None:
    every_scope = [*CLAIMS_BY_SCOPE, "openid", "offline_access"]
    request = parse_claims_request(
        {"userinfo": {"national_id": {"essential": True}, "natid:national_id": None}}
    )
    released = release_claims(subject, scopes=every_scope, requested=request.userinfo)
    assert NATIONAL_ID not in json.dumps(released.claims, ensure_ascii=False)
    assert released.missing_essential == ("national_id",)


def test_claims_parameter_adds_single_claims_and_reports_missing_essentials(
    subject: ClaimsSubject,
) -> None:
    request = parse_claims_request(
        json.dumps(
            {
                "userinfo": {
                    "given_name": {"essential": True},
                    "email": None,
                    "natid:ministry": {"essential": True},
                },
                "id_token": {"birthdate": {"essential": True}},
            }
        )
    )
    released = release_claims(subject, scopes=["openid"], requested=request.userinfo)
    # Only what was asked for: the scope's other claims (email_verified) are not added.
    assert released.claims == {"given_name": "Dara", "email": "sok.dara@example.com"}
    assert released.missing_essential == ("natid:ministry",)
    assert release_claims(subject, scopes=[], requested=request.id_token).claims == {
        "birthdate": "1990-04-17"
    }


def test_claims_parameter_value_must_match(subject: ClaimsSubject) -> None:
    request = parse_claims_request({"userinfo": {"gender": {"value": "male"}}})
    assert release_claims(subject, scopes=[], requested=request.userinfo).claims == {}
    request = parse_claims_request({"userinfo": {"gender": {"values": ["female", "male"]}}})
    assert release_claims(subject, scopes=[], requested=request.userinfo).claims == {
        "gender": "female"
    }


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1, 2]",
        {"userinfo": ["name"]},
        {"userinfo": {"name": "yes"}},
        {"userinfo": {"name": {"essential": "true"}}},
        {"userinfo": {"name": {"values": "x"}}},
        {"userinfo": {f"c{i}": None for i in range(101)}},
    ],
)
def test_malformed_claims_parameter_is_invalid_request(raw: object) -> None:
    with pytest.raises(InvalidClaimsRequest) as caught:
        parse_claims_request(raw)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_request"
    assert caught.value.http_status == 400


def test_civil_servant_scope(
    accounts: AccountService,
    account: Account,
    person: Person,
    register: EmbeddedRegister,
    clock: FixedClock,
) -> None:
    ministry = register.add_entity(
        {
            "register_no": "MOH-0001",
            "name_km": "ក្រសួងសុខាភិបាល",
            "name_en": "Ministry of Health",
            "kind": "ministry",
        }
    )
    register.add_servant(
        {
            "person_id": person.id,
            "ministry_id": ministry.id,
            "unit": "Department of Hospital Services",
            "title": "Deputy Director",
            "title_km": "អនុប្រធាន",
        }
    )
    subject = accounts.claims_subject(account.id)
    assert "natid:ministry" not in release_claims(subject, scopes=["profile"]).claims
    claims = release_claims(subject, scopes=["civil_servant"]).claims
    assert claims == {
        "natid:ministry": "Ministry of Health",
        "natid:ministry#km": "ក្រសួងសុខាភិបាល",
        "natid:ministry_id": ministry.id,
        "natid:unit": "Department of Hospital Services",
        "natid:title": "Deputy Director",
        "natid:title#km": "អនុប្រធាន",
        "roles": [],
    }


def test_person_without_optional_data_gets_fewer_claims(
    register: EmbeddedRegister, accounts: AccountService
) -> None:
    bare = register.add_person(
        {
            "national_id": "000777888",
            "name_km": "ចាន់ សុភា",
            "name_latin": "Chan Sophea",
            "birthdate": "1985-01-02",
        }
    )
    created = accounts.create(bare.id, actor="t")
    released = release_claims(
        accounts.claims_subject(created.id),
        scopes=["profile", "email", "phone", "address"],
        requested=parse_claims_request({"userinfo": {"email": {"essential": True}}}).userinfo,
    )
    assert "email" not in released.claims and "gender" not in released.claims
    assert "address" not in released.claims and "phone_number" not in released.claims
    assert released.missing_essential == ("email",)


def test_nothing_wanted_releases_nothing_without_computing_the_claims(
    subject: ClaimsSubject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ID token of a request whose claims all go to UserInfo asks for nothing: the answer is
    empty (an unsupported essential claim is still reported missing) and the subject's claims
    are not computed for it (the token endpoint does this on every code exchange)."""
    computed: list[ClaimsSubject] = []
    real = idp.claims._available

    def counted(s: ClaimsSubject) -> dict[str, object]:
        computed.append(s)
        return real(s)

    monkeypatch.setattr(idp.claims, "_available", counted)
    assert release_claims(subject, scopes=["openid"]).claims == {}
    unsupported = parse_claims_request(
        json.dumps({"id_token": {"x-shoe-size": {"essential": True}}})
    )
    empty = release_claims(subject, scopes=[], requested=unsupported.id_token)
    assert (empty.claims, empty.missing_essential) == ({}, ("x-shoe-size",))
    assert computed == []
    assert release_claims(subject, scopes=["openid", "profile"]).claims["name"] == "Sok Dara"
    assert computed == [subject]
