"""Getting tokens through POST /token for the UserInfo, refresh and introspection tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.context import AppContext
from idp.clients import CLIENT_ASSERTION_TYPE
from idp.service import ProviderCore
from tests.api.idp_token._rp import DPoPSession, RegisteredRP, auth_for, client_assertion, mint_code


def get_tokens(
    http: TestClient,
    core: ProviderCore,
    ctx: AppContext,
    rp: RegisteredRP,
    subject: str,
    *,
    dpop: DPoPSession | None = None,
    **code_kw: Any,
) -> dict[str, Any]:
    at = ctx.clock.now()
    # offline_access: a refresh token comes only with it (OIDC Core §11).
    code_kw.setdefault("scopes", ("openid", "profile", "offline_access"))
    code, verifier = mint_code(core, rp, subject, at, **code_kw)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp.client.redirect_uris[0],
        "code_verifier": verifier,
    }
    return _post(http, core, ctx, rp, form, dpop)


def refresh(
    http: TestClient,
    core: ProviderCore,
    ctx: AppContext,
    rp: RegisteredRP,
    refresh_token: str,
    *,
    dpop: DPoPSession | None = None,
    expect: int = 200,
    **extra: str,
) -> dict[str, Any]:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return _post(http, core, ctx, rp, form, dpop, expect=expect)


def _post(
    http: TestClient,
    core: ProviderCore,
    ctx: AppContext,
    rp: RegisteredRP,
    form: dict[str, str],
    dpop: DPoPSession | None,
    *,
    expect: int = 200,
) -> dict[str, Any]:
    at = ctx.clock.now()
    if rp.client.fapi2:
        headers: dict[str, str] = {}
        auth = {
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": client_assertion(rp, aud=core.issuer, at=at),
        }
    else:
        headers, auth = auth_for(rp, core.issuer, at)
    if dpop is not None:
        response = dpop.request("POST", "/token", data={**form, **auth}, headers=headers)
    else:
        response = http.post("/token", data={**form, **auth}, headers=headers)
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


def introspect(
    http: TestClient, core: ProviderCore, ctx: AppContext, rp: RegisteredRP, token: str
) -> dict[str, Any]:
    headers, auth = auth_for(rp, core.issuer, ctx.clock.now())
    if not rp.client.fapi2 and rp.client.auth_method.value == "private_key_jwt":
        auth["client_assertion"] = client_assertion(
            rp, aud=core.issuer + "/introspect", at=ctx.clock.now()
        )
    response = http.post("/introspect", data={"token": token, **auth}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def revoke(
    http: TestClient, core: ProviderCore, ctx: AppContext, rp: RegisteredRP, token: str
) -> int:
    headers, auth = auth_for(rp, core.issuer, ctx.clock.now())
    return http.post("/revoke", data={"token": token, **auth}, headers=headers).status_code
