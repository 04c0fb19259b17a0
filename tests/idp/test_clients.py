"""Client registration (what an operator may register) and client authentication at the token
endpoint (client secrets; private_key_jwt per RFC 7523 and the FAPI 2.0 client-assertion
tests: RS256 refused, wrong aud, no sub, expired, nbf, jti replay)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import FixedClock
from idp.clients import CLIENT_ASSERTION_TYPE, ClientAuthMethod, ClientRegistry
from idp.errors import (
    ClientNotFound,
    InvalidClient,
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidRequest,
    InvalidScope,
)
from idp.models import ClientRow
from idp.service import ProviderCore
from idp.subjects import SubjectType
from tests.idp.conftest import ISSUER, TOKEN_URL, RPKey, assertion, make_client_keys

PAR_URL = f"{ISSUER}/oauth2/par"


@pytest.fixture
def registry(core: ProviderCore) -> ClientRegistry:
    return core.clients


_BANKS = itertools.count(1)


def _fapi_client(registry: ClientRegistry, rp: RPKey) -> str:
    # Each bank its own name: two clients may not share one (test_duplicate_names_refused).
    return registry.add(
        name=f"ABA Bank {next(_BANKS)}",
        redirect_uris=["https://bank.example.com.kh/cb"],
        auth_method="private_key_jwt",
        jwks=rp.jwks,
        fapi2=True,
    ).client.client_id


def _auth_jwt(registry: ClientRegistry, token: str, at: dt.datetime, **kw: Any) -> Any:
    return registry.authenticate(
        client_id=kw.pop("client_id", None),
        method="private_key_jwt",
        assertion=token,
        assertion_type=kw.pop("assertion_type", CLIENT_ASSERTION_TYPE),
        endpoint_url=kw.pop("endpoint_url", TOKEN_URL),
        at=at,
    )


# --- registration ----------------------------------------------------------------------------


def test_secret_client_registration_shows_secret_once(
    registry: ClientRegistry, session_factory: Any
) -> None:
    added = registry.add(
        name="Ministry of Health portal",
        redirect_uris=["https://portal.moh.gov.kh/callback", "https://portal.moh.gov.kh/cb2"],
        auth_method="client_secret_basic",
    )
    client = added.client
    assert added.client_secret is not None and len(added.client_secret) >= 43
    assert client.sector == "portal.moh.gov.kh"
    assert client.subject_type is SubjectType.PAIRWISE
    assert "openid" in client.scopes and not client.require_par
    # Stored only as a hash; never in the settings an operator prints.
    with session_factory() as session:
        row = session.scalar(select(ClientRow).where(ClientRow.client_id == client.client_id))
        assert row.secret_sha256 != added.client_secret
        assert added.client_secret not in json.dumps(client.settings())
    assert registry.get(client.client_id) == client
    assert [c.client_id for c in registry.list()] == [client.client_id]


@pytest.mark.parametrize(
    "uri",
    [
        "http://portal.moh.gov.kh/cb",  # plain http off loopback
        "https://portal.moh.gov.kh/cb#frag",
        "https://user@portal.moh.gov.kh/cb",
        "portal.moh.gov.kh/cb",
        "javascript:alert(1)",
        "https://portal.moh.gov.kh/c b",
        "https://a:badport/cb",
        "",
        "https://*.gov.kh/cb",  # a wildcard never matches: matching is exact
        "https://*/cb",
        "https://portal_moh.gov.kh/cb",
        "https://-portal.gov.kh/cb",
    ],
)
def test_bad_redirect_uris_refused(registry: ClientRegistry, uri: str) -> None:
    with pytest.raises(InvalidRedirectUri):
        registry.add(name="x", redirect_uris=[uri], auth_method="client_secret_post")
    assert registry.list() == []


def test_loopback_http_allowed_but_not_for_fapi(registry: ClientRegistry) -> None:
    for uri in ("http://localhost:3000/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb"):
        client = registry.add(
            name=f"dev {uri}", redirect_uris=[uri], auth_method="client_secret_post"
        )
        assert client.client.redirect_uris == (uri,)
    with pytest.raises(InvalidRedirectUri, match="FAPI"):
        registry.add(
            name="bank", redirect_uris=["http://localhost/cb"], auth_method="private_key_jwt",
            jwks=make_client_keys().jwks, fapi2=True,
        )  # fmt: skip


def test_several_hosts_need_a_sector(registry: ClientRegistry) -> None:
    uris = ["https://a.gov.kh/cb", "https://b.gov.kh/cb"]
    with pytest.raises(InvalidClientMetadata, match="--sector"):
        registry.add(name="two", redirect_uris=uris, auth_method="client_secret_basic")
    client = registry.add(
        name="two", redirect_uris=uris, auth_method="client_secret_basic", sector="MEF.gov.kh"
    ).client
    assert client.sector == "mef.gov.kh"


def test_fapi_requires_private_key_jwt_and_strong_keys(registry: ClientRegistry) -> None:
    with pytest.raises(InvalidClientMetadata, match="private_key_jwt"):
        registry.add(
            name="bank", redirect_uris=["https://b.example/cb"],
            auth_method="client_secret_basic", fapi2=True,
        )  # fmt: skip
    rs = make_client_keys("PS256").jwks
    rs["keys"][0]["alg"] = "RS256"
    with pytest.raises(InvalidClientMetadata, match="RS256"):
        registry.add(
            name="bank", redirect_uris=["https://b.example/cb"], auth_method="private_key_jwt",
            jwks=rs, fapi2=True,
        )  # fmt: skip
    client = registry.add(
        name="bank", redirect_uris=["https://b.example/cb"], auth_method="private_key_jwt",
        jwks=make_client_keys().jwks, fapi2=True,
    ).client  # fmt: skip
    assert client.require_par and client.require_dpop


def test_private_keys_in_jwks_refused(registry: ClientRegistry) -> None:
    rp = make_client_keys()
    leaked = {"keys": [rp.private.as_dict(private=True)]}
    with pytest.raises(InvalidClientMetadata, match="public keys only"):
        registry.add(
            name="x", redirect_uris=["https://x.example/cb"], auth_method="private_key_jwt",
            jwks=leaked,
        )  # fmt: skip
    bad_point = {"keys": [{**rp.jwks["keys"][0], "x": rp.jwks["keys"][0]["y"]}]}
    with pytest.raises(InvalidClientMetadata, match="not a valid"):
        registry.add(
            name="x", redirect_uris=["https://x.example/cb"], auth_method="private_key_jwt",
            jwks=bad_point,
        )  # fmt: skip


def test_dns_names_ip_addresses_and_idns_are_hosts(registry: ClientRegistry) -> None:
    uris = ["https://portal.moh.gov.kh/cb", "https://10.0.0.7:8443/cb", "https://[2001:db8::1]/cb",
            "https://xn--i1b5a3b.gov.kh/cb", "https://portal.moh.gov.kh./cb"]  # fmt: skip
    client = registry.add(name="x", redirect_uris=uris, auth_method="client_secret_post",
                          sector="moh.gov.kh").client  # fmt: skip
    assert client.redirect_uris == tuple(uris)


def test_redirect_uri_exact_match(registry: ClientRegistry) -> None:
    client = registry.add(
        name="x", redirect_uris=["https://x.gov.kh/cb"], auth_method="client_secret_basic"
    ).client
    assert client.check_redirect_uri("https://x.gov.kh/cb") == "https://x.gov.kh/cb"
    for near_miss in ("https://x.gov.kh/cb/", "https://x.gov.kh/cb?a=1", "https://X.gov.kh/cb",
                      "https://x.gov.kh/CB", None):  # fmt: skip
        with pytest.raises(InvalidRequest):
            client.check_redirect_uri(near_miss)
    with pytest.raises(InvalidScope, match="admin"):
        client.check_scopes(["openid", "admin"])


def test_unknown_client_not_found(registry: ClientRegistry) -> None:
    with pytest.raises(ClientNotFound):
        registry.get("nope")


# --- secret authentication -------------------------------------------------------------------


def test_client_secret_authentication(registry: ClientRegistry, clock: FixedClock) -> None:
    added = registry.add(
        name="x", redirect_uris=["https://x.gov.kh/cb"], auth_method="client_secret_basic"
    )
    cid, secret = added.client.client_id, added.client_secret
    now = clock.now()
    ok = registry.authenticate(
        client_id=cid, method="client_secret_basic", secret=secret, endpoint_url=TOKEN_URL, at=now
    )
    assert ok.client_id == cid
    failures = [
        (cid, "client_secret_basic", secret + "x"),
        (cid, "client_secret_post", secret),  # registered for basic, not post
        ("unknown", "client_secret_basic", secret),
        (cid, "client_secret_basic", ""),
        (cid, "bogus", secret),
    ]
    messages = set()
    for client_id, method, given in failures:
        with pytest.raises(InvalidClient) as info:
            registry.authenticate(
                client_id=client_id, method=method, secret=given, endpoint_url=TOKEN_URL, at=now
            )
        messages.add(str(info.value))
        assert info.value.http_status == 401 and info.value.code == "invalid_client"
    assert messages == {"client authentication failed"}  # nothing tells the causes apart


# --- private_key_jwt -------------------------------------------------------------------------


def test_ensure_client_assertion_in_token_endpoint(
    registry: ClientRegistry, clock: FixedClock
) -> None:
    rp = make_client_keys()
    cid = _fapi_client(registry, rp)
    now = clock.now()
    assert _auth_jwt(registry, assertion(rp, cid, at=now), now).client_id == cid
    ps = make_client_keys("PS256")
    cid2 = _fapi_client(registry, ps)
    assert _auth_jwt(registry, assertion(ps, cid2, at=now), now, client_id=cid2).client_id == cid2


def test_ensure_signed_client_assertion_with_RS256_fails(
    registry: ClientRegistry, clock: FixedClock
) -> None:
    rp = make_client_keys("PS256")
    cid = _fapi_client(registry, rp)
    with pytest.raises(InvalidClient, match="RS256"):
        _auth_jwt(registry, assertion(rp, cid, at=clock.now(), alg="RS256"), clock.now())
    # An ordinary (non-FAPI) client may use RS256.
    ordinary = registry.add(
        name="site", redirect_uris=["https://s.gov.kh/cb"], auth_method="private_key_jwt",
        jwks=rp.jwks,
    ).client.client_id  # fmt: skip
    token = assertion(rp, ordinary, at=clock.now(), alg="RS256")
    assert _auth_jwt(registry, token, clock.now()).client_id == ordinary


def test_ensure_client_assertion_with_wrong_aud_fails(
    registry: ClientRegistry, clock: FixedClock
) -> None:
    rp = make_client_keys()
    cid = _fapi_client(registry, rp)
    now = clock.now()
    # FAPI 2.0: only the issuer identifier, as a string (par-test-*-as-audience-fails).
    for aud in ("https://elsewhere.example", TOKEN_URL, PAR_URL, [ISSUER], [ISSUER, TOKEN_URL]):
        with pytest.raises(InvalidClient, match="aud"):
            _auth_jwt(registry, assertion(rp, cid, at=now, aud=aud), now)
    # An ordinary client may name the issuer or the endpoint, also inside an array.
    site = registry.add(
        name="site", redirect_uris=["https://s.gov.kh/cb"], auth_method="private_key_jwt",
        jwks=rp.jwks,
    ).client.client_id  # fmt: skip
    for aud in (ISSUER, TOKEN_URL, [TOKEN_URL, "x"]):
        assert _auth_jwt(registry, assertion(rp, site, at=now, aud=aud), now).client_id == site
    with pytest.raises(InvalidClient, match="aud"):
        _auth_jwt(registry, assertion(rp, site, at=now, aud=PAR_URL), now)


def test_ensure_client_assertion_with_no_sub_fails(
    registry: ClientRegistry, clock: FixedClock
) -> None:
    rp = make_client_keys()
    cid = _fapi_client(registry, rp)
    now = clock.now()
    with pytest.raises(InvalidClient, match="iss and sub"):
        _auth_jwt(registry, assertion(rp, cid, at=now, sub=None), now)
    with pytest.raises(InvalidClient, match="iss and sub"):
        _auth_jwt(registry, assertion(rp, cid, at=now, sub="someone-else"), now)
    # client_id parameter naming another client than the assertion's iss.
    other = _fapi_client(registry, make_client_keys())
    with pytest.raises(InvalidClient):
        _auth_jwt(registry, assertion(rp, cid, at=now), now, client_id=other)


def test_ensure_client_assertion_with_exp_is_5_minutes_in_past_fails(
    registry: ClientRegistry, clock: FixedClock
) -> None:
    rp = make_client_keys()
    cid = _fapi_client(registry, rp)
    now = clock.now()
    past = int(now.timestamp()) - 300
    with pytest.raises(InvalidClient, match="expired"):
        _auth_jwt(registry, assertion(rp, cid, at=now, exp=past, iat=past - 60), now)
    with pytest.raises(InvalidClient, match="exp"):
        _auth_jwt(registry, assertion(rp, cid, at=now, exp=None), now)
    with pytest.raises(InvalidClient, match="ahead"):
        _auth_jwt(registry, assertion(rp, cid, at=now, exp=int(now.timestamp()) + 7200), now)


def test_par_ensure_jwt_client_assertions_nbf_8_seconds_in_the_future_is_accepted(
    registry: ClientRegistry, clock: FixedClock
) -> None:
    rp = make_client_keys()
    cid = _fapi_client(registry, rp)
    now = clock.now()
    soon = int(now.timestamp()) + 8
    assert _auth_jwt(registry, assertion(rp, cid, at=now, nbf=soon, iat=soon), now)


def test_par_ensure_jwt_client_assertions_nbf_over_60_seconds_in_the_future_fails(
    registry: ClientRegistry, clock: FixedClock
) -> None:
    rp = make_client_keys()
    cid = _fapi_client(registry, rp)
    now = clock.now()
    later = int(now.timestamp()) + 70
    with pytest.raises(InvalidClient, match="nbf"):
        _auth_jwt(registry, assertion(rp, cid, at=now, nbf=later, exp=later + 60), now)


def test_client_assertion_replay_rejected(registry: ClientRegistry, clock: FixedClock) -> None:
    rp = make_client_keys()
    cid = _fapi_client(registry, rp)
    now = clock.now()
    token = assertion(rp, cid, at=now)
    _auth_jwt(registry, token, now)
    with pytest.raises(InvalidClient, match="jti already used"):
        _auth_jwt(registry, token, now + dt.timedelta(seconds=5))
    with pytest.raises(InvalidClient, match="jti"):
        _auth_jwt(registry, assertion(rp, cid, at=now, jti=None), now)


def test_forged_assertion_does_not_burn_the_jti(
    registry: ClientRegistry, clock: FixedClock
) -> None:
    rp, attacker = make_client_keys(), make_client_keys()
    cid = _fapi_client(registry, rp)
    now = clock.now()
    with pytest.raises(InvalidClient, match="does not verify"):
        _auth_jwt(registry, assertion(attacker, cid, at=now, jti="j-1"), now)
    assert _auth_jwt(registry, assertion(rp, cid, at=now, jti="j-1"), now).client_id == cid


def test_wrong_assertion_type_or_method_fails(registry: ClientRegistry, clock: FixedClock) -> None:
    rp = make_client_keys()
    cid = _fapi_client(registry, rp)
    now = clock.now()
    with pytest.raises(InvalidClient, match="jwt-bearer"):
        _auth_jwt(registry, assertion(rp, cid, at=now), now, assertion_type="urn:other")
    with pytest.raises(InvalidClient):
        registry.authenticate(
            client_id=cid, method=ClientAuthMethod.CLIENT_SECRET_POST, secret="guess",
            endpoint_url=TOKEN_URL, at=now,
        )  # fmt: skip
    with pytest.raises(InvalidClient, match="not a JWT"):
        _auth_jwt(registry, "not-a-jwt", now)
