"""Pushed requests (RFC 9126) and signed request objects (RFC 9101), after the FAPI 2.0
Security Profile plan's PAR and request-object tests."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

import pytest
from joserfc import jws as rfc_jws

from core.cache import InMemoryCache
from core.clock import FixedClock
from idp.authz_request import AuthorizationRequest
from idp.clients import Client
from idp.par import InvalidRequestUri, PushedRequests, is_request_uri
from idp.pkce import s256_challenge
from idp.request_object import InvalidRequestObject, verify_request_object
from idp.service import ProviderCore
from tests.idp.conftest import ISSUER, RPKey, make_client_keys

NOW = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def _request(client_id: str = "client-1", **kw: Any) -> AuthorizationRequest:
    values: dict[str, Any] = {
        "client_id": client_id,
        "client_name": "Bank",
        "redirect_uri": "https://bank.example.kh/cb",
        "scopes": ("openid",),
        "code_challenge": s256_challenge("v" * 43),
        "created_at": NOW,
        "state": "xyz",
    }
    values.update(kw)
    return AuthorizationRequest(**values)


@pytest.fixture
def store(cache: InMemoryCache) -> PushedRequests:
    return PushedRequests(cache)


# --- the request_uri store ------------------------------------------------------------------


def test_pushed_request_round_trips(store: PushedRequests, clock: FixedClock) -> None:
    pushed = store.push(_request(claims={"userinfo": {"name": None}}), at=clock.now())
    assert is_request_uri(pushed.request_uri)
    assert pushed.request_uri.startswith("urn:ietf:params:oauth:request_uri:")
    assert pushed.expires_in == 60
    loaded = store.load(pushed.request_uri, client_id="client-1", at=clock.now())
    assert loaded.request_uri == pushed.request_uri
    assert loaded.claims == {"userinfo": {"name": None}}
    assert loaded.state == "xyz"


def test_par_ensure_reused_request_uri_prior_to_auth_completion_succeeds(
    store: PushedRequests, clock: FixedClock
) -> None:
    uri = store.push(_request(), at=clock.now()).request_uri
    store.load(uri, client_id="client-1", at=clock.now())
    assert store.load(uri, client_id="client-1", at=clock.now()).client_id == "client-1"


def test_par_attempt_reuse_request_uri_after_completion(
    store: PushedRequests, clock: FixedClock
) -> None:
    uri = store.push(_request(), at=clock.now()).request_uri
    store.consume(uri, at=clock.now())
    with pytest.raises(InvalidRequestUri):
        store.load(uri, client_id="client-1", at=clock.now())
    with pytest.raises(InvalidRequestUri):
        store.consume(uri, at=clock.now())  # a second concurrent completion loses


def test_par_attempt_to_use_request_uri_for_different_client(
    store: PushedRequests, clock: FixedClock
) -> None:
    uri = store.push(_request(), at=clock.now()).request_uri
    with pytest.raises(InvalidRequestUri):
        store.load(uri, client_id="client-2", at=clock.now())
    with pytest.raises(InvalidRequestUri):
        store.load(uri, client_id=None, at=clock.now())


def test_par_attempt_to_use_expired_request_uri(store: PushedRequests, clock: FixedClock) -> None:
    uri = store.push(_request(), at=clock.now()).request_uri
    clock.advance(dt.timedelta(seconds=61))
    with pytest.raises(InvalidRequestUri):
        store.load(uri, client_id="client-1", at=clock.now())


def test_guessed_request_uri_is_refused(store: PushedRequests, clock: FixedClock) -> None:
    with pytest.raises(InvalidRequestUri):
        store.load(
            "urn:ietf:params:oauth:request_uri:" + secrets.token_urlsafe(32),
            client_id="client-1",
            at=clock.now(),
        )


# --- request objects ------------------------------------------------------------------------


@pytest.fixture
def rp_key() -> RPKey:
    return make_client_keys("PS256")


@pytest.fixture
def fapi_client(core: ProviderCore, rp_key: RPKey) -> Client:
    return core.clients.add(
        name="ACLEDA bank",
        redirect_uris=["https://bank.example.kh/cb"],
        auth_method="private_key_jwt",
        jwks=rp_key.jwks,
        fapi2=True,
    ).client


def _object(
    rp: RPKey, client: Client, *, alg: str | None = None, drop: tuple[str, ...] = (), **kw: Any
) -> str:
    now = int(NOW.timestamp())
    claims: dict[str, Any] = {
        "iss": client.client_id,
        "aud": ISSUER,
        "client_id": client.client_id,
        "nbf": now,
        "exp": now + 300,
        "response_type": "code",
        "redirect_uri": "https://bank.example.kh/cb",
        "scope": "openid",
        "state": "inside",
        "nonce": "inside-nonce",
        "max_age": 60,
        "claims": {"userinfo": {"name": {"essential": True}}},
    }
    claims.update(kw)
    for name in drop:
        claims.pop(name)
    alg = alg or rp.alg
    return rfc_jws.serialize_compact(
        {"alg": alg, "kid": rp.private.kid}, json.dumps(claims).encode(), rp.private,
        algorithms=[alg],
    )  # fmt: skip


def _verify(token: str, client: Client, at: dt.datetime = NOW) -> dict[str, str]:
    return verify_request_object(token, client=client, issuer=ISSUER, at=at)


def test_signed_request_object_gives_its_parameters(rp_key: RPKey, fapi_client: Client) -> None:
    params = _verify(_object(rp_key, fapi_client), fapi_client)
    assert params["state"] == "inside"
    assert params["max_age"] == "60"
    assert json.loads(params["claims"]) == {"userinfo": {"name": {"essential": True}}}
    assert "iss" not in params and "exp" not in params


def test_ensure_request_object_with_multiple_aud_succeeds(
    rp_key: RPKey, fapi_client: Client
) -> None:
    _verify(_object(rp_key, fapi_client, aud=["https://other.example", ISSUER]), fapi_client)


def test_ensure_request_object_with_nbf_8_seconds_in_the_future_is_accepted(
    rp_key: RPKey, fapi_client: Client
) -> None:
    now = int(NOW.timestamp())
    _verify(_object(rp_key, fapi_client, nbf=now + 8, exp=now + 308), fapi_client)


def _refused(rp_key: RPKey, client: Client, **kw: Any) -> str:
    with pytest.raises(InvalidRequestObject) as caught:
        _verify(_object(rp_key, client, **kw), client)
    return caught.value.description


NOW_TS = int(NOW.timestamp())


@pytest.mark.parametrize(
    "kw",
    [
        pytest.param({"drop": ("exp",)}, id="ensure-request-object-without-exp-fails"),
        pytest.param({"drop": ("nbf",)}, id="ensure-request-object-without-nbf-fails"),
        pytest.param(
            {"exp": NOW_TS - 60, "nbf": NOW_TS - 600}, id="ensure-expired-request-object-fails"
        ),
        pytest.param(
            {"aud": "https://evil.example"}, id="ensure-request-object-with-bad-aud-fails"
        ),
        pytest.param(
            {"nbf": NOW_TS, "exp": NOW_TS + 3601}, id="ensure-request-object-with-exp-over-60-fails"
        ),
        pytest.param(
            {"nbf": NOW_TS - 3601, "exp": NOW_TS + 10},
            id="ensure-request-object-with-nbf-over-60-fails",
        ),
        pytest.param({"nbf": NOW_TS + 60, "exp": NOW_TS + 300}, id="nbf-a-minute-ahead-fails"),
        pytest.param({"iss": "someone-else"}, id="iss-not-the-client-fails"),
        pytest.param({"client_id": "someone-else"}, id="client-id-mismatch-fails"),
        pytest.param({"request_uri": "urn:x"}, id="nested-request-uri-fails"),
    ],
)
def test_bad_request_objects_are_refused(
    rp_key: RPKey, fapi_client: Client, kw: dict[str, Any]
) -> None:
    _refused(rp_key, fapi_client, **kw)


def test_ensure_signed_request_object_with_rs256_fails(rp_key: RPKey, fapi_client: Client) -> None:
    assert "RS256" in _refused(rp_key, fapi_client, alg="RS256")


def test_ensure_request_object_signature_algorithm_is_not_none(fapi_client: Client) -> None:
    header = {"alg": "none"}
    claims = {"iss": fapi_client.client_id, "aud": ISSUER, "nbf": NOW_TS, "exp": NOW_TS + 60}
    from idp.jose import b64url_encode

    token = ".".join(b64url_encode(json.dumps(part).encode()) for part in (header, claims)) + "."
    with pytest.raises(InvalidRequestObject):
        _verify(token, fapi_client)


def test_ensure_request_object_with_invalid_signature_fails(
    rp_key: RPKey, fapi_client: Client
) -> None:
    token = _object(rp_key, fapi_client)
    head, body, sig = token.split(".")
    forged = f"{head}.{body}.{sig[:-4]}{'AAAA' if sig[-4:] != 'AAAA' else 'BBBB'}"
    with pytest.raises(InvalidRequestObject):
        _verify(forged, fapi_client)


def test_request_object_signed_by_another_key_fails(fapi_client: Client) -> None:
    stranger = make_client_keys("PS256")
    with pytest.raises(InvalidRequestObject):
        _verify(_object(stranger, fapi_client), fapi_client)


def test_client_without_keys_cannot_use_request_objects(core: ProviderCore, rp_key: RPKey) -> None:
    client = core.clients.add(
        name="Portal", redirect_uris=["https://portal.gov.kh/cb"], auth_method="client_secret_basic"
    ).client
    with pytest.raises(InvalidRequestObject):
        _verify(_object(rp_key, client), client)
