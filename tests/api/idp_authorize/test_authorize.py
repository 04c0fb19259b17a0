"""The authorization endpoint over HTTP, test by test after the OpenID Foundation's Basic OP
plan (``oidcc-*``) and the front-channel dance of issue 4 (login, step-up, consent)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

import idp.sessions
from api.app import create_app
from api.context import AppContext
from core.cache import InMemoryCache
from core.clock import FixedClock
from idp.account_models import AccountRow, AccountStatus
from idp.account_reads import AccountReads
from idp.accounts import Account, AccountService
from idp.consents import Consents
from idp.jose import unverified_claims
from idp.service import ProviderCore
from idp.session_reads import session_reader_for
from registry.records import Person
from tests.api.idp_authorize.conftest import (
    PORTAL_REDIRECT,
    Browser,
    grant_consent,
    redirect_params,
)
from tests.api.idp_token._rp import RegisteredRP, basic_header

Who = tuple[Person, Account]


def _tokens(http: TestClient, rp: RegisteredRP, code: str, verifier: str) -> dict[str, Any]:
    assert rp.secret is not None
    response = http.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": rp.client.redirect_uris[0],
            "code_verifier": verifier,
        },
        headers={"Authorization": basic_header(rp.client_id, rp.secret)},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def ready(browser: Browser, app_ctx: AppContext, person: Who, portal: RegisteredRP) -> Browser:
    """Logged in (password, acr low) and consented to openid profile email for the portal."""
    browser.login(person[1])
    grant_consent(app_ctx, person[1], portal, ("openid", "profile", "email"))
    return browser


def _code(response: Any, params: dict[str, str], core: ProviderCore) -> str:
    url, query = redirect_params(response)
    assert url == PORTAL_REDIRECT
    assert query["iss"] == core.issuer
    assert query.get("state") == params.get("state")
    assert "error" not in query, query
    return query["code"]


# --- happy flows ----------------------------------------------------------------------------


def test_oidcc_server(
    ready: Browser, portal: RegisteredRP, core: ProviderCore, person: Who
) -> None:
    params = ready.params(portal)
    response = ready.http.get("/authorize", params=params)
    code = _code(response, params, core)
    assert response.headers["cache-control"] == "no-store"
    tokens = _tokens(ready.http, portal, code, ready.verifier)
    claims = unverified_claims(tokens["id_token"])
    assert claims["nonce"] == params["nonce"]
    assert claims["aud"] == portal.client_id
    assert claims["acr"] == "low"
    assert claims["sid"] == ready.session.id  # type: ignore[union-attr]
    assert claims["sub"] == core.tokens.subject_for(portal.client, person[0].id)
    assert tokens["scope"] == "openid profile email"


def test_a_login_records_the_authorization_before_its_tokens_in_the_ledger(
    ready: Browser, portal: RegisteredRP, core: ProviderCore, person: Who, app_ctx: AppContext
) -> None:
    """The code's entry is written with the token's commit at the latest (core/audit.py,
    "Soon"): an auditor reading the ledger after the login finds both, in order."""
    before = app_ctx.ledger.head().seq
    params = ready.params(portal)
    code = _code(ready.http.get("/authorize", params=params), params, core)
    _tokens(ready.http, portal, code, ready.verifier)
    entries = [e for e in app_ctx.ledger.tail(20) if e.seq > before]
    assert [e.event for e in entries] == ["idp.authorization.granted", "idp.token.issued"]
    granted = entries[0]
    assert (granted.actor, granted.subject) == (person[1].id, portal.client_id)
    assert granted.data == {
        "sid": ready.session.id,  # type: ignore[union-attr]
        "scope": "openid profile email",
        "acr": "low",
        "par": False,
    }
    assert person[0].national_id not in json.dumps(granted.data)
    assert entries[1].prev_hash == granted.entry_hash


def test_oidcc_ensure_post_request_succeeds(
    ready: Browser, portal: RegisteredRP, core: ProviderCore
) -> None:
    params = ready.params(portal)
    response = ready.http.post("/authorize", data=params)
    _code(response, params, core)


def test_oidcc_alternate_happy_flow(
    ready: Browser, portal: RegisteredRP, core: ProviderCore
) -> None:
    params = ready.params(portal, scope="email profile openid")
    reordered = dict(reversed(list(params.items())))
    _code(ready.http.get("/authorize", params=reordered), params, core)


@pytest.mark.parametrize(
    "extra",
    [
        {"extra": "foobar"},  # oidcc-ensure-request-with-unknown-parameter-succeeds
        {"display": "page"},  # oidcc-display-page
        {"display": "popup"},  # oidcc-display-popup
        {"login_hint": "buffy@id.natid.gov.kh"},  # oidcc-login-hint
        {"ui_locales": "se"},  # oidcc-ui-locales
        {"claims_locales": "se"},  # oidcc-claims-locales
        {"acr_values": "low"},  # oidcc-ensure-request-with-acr-values-succeeds
        {"max_age": "10000"},  # oidcc-max-age-10000
        {"nonce": None},  # oidcc-ensure-request-without-nonce-succeeds-for-code-flow
        {"state": None},  # fapi2 ensure-authorization-request-without-state-success
        {"state": "s" * 2048},  # fapi2 ensure-authorization-request-with-long-state
    ],
    ids=lambda e: "-".join(f"{k}" for k in e),
)
def test_optional_parameters_do_not_break_the_flow(
    ready: Browser, portal: RegisteredRP, core: ProviderCore, extra: dict[str, Any]
) -> None:
    params = ready.params(portal, **extra)
    _code(ready.http.get("/authorize", params=params), params, core)


def test_oidcc_claims_essential_is_carried_to_the_grant(
    ready: Browser, portal: RegisteredRP, core: ProviderCore, app_ctx: AppContext, person: Who
) -> None:
    grant_consent(app_ctx, person[1], portal, ("openid",), ("name",))
    params = ready.params(portal, claims='{"userinfo": {"name": {"essential": true}}}')
    code = _code(ready.http.get("/authorize", params=params), params, core)
    grant = core.codes.redeem(
        code, client_id=portal.client_id, redirect_uri=PORTAL_REDIRECT,
        code_verifier=ready.verifier, dpop_jkt=None, at=app_ctx.clock.now(),
    )  # fmt: skip
    assert grant.claims == {"userinfo": {"name": {"essential": True}}}
    assert grant.subject == person[0].id


def test_claims_parameter_cannot_ask_beyond_the_clients_allowed_scopes(
    ready: Browser, core: ProviderCore, app_ctx: AppContext, person: Who
) -> None:
    """A site the operator allowed only ``openid`` named e-mail, name, address and the
    civil-servant claims in ``claims`` and got them: the allowed scopes bound the claims
    parameter as they bound ``scope``. Claims that belong to no scope (``acr``) stay."""
    registered = core.clients.add(
        name="Parking permits", redirect_uris=[PORTAL_REDIRECT],
        auth_method="client_secret_basic", scopes=["openid"],
    )  # fmt: skip
    assert registered.client_secret is not None
    site = RegisteredRP(registered.client, secret=registered.client_secret)
    asked = ("email", "name", "birthdate", "address", "natid:ministry", "roles")
    grant_consent(app_ctx, person[1], site, ("openid",), (*asked, "acr"))
    wanted = {
        "userinfo": dict.fromkeys(asked),
        "id_token": {"name": {"essential": True}, "email": None, "acr": {"essential": True}},
    }
    params = ready.params(site, scope="openid", prompt="none", claims=json.dumps(wanted))
    code = _code(ready.http.get("/authorize", params=params), params, core)
    grant = core.codes.redeem(
        code, client_id=site.client_id, redirect_uri=PORTAL_REDIRECT,
        code_verifier=ready.verifier, dpop_jkt=None, at=app_ctx.clock.now(),
    )  # fmt: skip
    assert grant.claims == {"userinfo": {}, "id_token": {"acr": {"essential": True}}}
    tokens = core.tokens.exchange_code(grant, client=site.client, dpop_jkt=None,
                                       at=app_ctx.clock.now())  # fmt: skip
    id_token = unverified_claims(tokens.id_token)
    assert not set(id_token) & {"name", "email"}
    # UserInfo releases the granted scopes' claims (openid: none) and the grant's own (none).
    assert tokens.scope == "openid"


# --- errors the client gets back ------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": None}, "invalid_request"),  # oidcc-response-type-missing
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),  # par-plain-pkce-rejected
        ({"code_challenge_method": None}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"claims": "{not json"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": "https://rp.example/req.jwt"}, "request_uri_not_supported"),
        ({"id_token_hint": "not-a-token"}, "invalid_request"),
    ],
)
def test_bad_requests_redirect_back_with_error_state_and_iss(
    ready: Browser, portal: RegisteredRP, core: ProviderCore, overrides: dict[str, Any], error: str
) -> None:
    params = ready.params(portal, **overrides)
    url, query = redirect_params(ready.http.get("/authorize", params=params))
    assert url == PORTAL_REDIRECT
    assert query["error"] == error
    assert query["state"] == params["state"]
    assert query["iss"] == core.issuer
    assert "code" not in query


def test_too_long_state_is_refused_and_not_echoed(ready: Browser, portal: RegisteredRP) -> None:
    _url, query = redirect_params(ready.authorize(portal, state="s" * 2049))
    assert query["error"] == "invalid_request"
    assert "state" not in query


def test_repeated_parameter_is_refused(ready: Browser, portal: RegisteredRP) -> None:
    params = [*list(ready.params(portal).items()), ("scope", "openid")]
    _, query = redirect_params(ready.http.get("/authorize", params=params))
    assert query["error"] == "invalid_request"


def test_oidcc_ensure_registered_redirect_uri_shows_a_page(
    ready: Browser, portal: RegisteredRP
) -> None:
    response = ready.authorize(portal, redirect_uri="https://evil.example/cb")
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]


@pytest.mark.parametrize("lang", ["en", "km"])
def test_the_error_page_follows_ui_locales(ready: Browser, portal: RegisteredRP, lang: str) -> None:
    """The login pages honour ui_locales; the error page of a bad redirect URI or client did
    not (it stayed in Khmer for an English-speaking visitor)."""
    ready.http.headers["Accept-Language"] = "km" if lang == "en" else "en"
    for bad in ({"redirect_uri": "https://evil.example/cb"}, {"client_id": "no-such-client"}):
        response = ready.authorize(portal, ui_locales=f"xx {lang}", **bad)
        assert response.status_code == 400
        assert f'<html lang="{lang}"' in response.text


def test_redirect_uri_is_compared_exactly(ready: Browser, portal: RegisteredRP) -> None:
    response = ready.authorize(portal, redirect_uri=PORTAL_REDIRECT + "/")
    assert response.status_code == 400
    assert "location" not in response.headers


def test_unknown_client_shows_a_page(ready: Browser, portal: RegisteredRP) -> None:
    response = ready.authorize(portal, client_id="no-such-client")
    assert response.status_code == 400
    assert "location" not in response.headers


def test_fapi_client_without_par_is_refused(browser: Browser, bank: RegisteredRP) -> None:
    # fapi2 ensure-unsigned-authorization-request-without-using-par-fails
    _, query = redirect_params(browser.authorize(bank))
    assert query["error"] == "invalid_request"
    assert "code" not in query


# --- login, prompt, max_age, step-up ---------------------------------------------------------


def test_oidcc_prompt_none_not_logged_in(
    browser: Browser, portal: RegisteredRP, core: ProviderCore
) -> None:
    params = browser.params(portal, prompt="none")
    url, query = redirect_params(browser.http.get("/authorize", params=params))
    assert url == PORTAL_REDIRECT
    assert query == {"error": "login_required", "error_description": query["error_description"],
                     "state": params["state"], "iss": core.issuer}  # fmt: skip


def test_oidcc_prompt_none_logged_in(
    ready: Browser, portal: RegisteredRP, core: ProviderCore
) -> None:
    params = ready.params(portal, prompt="none")
    _code(ready.http.get("/authorize", params=params), params, core)


def test_not_logged_in_goes_to_login_then_back_with_a_code(
    browser: Browser, portal: RegisteredRP, core: ProviderCore, person: Who, app_ctx: AppContext
) -> None:
    grant_consent(app_ctx, person[1], portal, ("openid", "profile", "email"))
    params = browser.params(portal)
    url, query = redirect_params(browser.http.get("/authorize", params=params))
    assert url == "/login"
    pending = query["pending"]
    # The login page authenticates, starts the session and sends the browser back.
    browser.login(person[1])
    response = browser.http.get("/authorize/continue", params={"pending": pending})
    _code(response, params, core)
    # The pending request is used up with the code.
    again = browser.http.get("/authorize/continue", params={"pending": pending})
    assert again.status_code == 400
    assert "location" not in again.headers


def test_oidcc_prompt_login_asks_again_even_with_a_session(
    ready: Browser, portal: RegisteredRP, core: ProviderCore, person: Who
) -> None:
    first = ready.session
    params = ready.params(portal, prompt="login")
    url, query = redirect_params(ready.http.get("/authorize", params=params))
    assert url == "/login"
    # Coming back without having logged in again: still the login page.
    url2, _ = redirect_params(ready.http.get("/authorize/continue", params=query))
    assert url2 == "/login"
    ready.login(person[1])
    code = _code(ready.http.get("/authorize/continue", params=query), params, core)
    tokens = _tokens(ready.http, portal, code, ready.verifier)
    assert unverified_claims(tokens["id_token"])["sid"] != first.id  # type: ignore[union-attr]


def test_oidcc_max_age_1_requires_a_new_login(
    ready: Browser, portal: RegisteredRP, core: ProviderCore, clock: FixedClock, person: Who
) -> None:
    clock.advance(dt.timedelta(seconds=2))
    params = ready.params(portal, max_age="1")
    url, query = redirect_params(ready.http.get("/authorize", params=params))
    assert url == "/login"
    ready.login(person[1])
    clock.advance(dt.timedelta(seconds=5))  # the consent page may take longer than max_age
    code = _code(ready.http.get("/authorize/continue", params=query), params, core)
    tokens = _tokens(ready.http, portal, code, ready.verifier)
    assert unverified_claims(tokens["id_token"])["auth_time"] == int(
        (clock.now() - dt.timedelta(seconds=5)).timestamp()
    )


def test_max_age_1_with_prompt_none_is_login_required(
    ready: Browser, portal: RegisteredRP, clock: FixedClock
) -> None:
    clock.advance(dt.timedelta(seconds=2))
    _, query = redirect_params(ready.authorize(portal, max_age="1", prompt="none"))
    assert query["error"] == "login_required"


def test_step_up_from_low_to_substantial_goes_to_login(
    ready: Browser, portal: RegisteredRP, core: ProviderCore
) -> None:
    params = ready.params(portal, acr_values="substantial")
    url, query = redirect_params(ready.http.get("/authorize", params=params))
    assert url == "/login"
    ready.step_up(acr="substantial", amr=("otp",))
    code = _code(ready.http.get("/authorize/continue", params=query), params, core)
    claims = unverified_claims(_tokens(ready.http, portal, code, ready.verifier)["id_token"])
    assert claims["acr"] == "substantial"
    assert claims["amr"] == ["pwd", "otp"]


def test_step_up_with_prompt_none_is_login_required(ready: Browser, portal: RegisteredRP) -> None:
    _, query = redirect_params(ready.authorize(portal, acr_values="high", prompt="none"))
    assert query["error"] == "login_required"


def test_oidcc_id_token_hint(
    ready: Browser, portal: RegisteredRP, core: ProviderCore, other_person: Who, clock: FixedClock
) -> None:
    params = ready.params(portal)
    code = _code(ready.http.get("/authorize", params=params), params, core)
    id_token = _tokens(ready.http, portal, code, ready.verifier)["id_token"]
    clock.advance(dt.timedelta(hours=1))  # the hint has expired: still a valid hint
    params = ready.params(portal, prompt="none", id_token_hint=id_token)
    _code(ready.http.get("/authorize", params=params), params, core)
    # Someone else logs in on this browser: the hint names another user.
    ready.login(other_person[1])
    _, query = redirect_params(ready.authorize(portal, prompt="none", id_token_hint=id_token))
    assert query["error"] == "login_required"


# --- the session's account -------------------------------------------------------------------


@pytest.fixture(params=["held-read", "orm-path"])
def session_path(
    request: pytest.FixtureRequest, app_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> str:
    """How /authorize reads the login session: on a held connection, with its account (the
    file databases of these tests), or through the ORM without it (what an engine sharing one
    connection does), after which the decision reads the account itself."""
    path: str = request.param
    assert session_reader_for(app_ctx.sessions) is not None
    if path == "orm-path":
        monkeypatch.setattr(idp.sessions, "session_reader_for", lambda _sessions: None)
    return path


def test_an_account_locked_or_disabled_after_login_is_seen_by_the_next_authorize(
    ready: Browser,
    portal: RegisteredRP,
    core: ProviderCore,
    person: Who,
    app_ctx: AppContext,
    session_path: str,
) -> None:
    """The session stays live, but its account is read afresh on every request: nothing is
    cached across requests, so a lock, an unlock and a disabling each decide the next one."""
    accounts = app_ctx.idp_accounts()
    account_id = person[1].id
    answers = []
    for status in (AccountStatus.ACTIVE, AccountStatus.LOCKED, AccountStatus.ACTIVE,
                   AccountStatus.DISABLED):  # fmt: skip
        accounts.set_status(account_id, status, actor="test")
        params = ready.params(portal, prompt="none")
        url, query = redirect_params(ready.http.get("/authorize", params=params))
        interactive, _ = redirect_params(ready.authorize(portal))
        if url == PORTAL_REDIRECT and "code" in query:
            answers.append(("code", interactive == PORTAL_REDIRECT))
        else:
            answers.append((query.get("error", "?"), interactive == "/login"))

    assert answers == [
        ("code", True),
        ("login_required", True),  # locked: silent request refused, a browser sent to log in
        ("code", True),  # unlocked
        ("login_required", True),  # disabled
    ]


def test_authorize_reads_the_account_with_the_session_not_again(
    ready: Browser,
    portal: RegisteredRP,
    core: ProviderCore,
    person: Who,
    monkeypatch: pytest.MonkeyPatch,
    session_path: str,
) -> None:
    """With the held session read the account comes in the same statement and the decision
    makes no account read of its own; through the ORM path it reads the account once."""
    service_calls: list[str] = []
    held_calls: list[str] = []
    service_get = AccountService.get
    reads_by_id = AccountReads.by_id

    def counted_get(self: AccountService, account_id: str) -> Account:
        service_calls.append(account_id)
        return service_get(self, account_id)

    def counted_by_id(self: AccountReads, account_id: str) -> Account | None:
        held_calls.append(account_id)
        return reads_by_id(self, account_id)

    monkeypatch.setattr(AccountService, "get", counted_get)
    monkeypatch.setattr(AccountReads, "by_id", counted_by_id)
    params = ready.params(portal, prompt="none")
    _code(ready.http.get("/authorize", params=params), params, core)
    expected = [] if session_path == "held-read" else [person[1].id]
    assert service_calls == expected
    assert held_calls == expected


def test_the_code_carries_the_account_facts_to_the_exchange(
    ready: Browser,
    portal: RegisteredRP,
    core: ProviderCore,
    person: Who,
    app_ctx: AppContext,
    monkeypatch: pytest.MonkeyPatch,
    session_path: str,
) -> None:
    """/authorize puts what the claims need of the account (e-mail and phone verified, the
    operator link) into the code, so the code exchange reads the register's person but not the
    account again; a code made from a session read without its account has the exchange read
    it. UserInfo answers the same either way."""
    by_person: list[str] = []
    real_by_person = AccountReads.by_person

    def counted(self: AccountReads, person_id: str) -> Account | None:
        by_person.append(person_id)
        return real_by_person(self, person_id)

    with app_ctx.sessions.begin() as session:
        row = session.get(AccountRow, person[1].id)
        assert row is not None
        row.email_verified_at = app_ctx.clock.now()
    grant_consent(
        app_ctx, person[1], portal, ("openid", "profile", "email"), ("email_verified", "name")
    )
    monkeypatch.setattr(AccountReads, "by_person", counted)
    wanted = {"id_token": {"email_verified": None, "name": None}}
    params = ready.params(portal, prompt="none", claims=json.dumps(wanted))
    code = _code(ready.http.get("/authorize", params=params), params, core)
    tokens = _tokens(ready.http, portal, code, ready.verifier)

    assert by_person == ([] if session_path == "held-read" else [person[0].id])
    claims = unverified_claims(tokens["id_token"])
    assert claims["email_verified"] is True
    assert claims["name"] == "Sok Dara"


def test_authorize_reads_the_consent_with_the_session_and_sees_every_change(
    ready: Browser,
    portal: RegisteredRP,
    core: ProviderCore,
    person: Who,
    app_ctx: AppContext,
    monkeypatch: pytest.MonkeyPatch,
    session_path: str,
) -> None:
    """With the held session read the consent to the client comes in the same statement and the
    decision makes no consent read of its own (through the ORM path it reads it once); it is
    read afresh on every request, so a withdrawal and a new grant each decide the next one."""
    finds: list[str] = []
    real_find = Consents.find

    def counted(self: Consents, account_id: str, client_id: str, *, at: dt.datetime) -> Any:
        finds.append(client_id)
        return real_find(self, account_id, client_id, at=at)

    monkeypatch.setattr(Consents, "find", counted)
    params = ready.params(portal, prompt="none")
    _code(ready.http.get("/authorize", params=params), params, core)
    assert finds == ([] if session_path == "held-read" else [portal.client_id])

    Consents(app_ctx.sessions, ledger=app_ctx.ledger).withdraw(
        person[1].id, portal.client_id, at=app_ctx.clock.now()
    )
    _, query = redirect_params(
        ready.http.get("/authorize", params=ready.params(portal, prompt="none"))
    )
    assert query["error"] == "consent_required"
    grant_consent(app_ctx, person[1], portal, ("openid", "profile", "email"))
    params = ready.params(portal, prompt="none")
    assert _code(ready.http.get("/authorize", params=params), params, core)


# --- consent -------------------------------------------------------------------------------


def test_missing_consent_goes_to_consent_then_issues_the_consented_subset(
    browser: Browser, portal: RegisteredRP, core: ProviderCore, person: Who, app_ctx: AppContext
) -> None:
    browser.login(person[1])
    params = browser.params(portal, scope="openid profile email")
    url, query = redirect_params(browser.http.get("/authorize", params=params))
    assert url == "/consent"
    # The user unticks email on the consent page.
    grant_consent(app_ctx, person[1], portal, ("openid", "profile"))
    code = _code(
        browser.http.get("/authorize/continue", params={**query, "consented": "1"}), params, core
    )
    assert _tokens(browser.http, portal, code, browser.verifier)["scope"] == "openid profile"


def test_prompt_consent_asks_even_when_consent_exists(ready: Browser, portal: RegisteredRP) -> None:
    url, _ = redirect_params(ready.authorize(portal, prompt="consent"))
    assert url == "/consent"


def test_prompt_none_without_consent_is_consent_required(
    browser: Browser, portal: RegisteredRP, person: Who
) -> None:
    browser.login(person[1])
    _, query = redirect_params(browser.authorize(portal, prompt="none"))
    assert query["error"] == "consent_required"


def test_forged_consented_flag_does_not_skip_consent(
    browser: Browser, portal: RegisteredRP, person: Who
) -> None:
    browser.login(person[1])
    _, query = redirect_params(browser.authorize(portal))
    url, _ = redirect_params(
        browser.http.get("/authorize/continue", params={**query, "consented": "1"})
    )
    assert url == "/consent"


def test_unknown_pending_shows_a_page(browser: Browser) -> None:
    response = browser.http.get("/authorize/continue", params={"pending": "nope"})
    assert response.status_code == 400
    assert "location" not in response.headers


def test_a_full_in_process_cache_answers_503_and_issues_no_code(
    ready: Browser, portal: RegisteredRP, core: ProviderCore, app_ctx: AppContext
) -> None:
    cache = app_ctx.cache
    assert isinstance(cache, InMemoryCache)
    room = cache._max_entries
    cache._max_entries = len(cache._data)  # full, as after a day of logins without Redis
    params = ready.params(portal)
    response = ready.http.get("/authorize", params=params, follow_redirects=False)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "cache_unavailable"
    assert "location" not in response.headers  # no code reached the site
    cache._max_entries = room  # entries expired: the same request gets its code
    _code(ready.http.get("/authorize", params=params), params, core)


@pytest.mark.parametrize(
    ("accept_language", "lang", "words"),
    [
        ("km", "km", "NatID មិនអាចបញ្ចប់សំណើនេះបានទេនៅពេលនេះ"),
        ("en-GB,en;q=0.8", "en", "NatID cannot complete this request right now."),
    ],
)
def test_a_browser_meeting_a_full_cache_gets_a_page_in_its_language(
    ready: Browser,
    portal: RegisteredRP,
    app_ctx: AppContext,
    accept_language: str,
    lang: str,
    words: str,
) -> None:
    cache = app_ctx.cache
    assert isinstance(cache, InMemoryCache)
    cache._max_entries = len(cache._data)
    headers = {
        "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "accept-language": accept_language,
    }
    # The whole application (this module's `http` has no observability middleware), with the
    # browser's session cookie.
    with TestClient(create_app(app_ctx), raise_server_exceptions=False) as whole:
        whole.cookies = ready.http.cookies
        params = ready.params(portal)
        response = whole.get("/authorize", params=params, headers=headers, follow_redirects=False)
    assert response.status_code == 503
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-language"] == lang
    assert words in response.text
    # The reference a person can quote is the request id the log and the header carry.
    request_id = response.headers["x-request-id"]
    assert f"<code>{request_id}</code>" in response.text
    assert "location" not in response.headers
    assert "cache_unavailable" not in response.text and "NATID_REDIS_URL" not in response.text
    # The page in the other language tries the same request again, parameters and all.
    other = "en" if lang == "km" else "km"
    link = response.text.split(f'hreflang="{other}"')[0].rsplit('href="', 1)[1].split('"')[0]
    again = parse_qs(urlsplit(link.replace("&amp;", "&")).query)
    assert again.pop("lang") == [other]
    assert again == {name: [value] for name, value in params.items()}
