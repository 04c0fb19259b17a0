"""Passkeys in headless Chromium with the DevTools virtual authenticator (CTAP2, resident key,
user verification): log in with a password, add a passkey in the account area, log out, and
log in again with the passkey alone - in Khmer and in English.

A uvicorn server runs in a thread on a test context whose public base URL is
``http://localhost:<port>`` (WebAuthn needs a secure context and a domain as rpId; ``localhost``
is both). Chromium resolves ``localhost`` to 127.0.0.1, where the server listens.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.context import AppContext, build_context
from api.routers.idp_account_text import account_texts
from ca.hierarchy import Hierarchy
from core.clock import FixedClock
from core.settings import load_settings
from tests._serving import free_port, serve_app
from tests.api.idp_pages.test_pages_chromium import AXE, _axe_violations
from tests.conftest import require, require_command
from tests.idp._web import fast_passwords, make_person_with_login


@pytest.fixture
def served(
    tmp_path: Path, db_url: str, clock: FixedClock, golden_keys: tuple[Path, Hierarchy]
) -> Iterator[tuple[AppContext, str]]:
    port = free_port()
    base = f"http://localhost:{port}"
    settings = load_settings(data_dir=tmp_path / "var", database_url=db_url, public_base_url=base)
    shutil.copytree(golden_keys[0], settings.resolved_soft_key_dir)
    ctx = build_context(settings, clock=clock)
    ctx.ca().adopt_hierarchy(golden_keys[1], actor="test-init")
    fast_passwords(ctx)
    try:
        with serve_app(create_app(ctx), port):
            yield ctx, base
    finally:
        ctx.close()


@contextlib.contextmanager
def _chromium() -> Iterator[Any]:
    executable = require_command("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--host-resolver-rules=MAP localhost 127.0.0.1"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["km", "en"])
def test_passkey_registered_in_the_account_area_logs_in(
    served: tuple[AppContext, str], lang: str
) -> None:
    ctx, base = served
    words = account_texts(lang)
    national_id, password, _ = make_person_with_login(ctx, totp=False)
    with _chromium() as chromium:
        # axe-core is injected into the pages, whose CSP forbids inline scripts: bypassed here.
        context = chromium.new_context(locale="km-KH" if lang == "km" else "en-US", bypass_csp=True)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("WebAuthn.enable")
        added = cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )
        authenticator_id = added["authenticatorId"]

        # 1. Log in with the ID card number and password.
        page.goto(f"{base}/login?lang={lang}")
        page.fill("#identifier", national_id)
        page.fill("#password", password)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url(f"{base}/account")

        # 2. Add a passkey in the account area.
        page.goto(f"{base}/account/security?lang={lang}")
        page.wait_for_selector("#passkey-register:not([hidden])")
        page.fill("#label", "Chromium")
        page.click("#passkey-register button[type=submit]")
        page.wait_for_url("**/account/security?done=passkey_added*")
        assert words["passkey_added"] in page.inner_text("#notice")
        assert "Chromium" in page.inner_text("#passkeys")
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
        (credential,) = credentials["credentials"]
        assert credential["isResidentCredential"]

        # 3. A fresh browser session (no cookies) logs in with the passkey alone.
        context.clear_cookies()
        page.goto(f"{base}/login/passkey?lang={lang}")
        assert page.get_attribute("html", "lang") == lang
        page.wait_for_selector("#passkey-login:not([hidden])")
        page.click("#passkey-login button[type=submit]")
        page.wait_for_url(f"{base}/account")
        text = page.inner_text("main")
        level = words["overview_level"].format(level=words["level_substantial"])
        assert level in text
        # 4. Every account page, and the other login pages, pass axe-core in this language.
        require(AXE.is_file(), f"axe-core at {AXE} (npm ci in tests/node)")
        for path in (
            "/account",
            "/account/sessions",
            "/account/security",
            "/account/certificates",
            "/account/logins",
            "/account/consents",
            "/login/passkey",
            "/login/certificate",
        ):
            page.goto(f"{base}{path}?lang={lang}")
            assert page.get_attribute("html", "lang") == lang, path
            serious = [v for v in _axe_violations(page) if v["impact"] in {"serious", "critical"}]
            assert serious == [], (path, serious)
        context.close()
