"""Refresh-token rotation and reuse detection (RFC 9700 §4.14.2), introspection (RFC 7662),
revocation (RFC 7009), over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.context import AppContext
from idp.service import ProviderCore
from registry.records import Person
from tests.api.idp_token._rp import DPoPSession, RegisteredRP, auth_for, make_rp_key
from tests.api.idp_token._tokens import get_tokens, introspect, refresh, revoke


def test_refresh_rotates_and_reuse_revokes_the_family(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    first = get_tokens(http, core, app_ctx, basic_client, person.id)
    second = refresh(http, core, app_ctx, basic_client, first["refresh_token"])
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert (
        http.get(
            "/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"}
        ).status_code
        == 200
    )
    reused = refresh(http, core, app_ctx, basic_client, first["refresh_token"], expect=400)
    assert reused["error"] == "invalid_grant"
    # The whole family is gone: the rotated refresh token and the access tokens.
    gone = refresh(http, core, app_ctx, basic_client, second["refresh_token"], expect=400)
    assert gone["error"] == "invalid_grant"
    after = http.get("/userinfo", headers={"Authorization": f"Bearer {second['access_token']}"})
    assert after.status_code == 401


def test_refresh_with_narrower_scope_and_refused_wider_scope(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    first = get_tokens(
        http, core, app_ctx, basic_client, person.id, scopes=("openid", "profile", "offline_access")
    )
    narrower = refresh(http, core, app_ctx, basic_client, first["refresh_token"], scope="openid")
    assert narrower["scope"] == "openid"
    wider = refresh(
        http,
        core,
        app_ctx,
        basic_client,
        narrower["refresh_token"],
        scope="openid email",
        expect=400,
    )
    assert wider["error"] == "invalid_scope"


def test_refresh_token_of_another_client_refused(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    post_client: RegisteredRP,
    person: Person,
) -> None:
    first = get_tokens(http, core, app_ctx, basic_client, person.id)
    stolen = refresh(http, core, app_ctx, post_client, first["refresh_token"], expect=400)
    assert stolen["error"] == "invalid_grant"


def test_refresh_for_dpop_client_needs_a_proof_and_binds_the_new_token(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    session = DPoPSession(http, make_rp_key("ES256", kid="dpop"), core.issuer, app_ctx.clock.now())
    first = get_tokens(http, core, app_ctx, fapi_client, person.id, dpop=session)
    no_proof = refresh(http, core, app_ctx, fapi_client, first["refresh_token"], expect=400)
    assert no_proof["error"] == "invalid_dpop_proof"
    again = refresh(http, core, app_ctx, fapi_client, first["refresh_token"], dpop=session)
    assert again["token_type"] == "DPoP"
    assert (
        session.request("GET", "/userinfo", access_token=again["access_token"]).status_code == 200
    )


def test_introspection_active_and_inactive(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    post_client: RegisteredRP,
    person: Person,
) -> None:
    tokens = get_tokens(http, core, app_ctx, basic_client, person.id)
    access = introspect(http, core, app_ctx, basic_client, tokens["access_token"])
    assert access["active"] is True
    assert access["client_id"] == basic_client.client_id
    assert access["token_type"] == "Bearer"
    assert access["sub"] == core.tokens.subject_for(basic_client.client, person.id)
    refresh_info = introspect(http, core, app_ctx, basic_client, tokens["refresh_token"])
    assert refresh_info["active"] is True
    # Another client learns nothing; garbage is inactive, not an error.
    assert introspect(http, core, app_ctx, post_client, tokens["access_token"]) == {"active": False}
    assert introspect(http, core, app_ctx, basic_client, "garbage") == {"active": False}


def test_introspection_requires_client_authentication(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    tokens = get_tokens(http, core, app_ctx, basic_client, person.id)
    response = http.post("/introspect", data={"token": tokens["access_token"]})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_revoked_access_token_is_inactive(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    tokens = get_tokens(http, core, app_ctx, basic_client, person.id)
    assert revoke(http, core, app_ctx, basic_client, tokens["access_token"]) == 200
    assert introspect(http, core, app_ctx, basic_client, tokens["access_token"]) == {
        "active": False
    }
    assert (
        http.get(
            "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        ).status_code
        == 401
    )
    # The refresh token lives on (RFC 7009 §2.1: revoking an access token need not end the grant).
    assert introspect(http, core, app_ctx, basic_client, tokens["refresh_token"])["active"] is True


def test_revoking_the_refresh_token_ends_the_grant(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    tokens = get_tokens(http, core, app_ctx, basic_client, person.id)
    assert revoke(http, core, app_ctx, basic_client, tokens["refresh_token"]) == 200
    assert introspect(http, core, app_ctx, basic_client, tokens["refresh_token"]) == {
        "active": False
    }
    assert introspect(http, core, app_ctx, basic_client, tokens["access_token"]) == {
        "active": False
    }
    assert (
        refresh(http, core, app_ctx, basic_client, tokens["refresh_token"], expect=400)["error"]
        == "invalid_grant"
    )


def test_revoking_an_unknown_token_is_200(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    post_client: RegisteredRP,
) -> None:
    """RFC 7009 §2.2: an invalid token is answered 200, as if it had been revoked."""
    assert revoke(http, core, app_ctx, post_client, "unknown-token") == 200
    assert revoke(http, core, app_ctx, post_client, "a.b.c") == 200


def test_revoking_another_clients_token_is_refused_and_revokes_nothing(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    post_client: RegisteredRP,
    person: Person,
) -> None:
    """RFC 7009 §2.1: the server verifies the token was issued to the requesting client, and
    if not the request is refused with an error: ``invalid_request``, as Keycloak and
    node-oidc-provider answer. A client holding another's token cannot end that client's
    grant, nor learn whose token it holds; the owner's tokens keep working."""
    tokens = get_tokens(http, core, app_ctx, basic_client, person.id)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        headers, auth = auth_for(post_client, core.issuer, app_ctx.clock.now())
        refused = http.post("/revoke", data={"token": token, **auth}, headers=headers)
        assert refused.status_code == 400
        assert refused.headers["cache-control"] == "no-store"
        body = refused.json()
        assert body["error"] == "invalid_request"
        assert basic_client.client.client_id not in refused.text
        assert "this client" in body["error_description"]
    assert introspect(http, core, app_ctx, basic_client, tokens["refresh_token"])["active"] is True
    assert introspect(http, core, app_ctx, basic_client, tokens["access_token"])["active"] is True
    events = [e.event for e in app_ctx.ledger.tail(20)]
    assert "idp.token.revoked" not in events
    assert "idp.grant.revoked" not in events


def test_revoke_without_token_parameter_is_invalid_request(
    http: TestClient, core: ProviderCore, app_ctx: AppContext, post_client: RegisteredRP
) -> None:
    _, auth = auth_for(post_client, core.issuer, app_ctx.clock.now())
    response = http.post("/revoke", data=auth)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
