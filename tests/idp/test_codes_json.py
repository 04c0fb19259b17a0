"""The stored form of a grant and of a pending request: the explicit ``to_json`` writes the
same bytes as the former ``dataclasses.asdict`` version (reproduced here as the reference),
names every field, and reads back to an equal object."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from idp.authz_request import AuthorizationRequest
from idp.codes import AccountFacts, AuthorizationGrant

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 22, 20, 0, 0, 123456, tzinfo=UTC)
PHNOM_PENH = dt.timezone(dt.timedelta(hours=7))


def _reference_grant_json(grant: AuthorizationGrant) -> bytes:
    data = dataclasses.asdict(grant)
    data["auth_time"] = grant.auth_time.isoformat()
    data["issued_at"] = grant.issued_at.isoformat()
    data["claims"] = dict(grant.claims) if grant.claims is not None else None
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _reference_request_json(request: AuthorizationRequest) -> bytes:
    data = dataclasses.asdict(request)
    data["created_at"] = request.created_at.isoformat()
    data["prompt"] = sorted(request.prompt)
    data["claims"] = dict(request.claims) if request.claims is not None else None
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


CLAIMS: dict[str, Any] = {
    "userinfo": {"name": {"essential": True}, "family_name": None},
    "id_token": {"acr": {"essential": True, "values": ["substantial", "high"]}},
    "claims_locales": ["km", "en"],
}

GRANTS = [
    AuthorizationGrant(
        grant_id="g1",
        client_id="c1",
        redirect_uri="https://portal.moh.gov.kh/cb",
        subject="6f1c2b9e",
        scopes=("openid",),
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        auth_time=T0 - dt.timedelta(minutes=3),
        issued_at=T0,
    ),
    AuthorizationGrant(
        grant_id="g2",
        client_id="c2",
        redirect_uri="https://bank.example.kh/cb?x=1&y=ខ្មែរ",
        subject="6f1c2b9e",
        scopes=("openid", "profile", "offline_access"),
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        auth_time=(T0 - dt.timedelta(seconds=5)).astimezone(PHNOM_PENH),
        issued_at=T0.replace(microsecond=0),
        nonce='n "quoted" \\ ខ្មែរ \u2028',
        acr="substantial",
        amr=("pwd", "otp"),
        sid="session-1",
        claims=CLAIMS,
        dpop_jkt="0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
        account=AccountFacts(email_verified=True, phone_verified=False, operator_id="op-1"),
    ),
    AuthorizationGrant(
        grant_id="g3",
        client_id="c3",
        redirect_uri="https://a.example/cb",
        subject="s",
        scopes=(),
        code_challenge="x",
        auth_time=T0,
        issued_at=T0,
        claims={},
    ),
]


@pytest.mark.parametrize("grant", GRANTS, ids=["minimal", "everything", "empty-claims"])
def test_grant_json_is_the_asdict_json_and_round_trips(grant: AuthorizationGrant) -> None:
    raw = grant.to_json()
    assert raw == _reference_grant_json(grant)
    assert AuthorizationGrant.from_json(raw) == grant
    back = AuthorizationGrant.from_json(raw)
    assert back.claims == grant.claims and back.auth_time == grant.auth_time
    assert back.auth_time.utcoffset() == grant.auth_time.utcoffset()


def test_grant_json_of_a_code_stored_without_account_facts_reads_back() -> None:
    """A code stored before the ``account`` member existed still redeems (the exchange then
    reads the account itself)."""
    stored = json.loads(GRANTS[1].to_json())
    del stored["account"]
    back = AuthorizationGrant.from_json(json.dumps(stored).encode())
    assert back.account is None
    assert back == dataclasses.replace(GRANTS[1], account=None)


def test_grant_json_names_every_field_in_order() -> None:
    keys = list(json.loads(GRANTS[1].to_json()))
    assert keys == [f.name for f in dataclasses.fields(AuthorizationGrant)]


REQUESTS = [
    AuthorizationRequest(
        client_id="c1",
        client_name="Ministry portal",
        redirect_uri="https://portal.moh.gov.kh/cb",
        scopes=("openid",),
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        created_at=T0,
    ),
    AuthorizationRequest(
        client_id="c2",
        client_name='ធនាគារ "Bank"',
        redirect_uri="https://bank.example.kh/cb?x=1",
        scopes=("openid", "profile", "email"),
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        created_at=T0.astimezone(PHNOM_PENH),
        state="s&t=a te",
        nonce="n",
        prompt=frozenset({"login", "consent", "select_account"}),
        max_age=0,
        acr_values=("high", "substantial"),
        login_hint="012 345 678",
        id_token_hint_sub="pairwise-sub",
        ui_locales=("km", "en-US"),
        claims_locales=("km",),
        claims=CLAIMS,
        dpop_jkt="0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
        request_uri="urn:ietf:params:oauth:request_uri:abc",
    ),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=["minimal", "everything"])
def test_request_json_is_the_asdict_json_and_round_trips(request_: AuthorizationRequest) -> None:
    raw = request_.to_json()
    assert raw == _reference_request_json(request_)
    assert AuthorizationRequest.from_json(raw) == request_


def test_request_json_names_every_field_in_order() -> None:
    keys = list(json.loads(REQUESTS[1].to_json()))
    assert keys == [f.name for f in dataclasses.fields(AuthorizationRequest)]


@pytest.mark.parametrize("request_", REQUESTS, ids=["no-claims", "claims"])
def test_claim_shortcuts_agree_with_the_parsed_claims_request(
    request_: AuthorizationRequest,
) -> None:
    parsed = request_.claims_request
    assert request_.requested_claim_names == tuple(
        sorted(set(parsed.userinfo) | set(parsed.id_token))
    )
    spec = parsed.id_token.get("acr")
    expected = () if spec is None or not spec.essential or not spec.values else spec.values
    assert request_.essential_acr_values == tuple(str(v) for v in expected)
