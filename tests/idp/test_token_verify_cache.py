"""Access tokens this process issued skip the signature check on verification (idp/tokens.py,
``_IssuedAccessTokens``) - and nothing else: the same claims, the same answers and the same
errors as the full check, for tampered tokens, foreign keys, unpublished keys, revoked grants
and expired tokens."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from core.clock import FixedClock
from idp import tokens as tokens_module
from idp.errors import InvalidToken
from idp.jose import b64url_decode, b64url_encode, sign_jws
from idp.service import ProviderCore
from idp.tokens import AccessTokenInfo, TokenResponse, _IssuedAccessTokens
from tests.idp._flow import issue_code, secret_client


def _issue(core: ProviderCore, clock: FixedClock, **kw: Any) -> TokenResponse:
    client = secret_client(core)
    code, verifier = issue_code(core, client, clock.now(), dpop_jkt=kw.get("dpop_jkt"))
    grant = core.codes.redeem(
        code, client_id=client.client_id, redirect_uri=client.redirect_uris[0],
        code_verifier=verifier, dpop_jkt=kw.get("dpop_jkt"), at=clock.now(),
    )  # fmt: skip
    return core.tokens.exchange_code(
        grant, client=client, dpop_jkt=kw.get("dpop_jkt"), at=clock.now()
    )


def _full(core: ProviderCore, token: str, **kw: Any) -> AccessTokenInfo | str:
    """The answer of the full check (an empty map of issued tokens)."""
    saved = core.tokens._issued
    core.tokens._issued = _IssuedAccessTokens()
    try:
        return core.tokens.verify_access_token(token, **kw)
    except InvalidToken as exc:
        return str(exc)
    finally:
        core.tokens._issued = saved


def _cached(
    core: ProviderCore, token: str, monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> AccessTokenInfo | str:
    """The answer with the map, proving the signature check was skipped."""
    with monkeypatch.context() as patch:
        patch.setattr(tokens_module, "verify_jws", _no_signature_check)
        try:
            return core.tokens.verify_access_token(token, **kw)
        except InvalidToken as exc:
            return str(exc)


def _no_signature_check(*_args: Any, **_kw: Any) -> Any:
    raise AssertionError("the signature was checked")


def test_issued_token_answers_as_the_full_check(
    core: ProviderCore, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = _issue(core, clock, dpop_jkt="thumbprint")
    token = response.access_token
    for kw in (
        {"dpop_jkt": "thumbprint"},
        {"dpop_jkt": "another"},  # the binding is still checked
        {"check_binding": False},
    ):
        cached = _cached(core, token, monkeypatch, at=clock.now(), **kw)
        assert cached == _full(core, token, at=clock.now(), **kw)
    info = _cached(core, token, monkeypatch, at=clock.now(), dpop_jkt="thumbprint")
    assert isinstance(info, AccessTokenInfo)
    assert info.claims == json.loads(b64url_decode(token.split(".")[1]))
    assert list(info.claims) == list(json.loads(b64url_decode(token.split(".")[1])))


def test_altered_and_foreign_tokens_take_the_full_check(
    core: ProviderCore, clock: FixedClock
) -> None:
    token = _issue(core, clock).access_token
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["scope"] = "openid profile admin"
    foreign_key = ec.generate_private_key(ec.SECP256R1())
    kid = json.loads(b64url_decode(header))["kid"]
    altered = [
        f"{header}.{b64url_encode(json.dumps(claims).encode())}.{signature}",
        token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
        sign_jws(claims, key=foreign_key, kid=kid, typ="at+jwt"),
    ]
    for candidate in altered:
        answer = _full(core, candidate, at=clock.now())
        assert isinstance(answer, str) and "not valid" in answer
        with pytest.raises(InvalidToken) as raised:
            core.tokens.verify_access_token(candidate, at=clock.now())
        assert str(raised.value) == answer


def test_a_token_whose_key_is_no_longer_published_fails(
    core: ProviderCore, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = _issue(core, clock).access_token
    assert isinstance(core.tokens.verify_access_token(token, at=clock.now()), AccessTokenInfo)
    monkeypatch.setattr(core.signing_keys, "published", lambda *, at: [])
    with pytest.raises(InvalidToken) as raised:
        core.tokens.verify_access_token(token, at=clock.now())
    assert str(raised.value) == _full(core, token, at=clock.now())


def test_revoked_grants_and_expired_tokens_fail(
    core: ProviderCore, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _issue(core, clock), _issue(core, clock)
    core.tokens.revoke_grant(first.grant_id, reason="logout", at=clock.now())
    answer = _cached(core, first.access_token, monkeypatch, at=clock.now())
    assert answer == "the access token has been revoked"
    clock.advance(core.tokens.access_token_lifetime)
    assert len(core.tokens._issued) == 2
    with pytest.raises(InvalidToken, match="expired"):
        core.tokens.verify_access_token(second.access_token, at=clock.now())
    assert len(core.tokens._issued) == 1  # dropped once expired


def test_the_map_is_bounded_and_thread_safe() -> None:
    issued = _IssuedAccessTokens(limit=100)
    published = [dataclasses.make_dataclass("K", ["kid"])("k1")]
    payload = b64url_encode(b'{"exp": 2000}')

    def fill(n: int) -> None:
        for i in range(500):
            issued.add(f"h.{payload}.{n}-{i}", "k1", 2000)
            issued.payload(f"h.{payload}.{n}-{i // 2}", now=1000.0, published=published)

    threads = [threading.Thread(target=fill, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(issued) == 100
    issued.add(f"h.{payload}.last", "k1", 2000)
    assert issued.payload(f"h.{payload}.last", now=1000.0, published=published) == b'{"exp": 2000}'
    assert issued.payload(f"h.{payload}.last", now=1000.0, published=[]) is None
    assert issued.payload(f"h.{payload}.last", now=2000.0, published=published) is None
