"""GET/POST /userinfo (OIDC Core §5.3) as a protected resource: Bearer (RFC 6750) and DPoP
(RFC 9449 §7) access, claims by scope and by the claims request, WWW-Authenticate errors."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.context import AppContext
from api.routers.oidc_token import released_claims
from core.cache import CacheError
from core.clock import FixedClock
from idp.service import ProviderCore
from registry.records import Person
from tests.api.idp_token._rp import DPoPSession, RegisteredRP, dpop_proof, make_rp_key
from tests.api.idp_token._tokens import get_tokens


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_userinfo_by_bearer_get_releases_scope_claims_and_pairwise_sub(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    tokens = get_tokens(
        http, core, app_ctx, basic_client, person.id, scopes=("openid", "profile", "email")
    )
    response = http.get("/userinfo", headers=_bearer(tokens["access_token"]))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    info = response.json()
    assert info["sub"] == core.tokens.subject_for(basic_client.client, person.id)
    assert info["sub"] != person.id
    assert info["name"] == "Sok Dara"
    assert info["name#km"] == "សុខ ដារា"
    assert info["email"] == "sok.dara@example.com"
    assert "phone_number" not in info  # no phone scope
    assert "address" not in info


def test_userinfo_by_post_header_and_form_body(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    token = get_tokens(http, core, app_ctx, basic_client, person.id)["access_token"]
    assert http.post("/userinfo", headers=_bearer(token)).status_code == 200
    by_form = http.post("/userinfo", data={"access_token": token})
    assert by_form.status_code == 200
    assert by_form.json()["name"] == "Sok Dara"


def test_access_token_in_query_refused(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    token = get_tokens(http, core, app_ctx, basic_client, person.id)["access_token"]
    response = http.get("/userinfo", params={"access_token": token})
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


def test_token_in_header_and_body_refused(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    token = get_tokens(http, core, app_ctx, basic_client, person.id)["access_token"]
    response = http.post("/userinfo", data={"access_token": token}, headers=_bearer(token))
    assert response.status_code == 400


def test_no_token_gets_bare_challenges(http: TestClient) -> None:
    response = http.get("/userinfo")
    assert response.status_code == 401
    challenges = response.headers.get_list("www-authenticate")
    assert any(c.startswith("Bearer") for c in challenges)
    assert any(c.startswith("DPoP") and 'algs="ES256 PS256"' in c for c in challenges)
    assert not any("error=" in c for c in challenges)


def test_garbage_and_expired_tokens_are_invalid_token(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    clock: FixedClock,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    response = http.get("/userinfo", headers=_bearer("not.a.token"))
    assert response.status_code == 401
    assert 'Bearer realm="natid", error="invalid_token"' in response.headers["www-authenticate"]
    token = get_tokens(http, core, app_ctx, basic_client, person.id)["access_token"]
    clock.advance(core.tokens.access_token_lifetime + dt.timedelta(seconds=1))
    assert http.get("/userinfo", headers=_bearer(token)).status_code == 401


def test_token_without_openid_scope_is_insufficient_scope(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    tokens = get_tokens(http, core, app_ctx, basic_client, person.id, scopes=("profile",))
    response = http.get("/userinfo", headers=_bearer(tokens["access_token"]))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_claims_request_for_userinfo_and_claims_locales(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    claims = {"userinfo": {"phone_number": {"essential": True}}, "claims_locales": ["en"]}
    tokens = get_tokens(
        http, core, app_ctx, basic_client, person.id, scopes=("openid", "profile"), claims=claims
    )
    info = http.get("/userinfo", headers=_bearer(tokens["access_token"])).json()
    assert info["phone_number"] == "+85512345678"
    assert info["name"] == "Sok Dara"
    assert "name#km" not in info  # claims_locales en only


# --- DPoP -------------------------------------------------------------------------------------


def _dpop_tokens(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    rp: RegisteredRP,
    person: Person,
    key_alg: str = "ES256",
) -> tuple[DPoPSession, str]:
    session = DPoPSession(http, make_rp_key(key_alg, kid="dpop"), core.issuer, app_ctx.clock.now())
    tokens = get_tokens(http, core, app_ctx, rp, person.id, dpop=session)
    assert tokens["token_type"] == "DPoP"
    return session, tokens["access_token"]


def test_dpop_bound_token_with_proof_of_its_key(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    session, token = _dpop_tokens(http, core, app_ctx, fapi_client, person)
    response = session.request("GET", "/userinfo", access_token=token)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Sok Dara"
    assert response.headers["dpop-nonce"]
    post = session.request("POST", "/userinfo", access_token=token)
    assert post.status_code == 200


def test_token_bound_to_key_a_used_with_key_b_refused(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    session, token = _dpop_tokens(http, core, app_ctx, fapi_client, person)
    thief = DPoPSession(http, make_rp_key("ES256", kid="thief"), core.issuer, app_ctx.clock.now())
    thief.nonce = session.nonce
    response = thief.request("GET", "/userinfo", access_token=token)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("DPoP ") and 'error="invalid_token"' in challenge


def test_dpop_bound_token_used_as_bearer_refused_and_told_to_use_the_dpop_scheme(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    """RFC 9449 §7.2: refused as a bearer token. The client holds the right key and only sent
    the token the wrong way, so it is told so (not "bound to another DPoP key", which sent
    developers hunting for a key mix-up) and gets the DPoP challenge with its algorithms."""
    _, token = _dpop_tokens(http, core, app_ctx, fapi_client, person)
    response = http.get("/userinfo", headers=_bearer(token))
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_token"
    assert "DPoP authorization scheme" in body["error_description"]
    assert "another" not in body["error_description"]
    challenges = response.headers.get_list("www-authenticate")
    dpop = [c for c in challenges if c.startswith("DPoP ")]
    assert len(dpop) == 1
    assert 'error="invalid_token"' in dpop[0]
    assert 'algs="ES256 PS256"' in dpop[0]


def test_bearer_token_under_dpop_scheme_refused(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    token = get_tokens(http, core, app_ctx, basic_client, person.id)["access_token"]
    session = DPoPSession(http, make_rp_key("ES256"), core.issuer, app_ctx.clock.now())
    response = session.request("GET", "/userinfo", access_token=token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_dpop_nonce_challenge_at_userinfo(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    session, token = _dpop_tokens(http, core, app_ctx, fapi_client, person)
    at = app_ctx.clock.now()
    proof = dpop_proof(
        session.key, method="GET", url=core.issuer + "/userinfo", at=at, access_token=token
    )
    response = http.get("/userinfo", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert response.status_code == 401
    assert 'DPoP realm="natid", error="use_dpop_nonce"' in response.headers["www-authenticate"]
    nonce = response.headers["dpop-nonce"]
    proof = dpop_proof(
        session.key,
        method="GET",
        url=core.issuer + "/userinfo",
        at=at,
        access_token=token,
        nonce=nonce,
    )
    again = http.get("/userinfo", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert again.status_code == 200, again.text


def test_dpop_proof_without_ath_or_for_another_url_refused(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    session, token = _dpop_tokens(http, core, app_ctx, fapi_client, person)
    at = app_ctx.clock.now()
    headers = {"Authorization": f"DPoP {token}"}
    no_ath = dpop_proof(
        session.key, method="GET", url=core.issuer + "/userinfo", at=at, nonce=session.nonce
    )
    response = http.get("/userinfo", headers={**headers, "DPoP": no_ath})
    assert response.status_code == 401
    assert 'error="invalid_dpop_proof"' in response.headers["www-authenticate"]
    wrong_url = dpop_proof(
        session.key,
        method="GET",
        url=core.issuer + "/token",
        at=at,
        nonce=session.nonce,
        access_token=token,
    )
    response = http.get("/userinfo", headers={**headers, "DPoP": wrong_url})
    assert 'error="invalid_dpop_proof"' in response.headers["www-authenticate"]
    missing = http.get("/userinfo", headers=headers)
    assert missing.status_code == 401


def test_dpop_proof_replay_at_userinfo_refused(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    fapi_client: RegisteredRP,
    person: Person,
) -> None:
    session, token = _dpop_tokens(http, core, app_ctx, fapi_client, person)
    proof = dpop_proof(
        session.key,
        method="GET",
        url=core.issuer + "/userinfo",
        at=app_ctx.clock.now(),
        nonce=session.nonce,
        access_token=token,
    )
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert http.get("/userinfo", headers=headers).status_code == 200
    replay = http.get("/userinfo", headers=headers)
    assert replay.status_code == 401
    assert 'error="invalid_dpop_proof"' in replay.headers["www-authenticate"]


def test_kept_claims_answer_byte_for_byte_as_claims_released_anew(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The code exchange keeps the UserInfo claims rendered; /userinfo serves them with ``sub``
    added (no register read, no JSON parsing) and the answer is the one a fresh release gives:
    the same bytes (Khmer names as UTF-8), the same headers."""
    released: list[str] = []

    def counting(*args: Any, **kwargs: Any) -> dict[str, Any]:
        released.append(kwargs["target"])
        return released_claims(*args, **kwargs)

    monkeypatch.setattr("api.routers.oidc_userinfo.released_claims", counting)
    scopes = ("openid", "profile", "email", "phone", "address")
    token = get_tokens(http, core, app_ctx, basic_client, person.id, scopes=scopes)["access_token"]
    grant_id = core.tokens.verify_access_token(token, at=app_ctx.clock.now()).grant_id
    key = f"idp:userinfo-claims:{grant_id}"
    assert app_ctx.cache.get(key) is not None  # the code exchange kept them under this key

    kept = http.get("/userinfo", headers=_bearer(token))
    assert kept.status_code == 200, kept.text
    assert released == []  # served from what the code exchange kept
    app_ctx.cache.delete(key)
    fresh = http.get("/userinfo", headers=_bearer(token))
    assert released == ["userinfo"]

    assert kept.content == fresh.content
    assert "សុខ ដារា".encode() in kept.content  # not \\u-escaped
    assert list(kept.json())[-1] == "sub"
    assert kept.json()["sub"] == core.tokens.subject_for(basic_client.client, person.id)
    for name in ("content-type", "content-length", "cache-control", "pragma"):
        assert kept.headers[name] == fresh.headers[name], name
    assert kept.headers["content-type"] == "application/json"
    assert kept.headers["cache-control"] == "no-store"


def test_kept_claims_of_another_form_or_scope_are_released_anew(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    """An entry under the key that is not this version's form (an older worker's, sharing
    Redis) or was kept for other scopes is ignored: the claims are released again."""
    token = get_tokens(http, core, app_ctx, basic_client, person.id)["access_token"]
    grant_id = core.tokens.verify_access_token(token, at=app_ctx.clock.now()).grant_id
    key = f"idp:userinfo-claims:{grant_id}"
    # The entries below replace the kept one: without this, a renamed key would leave them
    # unread and the test passing for nothing.
    assert app_ctx.cache.get(key) is not None
    expected = http.get("/userinfo", headers=_bearer(token)).content
    older = json.dumps({"scope": "openid profile", "claims": {"name": "Someone Else"}}).encode()
    other_scope = b"natid-userinfo-1\nopenid\n" + b'{"name":"Someone Else"}'
    for entry in (older, other_scope, b"natid-userinfo-1\nopenid profile offline_access\n[]"):
        app_ctx.cache.set(key, entry, ttl=60)
        answer = http.get("/userinfo", headers=_bearer(token))
        assert answer.status_code == 200
        assert answer.content == expected
        assert b"Someone Else" not in answer.content


def test_kept_claims_of_scope_openid_alone_answer_sub_only(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
) -> None:
    token = get_tokens(http, core, app_ctx, basic_client, person.id, scopes=("openid",))
    answer = http.get("/userinfo", headers=_bearer(token["access_token"]))
    assert answer.status_code == 200
    sub = core.tokens.subject_for(basic_client.client, person.id)
    assert answer.content == json.dumps({"sub": sub}, separators=(",", ":")).encode()


def test_tokens_are_answered_when_the_claims_cannot_be_kept(
    http: TestClient,
    core: ProviderCore,
    app_ctx: AppContext,
    basic_client: RegisteredRP,
    person: Person,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Keeping the claims comes after the grant and its audit entry are committed. A full or
    unreachable cache there must not lose the tokens already issued: the response is given,
    and UserInfo releases the claims anew."""
    cache = app_ctx.cache
    real_set = cache.set

    def refusing(key: str, value: bytes, *, ttl: float) -> None:
        if key.startswith("idp:userinfo-claims:"):
            raise CacheError("the in-process cache is full (3 live entries); set NATID_REDIS_URL")
        real_set(key, value, ttl=ttl)

    monkeypatch.setattr(cache, "set", refusing)
    caplog.set_level(logging.WARNING, logger="api.routers.oidc_token")
    tokens = get_tokens(
        http, core, app_ctx, basic_client, person.id, scopes=("openid", "profile", "email")
    )
    info = core.tokens.verify_access_token(tokens["access_token"], at=app_ctx.clock.now())
    assert cache.get(f"idp:userinfo-claims:{info.grant_id}") is None
    response = http.get("/userinfo", headers=_bearer(tokens["access_token"]))
    assert response.status_code == 200, response.text
    assert response.json()["name#km"] == "សុខ ដារា"
    assert response.json()["email"] == "sok.dara@example.com"
    warnings = [r for r in caplog.records if r.name == "api.routers.oidc_token"]
    assert [r.getMessage() for r in warnings] == ["UserInfo claims not kept"]
    assert "sok.dara" not in caplog.text and "Sok" not in caplog.text
