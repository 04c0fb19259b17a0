"""Discovery and the JWK Set (OIDC Discovery §3-§4, RFC 7517 §5)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.context import AppContext
from idp.clients import CLIENT_ASSERTION_TYPE
from idp.service import ProviderCore
from registry.records import Person
from tests.api.idp_token._rp import RegisteredRP, client_assertion, make_rp_key, mint_code


def test_discovery_names_every_endpoint_under_the_issuer(
    http: TestClient, core: ProviderCore
) -> None:
    response = http.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    meta = response.json()
    issuer = core.issuer
    assert meta["issuer"] == issuer == "http://localhost:8000"
    expected = {
        "authorization_endpoint": "/authorize",
        "pushed_authorization_request_endpoint": "/par",
        "token_endpoint": "/token",
        "userinfo_endpoint": "/userinfo",
        "jwks_uri": "/jwks",
        "introspection_endpoint": "/introspect",
        "revocation_endpoint": "/revoke",
        "end_session_endpoint": "/logout",
    }
    for name, path in expected.items():
        assert meta[name] == issuer + path, name
    assert "public" in response.headers["cache-control"]


def test_discovery_advertises_only_what_is_implemented(http: TestClient) -> None:
    meta = http.get("/.well-known/openid-configuration").json()
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_types_supported"] == ["code"]
    assert meta["response_modes_supported"] == ["query"]
    assert meta["grant_types_supported"] == [
        "authorization_code", "refresh_token", "urn:openid:params:grant-type:ciba"
    ]  # fmt: skip
    assert meta["dpop_signing_alg_values_supported"] == ["ES256", "PS256"]
    assert meta["id_token_signing_alg_values_supported"] == ["ES256", "PS256"]
    # The FAPI 2.0 algorithms, which every client may use (RS256, accepted from clients that
    # are not FAPI 2.0, stays out: see test_fapi2_security_profile_plan's discovery check).
    for endpoint in ("token", "introspection", "revocation"):
        algs = meta[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
        assert algs == ["ES256", "PS256"]
    assert meta["request_object_signing_alg_values_supported"] == ["ES256", "PS256"]
    assert meta["prompt_values_supported"] == ["consent", "login", "none", "select_account"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "private_key_jwt",
        "client_secret_basic",
        "client_secret_post",
    }
    assert meta["acr_values_supported"] == ["low", "substantial", "high"]
    assert meta["ui_locales_supported"] == ["km", "en"]
    assert meta["claims_locales_supported"] == ["km", "en"]
    assert meta["subject_types_supported"] == ["pairwise", "public"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["request_parameter_supported"] is False
    assert meta["request_uri_parameter_supported"] is True
    assert meta["require_request_uri_registration"] is True
    assert meta["claims_parameter_supported"] is True
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    assert set(meta["scopes_supported"]) == {
        "openid", "profile", "email", "phone", "address", "civil_servant", "offline_access"
    }  # fmt: skip
    assert {"sub", "name", "email", "phone_number", "address", "acr"} <= set(
        meta["claims_supported"]
    )
    assert not [c for c in meta["claims_supported"] if "#" in c]


def test_jwks_serves_the_public_signing_keys_with_the_rotation_cache_period(
    http: TestClient, core: ProviderCore
) -> None:
    response = http.get("/jwks")
    assert response.status_code == 200
    keys = response.json()["keys"]
    active = core.signing_keys.active_info()
    assert [k["kid"] for k in keys] == [active.kid]
    assert all("d" not in k for k in keys)
    max_age = int(core.signing_keys.cache_period.total_seconds())
    assert response.headers["cache-control"] == f"public, max-age={max_age}"


def test_jwks_publishes_the_next_key_before_it_signs(
    http: TestClient, core: ProviderCore, app_ctx: AppContext
) -> None:
    before = core.signing_keys.active_info().kid
    core.signing_keys.rotate(actor="test", at=app_ctx.clock.now())  # publishes "next"
    kids = [k["kid"] for k in http.get("/jwks").json()["keys"]]
    assert len(kids) == 2
    assert before in kids
    assert core.signing_keys.active_info().kid == before


def test_every_advertised_client_assertion_alg_works_at_the_token_endpoint(
    http: TestClient, core: ProviderCore, app_ctx: AppContext, person: Person
) -> None:
    """A relying-party library picks its assertion algorithm from
    token_endpoint_auth_signing_alg_values_supported: each one listed must be accepted."""
    meta = http.get("/.well-known/openid-configuration").json()
    for alg in meta["token_endpoint_auth_signing_alg_values_supported"]:
        key = make_rp_key(alg)  # an RSA key for PS256
        client = core.clients.add(
            name=f"Cadastre {alg}",
            redirect_uris=["https://cadastre.gov.kh/cb"],
            auth_method="private_key_jwt",
            jwks=key.jwks,
        ).client
        rp = RegisteredRP(client, key=key)
        code, verifier = mint_code(core, rp, person.id, app_ctx.clock.now())
        assertion = client_assertion(rp, aud=meta["token_endpoint"], at=app_ctx.clock.now())
        response = http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "https://cadastre.gov.kh/cb",
                "code_verifier": verifier,
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
        assert response.status_code == 200, (alg, response.text)
