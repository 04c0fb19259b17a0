"""A client an operator disabled, as the client and a resource server see it over HTTP: its
authentication at /token, /introspect and /revoke answers 401 ``invalid_client``, its access
token no longer works at UserInfo and its refresh token no longer refreshes, even once it is
enabled again (then it authenticates and gets new tokens)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.context import AppContext
from idp.service import ProviderCore
from registry.records import Person
from tests.api.idp_token._rp import RegisteredRP, auth_for
from tests.api.idp_token._tokens import get_tokens, refresh


def _userinfo(http: TestClient, access_token: str) -> int:
    return http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def test_disabled_client_is_refused_everywhere_and_its_tokens_die(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    post_client: RegisteredRP,
    person: Person,
) -> None:
    tokens = get_tokens(http, core, app_ctx, basic_client, person.id)
    others = get_tokens(http, core, app_ctx, post_client, person.id)
    assert _userinfo(http, tokens["access_token"]) == 200
    core.clients.disable(basic_client.client_id, actor="op-1", reason="secret leaked")

    headers, auth = auth_for(basic_client, core.issuer, app_ctx.clock.now())
    for path, form in (
        ("/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}),
        ("/introspect", {"token": tokens["access_token"]}),
        ("/revoke", {"token": tokens["refresh_token"]}),
    ):
        answer = http.post(path, data={**form, **auth}, headers=headers)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.json()["error"] == "invalid_client"
    assert _userinfo(http, tokens["access_token"]) == 401
    # Another client and its tokens are untouched.
    assert _userinfo(http, others["access_token"]) == 200

    core.clients.enable(basic_client.client_id, actor="op-1")
    assert _userinfo(http, tokens["access_token"]) == 401
    gone = refresh(http, core, app_ctx, basic_client, tokens["refresh_token"], expect=400)
    assert gone["error"] == "invalid_grant"
    fresh = get_tokens(http, core, app_ctx, basic_client, person.id)
    assert _userinfo(http, fresh["access_token"]) == 200


def test_disabled_bank_with_rotated_key_is_refused_then_let_back_in(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    jwt_client: RegisteredRP,
    person: Person,
) -> None:
    from tests.api.idp_token._rp import make_rp_key

    core.clients.disable(jwt_client.client_id, actor="op-1", reason="key compromised")
    headers, auth = auth_for(jwt_client, core.issuer, app_ctx.clock.now())
    answer = http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": "x", **auth},
        headers=headers,
    )  # fmt: skip
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    new_key = make_rp_key("ES256", kid="rp-2")
    client = core.clients.update(jwt_client.client_id, jwks=new_key.jwks, actor="op-1")
    core.clients.enable(jwt_client.client_id, actor="op-1")
    # The compromised key no longer authenticates; the new one does.
    headers, auth = auth_for(jwt_client, core.issuer, app_ctx.clock.now())
    answer = http.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": "x", **auth},
        headers=headers,
    )  # fmt: skip
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    rotated = RegisteredRP(client, key=new_key)
    fresh = get_tokens(http, core, app_ctx, rotated, person.id)
    assert _userinfo(http, fresh["access_token"]) == 200
