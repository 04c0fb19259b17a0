"""/logout (RP-Initiated Logout 1.0) with back-channel logout, through the HTTP layer."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, cast

from fastapi.testclient import TestClient
from joserfc import jwt as rfc_jwt
from joserfc.jwk import KeySet

from api.context import AppContext
from api.routers.idp_text import TEXT
from idp.clients import Client
from idp.errors import SessionNotFound
from idp.jose import b64url_decode, sign_jws
from idp.logout import BACKCHANNEL_LOGOUT_EVENT
from idp.sessions import LoginSession, LoginSessions
from tests.api.idp_pages.conftest import (
    RP_BACKCHANNEL,
    RP_LOGGED_OUT,
    RecordingSender,
    events,
)
from tests.idp._flow import redeemed_grant
from tests.idp._web import browser_login, csrf_from, make_person_with_login

EN = TEXT["en"]


def login_to(ctx: AppContext, web: TestClient, rp: Client) -> tuple[LoginSession, str]:
    """A logged-in browser whose session has logged into ``rp``; (session, person id)."""
    nid, password, _ = make_person_with_login(ctx, totp=False)
    assert browser_login(web, nid, password).status_code == 303
    sessions = LoginSessions(ctx.sessions, ledger=ctx.ledger)
    session = sessions.get(web.cookies["natid_session"], at=ctx.clock.now())
    sessions.add_client(session.id, rp.client_id, at=ctx.clock.now())
    person = ctx.register.find_person_by_national_id(nid)
    assert person is not None
    return session, person.id


def id_token_for(ctx: AppContext, rp: Client, person_id: str, *, expired: bool = True) -> str:
    core = ctx.idp_core()
    now = ctx.clock.now() - (dt.timedelta(hours=1) if expired else dt.timedelta(0))
    key = core.signing_keys.signing_key()
    claims = {"iss": core.issuer, "aud": rp.client_id,
              "sub": core.tokens.subject_for(rp, person_id), "iat": int(now.timestamp()),
              "exp": int((now + dt.timedelta(minutes=10)).timestamp())}  # fmt: skip
    return sign_jws(claims, key=key.key, kid=key.kid, typ="JWT")


def is_live(ctx: AppContext, session: LoginSession, web: TestClient) -> bool:
    token = web.cookies.get("natid_session")
    if not token:
        return False
    try:
        LoginSessions(ctx.sessions, ledger=ctx.ledger).get(token, at=ctx.clock.now())
    except SessionNotFound:
        return False
    return True


def test_logout_asks_then_ends_session_notifies_client_and_returns(
    ctx: AppContext, web: TestClient, rp: Client, sender: RecordingSender
) -> None:
    session, person_id = login_to(ctx, web, rp)
    hint = id_token_for(ctx, rp, person_id)
    params = {"id_token_hint": hint, "post_logout_redirect_uri": RP_LOGGED_OUT,
              "state": "bye-1", "ui_locales": "en"}  # fmt: skip
    page = web.get("/logout", params=params)
    assert page.status_code == 200
    assert EN["logout_question"] in page.text
    assert EN["logout_from"].format(client=rp.name) in page.text
    assert is_live(ctx, session, web) and sender.posts == []  # asking changes nothing

    form = {**params, "decision": "logout", "csrf_token": csrf_from(page.text)}
    answer = web.post("/logout", data=form, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{RP_LOGGED_OUT}?state=bye-1"
    assert 'natid_session=""' in answer.headers["set-cookie"]
    assert not is_live(ctx, session, web)
    with_reason = [e for e in events(ctx, "idp.session.ended") if e.subject == session.id]
    assert with_reason[0].data["reason"] == "logout"

    # The back-channel logout token: posted to the client's URI, verifiable with the JWKS.
    assert [p.url for p in sender.posts] == [RP_BACKCHANNEL]
    assert sender.posts[0].timeout <= 5
    token = sender.posts[0].form["logout_token"]
    header = json.loads(b64url_decode(token.split(".")[0]))
    assert header["typ"] == "logout+jwt"
    jwks = KeySet.import_key_set(cast(Any, ctx.idp_core().signing_keys.jwks(at=ctx.clock.now())))
    claims = rfc_jwt.decode(token, jwks, algorithms=["ES256", "PS256"]).claims
    assert claims["iss"] == ctx.idp_core().issuer and claims["aud"] == rp.client_id
    assert claims["sub"] == ctx.idp_core().tokens.subject_for(rp, person_id)
    assert claims["sub"] != person_id  # pairwise
    assert claims["sid"] == session.id
    assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
    assert 0 < claims["exp"] - claims["iat"] <= 120 and claims["jti"]
    assert "nonce" not in claims
    assert events(ctx, "idp.logout.backchannel_sent")[0].subject == rp.client_id


def test_unregistered_post_logout_uri_is_not_followed(
    ctx: AppContext, web: TestClient, rp: Client
) -> None:
    login_to(ctx, web, rp)
    params = {"client_id": rp.client_id, "post_logout_redirect_uri": "https://evil.example/x",
              "lang": "en"}  # fmt: skip
    page = web.get("/logout", params=params)
    form = {**params, "decision": "logout", "csrf_token": csrf_from(page.text)}
    answer = web.post("/logout", data=form, follow_redirects=False)
    assert answer.status_code == 200
    assert EN["logged_out_title"] in answer.text
    assert "evil.example" not in answer.text


def test_forged_id_token_hint_is_not_trusted(ctx: AppContext, web: TestClient, rp: Client) -> None:
    login_to(ctx, web, rp)
    hint = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4IiwiYXVkIjoieSJ9."
    params = {"id_token_hint": hint, "post_logout_redirect_uri": RP_LOGGED_OUT, "lang": "en"}
    page = web.get("/logout", params=params)
    form = {**params, "decision": "logout", "csrf_token": csrf_from(page.text)}
    answer = web.post("/logout", data=form, follow_redirects=False)
    assert answer.status_code == 200 and EN["logged_out_title"] in answer.text


def test_client_id_that_contradicts_the_hint_is_an_error(
    ctx: AppContext, web: TestClient, rp: Client
) -> None:
    _, person_id = login_to(ctx, web, rp)
    params = {"id_token_hint": id_token_for(ctx, rp, person_id), "client_id": "someone-else"}
    assert web.get("/logout", params=params).status_code == 400


def test_logout_confirmation_without_csrf_token_changes_nothing(
    ctx: AppContext, web: TestClient, rp: Client, sender: RecordingSender
) -> None:
    session, _ = login_to(ctx, web, rp)
    web.get("/logout")
    answer = web.post("/logout", data={"decision": "logout"}, follow_redirects=False)
    assert answer.status_code == 403
    assert is_live(ctx, session, web) and sender.posts == []


def test_without_a_session_there_is_nothing_to_confirm(web: TestClient, rp: Client) -> None:
    params = {"client_id": rp.client_id, "post_logout_redirect_uri": RP_LOGGED_OUT}
    answer = web.get("/logout", params=params, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == RP_LOGGED_OUT
    page = web.get("/logout", params={"lang": "en"})
    assert page.status_code == 200 and EN["logged_out_title"] in page.text


def test_unreachable_client_does_not_stop_the_logout(
    ctx: AppContext, web: TestClient, rp: Client, sender: RecordingSender
) -> None:
    sender.status = 500
    session, _ = login_to(ctx, web, rp)
    page = web.get("/logout", params={"lang": "en"})
    form = {"decision": "logout", "csrf_token": csrf_from(page.text), "lang": "en"}
    answer = web.post("/logout", data=form, follow_redirects=False)
    assert answer.status_code == 200 and EN["logged_out_title"] in answer.text
    assert not is_live(ctx, session, web)
    failed = events(ctx, "idp.logout.backchannel_failed")
    assert failed[0].subject == rp.client_id and failed[0].data["status"] == 500


def test_logout_ends_the_sessions_tokens_but_not_an_offline_access_grant(
    ctx: AppContext, web: TestClient, rp: Client
) -> None:
    """After "Log out" (or "End this session" in the account area) the session's access
    tokens stopped working only when they expired, ~10 minutes later. A grant with
    ``offline_access`` is meant to outlive the session (OIDC Core §11) and is kept."""
    session, person_id = login_to(ctx, web, rp)
    core, now = ctx.idp_core(), ctx.clock.now()
    online = redeemed_grant(core, rp, now, subject=person_id, sid=session.id)
    online_tokens = core.tokens.exchange_code(online, client=rp, dpop_jkt=None, at=now)
    offline = redeemed_grant(core, rp, now, subject=person_id, sid=session.id,
                             scopes=("openid", "profile", "offline_access"))  # fmt: skip
    offline_tokens = core.tokens.exchange_code(offline, client=rp, dpop_jkt=None, at=now)
    assert web.get("/userinfo", headers=_bearer(online_tokens.access_token)).status_code == 200

    page = web.get("/logout", params={"client_id": rp.client_id, "ui_locales": "en"})
    form = {"client_id": rp.client_id, "decision": "logout", "csrf_token": csrf_from(page.text)}
    assert web.post("/logout", data=form, follow_redirects=False).status_code in (200, 303)
    assert not is_live(ctx, session, web)

    answer = web.get("/userinfo", headers=_bearer(online_tokens.access_token))
    assert answer.status_code == 401
    assert core.tokens.introspect(online_tokens.access_token, client=rp, at=now) == {
        "active": False
    }
    assert web.get("/userinfo", headers=_bearer(offline_tokens.access_token)).status_code == 200
    assert offline_tokens.refresh_token is not None
    core.tokens.refresh(offline_tokens.refresh_token, client=rp, dpop_jkt=None, at=now)
    [revoked] = [
        e for e in events(ctx, "idp.grant.revoked") if e.data["grant_id"] == online.grant_id
    ]
    assert revoked.data["reason"] == "session_ended"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
