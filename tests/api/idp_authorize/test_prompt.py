"""``prompt`` at /authorize and /par: ``select_account`` is acted on (OIDC Core §3.1.2.1), and a
value discovery does not list, such as ``create`` (OpenID Connect Prompt Create 1.0 §4.1), is
refused instead of silently ignored."""

from __future__ import annotations

from typing import Any

import pytest

from api.context import AppContext
from idp.accounts import Account
from idp.jose import unverified_claims
from idp.service import ProviderCore
from registry.records import Person
from tests.api.idp_authorize.conftest import (
    PORTAL_REDIRECT,
    Browser,
    grant_consent,
    redirect_params,
)
from tests.api.idp_token._rp import RegisteredRP, basic_header

Who = tuple[Person, Account]


@pytest.fixture
def ready(browser: Browser, app_ctx: AppContext, person: Who, portal: RegisteredRP) -> Browser:
    """Logged in as ``person``, who consented to openid profile email for the portal."""
    browser.login(person[1])
    grant_consent(app_ctx, person[1], portal, ("openid", "profile", "email"))
    return browser


def _sub(browser: Browser, rp: RegisteredRP, code: str) -> str:
    assert rp.secret is not None
    response = browser.http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": rp.client.redirect_uris[0],
            "code_verifier": browser.verifier,
        },
        headers={"Authorization": basic_header(rp.client_id, rp.secret)},
    )
    assert response.status_code == 200, response.text
    return str(unverified_claims(response.json()["id_token"])["sub"])


def test_select_account_sends_a_logged_in_user_to_the_login_page(
    ready: Browser, portal: RegisteredRP
) -> None:
    url, query = redirect_params(ready.authorize(portal, prompt="select_account"))
    assert url == "/login"
    # Back without having signed in at the login page: still the login page, never a code.
    again, _ = redirect_params(ready.http.get("/authorize/continue", params=query))
    assert again == "/login"


def test_select_account_lets_another_person_sign_in_and_be_the_account_used(
    ready: Browser,
    portal: RegisteredRP,
    core: ProviderCore,
    app_ctx: AppContext,
    person: Who,
    other_person: Who,
) -> None:
    params = ready.params(portal, prompt="select_account")
    _, pending = redirect_params(ready.http.get("/authorize", params=params))
    grant_consent(app_ctx, other_person[1], portal, ("openid", "profile", "email"))
    ready.login(other_person[1])  # what /login does when the other person signs in
    url, query = redirect_params(ready.http.get("/authorize/continue", params=pending))
    assert url == PORTAL_REDIRECT
    assert query["state"] == params["state"]
    client = core.clients.get(portal.client_id)
    assert _sub(ready, portal, query["code"]) == core.tokens.subject_for(client, other_person[0].id)


@pytest.mark.parametrize(
    "prompt", ["none select_account", "create", "none create", "login create", "signup"]
)
def test_unsupported_or_contradictory_prompt_is_invalid_request_not_ignored(
    ready: Browser, portal: RegisteredRP, core: ProviderCore, prompt: str
) -> None:
    """Ignoring prompt=create would send a person who asked to register to a login (or, with
    a session, straight back with a code); none with another value is an error (§3.1.2.1)."""
    params = ready.params(portal, prompt=prompt)
    url, query = redirect_params(ready.http.get("/authorize", params=params))
    assert url == PORTAL_REDIRECT
    assert query["error"] == "invalid_request"
    assert query["state"] == params["state"]
    assert query["iss"] == core.issuer
    assert "code" not in query


def test_prompt_create_is_named_in_the_error_description(
    ready: Browser, portal: RegisteredRP
) -> None:
    # Prompt Create §4.1: RECOMMENDED to identify the invalid value.
    _, query = redirect_params(ready.authorize(portal, prompt="create"))
    assert "create" in query["error_description"]


def test_prompt_create_pushed_to_par_is_a_400_invalid_request(
    browser: Browser, portal: RegisteredRP
) -> None:
    # Prompt Create §4.1: HTTP 400 with error invalid_request, where the response is direct.
    assert portal.secret is not None
    data: dict[str, Any] = browser.params(portal, prompt="create")
    data.pop("client_id")
    response = browser.http.post(
        "/par", data=data, headers={"Authorization": basic_header(portal.client_id, portal.secret)}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request"
    assert "create" in body["error_description"]


def test_discovery_lists_exactly_the_prompt_values_acted_on(browser: Browser) -> None:
    meta = browser.http.get("/.well-known/openid-configuration").json()
    assert sorted(meta["prompt_values_supported"]) == ["consent", "login", "none", "select_account"]
