"""The challenges the CSC API's token refusals carry (RFC 6750 §3, RFC 9449 §7.1, §12.2): the
same answers as UserInfo's, through ``api.oauth_wire.refusal_challenge``."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.context import AppContext
from core.clock import FixedClock
from tests.api.csc._csc import bearer, mint_token, new_official, signing_client
from tests.api.idp_token._rp import dpop_proof, make_rp_key

V2 = "/csc/v2"


def _challenges(response: object) -> dict[str, str]:
    """The response's challenges by scheme (each scheme at most once)."""
    found = response.headers.get_list("www-authenticate")  # type: ignore[attr-defined]
    by_scheme = {c.split(" ", 1)[0]: c for c in found}
    assert len(by_scheme) == len(found)
    return by_scheme


def test_dpop_bound_token_sent_as_bearer_is_told_the_dpop_scheme(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    """Refused (RFC 9449 §7.2), with a DPoP challenge naming the algorithms: the signing app
    holds the key and only sent the token the wrong way."""
    official = new_official(csc_ctx, clock)
    key = make_rp_key()
    token = mint_token(csc_ctx, signing_client(csc_ctx), official.person_id, dpop_jkt=key.jkt)
    refused = csc_http.post(f"{V2}/credentials/list", headers=bearer(token), json={})
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_token"
    challenges = _challenges(refused)
    assert set(challenges) == {"Bearer", "DPoP"}
    assert 'error="invalid_token"' in challenges["DPoP"]
    assert 'algs="ES256 PS256"' in challenges["DPoP"]


def test_dpop_scheme_without_proof_or_with_another_key_gets_the_dpop_challenge(
    csc_ctx: AppContext, csc_http: TestClient, clock: FixedClock
) -> None:
    official = new_official(csc_ctx, clock)
    key = make_rp_key()
    token = mint_token(csc_ctx, signing_client(csc_ctx), official.person_id, dpop_jkt=key.jkt)
    url = csc_ctx.idp_core().issuer + f"{V2}/credentials/list"
    no_proof = csc_http.post(
        f"{V2}/credentials/list", headers={"Authorization": f"DPoP {token}"}, json={}
    )
    thief = make_rp_key(kid="thief")
    nonce = None
    for _ in range(2):  # the first proof is asked for the server's nonce (RFC 9449 §8)
        proof = dpop_proof(
            thief, method="POST", url=url, at=clock.now(), access_token=token, nonce=nonce
        )
        other_key = csc_http.post(
            f"{V2}/credentials/list",
            headers={"Authorization": f"DPoP {token}", "DPoP": proof},
            json={},
        )
        nonce = other_key.headers.get("dpop-nonce")
    assert "use_dpop_nonce" not in other_key.text
    for refused in (no_proof, other_key):
        assert refused.status_code == 401
        challenges = _challenges(refused)
        assert set(challenges) == {"DPoP"}
        assert 'error="invalid_token"' in challenges["DPoP"]
        assert 'algs="ES256 PS256"' in challenges["DPoP"]


def test_missing_token_gets_bare_challenges(csc_http: TestClient) -> None:
    """RFC 6750 §3.1: a request without credentials gets the schemes, without an error code."""
    missing = csc_http.post(f"{V2}/credentials/list", json={})
    assert missing.status_code == 401
    challenges = _challenges(missing)
    assert set(challenges) == {"Bearer", "DPoP"}
    assert all("error=" not in c for c in challenges.values())
    assert 'algs="ES256 PS256"' in challenges["DPoP"]
