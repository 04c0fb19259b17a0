"""The pages' Content-Security-Policy names the client a form's redirects end at."""

from __future__ import annotations

from api.idp_web import PAGE_HEADERS, page_csp


def _form_action(csp: str) -> str:
    [directive] = [d.strip() for d in csp.split(";") if d.strip().startswith("form-action")]
    return directive


def test_form_action_names_the_clients_origin_only() -> None:
    csp = page_csp(["https://portal.moh.gov.kh:8443/cb/path?x=1"])
    assert _form_action(csp) == "form-action 'self' https://portal.moh.gov.kh:8443"
    # The rest of the policy is the pages' usual one.
    assert (
        csp.replace(" https://portal.moh.gov.kh:8443", "")
        == (PAGE_HEADERS["Content-Security-Policy"])
    )


def test_a_mobile_apps_private_scheme_is_named_by_its_scheme() -> None:
    assert _form_action(page_csp(["kh.gov.app:/oauth/cb"])) == "form-action 'self' kh.gov.app:"


def test_nothing_that_could_break_out_of_the_header_gets_in() -> None:
    for uri in ("https://a.example;script-src *", "https://a.example, x", "https://a b/cb", ""):
        assert _form_action(page_csp([uri])) == "form-action 'self'", uri
    assert page_csp([]) == PAGE_HEADERS["Content-Security-Policy"]


def test_two_targets_of_one_origin_are_named_once() -> None:
    csp = page_csp(["https://a.example/cb", "https://a.example/bye", "https://b.example/x"])
    assert _form_action(csp) == "form-action 'self' https://a.example https://b.example"
