"""The account area through HTTP (api/routers/idp_account.py): sessions, TOTP enrolment,
certificates, recent logins, consents; logged-out visitors go to /login."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from api.context import AppContext
from api.routers.idp_text import SCOPE_TEXT
from ca.revocation import RevocationReason
from core.clock import FixedClock
from idp.consents import Consents
from idp.errors import InvalidGrant
from tests.api.idp_account.conftest import browser
from tests.ca._issuance import ec_key, make_csr
from tests.idp._flow import redeemed_grant
from tests.idp._web import browser_login, csrf_from, make_person_with_login, totp_code

PAGES = [
    "/account",
    "/account/sessions",
    "/account/security",
    "/account/certificates",
    "/account/logins",
    "/account/consents",
]


def logged_in(ctx: AppContext, client: TestClient, *, totp: bool = True) -> str:
    """Log ``client`` in as a new person; return the person's register id."""
    national_id, password, secret = make_person_with_login(ctx, totp=totp)
    code = totp_code(secret, ctx.clock.now()) if secret else None
    answer = browser_login(client, national_id, password, code=code)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/account"
    person = ctx.register.find_person_by_national_id(national_id)
    assert person is not None
    return person.id


@pytest.mark.parametrize("path", PAGES)
def test_account_pages_send_visitors_without_a_session_to_login(
    client: TestClient, path: str
) -> None:
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"


def test_overview_greets_the_holder_in_khmer_and_english(
    ctx: AppContext, client: TestClient
) -> None:
    logged_in(ctx, client)
    english = client.get("/account?lang=en")
    assert "Hello, Sok Dara" in english.text
    assert "substantial" in english.text
    khmer = client.get("/account?lang=km")
    assert "សួស្តី" in khmer.text
    # The level has one Khmer name on every NatID page (the demo site's and the officers' too).
    assert "កម្រិតធានា៖ គួរសម" in khmer.text
    assert "សំខាន់" not in khmer.text
    assert khmer.headers["content-language"] == "km"
    assert "default-src 'self'" in khmer.headers["content-security-policy"]


def test_sessions_list_marks_this_one_and_ends_another(
    ctx: AppContext, client: TestClient, clock: FixedClock
) -> None:
    national_id, password, secret = make_person_with_login(ctx)
    assert secret is not None
    assert browser_login(client, national_id, password, code=totp_code(secret, ctx.clock.now()))
    with browser(ctx) as phone:
        clock.advance(dt.timedelta(seconds=30))
        code = totp_code(secret, ctx.clock.now())
        assert browser_login(phone, national_id, password, code=code).status_code == 303
        page = client.get("/account/sessions?lang=en")
        ids = re.findall(r'data-session-id="([^"]+)"', page.text)
        assert len(ids) == 2
        assert page.text.count('id="current-session"') == 1
        current = re.search(
            r'data-session-id="([^"]+)">\s*<div>\s*<p><strong[^>]*>[^<]*</strong> '
            r'<span class="tag" id="current-session"',
            page.text,
        )
        assert current is not None
        other = next(i for i in ids if i != current.group(1))
        ended = client.post(
            "/account/sessions/end",
            data={"session_id": other, "csrf_token": csrf_from(page.text), "lang": "en"},
            follow_redirects=False,
        )
        assert ended.status_code == 303
        assert client.get(ended.headers["location"]).text.count("data-session-id=") == 1
        # The phone's session is gone: its next page asks it to log in.
        assert phone.get("/account", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/account", follow_redirects=False).status_code == 200


def test_ending_a_session_needs_the_csrf_token(ctx: AppContext, client: TestClient) -> None:
    logged_in(ctx, client)
    page = client.get("/account/sessions")
    (session_id,) = re.findall(r'data-session-id="([^"]+)"', page.text)
    refused = client.post("/account/sessions/end", data={"session_id": session_id})
    assert refused.status_code == 403
    assert client.get("/account", follow_redirects=False).status_code == 200


def test_ending_this_session_logs_the_browser_out(ctx: AppContext, client: TestClient) -> None:
    logged_in(ctx, client)
    page = client.get("/account/sessions")
    (session_id,) = re.findall(r'data-session-id="([^"]+)"', page.text)
    answer = client.post(
        "/account/sessions/end",
        data={"session_id": session_id, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/login"
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_totp_enrolment_shows_a_qr_code_confirms_and_shows_recovery_codes_once(
    ctx: AppContext, client: TestClient
) -> None:
    logged_in(ctx, client, totp=False)
    security = client.get("/account/security?lang=en")
    assert "Not enrolled" in security.text
    started = client.post(
        "/account/totp", data={"csrf_token": csrf_from(security.text), "lang": "en"}
    )
    assert started.status_code == 200
    assert "<svg" in started.text
    assert "<script" not in started.text
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', started.text)
    assert secret is not None
    authenticator_id = re.search(r'name="authenticator_id" value="([^"]+)"', started.text)
    assert authenticator_id is not None
    form = {
        "authenticator_id": authenticator_id.group(1),
        "csrf_token": csrf_from(started.text),
        "lang": "en",
    }
    right = totp_code(secret.group(1).replace(" ", ""), ctx.clock.now())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    mismatch = client.post("/account/totp/confirm", data={**form, "code": wrong})
    assert mismatch.status_code == 400
    assert "does not match" in mismatch.text
    confirmed = client.post("/account/totp/confirm", data={**form, "code": right})
    assert confirmed.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-z-]{19})</code></li>", confirmed.text)
    assert len(codes) == 10
    after = client.get("/account/security?lang=en")
    assert "Recovery codes left: 10" in after.text
    assert codes[0] not in after.text


def test_changing_sign_in_methods_needs_a_recent_login(
    ctx: AppContext, client: TestClient, clock: FixedClock
) -> None:
    logged_in(ctx, client)
    clock.advance(dt.timedelta(minutes=20))
    security = client.get("/account/security?lang=en")
    assert 'id="reauth"' in security.text
    assert 'action="/account/totp"' not in security.text
    token = csrf_from(client.get("/account/sessions").text)
    refused = client.post("/account/totp", data={"csrf_token": token, "lang": "en"})
    assert refused.status_code == 403
    assert "log in again" in refused.text


def test_certificates_page_lists_status_and_transparency_log(
    ctx: AppContext, client: TestClient
) -> None:
    person_id = logged_in(ctx, client)
    ca = ctx.ca()
    good = ca.issue_from_csr("citizen-auth", person_id, make_csr(ec_key()), actor="officer")
    revoked = ca.issue_from_csr("citizen-sign", person_id, make_csr(ec_key()), actor="officer")
    ca.revoke(revoked.serial_hex, reason=RevocationReason.KEY_COMPROMISE, actor="officer")
    page = client.get("/account/certificates?lang=en")
    assert page.status_code == 200
    items = re.findall(
        r'data-serial="([0-9A-F]+)">.*?class="status">([^<]+)<.*?class="in-log">([^<]+)<',
        page.text,
        flags=re.S,
    )
    found = {serial: (status, in_log) for serial, status, in_log in items}
    # Plain words, not OCSP's "good".
    assert found[good.serial_hex][0] == "valid"
    assert found[revoked.serial_hex][0] == "revoked (can no longer be used)"
    assert all(in_log.startswith("yes (entry ") for _, in_log in found.values())
    assert "Citizen authentication" in page.text
    assert "CN=" in page.text
    khmer = client.get("/account/certificates?lang=km")
    statuses = re.findall(r'class="status">([^<]+)<', khmer.text)
    assert sorted(statuses) == ["ត្រូវបានដកហូត (លែងប្រើបានទៀត)", "មានសុពលភាព"]
    assert "ល្អ" not in khmer.text


def test_recent_logins_show_failures_and_methods(ctx: AppContext, client: TestClient) -> None:
    national_id, password, secret = make_person_with_login(ctx)
    assert secret is not None
    failed = browser_login(client, national_id, "wrong password entirely")
    assert failed.status_code == 200
    assert browser_login(client, national_id, password, code=totp_code(secret, ctx.clock.now()))
    page = client.get("/account/logins?lang=en")
    entries = re.findall(r"<strong>(succeeded|failed)</strong> · ([a-z ]+)<br>", page.text)
    assert entries[:3] == [
        ("succeeded", "second factor"),
        ("succeeded", "password"),
        ("failed", "password"),
    ]
    assert "testclient" not in page.text  # the source is the address, 127.0.0.1
    assert "127.0.0.1" in page.text
    assert national_id not in page.text


def test_consents_are_listed_and_can_be_withdrawn(ctx: AppContext, client: TestClient) -> None:
    logged_in(ctx, client)
    session_page = client.get("/account/sessions")
    assert session_page.status_code == 200
    registered = ctx.idp_core().clients.add(
        name="Ministry of Land", redirect_uris=["https://land.gov.kh/cb"],
        auth_method="client_secret_basic",
    )  # fmt: skip
    holder = _account_of(ctx, client)
    Consents(ctx.sessions, ledger=ctx.ledger).grant(
        holder, registered.client.client_id, ["openid", "profile"], ["name"], at=ctx.clock.now()
    )
    page = client.get("/account/consents?lang=en")
    assert "Ministry of Land" in page.text
    # What the site receives, in the consent page's own words, not the scope codes.
    shared = re.findall(r"<li>([^<]+)</li>", page.text.split('class="shared"')[1].split("</ul>")[0])
    assert shared == [SCOPE_TEXT["en"]["openid"], SCOPE_TEXT["en"]["profile"]]
    assert "openid, profile" not in page.text
    khmer = client.get("/account/consents?lang=km")
    assert SCOPE_TEXT["km"]["openid"] in khmer.text and SCOPE_TEXT["km"]["profile"] in khmer.text
    assert "openid" not in khmer.text.split("<main")[1].split("</main>")[0]
    form = {
        "client_id": registered.client.client_id,
        "csrf_token": csrf_from(page.text),
        "lang": "en",
    }
    # The site holds tokens from the consent, with offline access.
    core, now = ctx.idp_core(), ctx.clock.now()
    core.signing_keys.ensure_active(actor="test")
    person_id = ctx.idp_accounts().get(holder).person_id
    grant = redeemed_grant(core, registered.client, now, subject=person_id,
                           scopes=("openid", "profile", "offline_access"))  # fmt: skip
    tokens = core.tokens.exchange_code(grant, client=registered.client, dpop_jkt=None, at=now)
    assert tokens.refresh_token is not None
    answer = client.post("/account/consents/withdraw", data=form, follow_redirects=False)
    assert answer.status_code == 303
    after = client.get(answer.headers["location"])
    assert "The consent was withdrawn." in after.text
    assert "Ministry of Land" not in after.text
    # Withdrawn means the site's tokens stop now: the refresh token and the access token.
    with pytest.raises(InvalidGrant, match="revoked"):
        core.tokens.refresh(tokens.refresh_token, client=registered.client, dpop_jkt=None, at=now)
    assert core.tokens.introspect(tokens.access_token, client=registered.client, at=now) == {
        "active": False
    }


def _account_of(ctx: AppContext, client: TestClient) -> str:
    from api.idp_web import SESSION_COOKIE_NAME
    from idp.sessions import LoginSessions

    token = client.cookies.get(SESSION_COOKIE_NAME(ctx.settings))
    assert token is not None
    return LoginSessions(ctx.sessions, ledger=ctx.ledger).get(token, at=ctx.clock.now()).account_id


ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; SM-A155F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.104 Mobile Safari/537.36"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def test_sessions_name_each_device_plainly_and_mark_this_one_once(
    ctx: AppContext, client: TestClient, clock: FixedClock
) -> None:
    national_id, password, secret = make_person_with_login(ctx)
    assert secret is not None
    client.headers["User-Agent"] = ANDROID_CHROME
    assert browser_login(client, national_id, password, code=totp_code(secret, ctx.clock.now()))
    with browser(ctx) as phone:
        phone.headers["User-Agent"] = IPHONE_SAFARI
        clock.advance(dt.timedelta(seconds=30))
        code = totp_code(secret, ctx.clock.now())
        assert browser_login(phone, national_id, password, code=code).status_code == 303
        with browser(ctx) as script:
            script.headers["User-Agent"] = "curl/8.5.0"
            clock.advance(dt.timedelta(seconds=30))
            code = totp_code(secret, ctx.clock.now())
            assert browser_login(script, national_id, password, code=code).status_code == 303
    english = client.get("/account/sessions?lang=en").text
    names = re.findall(r'<strong class="device"[^>]*>([^<]+)</strong>', english)
    assert sorted(names) == ["Chrome on Android", "Safari on iPhone", "Unknown browser"]
    # The full header is still there for whoever wants it, as the name's tooltip.
    assert f'title="{ANDROID_CHROME}">Chrome on Android</strong>' in english
    # This browser's session, once, in single brackets.
    assert re.search(
        r">Chrome on Android</strong> <span class=\"tag\" id=\"current-session\">"
        r"\(this device\)</span>",
        english,
    )
    assert "((" not in english and "))" not in english
    khmer = client.get("/account/sessions?lang=km").text
    names = re.findall(r'<strong class="device"[^>]*>([^<]+)</strong>', khmer)
    assert sorted(names) == ["Chrome លើ Android", "Safari លើ iPhone", "កម្មវិធីរុករកមិនស្គាល់"]
    assert 'id="current-session">(ឧបករណ៍នេះ)</span>' in khmer


def test_session_and_login_times_are_cambodia_time(ctx: AppContext, client: TestClient) -> None:
    # The test clock says 2026-11-01 09:00 UTC: 16:00 in Phnom Penh (UTC+7).
    assert ctx.clock.now() == dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
    logged_in(ctx, client)
    for path in ("/account/sessions", "/account/logins"):
        english = client.get(f"{path}?lang=en").text
        assert "2026-11-01 16:00 Cambodia time" in english, path
        assert "UTC" not in english and "09:00" not in english, path
        khmer = client.get(f"{path}?lang=km").text
        assert "២០២៦-១១-០១ ១៦:០០ ម៉ោងកម្ពុជា" in khmer, path
        assert "UTC" not in khmer and "2026-11-01" not in khmer, path


def test_totp_enrolment_accepts_a_code_typed_in_khmer_digits(
    ctx: AppContext, client: TestClient
) -> None:
    logged_in(ctx, client, totp=False)
    security = client.get("/account/security?lang=km")
    started = client.post(
        "/account/totp", data={"csrf_token": csrf_from(security.text), "lang": "km"}
    )
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', started.text)
    authenticator_id = re.search(r'name="authenticator_id" value="([^"]+)"', started.text)
    assert secret is not None and authenticator_id is not None
    right = totp_code(secret.group(1).replace(" ", ""), ctx.clock.now())
    typed = "".join(chr(0x17E0 + int(d)) for d in right)
    confirmed = client.post(
        "/account/totp/confirm",
        data={
            "authenticator_id": authenticator_id.group(1),
            "csrf_token": csrf_from(started.text),
            "lang": "km",
            "code": typed,
        },
    )
    assert confirmed.status_code == 200, confirmed.text
    assert len(re.findall(r"<li><code>([0-9a-z-]{19})</code></li>", confirmed.text)) == 10


def test_khmer_pages_write_counts_and_dates_in_khmer_digits_but_not_serials(
    ctx: AppContext, client: TestClient
) -> None:
    person_id = logged_in(ctx, client)
    issued = ctx.ca().issue_from_csr("citizen-auth", person_id, make_csr(ec_key()), actor="officer")
    overview = client.get("/account?lang=km").text
    assert "វគ្គសកម្ម៖ ១<" in overview and "វិញ្ញាបនបត្រ៖ ១<" in overview
    security = client.get("/account/security?lang=km").text
    # The clock's day, 2026-11-01, as the TOTP's enrolment date; ten recovery codes left.
    assert "បានចុះឈ្មោះនៅ ២០២៦-១១-០១។ លេខកូដសង្គ្រោះនៅសល់៖ ១០" in security
    certificates = client.get("/account/certificates?lang=km").text
    assert "ពី ២០២៦-១១-០១ ដល់ " in certificates
    # A serial number is copied or read out to the help desk exactly: never rewritten.
    assert f'data-serial="{issued.serial_hex}"' in certificates
    assert issued.serial_hex in certificates.replace(f'data-serial="{issued.serial_hex}"', "")
    english = client.get("/account/security?lang=en").text
    assert "Enrolled on 2026-11-01. Recovery codes left: 10" in english
