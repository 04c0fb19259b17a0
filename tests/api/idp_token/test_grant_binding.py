"""Refresh tokens only with ``offline_access`` (OIDC Core §11), refresh tokens bound to the DPoP
key of the code exchange (RFC 9449 §5), and signed UserInfo responses (OIDC Core §5.3.2),
over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from joserfc import jws as rfc_jws
from joserfc.jwk import KeySet
from typer.testing import CliRunner

from api.cli.idp import app as idp_cli
from api.context import AppContext
from core.clock import FixedClock
from idp.errors import InvalidClientMetadata
from idp.service import ProviderCore
from registry.records import Person
from tests._env import unset_natid_settings
from tests.api.idp_token._rp import DPoPSession, RegisteredRP, make_rp_key
from tests.api.idp_token._tokens import get_tokens, introspect, refresh

# --- offline_access -----------------------------------------------------------------------------


def test_no_refresh_token_without_offline_access(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    tokens = get_tokens(http, core, app_ctx, basic_client, person.id, scopes=("openid", "profile"))
    assert "refresh_token" not in tokens
    assert tokens["access_token"] and tokens["id_token"]
    with_offline = get_tokens(
        http, core, app_ctx, basic_client, person.id, scopes=("openid", "offline_access")
    )
    assert with_offline["refresh_token"]
    assert with_offline["scope"] == "openid offline_access"


def test_discovery_lists_offline_access_and_signed_userinfo(http: TestClient) -> None:
    meta = http.get("/.well-known/openid-configuration").json()
    assert "offline_access" in meta["scopes_supported"]
    assert meta["userinfo_signing_alg_values_supported"] == ["ES256", "PS256"]
    assert "none" not in meta["userinfo_signing_alg_values_supported"]


# --- DPoP-bound refresh tokens --------------------------------------------------------------------


def test_refresh_token_bound_to_dpop_key_refuses_another_key(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    at = app_ctx.clock.now()
    owner = DPoPSession(http, make_rp_key("ES256", kid="owner"), core.issuer, at)
    thief = DPoPSession(http, make_rp_key("ES256", kid="thief"), core.issuer, at)
    first = get_tokens(http, core, app_ctx, fapi_client, person.id, dpop=owner)
    stolen = refresh(
        http, core, app_ctx, fapi_client, first["refresh_token"], dpop=thief, expect=400
    )
    assert stolen["error"] == "invalid_grant"
    assert "another DPoP key" in stolen["error_description"]
    # The thief's attempt neither rotated the token nor revoked the family: the owner goes on.
    assert introspect(http, core, app_ctx, fapi_client, first["refresh_token"])["active"] is True
    again = refresh(http, core, app_ctx, fapi_client, first["refresh_token"], dpop=owner)
    assert again["token_type"] == "DPoP"


def test_refresh_token_of_dpop_exchange_needs_proof_even_for_ordinary_client(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    """A client that chose DPoP at the code exchange cannot drop it at refresh time: a stolen
    refresh token would otherwise buy unbound bearer tokens."""
    key = make_rp_key("ES256", kid="dpop")
    session = DPoPSession(http, key, core.issuer, app_ctx.clock.now())
    first = get_tokens(http, core, app_ctx, basic_client, person.id, dpop=session)
    assert first["token_type"] == "DPoP"
    bare = refresh(http, core, app_ctx, basic_client, first["refresh_token"], expect=400)
    assert bare["error"] == "invalid_grant"
    # Each refusal says what is wrong: no proof at all, or a proof by another key.
    assert "send a DPoP proof" in bare["error_description"]
    other = DPoPSession(http, make_rp_key("ES256", kid="x"), core.issuer, app_ctx.clock.now())
    wrong = refresh(
        http, core, app_ctx, basic_client, first["refresh_token"], dpop=other, expect=400
    )
    assert wrong["error"] == "invalid_grant"
    assert "another DPoP key" in wrong["error_description"]
    good = refresh(http, core, app_ctx, basic_client, first["refresh_token"], dpop=session)
    assert good["token_type"] == "DPoP"
    # The binding carries over to the rotated token.
    rotated = refresh(http, core, app_ctx, basic_client, good["refresh_token"], expect=400)
    assert rotated["error"] == "invalid_grant"


def test_unbound_grant_refreshes_without_proof(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    first = get_tokens(http, core, app_ctx, basic_client, person.id)
    assert first["token_type"] == "Bearer"
    assert refresh(http, core, app_ctx, basic_client, first["refresh_token"])["token_type"] == (
        "Bearer"
    )


# --- signed UserInfo ------------------------------------------------------------------------------


@pytest.fixture
def signed_client(core: ProviderCore) -> RegisteredRP:
    alg = core.signing_keys.active_info().alg
    registered = core.clients.add(
        name="Pension fund",
        redirect_uris=["https://pension.gov.kh/cb"],
        auth_method="client_secret_basic",
        userinfo_signed_response_alg=alg,
    )
    assert registered.client.userinfo_signed_response_alg == alg
    return RegisteredRP(registered.client, secret=registered.client_secret)


def test_signed_userinfo_verifies_with_the_jwks(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    signed_client: RegisteredRP,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    tokens = get_tokens(
        http, core, app_ctx, signed_client, person.id, scopes=("openid", "profile", "email")
    )
    for method in ("GET", "POST"):
        response = http.request(
            method, "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/jwt"
        assert response.headers["cache-control"] == "no-store"
        jwks = KeySet.import_key_set(http.get("/jwks").json())
        alg = core.signing_keys.active_info().alg
        verified = rfc_jws.deserialize_compact(response.text, jwks, algorithms=[alg])
        claims = json.loads(verified.payload)
        assert claims["iss"] == core.issuer
        assert claims["aud"] == signed_client.client_id
        assert claims["sub"] == core.tokens.subject_for(signed_client.client, person.id)
        assert claims["name"] == "Sok Dara" and claims["email"] == "sok.dara@example.com"
        assert verified.protected["alg"] == alg != "none"
    # A client that did not register for it still gets JSON.
    plain = get_tokens(http, core, app_ctx, basic_client, person.id)
    response = http.get("/userinfo", headers={"Authorization": f"Bearer {plain['access_token']}"})
    assert response.headers["content-type"] == "application/json"
    assert "iss" not in response.json()


def test_signed_userinfo_errors_stay_json(
    http: TestClient, signed_client: RegisteredRP, clock: FixedClock
) -> None:
    response = http.get("/userinfo", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_userinfo_alg_none_or_hmac_refused_at_registration(core: ProviderCore) -> None:
    for alg in ("none", "HS256", "RS256"):
        with pytest.raises(InvalidClientMetadata, match="userinfo_signed_response_alg"):
            core.clients.add(
                name="x",
                redirect_uris=["https://x.gov.kh/cb"],
                auth_method="client_secret_basic",
                userinfo_signed_response_alg=alg,
            )


def test_cli_client_add_userinfo_signed(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    unset_natid_settings(monkeypatch)
    monkeypatch.setenv("NATID_DATABASE_URL", db_url)
    monkeypatch.setenv("NATID_PUBLIC_BASE_URL", "https://id.natid.gov.kh")
    data_dir = tmp_path / "cli-var"
    base = [
        "client",
        "add",
        "--auth-method",
        "client_secret_basic",
        "--redirect-uri",
        "https://pension.gov.kh/cb",
        "--data-dir",
        str(data_dir),
    ]
    result = CliRunner().invoke(idp_cli, [*base, "--name", "Pension fund", "--userinfo-signed"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["userinfo_signed_response_alg"] == "ES256"
    result = CliRunner().invoke(idp_cli, [*base, "--name", "Pension fund (plain)"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["userinfo_signed_response_alg"] is None
