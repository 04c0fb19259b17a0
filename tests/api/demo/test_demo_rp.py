"""The demo portal at /demo/ as a citizen meets it: log in with NatID, see the claims, step up
to substantial to register a business, log out; and the attacks its checks stop."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from api.demo_setup import ensure_demo_site, load_demo_client
from api.routers.demo_site import FLOW_COOKIE, SESSION_COOKIE, STEP_UP_MAX_AGE
from api.routers.demo_text import DEMO_TEXT
from core.clock import FixedClock
from tests.api.demo._demo import FormBrowser, Natid, serve_natid
from tests.api.idp_pages.conftest import make_ctx
from tests.idp._web import make_person_with_login, totp_code


@pytest.fixture
def natid(tmp_path: Path, db_url: str, clock: FixedClock) -> Natid:
    with serve_natid(tmp_path, db_url, clock) as running:
        yield running  # type: ignore[misc]


@pytest.fixture
def browser(natid: Natid) -> FormBrowser:
    b = FormBrowser(natid.base)
    yield b  # type: ignore[misc]
    b.close()


def _log_in(natid: Natid, browser: FormBrowser, *, totp: bool = True) -> str:
    nid, password, secret = make_person_with_login(natid.ctx, totp=totp)
    start = browser.get("/demo/login?lang=en")
    assert start.status_code == 303
    code = totp_code(secret, natid.clock.now()) if secret else None
    page = browser.login(start, nid, password, code)
    assert page.status_code == 200, page.text[:500]
    return secret or ""


def _text(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found is not None, element_id
    return found.group(1)


def test_login_round_trip_shows_names_in_both_scripts_and_the_level(
    natid: Natid, browser: FormBrowser
) -> None:
    start = browser.get("/demo/login?lang=en")
    query = parse_qs(urlsplit(start.headers["location"]).query)
    # An ordinary authorization request: PKCE S256, state, nonce, to the provider's endpoint.
    assert start.headers["location"].startswith(f"{natid.base}/authorize?")
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["state"][0] and query["nonce"][0] and query["scope"] == ["openid profile"]
    nid, password, secret = make_person_with_login(
        natid.ctx, name_km="ចាន់ សុភា", name_latin="Chan Sophea"
    )
    assert secret is not None
    page = browser.login(start, nid, password, totp_code(secret, natid.clock.now()))
    assert urlsplit(str(page.url)).path == "/demo/profile"
    assert _text(page.text, "name-km") == "ចាន់ សុភា"
    assert _text(page.text, "name-latin") == "Chan Sophea"
    assert _text(page.text, "acr") == "substantial"
    # The ID number never reaches the site, and the flow cookie is gone after the callback.
    assert nid not in page.text
    assert FLOW_COOKIE not in browser.http.cookies
    home = browser.get("/demo/?lang=km")
    assert "សូមស្វាគមន៍ ចាន់ សុភា" in home.text


def test_business_form_needs_a_recent_substantial_login_step_up(
    natid: Natid, browser: FormBrowser
) -> None:
    nid, password, secret = make_person_with_login(natid.ctx)
    assert secret is not None
    page = browser.login(
        browser.get("/demo/login?lang=en"), nid, password, totp_code(secret, natid.clock.now())
    )
    assert browser.get("/demo/business?lang=en").status_code == 200  # fresh substantial login
    # Later than max_age: the portal sends the browser back with acr_values and max_age.
    natid.clock.advance(dt.timedelta(seconds=STEP_UP_MAX_AGE + 60))
    again = browser.get("/demo/business?lang=en")
    assert again.status_code == 303 and again.headers["location"].startswith("/demo/login")
    to_idp = browser.follow(again, until="/authorize")
    query = parse_qs(urlsplit(to_idp.headers["location"]).query)
    assert query["acr_values"] == ["substantial"]
    assert query["max_age"] == [str(STEP_UP_MAX_AGE)]
    # The provider asks for the password and the second factor again (a new login).
    page = browser.login(to_idp, nid, password, totp_code(secret, natid.clock.now()))
    assert urlsplit(str(page.url)).path == "/demo/business"
    done = browser.submit(page, "/demo/business", business_name="Kampot Pepper", activity="farming")
    assert done.status_code == 200
    assert "Application DEMO-" in done.text and "(level substantial)" in done.text


def test_password_only_login_cannot_register_a_business(natid: Natid, browser: FormBrowser) -> None:
    nid, password, _ = make_person_with_login(natid.ctx, totp=False)
    browser.login(browser.get("/demo/login?lang=en"), nid, password, None)
    profile = browser.get("/demo/profile?lang=en")
    assert _text(profile.text, "acr") == "low"
    step_up = browser.follow(browser.get("/demo/business?lang=en"), until="/authorize")
    assert "acr_values=substantial" in step_up.headers["location"]
    # The provider asks for a new login; without a second factor it stays at low, and the
    # portal says so instead of sending the browser round again.
    page = browser.login(step_up, nid, password, None)
    assert urlsplit(str(page.url)).path == "/demo/business"
    assert page.status_code == 403
    assert "Your login reached only level low" in page.text


def test_logout_ends_the_portal_and_the_provider_session(
    natid: Natid, browser: FormBrowser
) -> None:
    _log_in(natid, browser)
    profile = browser.get("/demo/profile?lang=en")
    out = browser.submit(profile, "/demo/logout")
    assert out.status_code == 303
    target = urlsplit(out.headers["location"])
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{natid.base}/logout"
    assert query["id_token_hint"][0].count(".") == 2
    assert query["post_logout_redirect_uri"] == [f"{natid.base}/demo/logged-out"]
    assert SESSION_COOKIE not in browser.http.cookies
    confirm = browser.follow(out)
    back = browser.follow(browser.submit(confirm, "/logout", decision="logout"))
    assert urlsplit(str(back.url)).path == "/demo/logged-out"
    assert "You are logged out" in back.text
    # The provider's session is over too: the next login asks for the password again.
    again = browser.follow(browser.get("/demo/login?lang=en"))
    assert urlsplit(str(again.url)).path == "/login"
    assert browser.get("/demo/profile?lang=en").headers["location"].startswith("/demo/")


def test_logout_in_khmer_comes_back_in_khmer_to_an_english_browser(
    natid: Natid, browser: FormBrowser
) -> None:
    # The browser asks for English (Accept-Language); the citizen chose Khmer on the portal.
    _log_in(natid, browser)
    profile = browser.get("/demo/profile?lang=km")
    out = browser.submit(profile, "/demo/logout")
    confirm = browser.follow(out)
    assert confirm.headers["content-language"] == "km"
    back = browser.follow(browser.submit(confirm, "/logout", decision="logout"))
    assert urlsplit(str(back.url)).path == "/demo/logged-out"
    assert back.headers["content-language"] == "km"
    assert DEMO_TEXT["km"]["logged_out_title"] in back.text
    assert DEMO_TEXT["en"]["logged_out_title"] not in back.text
    # An explicit choice on the way back still wins.
    assert DEMO_TEXT["en"]["logged_out_title"] in browser.get(f"{back.url}&lang=en").text


def test_callback_with_another_state_is_refused(natid: Natid, browser: FormBrowser) -> None:
    # An attacker's authorization response (login CSRF) is not a login this browser started.
    browser.get("/demo/login?lang=en")
    forged = browser.get(
        "/demo/callback?" + urlencode({"code": "attacker-code", "state": "x", "iss": natid.base})
    )
    assert forged.status_code == 400
    assert "does not belong to a login you started" in forged.text
    assert SESSION_COOKIE not in browser.http.cookies
    # Without any flow cookie at all, the same.
    other = FormBrowser(natid.base)
    try:
        assert other.get("/demo/callback?code=c&state=s").status_code == 400
    finally:
        other.close()


def test_response_from_another_issuer_is_refused(natid: Natid, browser: FormBrowser) -> None:
    start = browser.get("/demo/login?lang=en")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    mixed = browser.get(
        "/demo/callback?" + urlencode({"code": "c", "state": state, "iss": "https://evil.example"})
    )
    assert mixed.status_code == 400 and "another provider" in mixed.text


def test_tampered_session_cookie_is_refused(natid: Natid, browser: FormBrowser) -> None:
    _log_in(natid, browser)
    value = browser.http.cookies[SESSION_COOKIE]
    body, _, mac = value.partition(".")
    # Claim a higher level by editing the cookie: its MAC no longer matches.
    import base64
    import json

    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["id"]["acr"] = "high"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    browser.http.cookies.set(SESSION_COOKIE, f"{forged}.{mac}", path="/demo")
    assert browser.get("/demo/profile?lang=en").status_code == 303  # back to the start page
    browser.http.cookies.set(SESSION_COOKIE, value + "x", path="/demo")
    assert browser.get("/demo/profile?lang=en").status_code == 303


def test_business_form_without_csrf_token_is_refused(natid: Natid, browser: FormBrowser) -> None:
    _log_in(natid, browser)
    answer = browser.http.post(
        "/demo/business", data={"business_name": "X", "activity": "Y", "lang": "en"}
    )
    assert answer.status_code == 403


def test_init_registration_is_idempotent(tmp_path: Path, db_url: str, clock: FixedClock) -> None:
    ctx = make_ctx(tmp_path, db_url, clock)
    try:
        first = ensure_demo_site(ctx)
        second = ensure_demo_site(ctx)
        assert first is not None and second is not None
        assert first.client_created and not second.client_created
        assert second.client == first.client
        assert [c.client_id for c in ctx.idp_core().clients.list()] == [first.client.client_id]
        assert (ctx.settings.data_dir / "demo" / "client.json").stat().st_mode & 0o077 == 0
        assert load_demo_client(ctx) == first.client
    finally:
        ctx.close()


def test_demo_site_is_off_in_production_by_default(tmp_path: Path, db_url: str) -> None:
    from core.settings import load_settings

    settings = load_settings(
        data_dir=tmp_path, database_url=db_url, production=True,
        allow_soft_keys_in_production=True, soft_key_passphrase="x" * 40,
        public_base_url="https://id.example.gov.kh",
        notifier="gateway", sms_gateway_url="https://sms.example.gov.kh/send",
    )  # fmt: skip
    assert settings.demo_site_enabled is False
    assert load_settings(data_dir=tmp_path).demo_site_enabled is True


def test_portal_opened_under_another_host_name_moves_to_the_public_one(natid: Natid) -> None:
    # Cookies are per host: a login started on another name would lose its flow cookie.
    port = natid.base.rsplit(":", 1)[1]
    other = FormBrowser(f"http://localhost:{port}")
    try:
        moved = other.get("/demo/?lang=en")
        assert moved.status_code == 303
        assert moved.headers["location"] == f"{natid.base}/demo/?lang=en"
    finally:
        other.close()
