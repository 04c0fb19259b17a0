"""The release rule (kyc.policy.decide_release): policy AND live consent, one purpose."""

from __future__ import annotations

import datetime as dt

import pytest

from kyc.errors import InvalidRelyingParty, KYCAccessDenied, PolicyViolation
from kyc.policy import (
    Attribute,
    ConsentView,
    GrantView,
    Purpose,
    RelyingParty,
    decide_release,
    parse_attributes,
    parse_rate_limit,
)

AT = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)
RP = RelyingParty(
    id="rp",
    entity_id="e",
    client_id="c",
    attributes=frozenset({Attribute.GIVEN_NAME, Attribute.NATIONAL_ID_NUMBER, Attribute.EMAIL}),
    purposes=frozenset({Purpose.LOAN}),
    rate_limit_per_minute=60,
    contact=None,
    legal_basis_match=False,
    active=True,
    created_at=AT,
    updated_at=AT,
)
SCOPES = frozenset({"openid", "kyc", "kyc:purpose:loan", "profile", "kyc:national_id_number"})


def consent(
    scopes: frozenset[str] = SCOPES,
    claims: frozenset[str] = frozenset(),
    expires: dt.datetime = AT + dt.timedelta(days=1),
) -> ConsentView:
    return ConsentView(scopes, claims, AT - dt.timedelta(days=1), expires)


def test_release_is_policy_and_consent() -> None:
    released = decide_release(RP, GrantView(SCOPES), consent(), at=AT)
    assert released.purpose is Purpose.LOAN
    assert released.attributes == {Attribute.GIVEN_NAME, Attribute.NATIONAL_ID_NUMBER}


def test_claim_consent_counts_only_for_claims_the_consent_page_shows() -> None:
    grant = GrantView(
        frozenset({"openid", "kyc", "kyc:purpose:loan"}), frozenset({"email", "national_id_number"})
    )
    given = consent(scopes=grant.scopes, claims=frozenset({"email", "national_id_number"}))
    assert decide_release(RP, grant, given, at=AT).attributes == {Attribute.EMAIL}


@pytest.mark.parametrize(
    "given",
    [
        None,
        consent(expires=AT),
        consent(scopes=SCOPES - {"kyc:purpose:loan"}),
        consent(scopes=SCOPES - {"kyc"}),
        consent(scopes=frozenset({"kyc", "kyc:purpose:loan"})),
    ],
)
def test_no_live_consent_is_access_denied(given: ConsentView | None) -> None:
    with pytest.raises(KYCAccessDenied):
        decide_release(RP, GrantView(SCOPES), given, at=AT)


@pytest.mark.parametrize(
    "purposes",
    [set(), {"kyc:purpose:account_opening"}, {"kyc:purpose:loan", "kyc:purpose:account_opening"}],
)
def test_purpose_must_be_one_the_bank_may_state(purposes: set[str]) -> None:
    scopes = (SCOPES - {"kyc:purpose:loan"}) | purposes
    with pytest.raises(PolicyViolation):
        decide_release(RP, GrantView(frozenset(scopes)), consent(scopes | SCOPES), at=AT)


def test_operator_input_checked() -> None:
    assert parse_rate_limit("120/min") == 120
    assert parse_rate_limit(5) == 5
    for bad in ("0/min", "fast", "1000001"):
        with pytest.raises(InvalidRelyingParty):
            parse_rate_limit(bad)
    with pytest.raises(InvalidRelyingParty, match="photo"):
        parse_attributes("name,photo")
