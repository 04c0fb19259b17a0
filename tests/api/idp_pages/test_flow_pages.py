"""The whole front-channel dance through the pages: /authorize -> /login -> second factor ->
/authorize/continue -> /consent -> code, then a second request that needs neither page."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from api.context import AppContext
from idp.clients import Client
from idp.pkce import s256_challenge
from tests.api.idp_pages.conftest import RP_REDIRECT
from tests.idp._web import browser_login, csrf_from, make_person_with_login, totp_code


def authorize(web: TestClient, rp: Client, **extra: str) -> str:
    params = {"client_id": rp.client_id, "redirect_uri": RP_REDIRECT, "response_type": "code",
              "scope": "openid profile email", "state": "s-1",
              "code_challenge": s256_challenge(secrets.token_urlsafe(48)),
              "code_challenge_method": "S256", **extra}  # fmt: skip
    answer = web.get("/authorize", params=params, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def pending_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["pending"][0]


def test_login_consent_and_code_then_single_sign_on(
    ctx: AppContext, web: TestClient, rp: Client
) -> None:
    nid, password, secret = make_person_with_login(ctx)
    assert secret is not None
    to_login = authorize(web, rp)
    assert urlsplit(to_login).path == "/login"
    pending = pending_of(to_login)
    done = browser_login(
        web, nid, password, pending=pending, code=totp_code(secret, ctx.clock.now())
    )
    to_consent = web.get(done.headers["location"], follow_redirects=False).headers["location"]
    assert to_consent == f"/consent?pending={pending}"
    page = web.get(to_consent)
    form = {"decision": "allow", "scope": ["profile"], "csrf_token": csrf_from(page.text),
            "pending": pending}  # fmt: skip
    back = web.post("/consent", data=form, follow_redirects=False).headers["location"]
    to_client = urlsplit(web.get(back, follow_redirects=False).headers["location"])
    assert f"{to_client.scheme}://{to_client.netloc}{to_client.path}" == RP_REDIRECT
    query = parse_qs(to_client.query)
    assert query["state"] == ["s-1"] and query["code"]

    # The same site again: the session and the consent answer at once (no page shown).
    again = urlsplit(authorize(web, rp, scope="openid profile"))
    assert f"{again.scheme}://{again.netloc}{again.path}" == RP_REDIRECT
    assert "code" in parse_qs(again.query)


def test_a_login_capped_below_the_requested_level_does_not_loop(
    ctx: AppContext, web: TestClient, rp: Client
) -> None:
    # A person proven only at level low: password plus TOTP still gives acr "low" (eIDAS:
    # the lower of proofing and means). acr_values are voluntary, so after the login the flow
    # goes on (the ID token's acr tells the client) instead of sending the user back to /login.
    nid, password, secret = make_person_with_login(ctx, proofing_level="low")
    assert secret is not None
    pending = pending_of(authorize(web, rp, acr_values="substantial"))
    done = browser_login(
        web, nid, password, pending=pending, code=totp_code(secret, ctx.clock.now())
    )
    following = web.get(done.headers["location"], follow_redirects=False)
    assert following.headers["location"] == f"/consent?pending={pending}"
