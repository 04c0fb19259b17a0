"""Issue 8's journey in headless Chromium, in Khmer and in English: from a person at a counter
to a login at level substantial on their own phone, then a lost phone and its recovery.

1. A registration officer (a civil servant whose account is linked to an ``ra-officer``
   operator, with a login session at ``high``, made the way the officer page tests make it)
   opens ``/officer``, finds the citizen by ID card number, records in-person proofing and
   enrols them; the activation letter PDF is downloaded and its code read back with
   ``pdftotext`` (the line ``Activation code: ...``).
2. The citizen, on their phone, opens ``/activate``, types the ID card number and the code,
   chooses a password, enrols TOTP (the code computed from the secret the page shows) and keeps
   the recovery codes the page lists.
3. The citizen logs in to the demo portal ``/demo/`` (password, TOTP, consent): ``acr`` is
   ``substantial``.
4. The phone is lost. On another device the citizen logs in with the password and a recovery
   code, reports the lost phone on ``/account/security`` (the TOTP authenticator is removed and
   the phone's session ends), enrols a new TOTP authenticator, and logs in to the demo portal
   again at ``substantial`` with the new one.

Every page is checked to be in the chosen language (``<html lang>``) and, for the citizen's
pages, free of serious or critical axe-core violations.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.context import AppContext, build_context
from api.demo_setup import ensure_demo_site
from api.idp_web import SESSION_COOKIE_NAME
from ca.hierarchy import Hierarchy
from core.clock import FixedClock
from core.operators import OperatorRole
from core.settings import load_settings
from idp.sessions import LoginSessions
from registry.records import AssuranceLevel
from tests._serving import free_port, serve_app
from tests.api._ra import golden_keys
from tests.api.idp_pages.test_pages_chromium import AXE, _axe_violations, _chromium
from tests.api.officer.conftest import make_user
from tests.conftest import require, require_command
from tests.idp._accounts import person_record
from tests.idp._web import fast_passwords, new_national_id, totp_code

__all__ = ["golden_keys"]  # the session fixture with the test CA's keys

pytestmark = pytest.mark.slow

PASSWORD = "Kep crab market 2026 sunrise"
OFFICE = "Kampot One Window office"
_LOGIN_PAGE = re.compile(r".*/login(\?.*)?$")
_CODE_LINE = re.compile(r"Activation code:\s*([0-9A-Z]{2,}(?:-[0-9A-Z]{2,})+)")


def _check(page: Any, lang: str, *, axe: bool = True) -> None:
    assert page.get_attribute("html", "lang") == lang, page.url
    if axe:
        serious = [v for v in _axe_violations(page) if v["impact"] in {"serious", "critical"}]
        assert serious == [], (page.url, serious)


def _submit(page: Any, form: str, url: str) -> None:
    """Click the submit button of the form matching the CSS selector ``form``."""
    with page.expect_navigation(url=url):
        page.locator(f"{form} button[type=submit]").first.click()


def _tick(clock: FixedClock) -> None:
    """Let a TOTP time step pass (each code is accepted once)."""
    clock.advance(dt.timedelta(seconds=31))


def _letter_code(pdf: bytes, work: Path) -> str:
    pdftotext = require_command("pdftotext")
    path = work / "letter.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        [pdftotext, "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    found = _CODE_LINE.search(text)
    assert found is not None, f"no 'Activation code:' line in the letter: {text[:800]}"
    return found.group(1)


@pytest.fixture
def journey_ctx(
    tmp_path: Path, db_url: str, clock: FixedClock, golden_keys: tuple[Path, Hierarchy]
) -> Iterator[tuple[AppContext, int]]:
    """An installed NatID (test CA) whose public base URL is the port it will listen on."""
    port = free_port()
    keys, hierarchy = golden_keys
    settings = load_settings(
        data_dir=tmp_path / "var", database_url=db_url, public_base_url=f"http://127.0.0.1:{port}"
    )
    shutil.copytree(keys, settings.resolved_soft_key_dir)
    ctx = build_context(settings, clock=clock)
    try:
        ctx.ca().adopt_hierarchy(hierarchy, actor="test-init")
        fast_passwords(ctx)
        ctx.idp_core().signing_keys.ensure_active(actor="test")
        assert ensure_demo_site(ctx) is not None
        yield ctx, port
    finally:
        ctx.close()


def _login(page: Any, national_id: str, password: str, code: str, lang: str) -> None:
    """On the provider's login page: ID card number, password, then the second factor."""
    page.wait_for_url(_LOGIN_PAGE)
    _check(page, lang)
    page.locator("#identifier").fill(national_id)
    page.locator("#password").fill(password)
    _submit(page, 'form[action="/login"]', "**/login/second-factor**")
    _check(page, lang)
    page.locator("#code").fill(code)
    page.locator('form[action="/login/second-factor"] button[type=submit]').first.click()


def _demo_login(page: Any, base: str, national_id: str, code: str, lang: str) -> str:
    """Log in to the demo portal; return the ``acr`` its profile page shows."""
    page.goto(f"{base}/demo/?lang={lang}")
    _check(page, lang)
    page.locator('a[href^="/demo/login"]').click()
    _login(page, national_id, PASSWORD, code, lang)
    page.wait_for_url(re.compile(r".*/(consent|demo/profile)\?.*"))
    if "/consent" in page.url:
        _check(page, lang)
        with page.expect_navigation(url="**/demo/profile**"):
            page.locator('button[name="decision"][value="allow"]').click()
    _check(page, lang)
    return str(page.inner_text("#acr"))


@pytest.mark.parametrize("lang", ["km", "en"])
def test_officer_enrols_citizen_who_activates_logs_in_and_recovers_a_lost_phone(
    journey_ctx: tuple[AppContext, int], clock: FixedClock, tmp_path: Path, lang: str
) -> None:
    require(AXE.is_file(), f"axe-core at {AXE} (npm ci in tests/node)")
    ctx, port = journey_ctx
    base = f"http://127.0.0.1:{port}"
    officer = make_user(ctx, "officer-sokha", roles=(OperatorRole.RA_OFFICER,))
    officer_login = LoginSessions(ctx.sessions, ledger=ctx.ledger).start(
        officer.account_id, acr=AssuranceLevel.HIGH, amr=("hwk",), at=clock.now()
    )
    national_id = new_national_id()
    citizen = ctx.register.add_person(person_record(national_id))
    locale = "km-KH" if lang == "km" else "en"

    with serve_app(create_app(ctx), port), _chromium() as browser:
        # 1. The officer at the counter (their pages are checked for language only: axe-core
        #    runs on the citizen's pages, which must work on any phone).
        desk = browser.new_context(bypass_csp=True, locale=locale)
        desk.add_cookies([{"name": SESSION_COOKIE_NAME(ctx.settings),
                           "value": officer_login.token, "url": base}])  # fmt: skip
        page = desk.new_page()
        page.goto(f"{base}/officer?lang={lang}")
        _check(page, lang)
        page.locator("#office-search").fill(OFFICE)
        page.locator("#national_id").fill(national_id)
        _submit(page, 'form[action="/officer"]', f"**/officer/persons/{citizen.id}**")
        _check(page, lang)
        page.locator("#office-proofing").fill(OFFICE)
        page.select_option("#document_type", index=0)
        page.check("#number_matches")
        page.check("#photo_compared")
        _submit(page, 'form[action$="/proofing"]', f"**/officer/persons/{citizen.id}**")
        assert ctx.register.proofing_level(citizen.id) is AssuranceLevel.HIGH
        page.locator("#office-enrol").fill(OFFICE)
        with page.expect_navigation():
            page.locator('form[action$="/enrol"] button[type=submit]').click()
        _check(page, lang)
        letter_url = page.locator("#letter-link").get_attribute("href")
        assert letter_url is not None
        pdf = desk.request.get(f"{base}{letter_url}")
        assert pdf.ok and pdf.headers["content-type"].startswith("application/pdf")
        code = _letter_code(pdf.body(), tmp_path)
        assert national_id not in code
        desk.close()

        # 2. The citizen activates the account on their phone.
        phone = browser.new_context(bypass_csp=True, locale=locale)
        page = phone.new_page()
        page.goto(f"{base}/activate?lang={lang}")
        _check(page, lang)
        page.locator("#national_id").fill(national_id)
        page.locator("#code").fill(code)
        _submit(page, 'form[action="/activate"]', "**/activate/password**")
        _check(page, lang)
        page.locator("#password").fill(PASSWORD)
        page.locator("#repeat").fill(PASSWORD)
        _submit(page, 'form[action="/activate/password"]', "**/activate/second-factor**")
        _check(page, lang)
        secret = page.inner_text("#totp-secret").replace(" ", "")
        page.locator("#code").fill(totp_code(secret, clock.now()))
        with page.expect_navigation():
            page.locator('form[action="/activate/second-factor"] button[type=submit]').click()
        _check(page, lang)
        recovery_codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
        assert len(recovery_codes) >= 5
        page.locator('a[href^="/activate/done"]').click()
        page.wait_for_url("**/activate/done**")
        _check(page, lang)

        # 3. The citizen logs in to the demo portal at substantial (a new login, whatever
        #    session the activation left).
        phone.clear_cookies()
        _tick(clock)
        acr = _demo_login(page, base, national_id, totp_code(secret, clock.now()), lang)
        assert "substantial" in acr

        # 4. The phone is lost: another device, password + a recovery code.
        laptop = browser.new_context(bypass_csp=True, locale=locale)
        other = laptop.new_page()
        other.goto(f"{base}/account/security?lang={lang}")
        _login(other, national_id, PASSWORD, recovery_codes[0], lang)
        other.wait_for_url("**/account**")
        other.goto(f"{base}/account/security?lang={lang}")
        _check(other, lang)
        with other.expect_navigation():
            other.locator("form#lost-device button[type=submit]").click()
        _check(other, lang)
        assert other.locator("#lost-done").count() == 1
        # The lost phone's session is over: NatID asks it to log in again.
        page.goto(f"{base}/account?lang={lang}")
        page.wait_for_url(_LOGIN_PAGE)
        # A new authenticator app on the new device.
        other.goto(f"{base}/account/security?lang={lang}")
        with other.expect_navigation():
            other.locator('form[action="/account/totp"] button[type=submit]').click()
        _check(other, lang)
        new_secret = other.inner_text("#totp-secret").replace(" ", "")
        assert new_secret != secret
        _tick(clock)
        other.locator("#code").fill(totp_code(new_secret, clock.now()))
        with other.expect_navigation():
            other.locator('form[action="/account/totp/confirm"] button[type=submit]').click()
        _check(other, lang)
        # A new login with the new authenticator reaches substantial at the portal.
        laptop.clear_cookies()
        _tick(clock)
        assert "substantial" in _demo_login(
            other, base, national_id, totp_code(new_secret, clock.now()), lang
        )
        laptop.close()
        phone.close()
