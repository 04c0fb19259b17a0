"""The signing pages in headless Chromium on a real uvicorn server, on a phone-sized screen,
in Khmer and in English (issue 5: "Pages in Khmer and English for the inbox, the document,
approve and reject; usable on a phone"; the validation page; the e-seal batch page).

At every page: the ``<html lang>`` and the page's words are the chosen language's, nothing
is wider than the screen, and axe-core finds no violation of impact serious or critical.
The server, Chromium and axe helpers are those of the IdP pages' Chromium test.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from api.app import create_app
from api.context import AppContext
from api.idp_web import SESSION_COOKIE_NAME
from api.routers.signing_batch_text import texts as batch_texts
from api.routers.signing_text import texts as signing_texts
from api.routers.signing_validate_text import texts as validate_texts
from ca.profiles import ProfileName
from idp.sessions import LoginSessions
from registry.records import AssuranceLevel
from tests._serving import serve_app
from tests.api.idp_pages.test_pages_chromium import AXE, _axe_violations, _chromium
from tests.api.signing_workflows.conftest import Office
from tests.conftest import require
from tests.signing._pdf import make_pdf

pytestmark = pytest.mark.slow

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
TITLE = "Rice export licence 2027"


def _check(page: Any, lang: str, words: Mapping[str, str], keys: tuple[str, ...]) -> None:
    """The page is in ``lang``, fits a phone's width, and passes axe-core."""
    assert page.get_attribute("html", "lang") == lang
    visible = page.inner_text("main")
    for key in keys:
        assert words[key] in visible, (key, visible)
    fits = page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert fits, f"{page.url} is wider than the phone screen"
    serious = [v for v in _axe_violations(page) if v["impact"] in {"serious", "critical"}]
    assert serious == [], (page.url, serious)


@contextlib.contextmanager
def _site(ctx: AppContext) -> Iterator[tuple[Any, str]]:
    require(AXE.is_file(), f"axe-core at {AXE} (npm ci in tests/node)")
    with _chromium() as browser, serve_app(create_app(ctx)) as served:
        yield browser, served.url


def _logged_in(browser: Any, ctx: AppContext, base: str, account_id: str, lang: str) -> Any:
    """A phone browser with a fresh substantial login session of ``account_id`` (the login
    pages themselves are driven in tests/api/idp_pages)."""
    started = LoginSessions(ctx.sessions, ledger=ctx.ledger).start(
        account_id,
        acr=AssuranceLevel.SUBSTANTIAL,
        amr=("pwd", "otp"),
        at=ctx.clock.now() - dt.timedelta(minutes=1),
    )
    # The pages forbid inline scripts (CSP); axe-core is injected, so the test bypasses it.
    context = browser.new_context(
        bypass_csp=True, locale="km-KH" if lang == "km" else "en", **PHONE
    )
    context.add_cookies(
        [{"name": SESSION_COOKIE_NAME(ctx.settings), "value": started.token, "url": base}]
    )
    return context.new_page()


@pytest.mark.parametrize("lang", ["km", "en"])
def test_send_approve_reject_on_a_phone(ctx: AppContext, office: Office, lang: str) -> None:
    t = signing_texts(lang)
    first, second = office.approvers[:2]
    with _site(ctx) as (browser, base):
        author = _logged_in(browser, ctx, base, office.author.account_id, lang)
        author.goto(f"{base}/sign/new?lang={lang}")
        _check(author, lang, t, ("new_title", "field_title", "field_file", "field_steps"))
        author.get_by_label(t["field_title"], exact=True).fill(TITLE)
        author.get_by_label(t["field_file"], exact=True).set_input_files(
            {
                "name": "licence.pdf",
                "mimeType": "application/pdf",
                "buffer": make_pdf(text="Licence"),
            }
        )
        author.get_by_label(t["field_steps"], exact=True).fill(
            f"{first.servant_id}\n{second.servant_id}"
        )
        with author.expect_navigation(url=re.compile(r".*/sign/documents/[0-9a-f-]{36}\?.*")):
            author.get_by_role("button", name=t["create_button"], exact=True).click()
        _check(author, lang, t, ("state_in_progress", "steps_heading", "history_heading"))
        document_url = author.url.split("?")[0]

        # The first approver finds it in the inbox, reads it and approves with a comment.
        one = _logged_in(browser, ctx, base, first.account_id, lang)
        one.goto(f"{base}/sign/inbox?lang={lang}")
        _check(one, lang, t, ("inbox_title", "waiting_heading"))
        with one.expect_navigation():
            one.get_by_role("link", name=TITLE).first.click()
        _check(one, lang, t, ("approve_heading", "approve_button", "reject_button"))
        one.get_by_label(t["comment_optional"], exact=True).fill("Figures checked.")
        with one.expect_navigation(url=re.compile(r".*done=approved.*")):
            one.get_by_role("button", name=t["approve_button"], exact=True).click()
        _check(one, lang, t, ("ev_approved",))
        assert "Figures checked." in one.inner_text("main")

        # The second rejects with the reason; the document goes back to its author.
        two = _logged_in(browser, ctx, base, second.account_id, lang)
        two.goto(f"{document_url}?lang={lang}")
        _check(two, lang, t, ("approve_button", "reject_button", "reject_comment"))
        two.get_by_label(t["reject_comment"], exact=True).fill("The tonnage is wrong.")
        with two.expect_navigation(url=re.compile(r".*done=rejected.*")):
            two.get_by_role("button", name=t["reject_button"], exact=True).click()
        _check(two, lang, t, ("state_rejected", "ev_rejected"))

        author.goto(f"{base}/sign/inbox?lang={lang}")
        _check(author, lang, t, ("started_heading",))
        assert "The tonnage is wrong." in author.inner_text("main")
        other = "en" if lang == "km" else "km"
        assert signing_texts(other)["started_heading"] not in author.inner_text("main")


@pytest.mark.parametrize("lang", ["km", "en"])
def test_validation_page_passes_signed_and_fails_tampered(ctx: AppContext, lang: str) -> None:
    from tests.ca._issuance import add_entity, add_person, add_servant

    t = validate_texts(lang)
    ministry = add_entity(ctx.register, kind="ministry")
    servant = add_servant(ctx.register, add_person(ctx.register), ministry)
    cert = ctx.ca().issue_with_server_key(ProfileName.GOV_SIGN, servant.id, actor="test")
    signed = ctx.signing().sign_pdf(
        make_pdf(text="Circular 12"), signer=cert.serial_hex, actor="test", level="B-T"
    )
    tampered = bytearray(signed)
    tampered[signed.index(b"Circular 12")] = ord("X")
    with _site(ctx) as (browser, base):
        page = browser.new_context(bypass_csp=True, **PHONE).new_page()
        page.goto(f"{base}/sign/validate?lang={lang}")
        _check(page, lang, t, ("file", "submit"))
        for data, indication, ok in ((signed, "TOTAL-PASSED", "true"),
                                     (bytes(tampered), "TOTAL-FAILED", "false")):  # fmt: skip
            page.get_by_label(t["file"], exact=True).set_input_files(
                {"name": "circular.pdf", "mimeType": "application/pdf", "buffer": data}
            )
            with page.expect_navigation():
                page.get_by_role("button", name=t["submit"], exact=True).click()
            _check(page, lang, t, ("report_title", indication))
            assert page.get_attribute("#summary", "data-ok") == ok
            shown = page.get_attribute(".indication", "data-indication")
            assert shown == indication, page.inner_text("main")


@pytest.mark.parametrize("lang", ["km", "en"])
def test_seal_batch_page_shows_progress_until_the_download(
    ctx: AppContext, sealer: tuple[str, str], lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entity_id, account_id = sealer
    t = batch_texts(lang)
    polled: list[int] = []
    # The first file waits until the test has seen the running batch, so the page is shown
    # while sealing goes on, however fast the machine.
    release = threading.Event()
    seal = ctx.signing().seal

    def held_seal(*args: Any, **kwargs: Any) -> bytes:
        assert release.wait(timeout=60), "the test never released the batch"
        return seal(*args, **kwargs)

    monkeypatch.setattr(ctx.signing(), "seal", held_seal)
    with _site(ctx) as (browser, base):
        page = _logged_in(browser, ctx, base, account_id, lang)

        def record(route: Any) -> None:
            # Read each answer the script gets before the page can navigate away from it.
            response = route.fetch()
            if response.ok:
                polled.append(int(response.json()["done"]))
            route.fulfill(response=response)

        page.route(re.compile(r".*/status\.json.*"), record)
        page.goto(f"{base}/sign/seal-batch?lang={lang}")
        _check(page, lang, t, ("batch_title", "field_entity", "field_files", "start_button"))
        page.get_by_label(t["field_entity"], exact=True).fill(entity_id)
        page.get_by_label(t["field_files"], exact=True).set_input_files(
            [{"name": f"permit-{n}.pdf", "mimeType": "application/pdf",
              "buffer": make_pdf(text=f"Permit {n}")} for n in range(4)]
            + [{"name": "torn.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7 torn"}]
        )  # fmt: skip
        page.get_by_label(t["field_level"], exact=True).select_option("B-LT")
        with page.expect_navigation(url=re.compile(r".*/sign/seal-batch/[A-Za-z0-9_-]{22}\?.*")):
            page.get_by_role("button", name=t["start_button"], exact=True).click()
        _check(page, lang, t, ("progress_title", "col_file", "col_status", "state_running"))
        assert page.get_attribute("#progress", "value") == "0"
        release.set()
        # The script polls and reloads the page when the batch ends: the download appears.
        page.get_by_role("link", name=t["download"]).wait_for(timeout=120_000)
        _check(page, lang, t, ("state_finished", "file_sealed", "file_failed", "download"))
        # Counts are written in the page's digits: Khmer ones on the Khmer page.
        four, one = ("៤", "១") if lang == "km" else ("4", "1")
        assert t["counts"].format(sealed=four, failed=one) in page.inner_text("main")
        assert polled and polled == sorted(polled), polled  # progress never goes back
        assert polled[-1] == 5
        with page.expect_download() as download:
            page.get_by_role("link", name=t["download"]).click()
        assert download.value.suggested_filename.endswith(".zip")
