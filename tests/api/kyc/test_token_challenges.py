"""The challenges the KYC API's refusals carry (RFC 6750 §3, RFC 9449 §7.1, §12.2): the same
answers as UserInfo's, through ``api.oauth_wire.refusal_challenge``."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.context import AppContext
from registry.records import Person
from tests.api.kyc.conftest import Bank, bank_token, consent


def _challenges(response: object) -> dict[str, str]:
    """The response's challenges by scheme (each scheme at most once)."""
    found = response.headers.get_list("www-authenticate")  # type: ignore[attr-defined]
    by_scheme = {c.split(" ", 1)[0]: c for c in found}
    assert len(by_scheme) == len(found)
    return by_scheme


def test_dpop_bound_token_sent_as_bearer_to_access_log_is_told_the_dpop_scheme(
    http: TestClient, app_ctx: AppContext, bank: Bank, person: Person
) -> None:
    """The access log takes both schemes; a DPoP-bound token sent as a bearer token is refused
    (RFC 9449 §7.2) with a DPoP challenge naming the algorithms, so the client learns how to
    send it, not only a Bearer challenge that it cannot satisfy with this token."""
    consent(app_ctx, person, bank)
    token, _ = bank_token(http, app_ctx, bank, person)
    refused = http.get("/kyc/v1/access-log", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert "DPoP authorization scheme" in refused.json()["error_description"]
    challenges = _challenges(refused)
    assert set(challenges) == {"Bearer", "DPoP"}
    assert 'error="invalid_token"' in challenges["DPoP"]
    assert 'algs="ES256 PS256"' in challenges["DPoP"]


def test_person_refuses_bearer_and_missing_token_with_the_dpop_challenge(
    http: TestClient, app_ctx: AppContext, bank: Bank, person: Person
) -> None:
    """``/kyc/v1/person`` takes DPoP only: every refusal names that scheme and its algorithms;
    no token at all gets the bare challenge (RFC 6750 §3.1: no error code)."""
    consent(app_ctx, person, bank)
    token, _ = bank_token(http, app_ctx, bank, person)
    as_bearer = http.get("/kyc/v1/person", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401
    assert set(_challenges(as_bearer)) == {"DPoP"}
    assert 'algs="ES256 PS256"' in _challenges(as_bearer)["DPoP"]
    without_proof = http.get("/kyc/v1/person", headers={"Authorization": f"DPoP {token}"})
    assert without_proof.status_code == 401
    assert 'error="invalid_token"' in _challenges(without_proof)["DPoP"]
    missing = http.get("/kyc/v1/person")
    assert missing.status_code == 401
    assert set(_challenges(missing)) == {"DPoP"}
    assert "error=" not in _challenges(missing)["DPoP"]
