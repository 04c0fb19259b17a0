"""The IdP pages in headless Chromium on a real uvicorn server, in Khmer and in English.

A citizen logs in (ID card number, password, TOTP code) through the pages, allows a site on
the consent page, and logs out with the confirmation page. At every page the visible text must
be in the chosen language, and axe-core (``tests/node/node_modules/axe-core``, pinned in
``tests/node/package.json``) must find no accessibility violation of impact serious or
critical. The pages' forms are posted without any JavaScript of ours (there is none).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.context import AppContext
from api.routers.idp_text import SCOPE_TEXT, TEXT
from idp.consents import Consents
from idp.sessions import LoginSessions
from tests._serving import serve_app
from tests.api.idp_pages.conftest import RP_BACKCHANNEL, PendingFactory, RecordingSender
from tests.conftest import require, require_command
from tests.idp._web import make_person_with_login, totp_code

pytestmark = pytest.mark.slow

AXE = Path(__file__).resolve().parents[2] / "node" / "node_modules" / "axe-core" / "axe.min.js"
#: Words of each page that must appear in the chosen language and not in the other.
CHECKED = ("login_submit", "identifier", "password", "second_title", "code", "consent_title",
           "allow", "deny", "logout_question", "logout_submit", "logged_out_title")  # fmt: skip


@contextlib.contextmanager
def _chromium() -> Iterator[Any]:
    executable = require_command("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _axe_violations(page: Any) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.map(n => n.target.join(' '))}))"""
    )
    return result


def _check_page(page: Any, lang: str, expected: tuple[str, ...]) -> None:
    """The page is in ``lang`` (its words, not the other language's) and passes axe-core."""
    other = "en" if lang == "km" else "km"
    assert page.get_attribute("html", "lang") == lang
    visible = page.inner_text("main")
    for key in expected:
        assert TEXT[lang][key] in visible, (key, visible)
        assert TEXT[other][key] not in visible, (key, visible)
    serious = [v for v in _axe_violations(page) if v["impact"] in {"serious", "critical"}]
    assert serious == [], serious


@pytest.mark.parametrize("lang", ["km", "en"])
def test_login_consent_logout_in_chromium(
    ctx: AppContext, pending_for: PendingFactory, lang: str
) -> None:
    require(AXE.is_file(), f"axe-core at {AXE} (npm ci in tests/node)")
    nid, password, secret = make_person_with_login(ctx)
    assert secret is not None
    app = create_app(ctx)
    sender = RecordingSender()
    app.state.logout_sender = sender
    seen: list[str] = []
    with _chromium() as browser, serve_app(app) as served:
        # The relying party's redirect URI is on this server (Chromium follows the 303 there;
        # Playwright cannot intercept a redirect's target), its back-channel URI is recorded.
        rp = ctx.idp_core().clients.add(
            name="Ministry of Health clinic booking", redirect_uris=[f"{served.url}/rp/cb"],
            auth_method="client_secret_basic", backchannel_logout_uri=RP_BACKCHANNEL,
        ).client  # fmt: skip
        pending = pending_for(
            client_id=rp.client_id, client_name=rp.name, redirect_uri=f"{served.url}/rp/cb",
            scopes=("openid", "profile", "email"), ui_locales=(lang,),
        )  # fmt: skip
        # The pages forbid inline scripts (CSP); axe-core is injected, so the test bypasses it.
        context = browser.new_context(bypass_csp=True, locale="km-KH" if lang == "km" else "en")
        # The relying party is not running here: answer for it.
        page = context.new_page()
        page.on("request", lambda request: seen.append(request.url))

        page.goto(f"{served.url}/login?pending={pending}")
        _check_page(page, lang, ("identifier", "password", "login_submit"))
        assert TEXT[lang]["login_to"].format(
            client="Ministry of Health clinic booking"
        ) in page.inner_text("h1")
        page.get_by_label(TEXT[lang]["identifier"]).fill(nid)
        page.get_by_label(TEXT[lang]["password"]).fill(password)
        with page.expect_navigation(url="**/login/second-factor**"):
            page.get_by_role("button", name=TEXT[lang]["login_submit"], exact=True).click()
        _check_page(page, lang, ("second_title", "code", "second_submit"))
        page.get_by_label(TEXT[lang]["code"]).fill(totp_code(secret, ctx.clock.now()))
        # /authorize/continue sees the new session and sends the browser to the consent page.
        with page.expect_navigation(url=f"**/consent?pending={pending}"):
            page.get_by_role("button", name=TEXT[lang]["second_submit"], exact=True).click()
        assert f"{served.url}/authorize/continue?pending={pending}" in seen
        token = next(c["value"] for c in context.cookies() if c["name"] == "natid_session")
        session = LoginSessions(ctx.sessions, ledger=ctx.ledger).get(token, at=ctx.clock.now())
        assert session.acr.value == "substantial"

        _check_page(page, lang, ("consent_title", "allow", "deny"))
        assert SCOPE_TEXT[lang]["email"] in page.inner_text("main")
        page.get_by_label(SCOPE_TEXT[lang]["email"]).uncheck()  # keyboard-reachable label
        # Allowed: the code goes back to the relying party (answered by the route above).
        with page.expect_navigation(url=lambda url: url.startswith(f"{served.url}/rp/cb?")):
            page.get_by_role("button", name=TEXT[lang]["allow"], exact=True).click()
        assert f"{served.url}/authorize/continue?pending={pending}&consented=1" in seen
        assert "code=" in page.url and "state=st-123" in page.url
        # The consent is stored for the account, without the unticked email.
        granted = Consents(ctx.sessions, ledger=ctx.ledger).find(
            session.account_id, rp.client_id, at=ctx.clock.now()
        )
        assert granted is not None and granted.scopes == {"openid", "profile"}

        page.goto(f"{served.url}/logout")
        _check_page(page, lang, ("logout_question", "logout_submit"))
        with page.expect_navigation():
            page.get_by_role("button", name=TEXT[lang]["logout_submit"], exact=True).click()
        _check_page(page, lang, ("logged_out_title",))
        assert not any(c["name"] == "natid_session" for c in context.cookies())
        # The site the session logged into was told, server to server.
        assert [p.url for p in sender.posts] == [RP_BACKCHANNEL]
        context.close()


def test_a_site_on_another_origin_gets_the_code_and_the_logout_redirect_under_the_pages_csp(
    ctx: AppContext, pending_for: PendingFactory
) -> None:
    """Chromium applies the pages' ``form-action`` to every redirect after a form's POST
    (CSP Level 3): with ``form-action 'self'`` alone, Allow and Log out stayed on NatID's page
    for every site not on NatID's own origin. The CSP is enforced here (no ``bypass_csp``)."""
    nid, password, secret = make_person_with_login(ctx)
    assert secret is not None
    app = create_app(ctx)
    app.state.logout_sender = RecordingSender()
    with _chromium() as browser, serve_app(app) as served:
        # Another origin than the pages' (http://127.0.0.1:PORT): the same server by another
        # name, so the browser's navigation there can be seen.
        site = served.url.replace("127.0.0.1", "localhost")
        rp = ctx.idp_core().clients.add(
            name="Provincial land office", redirect_uris=[f"{site}/rp/cb"],
            post_logout_redirect_uris=[f"{site}/rp/bye"], auth_method="client_secret_basic",
        ).client  # fmt: skip
        pending = pending_for(
            client_id=rp.client_id, client_name=rp.name, redirect_uri=f"{site}/rp/cb",
            scopes=("openid", "profile"),
            ui_locales=("en",),
        )  # fmt: skip
        context = browser.new_context(locale="en")
        page = context.new_page()
        blocked: list[str] = []
        page.on("console", lambda m: blocked.append(m.text) if "form-action" in m.text else None)
        page.goto(f"{served.url}/login?pending={pending}")
        page.get_by_label(TEXT["en"]["identifier"]).fill(nid)
        page.get_by_label(TEXT["en"]["password"]).fill(password)
        with page.expect_navigation(url="**/login/second-factor**"):
            page.get_by_role("button", name=TEXT["en"]["login_submit"], exact=True).click()
        page.get_by_label(TEXT["en"]["code"]).fill(totp_code(secret, ctx.clock.now()))
        with page.expect_navigation(url=f"**/consent?pending={pending}"):
            page.get_by_role("button", name=TEXT["en"]["second_submit"], exact=True).click()
        with page.expect_navigation(url=lambda url: url.startswith(f"{site}/rp/cb?")):
            page.get_by_role("button", name=TEXT["en"]["allow"], exact=True).click()
        assert "code=" in page.url and "state=st-123" in page.url

        page.goto(
            f"{served.url}/logout?client_id={rp.client_id}"
            f"&post_logout_redirect_uri={site}/rp/bye&state=bye-1"
        )
        with page.expect_navigation(url=lambda url: url.startswith(f"{site}/rp/bye?")):
            page.get_by_role("button", name=TEXT["en"]["logout_submit"], exact=True).click()
        assert page.url.endswith("state=bye-1")
        assert blocked == []
        context.close()
