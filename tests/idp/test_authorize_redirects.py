"""The redirects of the authorization endpoint: the cached split of the redirect URI and the
direct ``quote_plus`` give the string the former ``urlsplit`` / ``urlencode`` / ``urlunsplit``
built (reproduced here as the reference), for every shape of registered URI and every kind of
``state``, code, error description and issuer."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

from idp.authorize import error_redirect, error_redirect_url, success_redirect
from idp.authz_request import AuthorizationRequest


def _reference_add_query(uri: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(uri)
    query = "&".join(p for p in (parts.query, urlencode(params)) if p)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


URIS = [
    "https://portal.moh.gov.kh/cb",
    "https://portal.moh.gov.kh/cb?",
    "https://portal.moh.gov.kh/cb?tenant=moh&x=",
    "https://portal.moh.gov.kh:8443/a/b/c?x=1#frag",
    "https://portal.moh.gov.kh#frag",
    "https://portal.moh.gov.kh",
    "https://user@portal.moh.gov.kh/cb",
    "http://127.0.0.1:5555/callback",
    "http://[::1]:8080/cb?a=b",
    "com.example.app:/oauth2redirect",
    "com.example.app:/oauth2redirect?x=1",
    "https://portal.moh.gov.kh/ខ្មែរ/cb?q=ខ្មែរ",
    "https://portal.moh.gov.kh/c%20b?q=a%20b",
    "https://portal.moh.gov.kh/cb;params?x",
]
STATES = [
    None,
    "",
    "af0ifjsldkj",
    "a b+c&d=e/f?g#h%i",
    "ខ្មែរ \u2028 \x00 \ud7ff",
    "x" * 2048,
]
ISSUERS = ["https://id.gov.kh", "https://id.gov.kh/realm one?x=1", "http://testserver"]


def _request(uri: str, state: str | None) -> AuthorizationRequest:
    return AuthorizationRequest(
        client_id="c",
        client_name="n",
        redirect_uri=uri,
        scopes=("openid",),
        code_challenge="x" * 43,
        created_at=dt.datetime(2026, 11, 22, tzinfo=dt.UTC),
        state=state,
    )


@pytest.mark.parametrize("uri", URIS)
def test_success_and_error_redirects_are_the_former_strings(uri: str) -> None:
    rng = random.Random(uri)
    for state in STATES:
        for issuer in ISSUERS:
            code = "".join(rng.choice("abcXYZ09-_") for _ in range(43))
            request = _request(uri, state)
            params = {"code": code}
            if state is not None:
                params["state"] = state
            params["iss"] = issuer
            assert success_redirect(request, code, issuer=issuer) == _reference_add_query(
                uri, params
            )
            for description in ("the user said no", "é & = + / ? # " * 30, ""):
                expected = {"error": "access_denied", "error_description": description[:300]}
                if state is not None:
                    expected["state"] = state
                expected["iss"] = issuer
                assert error_redirect(
                    uri, "access_denied", description, state=state, issuer=issuer
                ) == _reference_add_query(uri, expected)
                assert error_redirect_url(
                    request, "access_denied", description, issuer=issuer
                ) == _reference_add_query(uri, expected)


def test_random_states_and_codes() -> None:
    rng = random.Random(7)
    alphabet = "aZ09 +&=%/?#-_.~ខ\u00e9\x7f"
    for _ in range(500):
        uri = rng.choice(URIS)
        state = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        code = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20)))
        issuer = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20)))
        expected = _reference_add_query(uri, {"code": code, "state": state, "iss": issuer})
        assert success_redirect(_request(uri, state), code, issuer=issuer) == expected


@pytest.mark.parametrize(
    ("uri", "state"),
    [("http://[::1/cb", "s"), ("https://portal.moh.gov.kh/cb", "\ud800")],
)
def test_failures_are_the_former_ones(uri: str, state: str) -> None:
    params = {"code": "c", "state": state, "iss": "https://id.gov.kh"}
    with pytest.raises(ValueError) as former:
        _reference_add_query(uri, params)
    for _ in range(2):  # the second time through the cache
        with pytest.raises(ValueError) as ours:
            success_redirect(_request(uri, state), "c", issuer="https://id.gov.kh")
        assert type(ours.value) is type(former.value)
        assert str(ours.value) == str(former.value)
