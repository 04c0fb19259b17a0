"""POST /token: client authentication, the code grant, DPoP binding, FAPI rules (RFC 6749 §3.2,
§4.1.3, §5; RFC 7523; RFC 9449 §5; FAPI 2.0 Security Profile §5.3)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jws as rfc_jws
from joserfc.jwk import KeySet

from api.context import AppContext
from idp.clients import CLIENT_ASSERTION_TYPE
from idp.errors import InvalidRequest
from idp.service import ProviderCore
from registry.records import Person
from tests.api.idp_token._rp import (
    DPoPSession,
    RegisteredRP,
    auth_for,
    basic_header,
    client_assertion,
    dpop_proof,
    make_rp_key,
    mint_code,
)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _code_form(rp: RegisteredRP, code: str, verifier: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp.client.redirect_uris[0],
        "code_verifier": verifier,
    }


def _redeem(
    http: TestClient,
    core: ProviderCore,
    ctx: AppContext,
    rp: RegisteredRP,
    code: str,
    verifier: str,
) -> Any:
    headers, auth = auth_for(rp, core.issuer, ctx.clock.now())
    return http.post("/token", data={**_code_form(rp, code, verifier), **auth}, headers=headers)


# --- the code grant ----------------------------------------------------------------------------


def test_code_flow_with_client_secret_basic_returns_verifiable_tokens(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    at = app_ctx.clock.now()
    code, verifier = mint_code(
        core, basic_client, person.id, at, scopes=("openid", "profile", "offline_access")
    )
    response = _redeem(http, core, app_ctx, basic_client, code, verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "openid profile offline_access"
    assert body["refresh_token"]
    jwks = KeySet.import_key_set(http.get("/jwks").json())
    id_token = rfc_jws.deserialize_compact(body["id_token"], jwks, algorithms=["ES256"])
    claims = json.loads(id_token.payload)
    assert claims["iss"] == core.issuer
    assert claims["aud"] == basic_client.client_id
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["sub"] != person.id  # pairwise, never the register id
    assert "cnf" not in _claims(body["access_token"])


def test_id_token_carries_claims_requested_for_it(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    at = app_ctx.clock.now()
    code, verifier = mint_code(
        core,
        basic_client,
        person.id,
        at,
        scopes=("openid", "profile"),
        claims={"id_token": {"email": {"essential": True}}},
    )
    body = _redeem(http, core, app_ctx, basic_client, code, verifier).json()
    claims = _claims(body["id_token"])
    assert claims["email"] == "sok.dara@example.com"
    # Scope claims go to UserInfo (OIDC Core §5.4), not into the ID token.
    assert "name" not in claims


def test_client_secret_basic_with_url_encoded_secret(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before base64 (every octet here)."""
    assert basic_client.secret is not None
    code, verifier = mint_code(core, basic_client, person.id, app_ctx.clock.now())
    header = basic_header(basic_client.client_id, basic_client.secret, encode_all=True)
    response = http.post(
        "/token",
        data=_code_form(basic_client, code, verifier),
        headers={"Authorization": header},
    )
    assert response.status_code == 200, response.text


def test_client_secret_post(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    post_client: RegisteredRP,
    person: Person,
) -> None:
    code, verifier = mint_code(core, post_client, person.id, app_ctx.clock.now())
    response = _redeem(http, core, app_ctx, post_client, code, verifier)
    assert response.status_code == 200, response.text


def test_wrong_secret_is_invalid_client_with_basic_challenge(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    code, verifier = mint_code(core, basic_client, person.id, app_ctx.clock.now())
    response = http.post(
        "/token",
        data=_code_form(basic_client, code, verifier),
        headers={"Authorization": basic_header(basic_client.client_id, "not-the-secret")},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert response.headers["cache-control"] == "no-store"


def test_every_invalid_client_401_carries_a_challenge(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    post_client: RegisteredRP,
    person: Person,
) -> None:
    """RFC 9110 §15.5.2: a 401 without WWW-Authenticate is malformed; a wrong secret in the
    body, or no credentials at all, got one (stock HTTP clients then retry or misreport)."""
    code, verifier = mint_code(core, post_client, person.id, app_ctx.clock.now())
    form = _code_form(post_client, code, verifier)
    for data in ({**form, "client_secret": "not-the-secret"}, form):
        for path in ("/token", "/introspect", "/revoke"):
            sent = data if path == "/token" else {**data, "token": "x"}
            response = http.post(path, data=sent)
            assert response.status_code == 401, (path, response.text)
            assert response.json()["error"] == "invalid_client"
            assert response.headers["www-authenticate"] == 'Basic realm="natid"'


def test_two_authentication_methods_in_one_request_refused(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    assert basic_client.secret is not None
    code, verifier = mint_code(core, basic_client, person.id, app_ctx.clock.now())
    response = http.post(
        "/token",
        data={**_code_form(basic_client, code, verifier), "client_secret": basic_client.secret},
        headers={"Authorization": basic_header(basic_client.client_id, basic_client.secret)},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_repeated_parameter_refused(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    code, verifier = mint_code(core, basic_client, person.id, app_ctx.clock.now())
    headers, _ = auth_for(basic_client, core.issuer, app_ctx.clock.now())
    body = "&".join(f"{k}={v}" for k, v in _code_form(basic_client, code, verifier).items())
    response = http.post(
        "/token",
        content=body + "&code=" + code,
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_unsupported_grant_type(
    http: TestClient, core: ProviderCore, app_ctx: AppContext, basic_client: RegisteredRP
) -> None:
    headers, _ = auth_for(basic_client, core.issuer, app_ctx.clock.now())
    response = http.post("/token", data={"grant_type": "password"}, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    "grant_type",
    [
        "authorization_code",
        "refresh_token",
        "urn:openid:params:grant-type:ciba",
        "password",
        "client_credentials",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ],
)
def test_unsupported_grant_type_exactly_for_what_discovery_does_not_list(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    grant_type: str,
) -> None:
    """RFC 6749 §5.2: unsupported_grant_type for a grant type the server does not support;
    a client reading grant_types_supported must be able to trust that list both ways."""
    listed = http.get("/.well-known/openid-configuration").json()["grant_types_supported"]
    headers, _ = auth_for(basic_client, core.issuer, app_ctx.clock.now())
    response = http.post("/token", data={"grant_type": grant_type}, headers=headers)
    assert response.status_code == 400
    unsupported = response.json()["error"] == "unsupported_grant_type"
    assert unsupported == (grant_type not in listed)


def test_ciba_grant_by_a_client_that_is_not_a_kyc_relying_party_is_unauthorized_client(
    http: TestClient, core: ProviderCore, app_ctx: AppContext, basic_client: RegisteredRP
) -> None:
    """The grant type is supported (KYC's decoupled consent), just not for this client."""
    headers, _ = auth_for(basic_client, core.issuer, app_ctx.clock.now())
    response = http.post(
        "/token",
        data={"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": "x" * 43},
        headers=headers,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_json_body_refused(http: TestClient, basic_client: RegisteredRP) -> None:
    response = http.post("/token", json={"grant_type": "authorization_code"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_code_reuse_revokes_tokens(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    code, verifier = mint_code(core, basic_client, person.id, app_ctx.clock.now())
    first = _redeem(http, core, app_ctx, basic_client, code, verifier)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert http.get("/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code == 200
    second = _redeem(http, core, app_ctx, basic_client, code, verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    after = http.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert after.status_code == 401
    assert 'error="invalid_token"' in after.headers["www-authenticate"]


def test_wrong_code_verifier_refused(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    code, _ = mint_code(core, basic_client, person.id, app_ctx.clock.now())
    response = _redeem(http, core, app_ctx, basic_client, code, "x" * 43)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_missing_code_verifier_refused(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    code, _ = mint_code(core, basic_client, person.id, app_ctx.clock.now())
    headers, _ = auth_for(basic_client, core.issuer, app_ctx.clock.now())
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": basic_client.client.redirect_uris[0],
    }
    response = http.post("/token", data=form, headers=headers)
    assert response.json()["error"] == "invalid_grant"


def test_plain_pkce_refused(
    core: ProviderCore, app_ctx: AppContext, basic_client: RegisteredRP
) -> None:
    with pytest.raises(InvalidRequest, match="S256"):
        core.codes.issue(
            client_id=basic_client.client_id,
            redirect_uri=basic_client.client.redirect_uris[0],
            subject="someone",
            scopes=("openid",),
            code_challenge="a" * 43,
            code_challenge_method="plain",
            auth_time=app_ctx.clock.now(),
            at=app_ctx.clock.now(),
        )


def test_code_of_another_client_refused(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    post_client: RegisteredRP,
    person: Person,
) -> None:
    code, verifier = mint_code(core, basic_client, person.id, app_ctx.clock.now())
    headers, auth = auth_for(post_client, core.issuer, app_ctx.clock.now())
    form = {**_code_form(basic_client, code, verifier), **auth}
    response = http.post("/token", data=form, headers=headers)
    assert response.json()["error"] == "invalid_grant"


# --- private_key_jwt and FAPI ---------------------------------------------------------------------


def test_private_key_jwt_code_flow(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    jwt_client: RegisteredRP,
    person: Person,
) -> None:
    code, verifier = mint_code(core, jwt_client, person.id, app_ctx.clock.now())
    response = _redeem(http, core, app_ctx, jwt_client, code, verifier)
    assert response.status_code == 200, response.text


def test_client_assertion_replay_refused(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    jwt_client: RegisteredRP,
    person: Person,
) -> None:
    at = app_ctx.clock.now()
    assertion = client_assertion(jwt_client, aud=core.issuer, at=at)
    auth = {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion}
    code, verifier = mint_code(core, jwt_client, person.id, at)
    assert (
        http.post("/token", data={**_code_form(jwt_client, code, verifier), **auth}).status_code
        == 200
    )
    code, verifier = mint_code(core, jwt_client, person.id, at)
    again = http.post("/token", data={**_code_form(jwt_client, code, verifier), **auth})
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"


def _fapi_redeem(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    rp: RegisteredRP,
    code: str,
    verifier: str,
    *,
    alg: str | None = None,
    dpop: DPoPSession | None = None,
) -> Any:
    at = app_ctx.clock.now()
    form = {
        **_code_form(rp, code, verifier),
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion(rp, aud=core.issuer, at=at, alg=alg),
    }
    if dpop is not None:
        return dpop.request("POST", "/token", data=form)
    return http.post("/token", data=form)


def test_fapi_dpop_code_flow_binds_tokens_to_the_proof_key(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    key = make_rp_key("ES256", kid="dpop")
    code, verifier = mint_code(core, fapi_client, person.id, app_ctx.clock.now())
    session = DPoPSession(http, key, core.issuer, app_ctx.clock.now())
    response = _fapi_redeem(http, core, app_ctx, fapi_client, code, verifier, dpop=session)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert _claims(body["access_token"])["cnf"] == {"jkt": key.jkt}
    assert response.headers["dpop-nonce"]


def test_dpop_nonce_challenge_round_trip_at_token_endpoint(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    key = make_rp_key("ES256", kid="dpop")
    at = app_ctx.clock.now()
    code, verifier = mint_code(core, fapi_client, person.id, at)
    form = {
        **_code_form(fapi_client, code, verifier),
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion(fapi_client, aud=core.issuer, at=at),
    }
    proof = dpop_proof(key, method="POST", url=core.issuer + "/token", at=at)
    first = http.post("/token", data=form, headers={"DPoP": proof})
    assert first.status_code == 400
    assert first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["dpop-nonce"]
    # The same client assertion is still good: the nonce challenge comes first.
    proof = dpop_proof(key, method="POST", url=core.issuer + "/token", at=at, nonce=nonce)
    second = http.post("/token", data=form, headers={"DPoP": proof})
    assert second.status_code == 200, second.text


def test_fapi_client_without_dpop_proof_refused_and_code_not_used_up(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    code, verifier = mint_code(core, fapi_client, person.id, app_ctx.clock.now())
    response = _fapi_redeem(http, core, app_ctx, fapi_client, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"
    session = DPoPSession(http, make_rp_key("ES256"), core.issuer, app_ctx.clock.now())
    retry = _fapi_redeem(http, core, app_ctx, fapi_client, code, verifier, dpop=session)
    assert retry.status_code == 200, retry.text


def test_ensure_signed_client_assertion_with_rs256_fails(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    """Mirrors the FAPI 2.0 plan test
    ``fapi2-security-profile-final-ensure-signed-client-assertion-with-RS256-fails``."""
    code, verifier = mint_code(core, fapi_client, person.id, app_ctx.clock.now())
    session = DPoPSession(http, make_rp_key("ES256"), core.issuer, app_ctx.clock.now())
    response = _fapi_redeem(
        http, core, app_ctx, fapi_client, code, verifier, alg="RS256", dpop=session
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_ensure_token_endpoint_fails_with_mismatched_dpop_jkt(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    """Mirrors the FAPI 2.0 plan test
    ``fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-jkt``
    (the code is bound to PAR's ``dpop_jkt``; the proof comes from another key)."""
    bound, other = make_rp_key("ES256", kid="a"), make_rp_key("ES256", kid="b")
    code, verifier = mint_code(
        core, fapi_client, person.id, app_ctx.clock.now(), dpop_jkt=bound.jkt
    )
    session = DPoPSession(http, other, core.issuer, app_ctx.clock.now())
    response = _fapi_redeem(http, core, app_ctx, fapi_client, code, verifier, dpop=session)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_ensure_dpop_auth_code_binding_success(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    """Mirrors the FAPI 2.0 plan test
    ``fapi2-security-profile-final-ensure-dpop-auth-code-binding-success``."""
    key = make_rp_key("PS256", kid="dpop-rsa")
    code, verifier = mint_code(core, fapi_client, person.id, app_ctx.clock.now(), dpop_jkt=key.jkt)
    session = DPoPSession(http, key, core.issuer, app_ctx.clock.now())
    response = _fapi_redeem(http, core, app_ctx, fapi_client, code, verifier, dpop=session)
    assert response.status_code == 200, response.text
    assert _claims(response.json()["access_token"])["cnf"]["jkt"] == key.jkt


def test_invalid_dpop_proof_at_token_endpoint(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    at = app_ctx.clock.now()
    key = make_rp_key("ES256")
    code, verifier = mint_code(core, basic_client, person.id, at)
    headers, _ = auth_for(basic_client, core.issuer, at)
    nonce = DPoPSession(http, key, core.issuer, at)
    proof = dpop_proof(key, method="GET", url=core.issuer + "/token", at=at, nonce=nonce.nonce)
    response = http.post(
        "/token", data=_code_form(basic_client, code, verifier), headers={**headers, "DPoP": proof}
    )
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_dpop_proof", "use_dpop_nonce"}
    assert response.headers["dpop-nonce"]
