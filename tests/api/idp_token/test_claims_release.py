"""One code exchange releases the ID token's and UserInfo's claims from one claims request
(OIDC Core §5.5) and its ``claims_locales`` (§5.2): each target gets what was asked for it, the
scope claims go to UserInfo only (§5.4), and the locales apply to both."""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi.testclient import TestClient

from api.context import AppContext
from idp.service import ProviderCore
from registry.records import Person
from tests.api.idp_token._rp import RegisteredRP
from tests.api.idp_token._tokens import get_tokens


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def test_each_target_gets_its_own_requested_claims_in_the_requested_locales(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    claims = {
        "id_token": {"email": {"essential": True}, "given_name#km": None},
        "userinfo": {"phone_number": None},
        "claims_locales": ["en"],
    }
    tokens = get_tokens(
        http, core, app_ctx, basic_client, person.id, scopes=("openid", "profile"), claims=claims
    )
    id_token = _payload(tokens["id_token"])
    assert id_token["email"] == "sok.dara@example.com"
    assert id_token["given_name#km"] == person.given_name_km  # asked for by name: kept
    assert "phone_number" not in id_token  # asked for UserInfo only
    assert "name" not in id_token  # scope claims go to UserInfo

    response = http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["phone_number"] == "+85512345678"
    assert info["name"] == "Sok Dara"
    assert info["sub"] == id_token["sub"]
    assert "email" not in info  # asked for the ID token only, and no email scope
    assert "name#km" not in info  # claims_locales en only
