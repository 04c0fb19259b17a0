"""/login and /login/second-factor through the HTTP layer (TestClient), SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.context import AppContext
from api.routers.idp_text import TEXT
from core.clock import FixedClock
from idp.sessions import LoginSessions
from tests.api.idp_pages.conftest import PendingFactory, events, make_ctx
from tests.idp._web import browser_login, csrf_from, make_person_with_login, totp_code

EN = TEXT["en"]
KM = TEXT["km"]


def session_of(ctx: AppContext, client: TestClient, name: str = "natid_session") -> object:
    token = client.cookies.get(name)
    assert token, "no session cookie"
    return LoginSessions(ctx.sessions, ledger=ctx.ledger).get(token, at=ctx.clock.now())


def test_password_only_login_gives_low_and_lands_on_account(
    ctx: AppContext, web: TestClient
) -> None:
    nid, password, _ = make_person_with_login(ctx, totp=False)
    answer = browser_login(web, nid, password)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account"
    session = session_of(ctx, web)
    assert session.acr.value == "low"  # type: ignore[attr-defined]
    assert session.amr == ("pwd",)  # type: ignore[attr-defined]


def test_totp_login_gives_substantial_and_continues_the_request(
    ctx: AppContext, web: TestClient, pending_for: PendingFactory
) -> None:
    nid, password, secret = make_person_with_login(ctx)
    assert secret is not None
    pending = pending_for(acr_values=("substantial",))
    page = browser_login(web, nid, password, pending=pending)
    # The password alone did not start a session: the second factor is asked first.
    assert page.status_code == 200 and EN["second_title"] in page.text
    assert "natid_session" not in web.cookies
    form = {"code": totp_code(secret, ctx.clock.now()), "csrf_token": csrf_from(page.text)}
    answer = web.post("/login/second-factor", data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/authorize/continue?pending={pending}"
    session = session_of(ctx, web)
    assert session.acr.value == "substantial"  # type: ignore[attr-defined]
    assert set(session.amr) == {"pwd", "otp", "mfa"}  # type: ignore[attr-defined]


def test_client_name_shown_and_login_hint_prefills_only_an_id_number(
    ctx: AppContext, web: TestClient, pending_for: PendingFactory
) -> None:
    page = web.get(
        "/login", params={"pending": pending_for(login_hint="012 345 678"), "lang": "en"}
    )
    assert EN["login_to"].format(client="Ministry of Health portal") in page.text
    assert 'value="012345678"' in page.text
    page = web.get("/login", params={"pending": pending_for(login_hint="sok@example.com")})
    assert "sok@example.com" not in page.text


def test_wrong_password_and_unknown_user_get_the_same_page(
    ctx: AppContext, web: TestClient
) -> None:
    nid, _, _ = make_person_with_login(ctx, totp=False)
    wrong = browser_login(web, nid, "not the password at all")
    unknown = browser_login(web, "999999999", "not the password at all")
    assert wrong.status_code == unknown.status_code == 200
    assert EN["login_failed"] in wrong.text and EN["login_failed"] in unknown.text

    def body(text: str) -> str:
        return text.replace(csrf_from(text), "").replace(nid, "").replace("999999999", "")

    assert body(wrong.text) == body(unknown.text)
    assert "natid_session" not in web.cookies


def test_wrong_code_keeps_asking_and_never_starts_a_session(
    ctx: AppContext, web: TestClient
) -> None:
    nid, password, _ = make_person_with_login(ctx)
    page = browser_login(web, nid, password, code="000000")
    assert page.status_code == 200
    assert EN["code_wrong"] in page.text
    assert "natid_session" not in web.cookies


def _khmer(digits: str) -> str:
    """``digits`` as a Khmer keyboard types them (០..៩)."""
    return "".join(chr(0x17E0 + int(d)) for d in digits)


def test_id_number_and_totp_code_typed_in_khmer_digits_log_in(
    ctx: AppContext, web: TestClient
) -> None:
    nid, password, secret = make_person_with_login(ctx)
    assert secret is not None
    code = totp_code(secret, ctx.clock.now())
    answer = browser_login(web, _khmer(nid), password, code=_khmer(code), lang="km")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/account"
    assert session_of(ctx, web).acr.value == "substantial"  # type: ignore[attr-defined]


def test_recovery_code_typed_in_khmer_digits_logs_in(ctx: AppContext, web: TestClient) -> None:
    nid, password, secret = make_person_with_login(ctx)
    assert secret is not None
    person = ctx.register.find_person_by_national_id(nid)
    assert person is not None
    accounts = ctx.idp_accounts()
    account = accounts.find_by_person(person.id)
    assert account is not None
    codes = accounts.totp.regenerate_recovery_codes(account.id, at=ctx.clock.now(), actor="test")
    # A code with digits in it (almost all of them: 16 characters of Crockford's base 32).
    code = next(c for c in codes if any(ch.isdigit() for ch in c))
    typed = "".join(_khmer(ch) if ch.isdigit() else ch for ch in code)
    answer = browser_login(web, nid, password, code=typed, lang="km")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/account"


def test_password_is_not_rewritten_when_it_has_khmer_digits(
    ctx: AppContext, web: TestClient
) -> None:
    # Only the ID number and the codes are numbers: a password keeps every character typed.
    nid, _, _ = make_person_with_login(ctx, password="river ១២៣ lantern", totp=False)
    wrong = browser_login(web, nid, "river 123 lantern")
    assert EN["login_failed"] in wrong.text
    assert browser_login(web, nid, "river ១២៣ lantern").status_code == 303


def test_second_factor_without_a_first_step_goes_back_to_login(web: TestClient) -> None:
    answer = web.get("/login/second-factor", params={"lang": "km"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?lang=km"


def test_repeated_failures_show_the_wait(ctx: AppContext, web: TestClient) -> None:
    nid, password, _ = make_person_with_login(ctx, totp=False)
    for _ in range(4):
        assert EN["login_failed"] in browser_login(web, nid, "wrong wrong wrong").text
    throttled = browser_login(web, nid, password)
    assert throttled.status_code == 429
    seconds = int(throttled.headers["retry-after"])
    assert seconds >= 1
    assert EN["login_throttled"].format(seconds=seconds) in throttled.text
    # Even the right password waits: nothing was checked.
    assert "natid_session" not in web.cookies


def test_khmer_page_writes_the_wait_in_khmer_digits(ctx: AppContext, web: TestClient) -> None:
    nid, password, _ = make_person_with_login(ctx, totp=False)
    for _ in range(4):
        browser_login(web, nid, "wrong wrong wrong", lang="km")
    throttled = browser_login(web, nid, password, lang="km")
    assert throttled.status_code == 429
    seconds = throttled.headers["retry-after"]  # the header stays ASCII (RFC 9110 §10.2.3)
    khmer_seconds = "".join(chr(0x17E0 + int(d)) for d in seconds)
    assert KM["login_throttled"].format(seconds=khmer_seconds) in throttled.text
    assert KM["login_throttled"].format(seconds=seconds) not in throttled.text


def test_inactive_account_has_its_own_message(ctx: AppContext, web: TestClient) -> None:
    nid, password, _ = make_person_with_login(ctx, totp=False)
    accounts = ctx.idp_accounts()
    person = ctx.register.find_person_by_national_id(nid)
    assert person is not None
    account = accounts.find_by_person(person.id)
    assert account is not None
    accounts.set_status(account.id, "locked", actor="test")  # type: ignore[arg-type]
    answer = browser_login(web, nid, password)
    assert answer.status_code == 403
    assert EN["account_not_active"] in answer.text


@pytest.mark.parametrize("token", [None, "forged-token", "x" * 43])
def test_login_without_the_right_csrf_token_is_refused_and_nothing_happens(
    ctx: AppContext, web: TestClient, token: str | None
) -> None:
    nid, password, _ = make_person_with_login(ctx, totp=False)
    web.get("/login")  # the browser has its CSRF cookie
    form = {"identifier": nid, "password": password, "lang": "en"}
    if token is not None:
        form["csrf_token"] = token
    answer = web.post("/login", data=form, follow_redirects=False)
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert EN["csrf_failed"] in answer.text
    assert "natid_session" not in web.cookies
    assert events(ctx, "idp.login.succeeded") == events(ctx, "idp.login.failed") == []


def test_csrf_token_of_another_browser_is_refused(ctx: AppContext, web: TestClient) -> None:
    nid, password, _ = make_person_with_login(ctx, totp=False)
    with TestClient(web.app) as attacker:
        stolen = csrf_from(attacker.get("/login").text)
    web.get("/login")
    form = {"identifier": nid, "password": password, "csrf_token": stolen}
    assert web.post("/login", data=form).status_code == 403
    assert events(ctx, "idp.login.succeeded") == []


def test_http_cookies_are_httponly_lax_and_not_secure(ctx: AppContext, web: TestClient) -> None:
    nid, password, _ = make_person_with_login(ctx, totp=False)
    answer = browser_login(web, nid, password)
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("natid_session=")
    )
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "path=/", "samesite=lax"} <= attributes
    assert "secure" not in attributes


def test_https_cookies_are_host_prefixed_and_secure(
    tmp_path: Path, db_url: str, clock: FixedClock
) -> None:
    ctx = make_ctx(tmp_path, db_url, clock, public_base_url="https://id.natid.gov.kh")
    try:
        nid, password, _ = make_person_with_login(ctx, totp=False)
        with TestClient(create_app(ctx), base_url="https://id.natid.gov.kh") as client:
            page = client.get("/login")
            csrf_cookie = page.headers["set-cookie"]
            assert csrf_cookie.startswith("__Host-natid_csrf=")
            answer = browser_login(client, nid, password)
            assert answer.status_code == 303
            cookie = next(
                c for c in answer.headers.get_list("set-cookie")
                if c.startswith("__Host-natid_session=")
            )  # fmt: skip
        attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "path=/", "samesite=lax", "secure"} <= attributes
        assert not any(a.startswith("domain=") for a in attributes)
    finally:
        ctx.close()


def test_second_login_of_the_same_account_steps_up_the_session(
    ctx: AppContext, web: TestClient
) -> None:
    nid, password, _ = make_person_with_login(ctx, totp=False)
    browser_login(web, nid, password)
    first = session_of(ctx, web)
    token = web.cookies.get("natid_session")
    ctx.clock.advance(dt.timedelta(minutes=5))  # type: ignore[attr-defined]
    browser_login(web, nid, password)
    again = session_of(ctx, web)
    assert web.cookies.get("natid_session") == token
    assert again.id == first.id  # type: ignore[attr-defined]
    assert again.auth_time > first.auth_time  # type: ignore[attr-defined]


def test_login_as_another_person_ends_the_first_session(ctx: AppContext, web: TestClient) -> None:
    nid_a, password_a, _ = make_person_with_login(ctx, totp=False)
    nid_b, password_b, _ = make_person_with_login(ctx, totp=False)
    browser_login(web, nid_a, password_a)
    first = session_of(ctx, web)
    browser_login(web, nid_b, password_b)
    second = session_of(ctx, web)
    assert second.account_id != first.account_id  # type: ignore[attr-defined]
    ended = [e for e in events(ctx, "idp.session.ended") if e.subject == first.id]  # type: ignore[attr-defined]
    assert len(ended) == 1


def test_pages_are_in_khmer_by_default_and_switch_keeps_pending(
    web: TestClient, pending_for: PendingFactory
) -> None:
    pending = pending_for()
    page = web.get("/login", params={"pending": pending})
    assert '<html lang="km">' in page.text
    assert KM["login_to"].format(client="Ministry of Health portal") in page.text
    assert f'href="/login?lang=en&amp;pending={pending}"' in page.text
    english = web.get("/login", params={"pending": pending}, headers={"accept-language": "en"})
    assert '<html lang="en">' in english.text


def test_language_switch_on_an_error_page_keeps_the_request(web: TestClient) -> None:
    # A site sent the browser here with a request NatID refuses (unknown client): the page in
    # the other language must be the same request, not /authorize without its parameters.
    params = {
        "client_id": "no-such-client",
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": "https://portal.example/cb",
        "state": "s 1&2",
        "lang": "km",
    }
    page = web.get("/authorize", params=params)
    assert page.status_code == 400 and '<html lang="km">' in page.text
    href = page.text.split('hreflang="en"')[0].rsplit('href="', 1)[1].split('"')[0]
    target = urlsplit(href.replace("&amp;", "&"))
    assert target.path == "/authorize"
    assert parse_qs(target.query) == {**{k: [v] for k, v in params.items()}, "lang": ["en"]}
    english = web.get(href.replace("&amp;", "&"))
    assert english.status_code == 400 and '<html lang="en">' in english.text


def test_language_switch_after_a_form_post_keeps_only_pending(
    web: TestClient, pending_for: PendingFactory
) -> None:
    pending = pending_for()
    page = web.post(
        f"/login?pending={pending}", data={"pending": pending, "username": "x", "password": "y"}
    )
    # The language switch's links (those with hreflang), not the way back to the account.
    links = [
        p.split('"')[0] for p in page.text.split('href="')[1:] if 'hreflang="' in p.split(">")[0]
    ]
    assert links and all(link.endswith(f"&amp;pending={pending}") for link in links), links


def test_ui_locales_of_the_request_choose_the_language(
    web: TestClient, pending_for: PendingFactory
) -> None:
    page = web.get("/login", params={"pending": pending_for(ui_locales=("en-US", "km"))})
    assert '<html lang="en">' in page.text


def test_unknown_pending_request_is_an_error_page(web: TestClient) -> None:
    page = web.get("/login", params={"pending": "no-such-request", "lang": "en"})
    assert page.status_code == 400
    assert EN["pending_unknown"] in page.text


def test_page_headers_forbid_framing_caching_and_other_origins(web: TestClient) -> None:
    page = web.get("/login")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    for origin in ("http://", "https://", "//"):
        assert f'src="{origin}' not in page.text and f'href="{origin}' not in page.text
    css_url = next(p.split('"')[0] for p in page.text.split('href="')[1:] if "site.css" in p)
    css = web.get(css_url)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "immutable" in css.headers["cache-control"]
    assert len(page.content) + len(css.content) < 30_000
    assert "Khmer OS" in css.text and "Noto Sans Khmer" in css.text
    assert web.get("/static/idp/../../app.py").status_code == 404


def test_login_posts_show_a_parsed_redirect(
    ctx: AppContext, web: TestClient, pending_for: PendingFactory
) -> None:
    nid, password, _ = make_person_with_login(ctx, totp=False)
    pending = pending_for()
    answer = browser_login(web, nid, password, pending=pending)
    target = urlsplit(answer.headers["location"])
    assert target.path == "/authorize/continue"
    assert parse_qs(target.query) == {"pending": [pending]}


@pytest.mark.parametrize(
    ("next_path", "landing"),
    [
        ("/sign/documents/42", "/sign/documents/42"),
        ("//evil.example/phish", "/account"),
        ("https://evil.example/", "/account"),
        ("/\\evil.example", "/account"),
    ],
)
def test_a_page_asking_for_a_fresh_login_gets_the_browser_back_and_nowhere_else(
    ctx: AppContext, web: TestClient, next_path: str, landing: str
) -> None:
    # A page that needs a fresh login (signing an approval) sends the browser to
    # /login?next=<its path>; after the password and the second factor the browser returns
    # there - but never to another site.
    nid, password, secret = make_person_with_login(ctx)
    assert secret is not None
    page = web.get("/login", params={"lang": "en", "next": next_path})
    assert page.status_code == 200
    form = {
        "identifier": nid,
        "password": password,
        "csrf_token": csrf_from(page.text),
        "lang": "en",
        "next": next_path,
    }
    answer = web.post("/login", data=form, follow_redirects=False)
    assert answer.status_code == 303 and "/login/second-factor" in answer.headers["location"]
    second = web.get(answer.headers["location"])
    code = {"code": totp_code(secret, ctx.clock.now()), "csrf_token": csrf_from(second.text)}
    final = web.post("/login/second-factor", data=code, follow_redirects=False)
    assert final.status_code == 303
    assert final.headers["location"] == landing
    assert session_of(ctx, web).acr.value == "substantial"  # type: ignore[attr-defined]
