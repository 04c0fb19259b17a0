"""Passkey and certificate login through HTTP (api/routers/idp_account.py).

Passkeys: registered in the account area and used at /login/passkey with a software
authenticator (tests/api/idp_account/_authenticator.py). Certificates: real certificates of
the development hierarchy, forwarded the way nginx forwards them ($ssl_client_escaped_cert),
from the trusted proxy address and from elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from fastapi.testclient import TestClient

from api.context import AppContext
from api.idp_web import SESSION_COOKIE_NAME
from ca.revocation import RevocationReason
from core.clock import FixedClock
from idp.sessions import LoginSession, LoginSessions
from registry.records import AssuranceLevel
from tests.api.idp_account._authenticator import SoftAuthenticator
from tests.api.idp_account.conftest import BASE_URL, browser
from tests.ca._issuance import ec_key, make_csr
from tests.idp._web import browser_login, csrf_from, make_person_with_login, totp_code

HEADER = "X-Client-Cert"


def session_of(ctx: AppContext, client: TestClient) -> LoginSession:
    token = client.cookies.get(SESSION_COOKIE_NAME(ctx.settings))
    assert token is not None
    return LoginSessions(ctx.sessions, ledger=ctx.ledger).get(token, at=ctx.clock.now())


# --- passkeys -------------------------------------------------------------------------------------


def register_passkey(ctx: AppContext, client: TestClient, device: SoftAuthenticator) -> str:
    national_id, password, secret = make_person_with_login(ctx)
    assert secret is not None
    login = browser_login(client, national_id, password, code=totp_code(secret, ctx.clock.now()))
    assert login.status_code == 303
    security = client.get("/account/security?lang=en")
    assert 'data-passkey="register"' in security.text
    token = csrf_from(security.text)
    options = client.post("/account/passkeys/options", data={"csrf_token": token})
    assert options.status_code == 200
    form = {
        "credential": json.dumps(device.create(options.text)),
        "label": "My phone",
        "csrf_token": token,
        "lang": "en",
    }
    added = client.post("/account/passkeys", data=form, follow_redirects=False)
    assert added.status_code == 303
    assert "done=passkey_added" in added.headers["location"]
    return national_id


def passkey_login(client: TestClient, device: SoftAuthenticator, pending: str = "") -> object:
    page = client.get("/login/passkey?lang=en")
    assert page.status_code == 200
    assert "/static/idp/js/passkey.js?v=" in page.text
    token = csrf_from(page.text)
    options = client.post("/login/passkey/options", data={"csrf_token": token})
    assert options.status_code == 200
    form = {
        "credential": json.dumps(device.get(options.text)),
        "csrf_token": token,
        "lang": "en",
        "pending": pending,
    }
    return client.post("/login/passkey", data=form, follow_redirects=False)


def test_passkey_added_in_the_account_area_logs_in_at_substantial(
    ctx: AppContext, client: TestClient
) -> None:
    device = SoftAuthenticator(origin=BASE_URL)
    register_passkey(ctx, client, device)
    page = client.get("/account/security?lang=en")
    assert "My phone" in page.text
    assert "Last used: never" in page.text
    with browser(ctx) as other:
        answer = passkey_login(other, device)
        assert answer.status_code == 303  # type: ignore[attr-defined]
        assert answer.headers["location"] == "/account"  # type: ignore[attr-defined]
        session = session_of(ctx, other)
        assert session.acr is AssuranceLevel.SUBSTANTIAL
        assert set(session.amr) == {"hwk", "user", "mfa"}
        logins = other.get("/account/logins?lang=en").text
        assert "<strong>succeeded</strong> · passkey" in logins


def test_passkey_from_a_phishing_origin_does_not_log_in(
    ctx: AppContext, client: TestClient
) -> None:
    device = SoftAuthenticator(origin=BASE_URL)
    register_passkey(ctx, client, device)
    device.origin = "http://natid-login.example"
    with browser(ctx) as other:
        answer = passkey_login(other, device)
        assert answer.status_code == 401  # type: ignore[attr-defined]
        assert "The passkey was not accepted" in answer.text  # type: ignore[attr-defined]
        assert SESSION_COOKIE_NAME(ctx.settings) not in other.cookies


def test_removed_passkey_disappears(ctx: AppContext, client: TestClient) -> None:
    device = SoftAuthenticator(origin=BASE_URL)
    register_passkey(ctx, client, device)
    page = client.get("/account/security?lang=en")
    authenticator_id = page.text.split('name="authenticator_id" value="')[1].split('"')[0]
    answer = client.post(
        "/account/passkeys/remove",
        data={"authenticator_id": authenticator_id, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    after = client.get("/account/security?lang=en").text
    assert "<strong>My phone</strong>" not in after
    assert "No passkey yet" in after


def test_passkey_options_need_a_session_and_csrf(ctx: AppContext, client: TestClient) -> None:
    assert client.post("/account/passkeys/options", data={}).status_code == 403
    assert client.post("/login/passkey/options", data={}).status_code == 403


# --- certificates -------------------------------------------------------------------------------


def citizen_certificate(ctx: AppContext) -> tuple[x509.Certificate, str]:
    national_id, _password, _secret = make_person_with_login(ctx, totp=False)
    person = ctx.register.find_person_by_national_id(national_id)
    assert person is not None
    issued = ctx.ca().issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor="o")
    return issued.certificate, national_id


def forwarded(cert: x509.Certificate) -> dict[str, str]:
    """The header as nginx's $ssl_client_escaped_cert writes it."""
    return {HEADER: quote(cert.public_bytes(serialization.Encoding.PEM).decode(), safe="")}


def certificate_login(client: TestClient, cert: x509.Certificate | None) -> object:
    page = client.get("/login/certificate?lang=en")
    assert page.status_code == 200
    form = {"csrf_token": csrf_from(page.text), "lang": "en"}
    headers = forwarded(cert) if cert is not None else {}
    return client.post("/login/certificate", data=form, headers=headers, follow_redirects=False)


def test_certificate_from_the_trusted_proxy_logs_in_at_high(
    ctx: AppContext, client: TestClient
) -> None:
    cert, national_id = citizen_certificate(ctx)
    answer = certificate_login(client, cert)
    assert answer.status_code == 303  # type: ignore[attr-defined]
    assert answer.headers["location"] == "/account"  # type: ignore[attr-defined]
    session = session_of(ctx, client)
    assert session.acr is AssuranceLevel.HIGH
    assert session.amr == ("sc", "mfa")
    assert national_id not in client.get("/account/logins?lang=en").text


def test_a_page_that_needs_level_high_gets_the_officer_back_after_a_certificate_login(
    ctx: AppContext, client: TestClient
) -> None:
    # The officer pages send ``/login?next=/officer&acr=high``: the login page says that a
    # password is not enough, its links keep ``next``, and the certificate login returns there.
    login = client.get("/login?lang=en&next=/officer&acr=high")
    assert "needs level high" in login.text
    assert "/login/certificate?lang=en&amp;next=%2Fofficer" in login.text
    cert, _ = citizen_certificate(ctx)
    page = client.get("/login/certificate?lang=en&next=/officer")
    assert 'name="next" value="/officer"' in page.text
    form = {"csrf_token": csrf_from(page.text), "lang": "en", "next": "/officer"}
    answer = client.post(
        "/login/certificate", data=form, headers=forwarded(cert), follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/officer"
    assert session_of(ctx, client).acr is AssuranceLevel.HIGH


def test_certificate_login_never_returns_to_another_site(
    ctx: AppContext, client: TestClient
) -> None:
    cert, _ = citizen_certificate(ctx)
    page = client.get("/login/certificate?lang=en&next=//evil.example/")
    assert "evil.example" not in page.text
    form = {"csrf_token": csrf_from(page.text), "lang": "en", "next": "https://evil.example/"}
    answer = client.post(
        "/login/certificate", data=form, headers=forwarded(cert), follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/account"


def test_revoked_certificate_does_not_log_in(ctx: AppContext, client: TestClient) -> None:
    cert, _ = citizen_certificate(ctx)
    ctx.ca().revoke(cert.serial_number, reason=RevocationReason.KEY_COMPROMISE, actor="o")
    answer = certificate_login(client, cert)
    assert answer.status_code == 401  # type: ignore[attr-defined]
    assert "cannot log in" in answer.text  # type: ignore[attr-defined]
    assert SESSION_COOKIE_NAME(ctx.settings) not in client.cookies


def test_certificate_of_another_ca_does_not_log_in(ctx: AppContext, client: TestClient) -> None:
    genuine, _ = citizen_certificate(ctx)
    rogue = ec.generate_private_key(ec.SECP256R1())
    forged = (
        x509.CertificateBuilder()
        .subject_name(genuine.subject)
        .issuer_name(genuine.issuer)
        .public_key(ec_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(genuine.not_valid_before_utc)
        .not_valid_after(genuine.not_valid_after_utc)
        .add_extension(genuine.extensions.get_extension_for_class(x509.KeyUsage).value, True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(rogue, hashes.SHA256())
    )
    answer = certificate_login(client, forged)
    assert answer.status_code == 401  # type: ignore[attr-defined]
    assert SESSION_COOKIE_NAME(ctx.settings) not in client.cookies


def test_header_from_an_untrusted_address_is_ignored(ctx: AppContext) -> None:
    cert, _ = citizen_certificate(ctx)
    with browser(ctx, address="203.0.113.9") as outsider:
        answer = certificate_login(outsider, cert)
        assert answer.status_code == 401  # type: ignore[attr-defined]
        assert "did not send a certificate" in answer.text  # type: ignore[attr-defined]
        assert SESSION_COOKIE_NAME(ctx.settings) not in outsider.cookies


def test_proxy_forwarding_the_browser_address_still_counts_as_the_trusted_proxy(
    ctx: AppContext, client: TestClient
) -> None:
    # nginx on 127.0.0.1 sends X-Forwarded-For with the browser's address: the session records
    # the browser's address (api/app.py applies the proxy headers), and the certificate header
    # is still believed because the TCP peer was the proxy (PeerAddress).
    cert, _ = citizen_certificate(ctx)
    page = client.get("/login/certificate?lang=en")
    headers = {**forwarded(cert), "X-Forwarded-For": "198.51.100.7"}
    form = {"csrf_token": csrf_from(page.text), "lang": "en"}
    answer = client.post("/login/certificate", data=form, headers=headers, follow_redirects=False)
    assert answer.status_code == 303
    assert session_of(ctx, client).source == "198.51.100.7"
    # A browser that sends X-Forwarded-For itself, from outside, gains nothing by it.
    with browser(ctx, address="203.0.113.9") as outsider:
        page = outsider.get("/login/certificate?lang=en")
        headers = {**forwarded(cert), "X-Forwarded-For": "127.0.0.1"}
        form = {"csrf_token": csrf_from(page.text), "lang": "en"}
        refused = outsider.post("/login/certificate", data=form, headers=headers)
        assert refused.status_code == 401
        assert SESSION_COOKIE_NAME(ctx.settings) not in outsider.cookies


def test_every_network_of_a_longer_trusted_proxies_list_is_believed(ctx: AppContext) -> None:
    # The list is checked at load (core/settings.py) and parsed once: one entry cannot make
    # the check fail for the others, as a name among addresses used to.
    ctx.settings = ctx.settings.model_copy(
        update={"trusted_proxies": "192.0.2.10, 10.0.0.0/8, 2001:db8::/32"}
    )
    cert, _ = citizen_certificate(ctx)
    for address in ("10.1.2.3", "2001:db8::7", "192.0.2.10"):
        with browser(ctx, address=address) as proxied:
            assert certificate_login(proxied, cert).status_code == 303  # type: ignore[attr-defined]
    with browser(ctx, address="127.0.0.1") as not_listed:
        assert certificate_login(not_listed, cert).status_code == 401  # type: ignore[attr-defined]


def test_empty_trusted_proxies_believes_no_certificate_header(
    ctx: AppContext, client: TestClient
) -> None:
    # Empty means no proxy, for certificate login as for X-Forwarded-For (api/app.py).
    ctx.settings = ctx.settings.model_copy(update={"trusted_proxies": ""})
    cert, _ = citizen_certificate(ctx)
    answer = certificate_login(client, cert)
    assert answer.status_code == 401  # type: ignore[attr-defined]
    assert SESSION_COOKIE_NAME(ctx.settings) not in client.cookies


@pytest.mark.parametrize("lang, words", [("km", "ចូលប្រើដោយវិញ្ញាបនបត្រ"), ("en", "Log in with")])
def test_certificate_login_page_in_both_languages(
    client: TestClient, lang: str, words: str
) -> None:
    page = client.get(f"/login/certificate?lang={lang}")
    assert words in page.text
    assert f'lang="{lang}"' in page.text


def test_passkey_dates_are_the_cambodian_day_in_the_pages_digits(
    ctx: AppContext, client: TestClient, clock: FixedClock
) -> None:
    # Registered at 2026-11-01 20:00 UTC: already 2026-11-02 (03:00) in Phnom Penh.
    clock.advance(dt.timedelta(hours=11))
    register_passkey(ctx, client, SoftAuthenticator(origin=BASE_URL))
    security = client.get("/account/security?lang=en").text
    assert "2026-11-02" in security and "2026-11-01" not in security
    lost_device = client.get("/account/security/lost-device?lang=en").text
    assert "My phone (2026-11-02)" in lost_device
    khmer = client.get("/account/security/lost-device?lang=km").text
    assert "My phone (២០២៦-១១-០២)" in khmer
