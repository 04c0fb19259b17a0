"""POST /kyc/v1/match (consent and legal basis) and GET /kyc/v1/access-log as a citizen."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from api.context import AppContext
from api.routers.kyc import kyc_service
from idp.clients import CLIENT_ASSERTION_TYPE
from registry.records import Person
from tests.api.idp_token._rp import RegisteredRP, client_assertion, dpop_proof, mint_code
from tests.api.idp_token._tokens import _post
from tests.api.kyc.conftest import Bank, bank_token, consent, make_bank
from tests.api.kyc.test_person import verify_with_jwks

MATCH = "/kyc/v1/match"


def test_match_with_consent_true_and_false_never_values(
    http: TestClient, app_ctx: AppContext, bank: Bank, person: Person
) -> None:
    consent(app_ctx, person, bank)
    token, session = bank_token(http, app_ctx, bank, person)
    body = {
        "attributes": {
            "given_name": "  DARA ",
            "family_name": "Sók",
            "birthdate": "1990-04-18",
            "name#km": "សុខ\u200bដារា",
            "national_id_number": "000-123-456",
        }
    }
    response: Any = None
    for _ in range(2):  # the first call is asked for a DPoP nonce (RFC 9449 §8)
        proof = dpop_proof(
            bank.key,
            method="POST",
            url=session.issuer + MATCH,
            at=session.at,
            nonce=session.nonce,
            access_token=token,
        )
        response = http.post(
            MATCH, json=body, headers={"Authorization": f"DPoP {token}", "DPoP": proof}
        )
        session.nonce = response.headers.get("DPoP-Nonce", session.nonce)
        if response.status_code != 401:
            break
    assert response is not None and response.status_code == 200, response.text
    _, claims = verify_with_jwks(http, response.text)
    assert claims["natid:match"] == {
        "given_name": True,
        "family_name": True,
        "birthdate": False,
        "name#km": True,
        "national_id_number": True,
    }
    assert claims["natid:basis"] == "consent"
    assert "1990-04-17" not in response.text and "Sok" not in json.dumps(claims)
    log = kyc_service(app_ctx).access_log.for_person(person.id)
    assert [(e.kind, e.basis) for e in log] == [("match", "consent")]


def _legal_match(http: TestClient, app_ctx: AppContext, bank: Bank, body: dict[str, Any]) -> Any:
    assertion = client_assertion(bank.client, aud=app_ctx.idp_core().issuer, at=app_ctx.clock.now())
    return http.post(
        MATCH,
        json={
            **body,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )


def test_legal_basis_match_without_consent(
    http: TestClient, app_ctx: AppContext, person: Person
) -> None:
    bank = make_bank(app_ctx, legal_basis_match=True)
    known = _legal_match(
        http,
        app_ctx,
        bank,
        {
            "purpose": "loan",
            "attributes": {
                "national_id_number": person.national_id,
                "name": "sok  dara",
                "birthdate": "1990-04-17",
            },
        },
    )
    assert known.status_code == 200, known.text
    _, claims = verify_with_jwks(http, known.text)
    assert claims["natid:match"] == {"name": True, "birthdate": True}
    assert claims["natid:basis"] == "legal_basis"
    unknown = _legal_match(
        http,
        app_ctx,
        bank,
        {
            "purpose": "loan",
            "attributes": {
                "national_id_number": "999999999",
                "name": "Sok Dara",
                "birthdate": "1990-04-17",
            },
        },
    )
    assert unknown.status_code == 200
    _, other = verify_with_jwks(http, unknown.text)
    assert other["natid:match"] == {"name": False, "birthdate": False}
    log = kyc_service(app_ctx).access_log.for_person(person.id)
    assert [(e.kind, e.basis, e.purpose) for e in log] == [("match", "legal_basis", "loan")]


def test_match_without_consent_or_legal_basis_refused(
    http: TestClient, app_ctx: AppContext, bank: Bank, person: Person
) -> None:
    response = _legal_match(
        http,
        app_ctx,
        bank,
        {
            "purpose": "loan",
            "attributes": {"national_id_number": person.national_id, "name": "Sok Dara"},
        },
    )
    assert response.status_code == 403
    assert response.json()["code"] == "kyc_policy_violation"
    outside = make_bank(
        app_ctx,
        name="Other",
        register_no="00077777",
        legal_basis_match=True,
        attributes="name,national_id_number",
    )
    refused = _legal_match(
        http,
        app_ctx,
        outside,
        {
            "purpose": "loan",
            "attributes": {"national_id_number": person.national_id, "birthdate": "1990-04-17"},
        },
    )
    assert refused.status_code == 403
    assert "birthdate" in refused.json()["detail"]
    assert "1990" not in refused.text


def test_citizen_reads_own_access_log_and_banks_cannot(
    http: TestClient, app_ctx: AppContext, bank: Bank, person: Person
) -> None:
    consent(app_ctx, person, bank)
    token, session = bank_token(http, app_ctx, bank, person)
    assert session.request("GET", "/kyc/v1/person", access_token=token).status_code == 200
    # The citizen's own token from a non-KYC site (a ministry portal), plain Bearer.
    core = app_ctx.idp_core()
    portal = core.clients.add(
        name="Ministry portal",
        redirect_uris=["https://moh.gov.kh/cb"],
        auth_method="client_secret_basic",
    )
    rp = RegisteredRP(portal.client, secret=portal.client_secret)
    code, verifier = mint_code(core, rp, person.id, app_ctx.clock.now(), scopes=("openid",))
    tokens = _post(
        http,
        core,
        app_ctx,
        rp,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "https://moh.gov.kh/cb",
            "code_verifier": verifier,
        },
        None,
    )
    mine = http.get(
        "/kyc/v1/access-log", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert mine.status_code == 200, mine.text
    entries = mine.json()["entries"]
    assert len(entries) == 1
    assert entries[0]["kind"] == "release"
    assert entries[0]["entity_name"]["en"] == "ACLEDA Bank"
    assert entries[0]["purpose"] == "account_opening"
    assert "national_id_number" in entries[0]["attributes"]
    assert person.national_id not in mine.text
    # The bank's own token for the same person may not read who else looked.
    bank_reads = session.request("GET", "/kyc/v1/access-log", access_token=token)
    assert bank_reads.status_code == 403
    stats = kyc_service(app_ctx).access_log.stats(
        since=app_ctx.clock.now().replace(year=2000), until=app_ctx.clock.now().replace(year=2100)
    )
    assert [(s.client_id, s.kind, s.count) for s in stats] == [
        (bank.client.client_id, "release", 1)
    ]
