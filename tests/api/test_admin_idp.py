"""/admin/v1/idp/clients: operators register OpenID Connect clients through the admin API.

What an operator (and an auditor) would notice: only ``idp-admin`` may register, the secret is
shown once and works at the token endpoint's client authentication, FAPI settings are kept, bad
settings get a problem+json naming the field, and the ledger names the operator.
"""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from api.context import AppContext
from core.operators import OperatorRole
from tests.api._ra import bearer, operator_token

BODY = {
    "name": "Ministry of Commerce portal",
    "redirect_uris": ["https://portal.moc.gov.kh/cb"],
    "auth_method": "client_secret_basic",
}


def test_idp_admin_registers_a_client_whose_secret_then_authenticates(
    app_ctx: AppContext, client: TestClient
) -> None:
    admin_id, admin = operator_token(app_ctx, "idp.one", OperatorRole.IDP_ADMIN)
    answer = client.post("/admin/v1/idp/clients", json=BODY, headers=bearer(admin))
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    settings = answer.json()
    client_id, secret = settings["client_id"], settings["client_secret"]
    assert answer.headers["location"] == f"/admin/v1/idp/clients/{client_id}"
    assert settings["subject_type"] == "pairwise"
    assert settings["sector_identifier"] == "portal.moc.gov.kh"
    # The secret is the one the token endpoint accepts.
    authenticated = app_ctx.idp_core().clients.authenticate(
        client_id=client_id,
        method="client_secret_basic",
        endpoint_url=app_ctx.idp_core().issuer + "/token",
        at=dt.datetime.now(dt.UTC),
        secret=secret,
    )
    assert authenticated.name == BODY["name"]
    # Reading it back never shows the secret again.
    shown = client.get(f"/admin/v1/idp/clients/{client_id}", headers=bearer(admin)).json()
    assert "client_secret" not in shown and shown["client_name"] == BODY["name"]
    listed = client.get("/admin/v1/idp/clients", headers=bearer(admin)).json()
    assert [c["client_id"] for c in listed] == [client_id]
    assert secret not in client.get("/admin/v1/idp/clients", headers=bearer(admin)).text
    # The ledger names the operator who registered it.
    entries = [e for e in app_ctx.ledger.tail(50) if e.subject == client_id]
    assert entries and all(e.actor == admin_id for e in entries)


def test_fapi2_client_with_keys_is_held_to_par_and_dpop(
    app_ctx: AppContext, client: TestClient
) -> None:
    _, admin = operator_token(app_ctx, "idp.two", OperatorRole.IDP_ADMIN)
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    }
    body = {
        **BODY,
        "name": "Bank of the Mekong",
        "auth_method": "private_key_jwt",
        "jwks": {"keys": [jwk]},
        "fapi2": True,
        "userinfo_signed": True,
    }
    answer = client.post("/admin/v1/idp/clients", json=body, headers=bearer(admin))
    assert answer.status_code == 201, answer.text
    settings = answer.json()
    assert "client_secret" not in settings
    assert settings["require_pushed_authorization_requests"] is True
    assert settings["dpop_bound_access_tokens"] is True
    assert settings["userinfo_signed_response_alg"] == "ES256"


def test_only_idp_admins_register_and_auditors_only_read(
    app_ctx: AppContext, client: TestClient
) -> None:
    _, auditor = operator_token(app_ctx, "audit.one", OperatorRole.AUDITOR)
    _, ra = operator_token(app_ctx, "ra.one", OperatorRole.RA_OFFICER)
    assert client.post("/admin/v1/idp/clients", json=BODY).status_code == 401
    assert (
        client.post("/admin/v1/idp/clients", json=BODY, headers=bearer(auditor)).status_code == 403
    )
    assert client.post("/admin/v1/idp/clients", json=BODY, headers=bearer(ra)).status_code == 403
    assert client.get("/admin/v1/idp/clients", headers=bearer(auditor)).status_code == 200
    assert client.get("/admin/v1/idp/clients", headers=bearer(ra)).status_code == 403
    assert app_ctx.idp_core().clients.list() == []


def test_bad_settings_get_a_problem_and_register_nothing(
    app_ctx: AppContext, client: TestClient
) -> None:
    _, admin = operator_token(app_ctx, "idp.three", OperatorRole.IDP_ADMIN)
    cases = [
        {**BODY, "redirect_uris": ["http://portal.moc.gov.kh/cb#fragment"]},
        {**BODY, "auth_method": "private_key_jwt"},  # no keys to check assertions with
        {**BODY, "fapi2": True},  # FAPI 2.0 needs private_key_jwt
        {**BODY, "auth_method": "none"},
        {**BODY, "surprise": True},
    ]
    for body in cases:
        answer = client.post("/admin/v1/idp/clients", json=body, headers=bearer(admin))
        assert answer.status_code in (400, 422), (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    assert app_ctx.idp_core().clients.list() == []
    assert client.get("/admin/v1/idp/clients/nope", headers=bearer(admin)).status_code == 404
