"""openid-client (npm, v6, pinned in tests/node/package-lock.json) as a relying party of
``natid serve``: issue 4's black-box suite.

``tests/node/rp/flows.mjs`` drives openid-client through every flow against a real server (see
:mod:`tests.e2e.oidc._provider` for the setup: one citizen with password and TOTP, three clients
made with ``natid idp client add``) and a scripted browser that fills the login, second-factor,
consent and logout pages. It prints one JSON line per flow; each test here asserts on one flow
what a relying party sees, and checks independently what openid-client does not (signatures
of ID tokens, access tokens and logout tokens against ``/jwks``; a DPoP-bound token refused
without its proof). The flows run once per module, in order, in one browser session:
discovery, code_basic, refresh, code_post, fapi2, logout.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from idp.pkce import s256_challenge
from tests.conftest import require, require_command
from tests.e2e.oidc._checks import (
    assert_logout_tokens,
    assert_no_national_id,
    assert_userinfo,
    provider_keys,
    verify_jwt,
)
from tests.e2e.oidc._provider import Provider

pytestmark = pytest.mark.slow

NODE_DIR = Path(__file__).resolve().parents[2] / "node"
FLOWS = NODE_DIR / "rp" / "flows.mjs"
NODE_TIMEOUT = 300


@pytest.fixture(scope="module")
def rp(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    """The results of every flow, by flow name (the node tools are checked before the server
    starts: under CI=true a missing one fails, elsewhere it skips)."""
    node = require_command("node")
    require_command("npm")
    require(
        (NODE_DIR / "node_modules" / "openid-client" / "package.json").is_file(),
        "tests/node/node_modules (run `npm ci --prefix tests/node`)",
    )
    provider: Provider = request.getfixturevalue("provider")
    proc = subprocess.run(
        [node, str(FLOWS)],
        input=json.dumps(provider.node_config()),
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        cwd=NODE_DIR,
        check=False,
    )
    results: dict[str, dict[str, Any]] = {}
    for line in proc.stdout.splitlines():
        item = json.loads(line)
        results[item.pop("flow")] = item
    assert "fatal" not in results, f"flows.mjs stopped: {results['fatal']} {proc.stderr[-2000:]}"
    results["_server"] = {"log": provider.log_tail()}
    return results


def flow(rp: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    result = rp.get(name)
    assert result is not None, f"flow {name} did not run"
    assert result["ok"], (
        f"flow {name} failed: {json.dumps(result['error'], indent=1)}\n"
        f"natid serve's log ends with:\n{rp['_server']['log']}"
    )
    return result


def test_discovery_document_names_every_endpoint(
    rp: dict[str, dict[str, Any]], provider: Provider
) -> None:
    meta = flow(rp, "discovery")["metadata"]
    issuer = provider.issuer
    assert meta["issuer"] == issuer
    for key, path in {
        "authorization_endpoint": "/authorize",
        "pushed_authorization_request_endpoint": "/par",
        "token_endpoint": "/token",
        "userinfo_endpoint": "/userinfo",
        "jwks_uri": "/jwks",
        "introspection_endpoint": "/introspect",
        "revocation_endpoint": "/revoke",
        "end_session_endpoint": "/logout",
    }.items():
        assert meta[key] == issuer + path, key
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_types_supported"] == ["code"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "private_key_jwt",
        "client_secret_basic",
        "client_secret_post",
    }
    assert set(meta["dpop_signing_alg_values_supported"]) == {"ES256", "PS256"}
    assert set(meta["id_token_signing_alg_values_supported"]) == {"ES256", "PS256"}
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    assert meta["acr_values_supported"] == ["low", "substantial", "high"]
    assert set(meta["subject_types_supported"]) == {"pairwise", "public"}
    assert meta["request_parameter_supported"] is False


def _assert_id_token(result: dict[str, Any], provider: Provider, client: str) -> dict[str, Any]:
    """The ID token openid-client accepted is signed by a published key and says what it must."""
    claims: dict[str, Any] = result["id_token_claims"]
    header, verified = verify_jwt(result["id_token"], provider_keys(provider))
    assert verified == claims
    assert header["alg"] in {"ES256", "PS256"}
    assert claims["iss"] == provider.issuer
    assert claims["aud"] in (
        provider.clients[client]["client_id"],
        [provider.clients[client]["client_id"]],
    )
    assert claims["nonce"] == result["sent_nonce"]
    assert result["callback_params"]["iss"] == provider.issuer  # RFC 9207
    assert claims["sid"]
    assert claims["sub"] not in {provider.citizen.national_id, provider.citizen.person_id}
    assert_no_national_id(provider.citizen.national_id, claims, result.get("userinfo", {}))
    return claims


def test_code_flow_with_pkce_and_client_secret_basic(
    rp: dict[str, dict[str, Any]], provider: Provider
) -> None:
    result = flow(rp, "code_basic")
    # The citizen went through every page: password, TOTP, consent.
    assert result["pages"] == ["/login", "/login/second-factor", "/consent"]
    claims = _assert_id_token(result, provider, "basic")
    # acr_values=substantial was asked for and the citizen gave a password and a TOTP code.
    assert claims["acr"] == "substantial"
    assert {"pwd", "otp"} <= set(claims["amr"])
    assert result["token_type"].lower() == "bearer"
    assert set(result["scope"].split()) == {
        "openid",
        "profile",
        "email",
        "phone",
        "address",
        "offline_access",
    }
    assert result["refresh_token"]


def test_userinfo_releases_the_claims_of_the_scopes(
    rp: dict[str, dict[str, Any]], provider: Provider
) -> None:
    record = provider.citizen.record
    basic = flow(rp, "code_basic")
    info = basic["userinfo"]
    assert info["sub"] == basic["id_token_claims"]["sub"]
    assert_userinfo(info, record, {"openid", "profile", "email", "phone", "address"})
    # Only profile was asked for by the client_secret_post site: no contact data.
    post = flow(rp, "code_post")["userinfo"]
    assert_userinfo(post, record, {"openid", "profile"})
    assert_no_national_id(provider.citizen.national_id, info, post)


def test_code_flow_with_client_secret_post_and_single_sign_on(
    rp: dict[str, dict[str, Any]], provider: Provider
) -> None:
    result = flow(rp, "code_post")
    # Already logged in: only this site's consent is asked.
    assert result["pages"] == ["/consent"]
    claims = _assert_id_token(result, provider, "post")
    assert claims["sid"] == flow(rp, "code_basic")["id_token_claims"]["sid"]
    assert set(result["scope"].split()) == {"openid", "profile"}


def test_subjects_are_pairwise_per_sector(
    rp: dict[str, dict[str, Any]], provider: Provider
) -> None:
    basic = flow(rp, "code_basic")["id_token_claims"]["sub"]
    post = flow(rp, "code_post")["id_token_claims"]["sub"]
    bank = flow(rp, "fapi2")["id_token_claims"]["sub"]
    assert len({basic, post, bank}) == 3
    # Stable for one sector: the second authorization of the same site gets the same sub.
    assert flow(rp, "refresh")["first"]["id_token_claims"]["sub"] == basic
    for sub in (basic, post, bank):
        assert sub not in {provider.citizen.national_id, provider.citizen.person_id}


def test_introspection_active_then_inactive_after_revocation(
    rp: dict[str, dict[str, Any]], provider: Provider
) -> None:
    result = flow(rp, "code_basic")
    active = result["introspection"]
    assert active["active"] is True
    assert active["client_id"] == provider.clients["basic"]["client_id"]
    assert active["sub"] == result["id_token_claims"]["sub"]
    assert set(active["scope"].split()) == set(result["scope"].split())
    assert result["introspection_after_revocation"] == {"active": False}
    refused = result["userinfo_after_revocation"]
    assert refused["refused"] is True and refused["status"] == 401


def test_refresh_token_rotation_and_reuse_detection(rp: dict[str, dict[str, Any]]) -> None:
    result = flow(rp, "refresh")
    first, second = result["first"], result["second"]
    assert second["refresh_token"] and second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert result["userinfo_with_refreshed_token"]["sub"] == first["id_token_claims"]["sub"]
    reuse = result["reuse_of_old_refresh_token"]
    assert reuse["refused"] is True
    assert reuse["error"] == "invalid_grant"
    # A reused refresh token revokes the family: the rotated one is dead too.
    assert result["rotated_token_after_reuse"] == {"active": False}


def test_fapi2_par_dpop_and_private_key_jwt(
    rp: dict[str, dict[str, Any]], provider: Provider
) -> None:
    result = flow(rp, "fapi2")
    # PAR: the front channel carries only the client_id and the pushed request URI.
    query = parse_qs(urlsplit(result["authorization_url"]).query)
    assert set(query) == {"client_id", "request_uri"}
    assert query["request_uri"][0].startswith("urn:ietf:params:oauth:request_uri:")
    _assert_id_token(result, provider, "fapi")
    jkt = provider.dpop_key.thumbprint()
    keys = provider_keys(provider)
    for tokens in (result, result["refreshed"]):
        assert tokens["token_type"].lower() == "dpop"
        header, at = verify_jwt(tokens["access_token"], keys)
        assert header["typ"] == "at+jwt"  # RFC 9068
        assert at["cnf"] == {"jkt": jkt}
    assert result["introspection_of_refreshed"]["cnf"] == {"jkt": jkt}
    assert result["userinfo"]["sub"] == result["id_token_claims"]["sub"]
    assert result["userinfo_with_refreshed_token"]["sub"] == result["id_token_claims"]["sub"]
    # The bound token is useless without a proof of the key.
    token = result["refreshed"]["access_token"]
    userinfo = f"{provider.issuer}/userinfo"
    for scheme in ("DPoP", "Bearer"):
        answer = httpx.get(userinfo, headers={"Authorization": f"{scheme} {token}"}, timeout=10)
        assert answer.status_code == 401, scheme
        assert "www-authenticate" in answer.headers


def test_fapi2_client_cannot_skip_par(provider: Provider) -> None:
    """FAPI 2.0 Security Profile §5.3.2.2: the front-channel request of a FAPI client must come
    from PAR; the same parameters sent straight to /authorize are refused."""
    bank = provider.clients["fapi"]
    params = {
        "client_id": bank["client_id"],
        "response_type": "code",
        "redirect_uri": bank["redirect_uris"][0],
        "scope": "openid",
        "state": secrets.token_urlsafe(16),
        "code_challenge": s256_challenge(secrets.token_urlsafe(48)),
        "code_challenge_method": "S256",
    }
    answer = httpx.get(f"{provider.issuer}/authorize?{urlencode(params)}", timeout=10)
    if answer.is_redirect:
        location = answer.headers["location"]
        assert not urlsplit(location).path.startswith("/login"), location
        assert parse_qs(urlsplit(location).query).get("error") == ["invalid_request"]
    else:
        assert answer.status_code == 400


def test_rp_initiated_and_back_channel_logout(
    rp: dict[str, dict[str, Any]], provider: Provider
) -> None:
    result = flow(rp, "logout")
    # Back at the site's post-logout page with its state.
    landed = urlsplit(result["landed"])
    assert (
        f"{landed.scheme}://{landed.netloc}{landed.path}"
        == (provider.clients["basic"]["post_logout_redirect_uris"][0])
    )
    assert result["landed_params"]["state"] == result["sent_state"]
    # The session is over: a silent authorization now needs a login.
    silent = result["after_logout_prompt_none"]
    assert silent["error"] == "login_required"
    assert silent["state"] == result["sent_silent_state"]
    # Every client of the session with a back-channel URI got a signed logout token.
    basic = flow(rp, "code_basic")["id_token_claims"]
    post = flow(rp, "code_post")["id_token_claims"]
    assert_logout_tokens(
        provider,
        expected={
            "basic": (provider.clients["basic"]["client_id"], basic["sub"]),
            "post": (provider.clients["post"]["client_id"], post["sub"]),
        },
        sid=basic["sid"],
    )
