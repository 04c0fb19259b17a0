"""The authorization and PAR endpoints for a client an operator disabled: the citizen sees
NatID's error page and is never sent to the client's redirect URI; PAR refuses the client."""

from __future__ import annotations

from api.context import AppContext
from idp.accounts import Account
from registry.records import Person
from tests.api.idp_authorize.conftest import Browser, grant_consent, redirect_params
from tests.api.idp_token._rp import RegisteredRP, basic_header


def test_disabled_client_gets_the_error_page_not_a_redirect(
    browser: Browser, app_ctx: AppContext, person: tuple[Person, Account], portal: RegisteredRP
) -> None:
    browser.login(person[1])
    grant_consent(app_ctx, person[1], portal, ("openid", "profile", "email"))
    _, query = redirect_params(browser.authorize(portal))
    assert "code" in query  # before: a code, sent to the client
    app_ctx.idp_core().clients.disable(portal.client_id, actor="op-1", reason="compromised")
    for params in ({}, {"prompt": "none"}, {"redirect_uri": "https://evil.example/cb"}):
        response = browser.authorize(portal, **params)
        assert response.status_code == 400
        assert "location" not in response.headers
        assert "text/html" in response.headers["content-type"]
        # "This site is not registered with NatID." (in Khmer, the default language)
        assert "គេហទំព័រនេះមិនបានចុះឈ្មោះជាមួយ NatID ទេ។" in response.text
    # PAR: client authentication fails.
    assert portal.secret is not None
    data = browser.params(portal)
    data.pop("client_id")
    pushed = browser.http.post(
        "/par", data=data, headers={"Authorization": basic_header(portal.client_id, portal.secret)}
    )
    assert pushed.status_code == 401 and pushed.json()["error"] == "invalid_client"
    # Enabled again, the same request gets its code.
    app_ctx.idp_core().clients.enable(portal.client_id, actor="op-1")
    _, query = redirect_params(browser.authorize(portal))
    assert "code" in query
