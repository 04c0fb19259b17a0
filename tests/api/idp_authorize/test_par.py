"""The PAR endpoint (RFC 9126) and request_uri at /authorize over HTTP, after the FAPI 2.0
Security Profile plan's PAR, PKCE, request-object and DPoP-binding tests."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from joserfc import jws as rfc_jws

from api.context import AppContext
from core.clock import FixedClock
from idp.accounts import Account
from idp.clients import CLIENT_ASSERTION_TYPE
from idp.errors import InvalidGrant
from idp.service import ProviderCore
from registry.records import Person
from tests.api.idp_authorize.conftest import FAPI_REDIRECT, Browser, grant_consent, redirect_params
from tests.api.idp_token._rp import (
    DPoPSession,
    RegisteredRP,
    basic_header,
    client_assertion,
    make_rp_key,
)

Who = tuple[Person, Account]


def _push(browser: Browser, rp: RegisteredRP, **overrides: Any) -> Any:
    assert rp.secret is not None
    data = browser.params(rp, **overrides)
    data.pop("client_id")
    return browser.http.post(
        "/par", data=data, headers={"Authorization": basic_header(rp.client_id, rp.secret)}
    )


@pytest.fixture
def ready(browser: Browser, app_ctx: AppContext, person: Who, portal: RegisteredRP) -> Browser:
    browser.login(person[1])
    grant_consent(app_ctx, person[1], portal, ("openid", "profile", "email"))
    return browser


def test_par_then_authorize_with_only_client_id_and_request_uri(
    ready: Browser, portal: RegisteredRP, core: ProviderCore
) -> None:
    # fapi2 par-without-duplicate-parameters
    pushed = _push(ready, portal, state="pushed-state")
    assert pushed.status_code == 201, pushed.text
    body = pushed.json()
    assert body["expires_in"] == 60
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert pushed.headers["cache-control"] == "no-store"
    response = ready.http.get(
        "/authorize", params={"client_id": portal.client_id, "request_uri": body["request_uri"]}
    )
    _, query = redirect_params(response)
    assert query["state"] == "pushed-state"
    assert query["iss"] == core.issuer
    assert "code" in query


def test_par_ensure_reused_request_uri_prior_to_auth_completion_succeeds_then_reuse_fails(
    browser: Browser, portal: RegisteredRP, person: Who, app_ctx: AppContext
) -> None:
    grant_consent(app_ctx, person[1], portal, ("openid", "profile", "email"))
    uri = _push(browser, portal).json()["request_uri"]
    params = {"client_id": portal.client_id, "request_uri": uri}
    for _ in range(2):  # e.g. the user reloads before logging in
        url, query = redirect_params(browser.http.get("/authorize", params=params))
        assert url == "/login"
    browser.login(person[1])
    _, done = redirect_params(browser.http.get("/authorize/continue", params=query))
    assert "code" in done
    # fapi2 par-attempt-reuse-request_uri: after the authorization completed, refused.
    again = browser.http.get("/authorize", params=params)
    assert again.status_code == 400
    assert "location" not in again.headers


def test_par_attempt_to_use_request_uri_for_different_client(
    ready: Browser, portal: RegisteredRP, other_portal: RegisteredRP
) -> None:
    uri = _push(ready, portal).json()["request_uri"]
    response = ready.http.get(
        "/authorize", params={"client_id": other_portal.client_id, "request_uri": uri}
    )
    assert response.status_code == 400
    assert "location" not in response.headers


def test_par_attempt_to_use_expired_request_uri(
    ready: Browser, portal: RegisteredRP, clock: FixedClock
) -> None:
    uri = _push(ready, portal).json()["request_uri"]
    clock.advance(dt.timedelta(seconds=61))
    response = ready.http.get(
        "/authorize", params={"client_id": portal.client_id, "request_uri": uri}
    )
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"request_uri": "urn:ietf:params:oauth:request_uri:x"}, "invalid_request"),
        (
            {"code_challenge": None, "code_challenge_method": None},
            "invalid_request",
        ),  # par-ensure-pkce-required
        ({"code_challenge_method": "plain"}, "invalid_request"),  # par-plain-pkce-rejected
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_request"),
        ({"redirect_uri": None}, "invalid_request"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "email"}, "invalid_scope"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "invalid_request_object"),
    ],
)
def test_bad_pushed_requests_get_a_json_error(
    browser: Browser, portal: RegisteredRP, overrides: dict[str, Any], error: str
) -> None:
    response = _push(browser, portal, **overrides)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


def test_par_requires_client_authentication(browser: Browser, portal: RegisteredRP) -> None:
    response = browser.http.post("/par", data=browser.params(portal))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_par_attempt_invalid_http_method(browser: Browser) -> None:
    assert browser.http.get("/par").status_code == 405


def test_client_id_must_match_the_authenticated_client(
    browser: Browser, portal: RegisteredRP, other_portal: RegisteredRP
) -> None:
    assert portal.secret is not None
    data = browser.params(other_portal)
    data["redirect_uri"] = portal.client.redirect_uris[0]
    response = browser.http.post(
        "/par", data=data, headers={"Authorization": basic_header(portal.client_id, portal.secret)}
    )
    assert response.status_code == 400


# --- FAPI 2.0: private_key_jwt, DPoP, signed request objects --------------------------------


def _bank_form(
    browser: Browser, bank: RegisteredRP, core: ProviderCore, **extra: str
) -> dict[str, str]:
    return {
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion(bank, aud=core.issuer, at=browser.ctx.clock.now()),
        **extra,
    }


def _request_object(bank: RegisteredRP, browser: Browser, core: ProviderCore, **kw: Any) -> str:
    assert bank.key is not None
    now = int(browser.ctx.clock.now().timestamp())
    claims = {
        "iss": bank.client_id, "aud": core.issuer, "client_id": bank.client_id,
        "nbf": now, "exp": now + 300,
        **{k: v for k, v in browser.params(bank).items() if k != "client_id"},
        "state": "inside-state", "nonce": "inside-nonce", **kw,
    }  # fmt: skip
    return rfc_jws.serialize_compact(
        {"alg": bank.key.alg, "kid": bank.key.private.kid}, json.dumps(claims).encode(),
        bank.key.private, algorithms=[bank.key.alg],
    )  # fmt: skip


def test_fapi_par_with_dpop_and_signed_request_object(
    browser: Browser, bank: RegisteredRP, core: ProviderCore, person: Who, app_ctx: AppContext
) -> None:
    # ensure-dpopproof-at-par-endpoint-binding-success, ensure-different-state-inside-and-
    # outside-request-object, ensure-different-nonce-inside-and-outside-request-object,
    # state-only-outside-request-object-not-used
    assert bank.key is not None
    browser.login(person[1])
    grant_consent(app_ctx, person[1], bank, ("openid", "profile", "email"))
    dpop = DPoPSession(browser.http, bank.key, core.issuer, app_ctx.clock.now())
    form = _bank_form(
        browser, bank, core, request=_request_object(bank, browser, core),
        state="outside-state", nonce="outside-nonce", client_id=bank.client_id,
    )  # fmt: skip
    response = dpop.request("POST", "/par", data=form)
    assert response.status_code == 201, response.text
    assert "DPoP-Nonce" in response.headers
    uri = response.json()["request_uri"]
    _, query = redirect_params(
        browser.http.get("/authorize", params={"client_id": bank.client_id, "request_uri": uri})
    )
    assert query["state"] == "inside-state"
    grant_args: dict[str, Any] = {
        "client_id": bank.client_id, "redirect_uri": FAPI_REDIRECT,
        "code_verifier": browser.verifier, "at": app_ctx.clock.now(),
    }  # fmt: skip
    # The code is bound to the PAR's DPoP key: another key cannot redeem it.
    with pytest.raises(InvalidGrant, match="DPoP key"):
        core.codes.redeem(query["code"], dpop_jkt=make_rp_key().jkt, **grant_args)


def test_fapi_request_object_without_redirect_uri_fails(
    browser: Browser, bank: RegisteredRP, core: ProviderCore
) -> None:
    token = _request_object(bank, browser, core, redirect_uri=None)
    form = _bank_form(browser, bank, core, request=token, redirect_uri=FAPI_REDIRECT)
    response = browser.http.post("/par", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_dpop_jkt_must_match_the_proof(
    browser: Browser, bank: RegisteredRP, core: ProviderCore
) -> None:
    assert bank.key is not None
    dpop = DPoPSession(browser.http, bank.key, core.issuer, browser.ctx.clock.now())
    params = {k: v for k, v in browser.params(bank).items() if k != "client_id"}
    form = _bank_form(browser, bank, core, dpop_jkt=make_rp_key().jkt, **params)
    response = dpop.request("POST", "/par", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_fapi_par_with_plain_parameters_then_authorize(
    browser: Browser, bank: RegisteredRP, core: ProviderCore, person: Who, app_ctx: AppContext
) -> None:
    browser.login(person[1])
    grant_consent(app_ctx, person[1], bank, ("openid", "profile", "email"))
    params = {k: v for k, v in browser.params(bank).items() if k != "client_id"}
    response = browser.http.post("/par", data=_bank_form(browser, bank, core, **params))
    assert response.status_code == 201, response.text
    uri = response.json()["request_uri"]
    _, query = redirect_params(
        browser.http.get("/authorize", params={"client_id": bank.client_id, "request_uri": uri})
    )
    assert query["state"] == params["state"]
    assert "code" in query


def test_every_advertised_request_object_alg_is_accepted_at_par(
    browser: Browser, core: ProviderCore
) -> None:
    """request_object_signing_alg_values_supported: each listed algorithm works for a client
    that is not FAPI 2.0 as for a FAPI 2.0 one (test_fapi_par_with_dpop_and_signed_request_object
    signs with PS256)."""
    meta = browser.http.get("/.well-known/openid-configuration").json()
    algs = meta["request_object_signing_alg_values_supported"]
    assert algs
    for alg in algs:
        key = make_rp_key(alg)  # an RSA key for PS256
        client = core.clients.add(
            name=f"Cadastre {alg}",
            redirect_uris=["https://cadastre.gov.kh/cb"],
            auth_method="private_key_jwt",
            jwks=key.jwks,
        ).client
        rp = RegisteredRP(client, key=key)
        assertion = client_assertion(rp, aud=core.issuer, at=browser.ctx.clock.now())
        form = {
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
            "request": _request_object(rp, browser, core),
        }
        response = browser.http.post("/par", data=form)
        assert response.status_code == 201, (alg, response.text)
