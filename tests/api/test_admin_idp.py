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


def _register(client: TestClient, token: str, **changes: object) -> dict[str, object]:
    answer = client.post("/admin/v1/idp/clients", json={**BODY, **changes}, headers=bearer(token))
    assert answer.status_code == 201, answer.text
    settings: dict[str, object] = answer.json()
    return settings


def _authenticates(app_ctx: AppContext, client_id: str, secret: str) -> bool:
    from idp.errors import InvalidClient

    try:
        app_ctx.idp_core().clients.authenticate(
            client_id=client_id, method="client_secret_basic",
            endpoint_url=app_ctx.idp_core().issuer + "/token",
            at=dt.datetime.now(dt.UTC), secret=secret,
        )  # fmt: skip
    except InvalidClient:
        return False
    return True


def test_idp_admin_changes_disables_and_enables_a_client(
    app_ctx: AppContext, client: TestClient
) -> None:
    admin_id, admin = operator_token(app_ctx, "idp.four", OperatorRole.IDP_ADMIN)
    settings = _register(client, admin)
    client_id, secret = str(settings["client_id"]), str(settings["client_secret"])
    url = f"/admin/v1/idp/clients/{client_id}"
    answer = client.patch(
        url, json={"redirect_uris": ["https://portal.moc.gov.kh/callback"]}, headers=bearer(admin)
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["redirect_uris"] == ["https://portal.moc.gov.kh/callback"]
    assert answer.json()["client_name"] == BODY["name"] and "client_secret" not in answer.json()
    # Rotating the secret shows the new one once; the old stops working.
    rotated = client.post(f"{url}/rotate-secret", headers=bearer(admin))
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    new_secret = rotated.json()["client_secret"]
    assert not _authenticates(app_ctx, client_id, secret)
    assert _authenticates(app_ctx, client_id, new_secret)
    # Disabled: cut off, still readable by operators, marked.
    answer = client.post(f"{url}/disable", json={"reason": "key leaked"}, headers=bearer(admin))
    assert answer.status_code == 200, answer.text
    assert answer.json()["disabled"] is True
    assert not _authenticates(app_ctx, client_id, new_secret)
    shown = client.get(url, headers=bearer(admin)).json()
    assert shown["disabled"] is True and shown["disabled_reason"] == "key leaked"
    assert client.post(f"{url}/enable", headers=bearer(admin)).json()["disabled"] is False
    assert _authenticates(app_ctx, client_id, new_secret)
    events = [e.event for e in app_ctx.ledger.tail(100) if e.subject == client_id]
    assert {"idp.client.updated", "idp.client.secret_rotated", "idp.client.disabled",
            "idp.client.enabled"} <= set(events)  # fmt: skip
    assert all(
        e.actor == admin_id for e in app_ctx.ledger.tail(100)
        if e.subject == client_id and e.event.startswith("idp.client.")
    )  # fmt: skip
    assert new_secret not in str([e.data for e in app_ctx.ledger.tail(100)])


def test_only_idp_admins_change_clients(app_ctx: AppContext, client: TestClient) -> None:
    _, admin = operator_token(app_ctx, "idp.five", OperatorRole.IDP_ADMIN)
    _, auditor = operator_token(app_ctx, "audit.two", OperatorRole.AUDITOR)
    _, ra = operator_token(app_ctx, "ra.two", OperatorRole.RA_OFFICER)
    client_id = _register(client, admin)["client_id"]
    url = f"/admin/v1/idp/clients/{client_id}"
    calls = [
        ("PATCH", url, {"name": "Renamed"}),
        ("POST", f"{url}/disable", {"reason": "x"}),
        ("POST", f"{url}/enable", None),
        ("POST", f"{url}/rotate-secret", None),
    ]
    for method, path, body in calls:
        assert client.request(method, path, json=body).status_code == 401
        for token in (auditor, ra):
            answer = client.request(method, path, json=body, headers=bearer(token))
            assert answer.status_code == 403, (method, path)
    shown = app_ctx.idp_core().clients.get(str(client_id))
    assert shown.name == BODY["name"] and not shown.disabled


def test_duplicate_name_is_a_conflict_and_stores_nothing(
    app_ctx: AppContext, client: TestClient
) -> None:
    _, admin = operator_token(app_ctx, "idp.six", OperatorRole.IDP_ADMIN)
    first = _register(client, admin)
    answer = client.post(
        "/admin/v1/idp/clients",
        json={
            **BODY,
            "name": "  MINISTRY of commerce  PORTAL",
            "redirect_uris": ["https://x.kh/cb"],
        },
        headers=bearer(admin),
    )
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "client_name_taken"
    second = _register(client, admin, name="Tax office", redirect_uris=["https://tax.gov.kh/cb"])
    url = f"/admin/v1/idp/clients/{second['client_id']}"
    answer = client.patch(url, json={"name": "ministry of commerce portal"}, headers=bearer(admin))
    assert answer.status_code == 409 and answer.json()["code"] == "client_name_taken"
    for bad in (
        {"redirect_uris": ["http://tax.gov.kh/cb"]},
        {"redirect_uris": []},
        {"jwks": {"keys": []}},
        {"surprise": True},
    ):
        answer = client.patch(url, json=bad, headers=bearer(admin))
        assert answer.status_code in (400, 422), (bad, answer.text)
    assert client.post(f"{url}/disable", json={}, headers=bearer(admin)).status_code == 422
    assert (
        client.patch(
            "/admin/v1/idp/clients/nope", json={"name": "x"}, headers=bearer(admin)
        ).status_code
        == 404
    )
    listed = client.get("/admin/v1/idp/clients", headers=bearer(admin)).json()
    # (sorted: both were registered at the same instant of the test clock)
    assert sorted(
        (c["client_name"], c["client_id"], c["redirect_uris"], c["disabled"]) for c in listed
    ) == [
        (BODY["name"], first["client_id"], BODY["redirect_uris"], False),
        ("Tax office", second["client_id"], ["https://tax.gov.kh/cb"], False),
    ]
