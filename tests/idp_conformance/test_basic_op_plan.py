"""The OpenID Foundation's Basic OP certification plan, one test per plan test
(``../shared/testdata/oidc/basic-op-plan.txt``; ``test_plan_coverage.py`` keeps the list whole).

Each test is named after its plan test (``oidcc-server`` -> ``test_oidcc_server``) and checks
what the plan test's description says the suite checks, through the real HTTP application
(:class:`tests.idp_conformance.conftest.Suite`). The client is the plan's static client: an
ordinary government site with ``client_secret_basic`` (``client_secret_post`` where the plan
says so). Where the plan allows two outcomes (request objects and ``request_uri`` by value),
the test accepts the one NatID chose - ``request_not_supported`` / ``request_uri_not_supported``
(discovery says ``request_parameter_supported: false``) - and checks it is delivered correctly.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any
from urllib.parse import urlsplit

from core.clock import FixedClock
from idp.accounts import Account
from registry.records import Person
from tests.api.idp_token._rp import RegisteredRP
from tests.idp_conformance.conftest import Outcome, Suite

Who = tuple[Person, Account]


def _flow(
    suite: Suite, rp: RegisteredRP, who: Who, *, method: str = "GET", **params: Any
) -> tuple[Outcome, dict[str, Any], dict[str, Any]]:
    """One complete authorization for an already logged-in user: (outcome, tokens, ID token
    claims). Consent, when asked, is given on the consent page."""
    params.setdefault("scope", "openid profile email")
    outcome = suite.authorize(rp, method=method, **params)
    assert outcome.callback is not None, outcome.response.text
    assert outcome.callback.get("state") == outcome.params.get("state")
    assert outcome.callback["iss"] == suite.issuer  # RFC 9207 §2
    tokens = suite.tokens(rp, outcome)
    claims = suite.verify_id_token(tokens["id_token"], rp, access_token=tokens["access_token"])
    if "nonce" in outcome.params:
        assert claims["nonce"] == outcome.params["nonce"]
    else:
        assert "nonce" not in claims
    return outcome, tokens, claims


def _logged_in_flow(
    suite: Suite, rp: RegisteredRP, who: Who, **params: Any
) -> tuple[Outcome, dict[str, Any], dict[str, Any]]:
    suite.login(who[1])
    return _flow(suite, rp, who, **params)


def _userinfo(suite: Suite, tokens: dict[str, Any], id_claims: dict[str, Any]) -> dict[str, Any]:
    response = suite.userinfo(tokens["access_token"])
    assert response.status_code == 200, response.text
    info: dict[str, Any] = response.json()
    assert info["sub"] == id_claims["sub"]  # OIDC Core §5.3.2
    return info


def _error_callback(outcome: Outcome, suite: Suite) -> dict[str, str]:
    """An error response at the client's redirect URI (RFC 6749 §4.1.2.1) with state and iss."""
    assert outcome.callback is not None, (outcome.response.status_code, outcome.response.text)
    assert "code" not in outcome.callback
    assert outcome.callback.get("state") == outcome.params.get("state")
    assert outcome.callback["iss"] == suite.issuer
    return outcome.callback


def _unsigned_jwt(claims: dict[str, Any]) -> str:
    def enc(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc(claims)}."


# --- happy flows ------------------------------------------------------------------------------


def test_oidcc_server(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    outcome, tokens, claims = _logged_in_flow(suite, portal, person)
    assert outcome.consent_pages == 1  # first visit: the user was asked
    assert tokens["token_type"] == "Bearer"
    assert tokens["scope"] == "openid profile email"
    assert claims["aud"] == portal.client_id
    assert claims["sub"] != person[0].id  # pairwise, never the register id
    assert isinstance(claims["auth_time"], int)
    assert _userinfo(suite, tokens, claims)["name"] == "Sok Dara"


def test_oidcc_response_type_missing(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    suite.login(person[1])
    outcome = suite.authorize(portal, response_type=None)
    error = _error_callback(outcome, suite)["error"]
    assert error in {"invalid_request", "unsupported_response_type"}


def test_oidcc_idtoken_signature(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _, tokens, _ = _logged_in_flow(suite, portal, person, scope="openid")
    header = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))
    # No alg was registered: the default is an advertised asymmetric one, verified by the JWKS
    # (verify_id_token did that), and the key is named so a client can pick it.
    assert header["alg"] in suite.discovery()["id_token_signing_alg_values_supported"]
    assert header["kid"] in {k["kid"] for k in suite.http.get("/jwks").json()["keys"]}


def test_oidcc_idtoken_unsigned(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    """The plan test needs alg none to be offered; NatID never uses it, anywhere."""
    meta = suite.discovery()
    for name, value in meta.items():
        if name.endswith("alg_values_supported"):
            assert "none" not in value, name
    _, tokens, claims = _logged_in_flow(suite, portal, person, scope="openid")
    header = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))
    assert header["alg"] != "none"
    # An unsigned ID token offered back as id_token_hint is not taken for one of ours.
    forged = _unsigned_jwt(claims)
    outcome = suite.authorize(portal, prompt="none", id_token_hint=forged)
    assert _error_callback(outcome, suite)["error"] == "invalid_request"
    # Nor is an unsigned access token accepted by UserInfo.
    access_claims = json.loads(
        base64.urlsafe_b64decode(tokens["access_token"].split(".")[1] + "==")
    )
    assert suite.userinfo(_unsigned_jwt(access_claims)).status_code == 401


def test_oidcc_userinfo_get(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _, tokens, claims = _logged_in_flow(suite, portal, person)
    response = suite.userinfo(tokens["access_token"], method="GET")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["sub"] == claims["sub"]


def test_oidcc_userinfo_post_header(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _, tokens, claims = _logged_in_flow(suite, portal, person)
    response = suite.userinfo(tokens["access_token"], method="POST")
    assert response.status_code == 200
    assert response.json()["sub"] == claims["sub"]


def test_oidcc_userinfo_post_body(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _, tokens, claims = _logged_in_flow(suite, portal, person)
    response = suite.userinfo(tokens["access_token"], method="POST", in_body=True)
    assert response.status_code == 200
    assert response.json()["sub"] == claims["sub"]


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(
    suite: Suite, portal: RegisteredRP, person: Who
) -> None:
    _, _, claims = _logged_in_flow(suite, portal, person, nonce=None)
    assert "nonce" not in claims


def test_oidcc_scope_profile(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _, tokens, claims = _logged_in_flow(suite, portal, person, scope="openid profile")
    info = _userinfo(suite, tokens, claims)
    assert info["name"] == "Sok Dara" and info["name#km"] == "សុខ ដារា"
    assert info["birthdate"] == "1990-04-17"
    assert {"given_name", "family_name"} <= set(info)
    assert "email" not in info and "phone_number" not in info and "address" not in info


def test_oidcc_scope_email(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _, tokens, claims = _logged_in_flow(suite, portal, person, scope="openid email")
    info = _userinfo(suite, tokens, claims)
    # OIDC Core §5.4: the email scope's claims are returned from the UserInfo endpoint.
    assert info["email"] == "sok.dara@example.com"
    assert isinstance(info["email_verified"], bool)
    assert "name" not in info


def test_oidcc_scope_address(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _, tokens, claims = _logged_in_flow(suite, portal, person, scope="openid address")
    info = _userinfo(suite, tokens, claims)
    assert isinstance(info["address"], dict)
    assert "Phnom Penh" in info["address"]["formatted"]  # OIDC Core §5.1.1


def test_oidcc_scope_phone(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _, tokens, claims = _logged_in_flow(suite, portal, person, scope="openid phone")
    info = _userinfo(suite, tokens, claims)
    assert info["phone_number"] == "+85512345678"
    assert isinstance(info["phone_number_verified"], bool)


def test_oidcc_scope_all(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _, tokens, claims = _logged_in_flow(
        suite, portal, person, scope="openid address email phone profile"
    )
    info = _userinfo(suite, tokens, claims)
    assert {"name", "email", "phone_number", "address"} <= set(info)


def test_oidcc_alternate_happy_flow(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    suite.login(person[1])
    verifier = "v" * 50
    params = suite.params(portal, verifier, scope="email profile openid")
    reordered = dict(reversed(list(params.items())))
    outcome = suite.authorize(portal, raw=reordered, verifier=verifier)
    assert outcome.callback is not None and outcome.callback["state"] == params["state"]
    tokens = suite.tokens(portal, outcome)
    claims = suite.verify_id_token(tokens["id_token"], portal, access_token=tokens["access_token"])
    assert claims["nonce"] == params["nonce"]
    assert set(tokens["scope"].split()) == {"openid", "profile", "email"}


def test_oidcc_display_page(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _logged_in_flow(suite, portal, person, display="page")


def test_oidcc_display_popup(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _logged_in_flow(suite, portal, person, display="popup")


# --- prompt, max_age, hints, locales, acr ----------------------------------------------------


def test_oidcc_prompt_login(
    suite: Suite, portal: RegisteredRP, person: Who, clock: FixedClock
) -> None:
    _, _, first = _logged_in_flow(suite, portal, person)
    clock.advance(dt.timedelta(seconds=5))
    outcome = suite.authorize(portal, prompt="login", scope="openid profile email")
    assert outcome.login_page, "prompt=login must show the login page, not issue a code"
    outcome = suite.log_in_and_continue(outcome, person[1], portal)
    tokens = suite.tokens(portal, outcome)
    second = suite.verify_id_token(tokens["id_token"], portal)
    assert second["auth_time"] > first["auth_time"]
    assert second["sub"] == first["sub"]


def test_oidcc_prompt_none_not_logged_in(suite: Suite, portal: RegisteredRP) -> None:
    suite.forget_login()
    outcome = suite.authorize(portal, prompt="none")
    assert not outcome.login_page
    assert _error_callback(outcome, suite)["error"] == "login_required"


def test_oidcc_prompt_none_logged_in(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _, _, first = _logged_in_flow(suite, portal, person)
    outcome = suite.authorize(portal, prompt="none", scope="openid profile email", consent=None)
    assert not outcome.login_page and outcome.consent_pages == 0
    tokens = suite.tokens(portal, outcome)
    second = suite.verify_id_token(tokens["id_token"], portal)
    assert second["sub"] == first["sub"]
    assert second["auth_time"] == first["auth_time"]  # no new login happened


def test_oidcc_max_age_1(
    suite: Suite, portal: RegisteredRP, person: Who, clock: FixedClock
) -> None:
    _, _, first = _logged_in_flow(suite, portal, person)
    clock.advance(dt.timedelta(seconds=2))
    outcome = suite.authorize(portal, max_age="1", scope="openid profile email")
    assert outcome.login_page, "max_age=1 after 2 s must ask for a new login"
    outcome = suite.log_in_and_continue(outcome, person[1], portal)
    tokens = suite.tokens(portal, outcome)
    second = suite.verify_id_token(tokens["id_token"], portal)
    # OIDC Core §3.1.2.1: with max_age, auth_time is REQUIRED in the ID token.
    assert second["auth_time"] > first["auth_time"]
    assert second["auth_time"] >= int(clock.now().timestamp()) - 1


def test_oidcc_max_age_10000(
    suite: Suite, portal: RegisteredRP, person: Who, clock: FixedClock
) -> None:
    _, _, first = _logged_in_flow(suite, portal, person, max_age="15000")
    assert isinstance(first["auth_time"], int)
    clock.advance(dt.timedelta(seconds=2))
    outcome = suite.authorize(portal, max_age="10000", scope="openid profile email")
    assert not outcome.login_page
    tokens = suite.tokens(portal, outcome)
    second = suite.verify_id_token(tokens["id_token"], portal)
    assert second["auth_time"] == first["auth_time"]


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(
    suite: Suite, portal: RegisteredRP, person: Who
) -> None:
    _logged_in_flow(suite, portal, person, extra="foobar")


def test_oidcc_id_token_hint(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _, tokens, first = _logged_in_flow(suite, portal, person)
    outcome = suite.authorize(
        portal, prompt="none", id_token_hint=tokens["id_token"], scope="openid profile email"
    )
    assert not outcome.login_page
    second = suite.verify_id_token(suite.tokens(portal, outcome)["id_token"], portal)
    assert second["sub"] == first["sub"]


def test_oidcc_login_hint(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    suite.forget_login()
    host = urlsplit(suite.issuer).hostname
    outcome = suite.authorize(portal, login_hint=f"buffy@{host}", scope="openid profile email")
    assert outcome.login_page
    page = suite.http.get("/login", params={"pending": outcome.pending})
    assert page.status_code == 200
    outcome = suite.log_in_and_continue(outcome, person[1], portal)
    suite.tokens(portal, outcome)


def test_oidcc_ui_locales(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    suite.forget_login()
    outcome = suite.authorize(portal, ui_locales="se", scope="openid profile email")
    assert outcome.login_page
    page = suite.http.get("/login", params={"pending": outcome.pending})
    assert page.status_code == 200  # an unsupported locale falls back; no error
    outcome = suite.log_in_and_continue(outcome, person[1], portal)
    suite.tokens(portal, outcome)


def test_oidcc_claims_locales(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _, tokens, claims = _logged_in_flow(suite, portal, person, claims_locales="se")
    assert _userinfo(suite, tokens, claims)["name"] == "Sok Dara"


def test_oidcc_ensure_request_with_acr_values_succeeds(
    suite: Suite, portal: RegisteredRP, person: Who
) -> None:
    acr_values = suite.discovery()["acr_values_supported"]
    _, _, claims = _logged_in_flow(suite, portal, person, acr_values=" ".join(acr_values))
    assert claims["acr"] in acr_values


# --- codes -------------------------------------------------------------------------------------


def _reuse(suite: Suite, portal: RegisteredRP, person: Who, wait: dt.timedelta) -> None:
    outcome, tokens, _ = _logged_in_flow(suite, portal, person)
    assert suite.userinfo(tokens["access_token"]).status_code == 200
    suite.clock.advance(wait)
    again = suite.token(portal, outcome)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: the tokens issued from the code are revoked.
    assert suite.userinfo(tokens["access_token"]).status_code == 401


def test_oidcc_codereuse(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _reuse(suite, portal, person, dt.timedelta(0))


def test_oidcc_codereuse_30seconds(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    _reuse(suite, portal, person, dt.timedelta(seconds=30))


def test_oidcc_ensure_registered_redirect_uri(
    suite: Suite, portal: RegisteredRP, person: Who
) -> None:
    suite.login(person[1])
    outcome = suite.authorize(portal, redirect_uri=portal.client.redirect_uris[0] + "/evil")
    response = outcome.response
    # RFC 6749 §4.1.2.1: an error page for the user, never a redirect to an unregistered URI.
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


def test_oidcc_ensure_post_request_succeeds(
    suite: Suite, portal: RegisteredRP, person: Who
) -> None:
    _logged_in_flow(suite, portal, person, method="POST")


def test_oidcc_server_client_secret_post(suite: Suite, tax: RegisteredRP, person: Who) -> None:
    _, tokens, claims = _logged_in_flow(suite, tax, person)
    assert claims["aud"] == tax.client_id
    _userinfo(suite, tokens, claims)


# --- request objects and request_uri -----------------------------------------------------------


def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(
    suite: Suite, portal: RegisteredRP, person: Who
) -> None:
    suite.login(person[1])
    outcome = suite.authorize(portal, request_uri="https://portal.moh.gov.kh/request.jwt")
    assert suite.discovery()["require_request_uri_registration"] is True
    assert _error_callback(outcome, suite)["error"] == "request_uri_not_supported"


def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(
    suite: Suite, portal: RegisteredRP, person: Who
) -> None:
    suite.login(person[1])
    verifier = "w" * 50
    inner = suite.params(portal, verifier)
    outcome = suite.authorize(portal, verifier=verifier, request=_unsigned_jwt(inner))
    assert suite.discovery()["request_parameter_supported"] is False
    assert _error_callback(outcome, suite)["error"] == "request_not_supported"


def test_oidcc_claims_essential(suite: Suite, portal: RegisteredRP, person: Who) -> None:
    claims_request = json.dumps({"userinfo": {"name": {"essential": True}}})
    _, tokens, claims = _logged_in_flow(
        suite, portal, person, scope="openid", claims=claims_request
    )
    assert _userinfo(suite, tokens, claims)["name"] == "Sok Dara"


def test_oidcc_ensure_request_object_with_redirect_uri(
    suite: Suite, portal: RegisteredRP, tax: RegisteredRP, person: Who
) -> None:
    suite.login(person[1])
    verifier = "x" * 50
    inner = suite.params(portal, verifier, redirect_uri="https://portal.moh.gov.kh/other")
    outcome = suite.authorize(portal, verifier=verifier, request=_unsigned_jwt(inner))
    # Refused as unsupported, back to the registered redirect_uri outside the object.
    assert outcome.response.headers["location"].startswith(portal.client.redirect_uris[0] + "?")
    assert _error_callback(outcome, suite)["error"] == "request_not_supported"


# --- refresh, PKCE --------------------------------------------------------------------------------


def test_oidcc_refresh_token(
    suite: Suite, portal: RegisteredRP, tax: RegisteredRP, person: Who, clock: FixedClock
) -> None:
    # OIDC Core §11: offline_access (with prompt=consent) asks for a refresh token.
    _, tokens, first = _logged_in_flow(
        suite, portal, person, scope="openid profile offline_access", prompt="consent"
    )
    assert "offline_access" in tokens["scope"].split()
    refresh_token = tokens["refresh_token"]
    clock.advance(dt.timedelta(seconds=5))
    # Bound to the client (RFC 6749 §6): another client cannot use it.
    stolen = suite.post(
        "token_endpoint", tax, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    response = suite.post(
        "token_endpoint", portal, {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )
    assert response.status_code == 200, response.text
    refreshed = response.json()
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["refresh_token"] != refresh_token
    # OIDC Core §12.2: the new ID token has the same iss, sub, aud and auth_time.
    second = suite.verify_id_token(
        refreshed["id_token"], portal, access_token=refreshed["access_token"]
    )
    for name in ("iss", "sub", "aud", "auth_time"):
        assert second[name] == first[name]
    assert second["iat"] > first["iat"]
    assert _userinfo(suite, refreshed, second)["name"] == "Sok Dara"


def test_oidcc_ensure_request_with_valid_pkce_succeeds(
    suite: Suite, portal: RegisteredRP, person: Who
) -> None:
    suite.login(person[1])
    outcome = suite.authorize(portal, scope="openid")
    assert outcome.params["code_challenge_method"] == "S256"
    tokens = suite.tokens(portal, outcome)
    suite.verify_id_token(tokens["id_token"], portal, access_token=tokens["access_token"])
