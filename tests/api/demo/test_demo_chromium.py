"""The demo portal in headless Chromium, in Khmer and in English, checked with axe-core.

A citizen opens /demo/, logs in with NatID (password, TOTP code, consent), sees the claims,
registers a business and logs out through NatID's confirmation page, on a phone's screen
(360 x 740 CSS pixels). Every page of the portal must be in the chosen language, fit the
screen's width and have no serious or critical axe-core violation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from api.routers.demo_text import DEMO_TEXT
from api.routers.idp_text import TEXT
from core.clock import FixedClock
from tests.api.demo._demo import serve_natid
from tests.api.idp_pages.test_pages_chromium import AXE, _axe_violations, _chromium
from tests.conftest import require
from tests.idp._web import make_person_with_login, totp_code

pytestmark = pytest.mark.slow

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}


def _check(page: object, lang: str, *keys: str) -> None:
    other = "en" if lang == "km" else "km"
    assert page.get_attribute("html", "lang") == lang  # type: ignore[attr-defined]
    visible = page.inner_text("main")  # type: ignore[attr-defined]
    for key in keys:
        words = DEMO_TEXT[lang][key].split("{")[0]
        assert words in visible, (key, visible)
        assert DEMO_TEXT[other][key].split("{")[0] not in visible, (key, visible)
    width = page.evaluate("() => document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= 360, f"{page.url} is {width} px wide on a 360 px screen"  # type: ignore[attr-defined]
    serious = [v for v in _axe_violations(page) if v["impact"] in {"serious", "critical"}]
    assert serious == [], serious


@pytest.mark.parametrize("lang", ["km", "en"])
def test_demo_portal_journey_in_chromium(
    tmp_path: Path, db_url: str, clock: FixedClock, lang: str
) -> None:
    require(AXE.is_file(), f"axe-core at {AXE} (npm ci in tests/node)")
    with serve_natid(tmp_path, db_url, clock) as natid, _chromium() as browser:
        nid, password, secret = make_person_with_login(
            natid.ctx, name_km="ចាន់ សុភា", name_latin="Chan Sophea"
        )
        assert secret is not None
        context = browser.new_context(
            **PHONE, bypass_csp=True, locale="km-KH" if lang == "km" else "en"
        )
        page = context.new_page()
        t, idp = DEMO_TEXT[lang], TEXT[lang]

        page.goto(f"{natid.base}/demo/")
        _check(page, lang, "home_title", "home_intro", "login_button")
        with page.expect_navigation(url="**/login?**"):
            page.get_by_role("link", name=t["login_button"], exact=True).click()
        page.get_by_label(idp["identifier"]).fill(nid)
        page.get_by_label(idp["password"]).fill(password)
        with page.expect_navigation(url="**/login/second-factor**"):
            page.get_by_role("button", name=idp["login_submit"], exact=True).click()
        page.get_by_label(idp["code"]).fill(totp_code(secret, natid.clock.now()))
        with page.expect_navigation(url="**/consent?**"):
            page.get_by_role("button", name=idp["second_submit"], exact=True).click()
        with page.expect_navigation(url="**/demo/profile**"):
            page.get_by_role("button", name=idp["allow"], exact=True).click()

        _check(page, lang, "profile_title", "name_km", "name_latin", "id_token_claims")
        assert page.inner_text("#name-km") == "ចាន់ សុភា"
        assert page.inner_text("#name-latin") == "Chan Sophea"
        assert "substantial" in page.inner_text("#acr")

        page.get_by_role("link", name=t["business_link"], exact=True).click()
        page.wait_for_url("**/demo/business**")
        _check(page, lang, "business_title", "business_name", "activity")
        page.get_by_label(t["business_name"]).fill("Kampot Pepper Co")
        page.get_by_label(t["activity"]).fill("pepper farming")
        with page.expect_navigation():
            page.get_by_role("button", name=t["business_submit"], exact=True).click()
        _check(page, lang, "business_done_title")
        assert "DEMO-" in page.inner_text("#application")

        with page.expect_navigation(url="**/logout?**"):
            page.get_by_role("button", name=t["logout_button"], exact=True).click()
        with page.expect_navigation(url="**/demo/logged-out**"):
            page.get_by_role("button", name=idp["logout_submit"], exact=True).click()
        _check(page, lang, "logged_out_title", "logged_out_text", "login_button")
        assert not any(c["name"] == "natid_session" for c in context.cookies())
        context.close()
