"""A page that does not exist, met by a citizen (api/errors.py, ``_http``): under the pages'
paths a "this page does not exist" page in their language, never a JSON document; the APIs
and the OpenID endpoints keep RFC 9457 problem+json."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.routers.idp_text import TEXT

EN = TEXT["en"]
KM = TEXT["km"]
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    "path",
    [
        "/account/no-such-page",
        "/account/kyc-requests/no-such-page",
        "/login/no-such-page",
        "/consent/no-such-page",
        "/logout/no-such-page",
        "/recover/no-such-page",
        "/activate/no-such-page",
        "/sign/no-such-page",
        "/health/verify/no-such-page",
        "/officer/no-such-page",
    ],
)
def test_missing_page_is_a_page_in_the_citizens_language(web: TestClient, path: str) -> None:
    khmer = web.get(path, headers={"Accept": BROWSER, "Accept-Language": "km,en;q=0.5"})
    assert khmer.status_code == 404
    assert khmer.headers["content-type"].startswith("text/html")
    assert khmer.headers["content-language"] == "km"
    assert KM["not_found"] in khmer.text
    assert "default-src 'self'" in khmer.headers["content-security-policy"]
    english = web.get(f"{path}?lang=en", headers={"Accept": BROWSER})
    assert english.status_code == 404
    assert english.headers["content-language"] == "en"
    assert EN["not_found"] in english.text
    assert '"type"' not in english.text and "problem" not in english.headers["content-type"]


@pytest.mark.parametrize(
    ("path", "home", "words"),
    [
        ("/officer/no-such-page", "/officer", "back_officer"),
        ("/account/no-such-page", "/account", "back_home"),
    ],
)
def test_missing_page_leads_back_to_where_its_reader_works(
    web: TestClient, path: str, home: str, words: str
) -> None:
    # An officer who mistypes a link is sent to the search page, not to a citizen's account,
    # and in the language the page was read in.
    for lang, text in (("km", KM), ("en", EN)):
        answer = web.get(f"{path}?lang={lang}", headers={"Accept": BROWSER})
        assert answer.status_code == 404
        assert f'<a href="{home}?lang={lang}">{text[words]}</a>' in answer.text
        other = "/account" if home == "/officer" else "/officer"
        assert f'href="{other}"' not in answer.text


def test_missing_page_follows_accept_language_then_khmer(web: TestClient) -> None:
    english = web.get("/account/no-such-page", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert english.status_code == 404 and EN["not_found"] in english.text
    unnamed = web.get("/account/no-such-page")  # no language named: Khmer, the national one
    assert unnamed.status_code == 404 and KM["not_found"] in unnamed.text


def test_a_script_asking_for_json_under_a_page_path_keeps_problem_json(web: TestClient) -> None:
    answer = web.get("/account/no-such-page", headers={"Accept": "application/json"})
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "path",
    [
        "/admin/v1/no-such-thing",
        "/kyc/v1/no-such-thing",
        "/token/no-such-thing",
        "/userinfo/no-such-thing",
        "/signing/v1/no-such-thing",
        "/health/v1/no-such-thing",
        "/accounts",  # not under /account: a different path, not a page
        "/no-such-thing",
    ],
)
def test_api_paths_keep_problem_json_even_for_a_browser(web: TestClient, path: str) -> None:
    answer = web.get(path, headers={"Accept": BROWSER})
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["code"] == "not_found" and body["instance"] == path


# --- a form's address opened as a page (405) ----------------------------------------------------


def test_a_form_address_opened_as_a_page_says_so_in_the_citizens_language(
    web: TestClient,
) -> None:
    """``POST /account/sessions/end`` reloaded or bookmarked: a page, not a JSON document."""
    khmer = web.get(
        "/account/sessions/end", headers={"Accept": BROWSER, "Accept-Language": "km,en;q=0.5"}
    )
    assert khmer.status_code == 405
    assert khmer.headers["allow"] == "POST"
    assert khmer.headers["content-type"].startswith("text/html")
    assert khmer.headers["content-language"] == "km"
    assert KM["method_not_allowed"] in khmer.text
    english = web.get("/account/sessions/end?lang=en", headers={"Accept": BROWSER})
    assert english.status_code == 405
    assert english.headers["allow"] == "POST"
    assert english.headers["content-language"] == "en"
    assert EN["method_not_allowed"] in english.text
    assert '"type"' not in english.text and "problem" not in english.headers["content-type"]


def test_a_script_meeting_a_405_under_a_page_path_keeps_problem_json(web: TestClient) -> None:
    answer = web.get("/account/sessions/end", headers={"Accept": "application/json"})
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "method_not_allowed"


def test_an_api_405_keeps_problem_json_even_for_a_browser(web: TestClient) -> None:
    answer = web.get("/token", headers={"Accept": BROWSER})
    assert answer.status_code == 405
    assert "POST" in answer.headers["allow"]
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "method_not_allowed"
