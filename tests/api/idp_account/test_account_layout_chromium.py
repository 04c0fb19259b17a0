"""The account pages on a phone's screen (360 x 740 CSS pixels), in headless Chromium, in Khmer
and in English: nothing makes the page wider than the screen (a certificate's 40-character
serial number, the list of what a site may see, a session's device), and axe-core finds no
serious or critical violation.

(In a file of its own rather than tests/api/idp_pages/test_pages_chromium.py: these pages need
the CA hierarchy of this folder's context.)
"""

from __future__ import annotations

import pytest

from api.app import create_app
from api.context import AppContext
from ca.revocation import RevocationReason
from idp.consents import Consents
from tests._serving import serve_app
from tests.api.idp_pages.test_pages_chromium import AXE, _axe_violations, _chromium
from tests.ca._issuance import ec_key, make_csr
from tests.conftest import require
from tests.idp._web import make_person_with_login

pytestmark = pytest.mark.slow

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}
PAGES = (
    "/account",
    "/account/sessions",
    "/account/security",
    "/account/certificates",
    "/account/logins",
    "/account/consents",
)


@pytest.mark.parametrize("lang", ["km", "en"])
def test_account_pages_fit_a_phone_screen(ctx: AppContext, lang: str) -> None:
    require(AXE.is_file(), f"axe-core at {AXE} (npm ci in tests/node)")
    national_id, password, _ = make_person_with_login(ctx, totp=False)
    person = ctx.register.find_person_by_national_id(national_id)
    assert person is not None
    ca = ctx.ca()
    issued = ca.issue_from_csr("citizen-auth", person.id, make_csr(ec_key()), actor="officer")
    revoked = ca.issue_from_csr("citizen-sign", person.id, make_csr(ec_key()), actor="officer")
    ca.revoke(revoked.serial_hex, reason=RevocationReason.KEY_COMPROMISE, actor="officer")
    assert len(issued.serial_hex) >= 32  # the long, unbreakable word the page must wrap
    site = ctx.idp_core().clients.add(
        name="Ministry of Land Management, Urban Planning and Construction",
        redirect_uris=["https://land.gov.kh/cb"], auth_method="client_secret_basic",
    ).client  # fmt: skip
    with _chromium() as chromium, serve_app(create_app(ctx)) as served:
        context = chromium.new_context(
            **PHONE, locale="km-KH" if lang == "km" else "en-US", bypass_csp=True
        )
        page = context.new_page()
        page.goto(f"{served.url}/login?lang={lang}")
        page.fill("#identifier", national_id)
        page.fill("#password", password)
        with page.expect_navigation(url="**/account"):
            page.click("form[action='/login'] button[type=submit]")
        account = ctx.idp_accounts().find_by_person(person.id)
        assert account is not None
        Consents(ctx.sessions, ledger=ctx.ledger).grant(
            account.id, site.client_id, ["openid", "profile", "email", "phone"], ["name"],
            at=ctx.clock.now(),
        )  # fmt: skip
        for path in PAGES:
            page.goto(f"{served.url}{path}?lang={lang}")
            assert page.get_attribute("html", "lang") == lang
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 360, f"{path} is {width} px wide on a 360 px screen ({lang})"
            serious = [v for v in _axe_violations(page) if v["impact"] in {"serious", "critical"}]
            assert serious == [], (path, serious)
        # The serial is shown whole (wrapped, not cut off).
        page.goto(f"{served.url}/account/certificates?lang={lang}")
        assert issued.serial_hex in page.inner_text(f"[data-serial='{issued.serial_hex}'] code")
        context.close()
