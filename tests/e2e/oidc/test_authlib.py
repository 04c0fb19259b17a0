"""Authlib's OAuth 2.0 / OpenID Connect client as a relying party of ``natid serve``: the same
flows as the openid-client suite (issue 4, "Tests against clients nobody here wrote").

The client is ``authlib.integrations.requests_client.OAuth2Session`` (Authlib's httpx client
warns that its plain-httpx support is deprecated in favour of an ``httpx2`` package). Authlib
does: authorization URLs with PKCE S256 (``create_authorization_url``), state checking and the code
exchange (``fetch_token``), ``client_secret_basic`` / ``client_secret_post`` and
``private_key_jwt`` (:class:`~authlib.oauth2.rfc7523.PrivateKeyJWT`), ``refresh_token``,
``introspect_token``, ``revoke_token``, bearer requests to UserInfo, and ID token claim checks
(:class:`~authlib.oidc.core.CodeIDToken`, over a signature verified with joserfc, which
Authlib itself uses).

What Authlib lacks is added by hand here, and only that:

* discovery: the bare client has no metadata fetch (only its web-framework integrations do),
  so the document is read with httpx;
* RFC 9207 ``iss`` in the authorization response is checked by hand;
* PAR (RFC 9126): a POST of the parameters Authlib put in the authorization URL to the PAR
  endpoint, authenticated by the session's own ``private_key_jwt`` client auth;
* DPoP (RFC 9449): proofs built with joserfc (``typ`` ``dpop+jwt``, ES256, ``htm``/``htu``/
  ``iat``/``jti``, server ``nonce``, ``ath`` at UserInfo), sent as a ``DPoP`` header on PAR,
  token and refresh requests, with one retry on ``use_dpop_nonce``; UserInfo with a DPoP token
  is a hand-made request (Authlib's token auth signs bearer tokens only);
* FAPI 2.0 needs the assertion's ``aud`` to be the issuer, so ``PrivateKeyJWT`` is given the
  issuer as its audience (its default is the URL of the endpoint called);
* RP-initiated logout: the end-session URL is built by hand.

The flows run once per module, in order, in one browser session (the Python twin of the node
script's browser, :mod:`tests.e2e.oidc._browser`), driven by
:mod:`tests.e2e.oidc._authlib_rp`; each test asserts on one flow.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.oidc._authlib_rp import AuthlibFlows, Result
from tests.e2e.oidc._checks import (
    assert_logout_tokens,
    assert_no_national_id,
    assert_userinfo,
    provider_keys,
    verify_jwt,
)
from tests.e2e.oidc._provider import Provider

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def flows(provider: Provider) -> Iterator[AuthlibFlows]:
    run = AuthlibFlows(provider)
    run.run()
    yield run


def flow(flows: AuthlibFlows, name: str) -> Result:
    assert name not in flows.errors, (
        f"flow {name} failed: {flows.errors[name]}\n"
        f"natid serve's log ends with:\n{flows.p.log_tail()}"
    )
    assert name in flows.results, f"flow {name} did not run"
    return flows.results[name]


def test_discovery(flows: AuthlibFlows, provider: Provider) -> None:
    meta = flow(flows, "discovery")["metadata"]
    assert meta["issuer"] == provider.issuer
    assert meta["pushed_authorization_request_endpoint"] == provider.issuer + "/par"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]


def test_code_flow_with_pkce_and_client_secret_basic(
    flows: AuthlibFlows, provider: Provider
) -> None:
    r = flow(flows, "code_basic")
    assert r["pages"] == ["/login", "/login/second-factor", "/consent"]
    claims = r["id_token_claims"]
    assert claims["acr"] == "substantial"  # asked for, and password + TOTP were given
    assert {"pwd", "otp"} <= set(claims["amr"])
    assert r["token"]["token_type"].lower() == "bearer"
    assert r["token"]["refresh_token"]
    assert claims["sub"] not in {provider.citizen.national_id, provider.citizen.person_id}


def test_userinfo_releases_the_claims_of_the_scopes(
    flows: AuthlibFlows, provider: Provider
) -> None:
    record = provider.citizen.record
    basic = flow(flows, "code_basic")
    info = basic["userinfo"]
    assert info["sub"] == basic["id_token_claims"]["sub"]
    assert_userinfo(info, record, {"openid", "profile", "email", "phone", "address"})
    post = flow(flows, "code_post")["userinfo"]
    assert_userinfo(post, record, {"openid", "profile"})
    assert_no_national_id(provider.citizen.national_id, info, post, basic["id_token_claims"])


def test_code_flow_with_client_secret_post_and_single_sign_on(flows: AuthlibFlows) -> None:
    r = flow(flows, "code_post")
    assert r["pages"] == ["/consent"]
    assert r["id_token_claims"]["sid"] == flow(flows, "code_basic")["id_token_claims"]["sid"]
    assert set(r["token"]["scope"].split()) == {"openid", "profile"}


def test_subjects_are_pairwise_per_sector(flows: AuthlibFlows, provider: Provider) -> None:
    subs = [flow(flows, n)["id_token_claims"]["sub"] for n in ("code_basic", "code_post", "fapi2")]
    assert len(set(subs)) == 3
    assert flow(flows, "refresh")["first"]["id_token_claims"]["sub"] == subs[0]
    assert not {provider.citizen.national_id, provider.citizen.person_id} & set(subs)


def test_introspection_active_then_inactive_after_revocation(
    flows: AuthlibFlows, provider: Provider
) -> None:
    r = flow(flows, "code_basic")
    assert r["introspection"]["active"] is True
    assert r["introspection"]["client_id"] == provider.clients["basic"]["client_id"]
    assert r["introspection"]["sub"] == r["id_token_claims"]["sub"]
    assert r["revocation_status"] == 200  # RFC 7009 §2.2
    assert r["introspection_after_revocation"] == {"active": False}
    assert r["userinfo_after_revocation_status"] == 401


def test_refresh_token_rotation_and_reuse_detection(flows: AuthlibFlows) -> None:
    r = flow(flows, "refresh")
    first, second = r["first"]["token"], r["second"]
    assert second["refresh_token"] != first["refresh_token"]
    assert r["userinfo_with_refreshed_token"]["sub"] == r["first"]["id_token_claims"]["sub"]
    assert r["reuse_of_old_refresh_token"] == {"refused": True, "error": "invalid_grant"}
    assert r["rotated_token_after_reuse"] == {"active": False}


def test_fapi2_par_dpop_and_private_key_jwt(flows: AuthlibFlows, provider: Provider) -> None:
    r = flow(flows, "fapi2")
    assert r["par_response"]["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert 0 < r["par_response"]["expires_in"] <= 600  # RFC 9126 §2.2: short-lived
    jkt = provider.dpop_key.thumbprint()
    keys = provider_keys(provider)
    for token in (r["token"], r["refreshed"]):
        assert token["token_type"].lower() == "dpop"
        _, at = verify_jwt(token["access_token"], keys)
        assert at["cnf"] == {"jkt": jkt}
    assert r["introspection_of_refreshed"]["cnf"] == {"jkt": jkt}
    assert r["userinfo"]["sub"] == r["id_token_claims"]["sub"]
    assert r["userinfo_with_refreshed_token"]["sub"] == r["id_token_claims"]["sub"]
    token = r["refreshed"]["access_token"]
    for scheme in ("DPoP", "Bearer"):
        answer = httpx.get(
            provider.issuer + "/userinfo",
            headers={"Authorization": f"{scheme} {token}"},
            timeout=10,
        )
        assert answer.status_code == 401, scheme


def test_rp_initiated_and_back_channel_logout(flows: AuthlibFlows, provider: Provider) -> None:
    r = flow(flows, "logout")
    landed = urlsplit(r["landed"])
    assert (
        f"{landed.scheme}://{landed.netloc}{landed.path}"
        == (provider.clients["basic"]["post_logout_redirect_uris"][0])
    )
    assert r["landed_params"]["state"] == r["sent_state"]
    assert r["after_logout_prompt_none"]["error"] == "login_required"
    assert r["after_logout_prompt_none"]["state"] == r["sent_silent_state"]
    basic = flow(flows, "code_basic")["id_token_claims"]
    post = flow(flows, "code_post")["id_token_claims"]
    assert_logout_tokens(
        provider,
        expected={
            "basic": (provider.clients["basic"]["client_id"], basic["sub"]),
            "post": (provider.clients["post"]["client_id"], post["sub"]),
        },
        sid=basic["sid"],
    )
