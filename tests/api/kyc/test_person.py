"""GET /kyc/v1/person as a bank uses it: signed verified_claims that verify against /jwks with
an independent JOSE library, only the attributes both the policy and the consent allow, and
the refusals a bank or an attacker would hit."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from joserfc import jwe as rfc_jwe
from joserfc import jws as rfc_jws
from joserfc.jwk import ECKey, KeySet

from api.context import AppContext
from api.routers.kyc import kyc_service
from idp.consents import Consents
from registry.records import Person
from tests.api.idp_token._rp import dpop_proof
from tests.api.kyc.conftest import Bank, bank_token, consent, make_bank

PATH = "/kyc/v1/person"


def verify_with_jwks(http: TestClient, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify like a bank: fetch /jwks, pick the key by kid, check with joserfc."""
    keys = KeySet.import_key_set(http.get("/jwks").json())
    obj = rfc_jws.deserialize_compact(token, keys, algorithms=["ES256", "PS256"])
    return dict(obj.headers()), json.loads(obj.payload)


def _without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "request_id"}


def get_person(http: TestClient, ctx: AppContext, bank: Bank, person: Person, **kw: Any) -> Any:
    token, session = bank_token(http, ctx, bank, person, **kw)
    return session.request("GET", PATH, access_token=token)


def test_bank_gets_signed_verified_claims_verifiable_against_jwks(
    http: TestClient, app_ctx: AppContext, bank: Bank, person: Person
) -> None:
    consent(app_ctx, person, bank)
    response = get_person(http, app_ctx, bank, person)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jwt"
    assert response.headers["cache-control"] == "no-store"
    header, claims = verify_with_jwks(http, response.text)
    assert header["typ"] == "kyc+jwt"
    assert claims["iss"] == app_ctx.idp_core().issuer
    assert claims["aud"] == bank.client.client_id
    assert claims["natid:purpose"] == "account_opening"
    assert claims["iat"] == int(app_ctx.clock.now().timestamp())
    verification = claims["verified_claims"]["verification"]
    assert verification["trust_framework"] == "kh_natid"
    assert verification["assurance_level"] == "high"
    evidence = verification["evidence"][0]
    assert evidence["type"] == "document"
    assert evidence["document_details"] == {"type": "idcard"}
    assert [c["check_method"] for c in evidence["check_details"]] == ["vpip", "pvp"]
    released = claims["verified_claims"]["claims"]
    assert released == {
        "birthdate": "1990-04-17",
        "family_name": "Sok",
        "given_name": "Dara",
        "name": "Sok Dara",
        "name#km": "សុខ ដារា",
        "national_id_number": person.national_id,
    }
    # The txn is the citizen's access-log entry for this release.
    log = kyc_service(app_ctx).access_log.for_person(person.id)
    assert [(e.txn, e.kind, e.purpose) for e in log] == [
        (claims["txn"], "release", "account_opening")
    ]
    assert set(log[0].attributes) == set(released)


def test_attributes_outside_policy_or_consent_never_appear(
    http: TestClient, app_ctx: AppContext, person: Person
) -> None:
    # The policy allows names and phone, not the ID number; the citizen consented to profile
    # and email but unticked phone, and the token asks for all of them.
    bank = make_bank(app_ctx, attributes="given_name,family_name,phone_number,email")
    scopes = ("openid", "kyc", "kyc:purpose:account_opening", "profile", "email")
    consent(app_ctx, person, bank, scopes=scopes)
    response = get_person(
        http, app_ctx, bank, person, scopes=(*scopes, "phone", "kyc:national_id_number")
    )
    assert response.status_code == 200, response.text
    _, claims = verify_with_jwks(http, response.text)
    assert claims["verified_claims"]["claims"] == {
        "email": "sok.dara@example.com",
        "family_name": "Sok",
        "given_name": "Dara",
    }


def test_withdrawn_consent_is_refused_like_an_unknown_person(
    http: TestClient, app_ctx: AppContext, bank: Bank, person: Person
) -> None:
    consent(app_ctx, person, bank)
    token, session = bank_token(http, app_ctx, bank, person)
    account = app_ctx.idp_accounts().find_by_person(person.id)
    assert account is not None
    Consents(app_ctx.sessions, ledger=app_ctx.ledger).withdraw(
        account.id, bank.client.client_id, at=app_ctx.clock.now()
    )
    withdrawn = session.request("GET", PATH, access_token=token)
    assert withdrawn.status_code == 403
    assert withdrawn.headers["content-type"] == "application/problem+json"
    # A token for another registered person who never consented: the very same answer.
    other = app_ctx.register.add_person(
        {
            "national_id": "000765432",
            "name_km": "ចាន់ សុភា",
            "name_latin": "Chan Sophea",
            "birthdate": "1985-02-01",
            "sex": "M",
        }
    )
    app_ctx.idp_accounts().create(other.id, actor="test", activate=True)
    never = get_person(http, app_ctx, bank, other)
    assert never.status_code == 403
    assert _without_request_id(withdrawn.json()) == _without_request_id(never.json())
    assert withdrawn.json()["code"] == "kyc_access_denied"
    assert kyc_service(app_ctx).access_log.for_person(person.id) == []


def test_bearer_token_refused(
    http: TestClient, app_ctx: AppContext, bank: Bank, person: Person
) -> None:
    consent(app_ctx, person, bank)
    token, _ = bank_token(http, app_ctx, bank, person)
    response = http.get(PATH, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith("DPoP ")
    assert kyc_service(app_ctx).access_log.for_person(person.id) == []


def test_replayed_dpop_proof_refused(
    http: TestClient, app_ctx: AppContext, bank: Bank, person: Person
) -> None:
    consent(app_ctx, person, bank)
    token, session = bank_token(http, app_ctx, bank, person)
    first = session.request("GET", PATH, access_token=token)
    assert first.status_code == 200
    proof = dpop_proof(
        bank.key,
        method="GET",
        url=session.issuer + PATH,
        at=session.at,
        nonce=session.nonce,
        access_token=token,
        jti="replayed-jti",
    )
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert http.get(PATH, headers=headers).status_code == 200
    replay = http.get(PATH, headers=headers)
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_dpop_proof"


def test_proof_by_another_key_refused(
    http: TestClient, app_ctx: AppContext, bank: Bank, person: Person
) -> None:
    """A stolen DPoP-bound token is useless without the bank's private key (RFC 9449 §7)."""
    consent(app_ctx, person, bank)
    token, session = bank_token(http, app_ctx, bank, person)
    thief = make_bank(app_ctx, name="Thief Bank", register_no="00099999").key
    session.key = thief
    response = session.request("GET", PATH, access_token=token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_rate_limit_answers_429_with_retry_after(
    http: TestClient, app_ctx: AppContext, person: Person
) -> None:
    bank = make_bank(app_ctx, rate_limit="2/min")
    consent(app_ctx, person, bank)
    token, session = bank_token(http, app_ctx, bank, person)
    codes = [session.request("GET", PATH, access_token=token) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert codes[2].headers["content-type"] == "application/problem+json"
    assert int(codes[2].headers["retry-after"]) > 0
    assert codes[2].json()["code"] == "rate_limited"


def test_purpose_outside_policy_and_missing_kyc_scope(
    http: TestClient, app_ctx: AppContext, bank: Bank, person: Person
) -> None:
    loan = ("openid", "kyc", "kyc:purpose:account_opening", "kyc:purpose:loan", "profile")
    consent(app_ctx, person, bank, scopes=loan)
    two = get_person(http, app_ctx, bank, person, scopes=loan)
    assert two.status_code == 403
    assert two.json()["code"] == "kyc_policy_violation"
    no_kyc = get_person(http, app_ctx, bank, person, scopes=("openid", "profile"))
    assert no_kyc.status_code == 403
    assert no_kyc.json()["error"] == "insufficient_scope"


def test_client_not_onboarded_refused(
    http: TestClient, app_ctx: AppContext, bank: Bank, person: Person
) -> None:
    consent(app_ctx, person, bank)
    kyc_service(app_ctx).relying_parties.update(bank.rp.id, active=False, actor="test")
    response = get_person(http, app_ctx, bank, person)
    assert response.status_code == 403
    assert response.json()["code"] == "kyc_not_a_relying_party"


def test_response_encrypted_to_the_banks_key(
    http: TestClient, app_ctx: AppContext, person: Person
) -> None:
    private = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    public = {**private.as_dict(private=False), "kid": "bank-enc-1"}
    bank = make_bank(app_ctx, encryption_jwk=public)
    consent(app_ctx, person, bank)
    response = get_person(http, app_ctx, bank, person)
    assert response.status_code == 200, response.text
    assert response.text.count(".") == 4  # a compact JWE
    decrypted = rfc_jwe.decrypt_compact(response.text, private)
    assert decrypted.headers()["cty"] == "JWT"
    assert decrypted.plaintext is not None
    _, claims = verify_with_jwks(http, decrypted.plaintext.decode())
    assert claims["verified_claims"]["claims"]["given_name"] == "Dara"
