"""What any relying party checks, done independently of the client library under test.

openid-client does not verify an ID token's signature when it comes straight from the token
endpoint (OIDC Core §3.1.3.7 allows relying on TLS), and neither client library receives
back-channel logout tokens, so the suites verify signatures here against ``/jwks``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.e2e.oidc._provider import Provider

SIGNING_ALGS = ["ES256", "PS256"]
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def provider_keys(provider: Provider) -> KeySet:
    metadata = httpx.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=10).json()
    jwks = httpx.get(metadata["jwks_uri"], timeout=10)
    assert jwks.status_code == 200, jwks.text
    return KeySet.import_key_set(jwks.json())


def verify_jwt(token: str, keys: KeySet) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a JWT signed by one of the provider's published keys."""
    decoded = jwt.decode(token, keys, algorithms=SIGNING_ALGS)
    return dict(decoded.header), dict(decoded.claims)


def assert_no_national_id(national_id: str, *documents: Mapping[str, Any] | str) -> None:
    """The ID card number appears nowhere a relying party can see (ARCHITECTURE "Identifiers")."""
    for doc in documents:
        assert national_id not in str(doc)


def assert_logout_tokens(
    provider: Provider, *, expected: Mapping[str, tuple[str, str]], sid: str
) -> None:
    """Each client of the session named in ``expected`` (path name -> (client_id, its sub))
    received one valid back-channel logout token (OIDC Back-Channel Logout 1.0 §2.4, §2.6)."""
    received = provider.logout.wait(len(expected))
    by_client = {path.rsplit("/", 1)[-1]: token for path, token in received}
    assert set(by_client) == set(expected), f"logout tokens received for {sorted(by_client)}"
    keys = provider_keys(provider)
    for name, (client_id, sub) in expected.items():
        header, claims = verify_jwt(by_client[name], keys)
        assert header.get("typ") == "logout+jwt"  # §2.4 recommends the explicit type
        assert claims["iss"] == provider.issuer
        assert claims["aud"] in (client_id, [client_id])
        assert claims["events"] == {BACKCHANNEL_EVENT: {}}
        assert claims["sid"] == sid
        assert claims.get("sub", sub) == sub  # sub is optional; if present, the client's one
        assert "nonce" not in claims  # §2.4: prohibited, so it is never taken for an ID token
        assert isinstance(claims["iat"], int) and claims["jti"]
        assert isinstance(claims["exp"], int) and claims["exp"] > claims["iat"]


def expected_userinfo(record: dict[str, Any], scopes: set[str]) -> dict[str, Any]:
    """What UserInfo must say of the register record for these scopes (claims by scope, OIDC
    Core §5.4); absent register values give absent claims, never nulls."""
    out: dict[str, Any] = {}
    if "profile" in scopes:
        out |= {
            "name": record["name_latin"],
            "given_name": record["given_name_latin"],
            "family_name": record["family_name_latin"],
            "name#km": record["name_km"],
            "given_name#km": record["given_name_km"],
            "family_name#km": record["family_name_km"],
            "birthdate": record["birthdate"],
        }
    if "email" in scopes and record["email"]:
        out["email"] = record["email"]
    if "phone" in scopes and record["phone"]:
        out["phone_number"] = record["phone"]
    return out


def assert_userinfo(info: Mapping[str, Any], record: dict[str, Any], scopes: set[str]) -> None:
    expected = expected_userinfo(record, scopes)
    assert {k: info.get(k) for k in expected} == expected
    if "address" in scopes:
        assert info["address"]["formatted"] == record["address"]
    absent = {"email", "email_verified", "phone_number", "address"} - {
        c
        for s in scopes
        for c in {
            "email": ("email", "email_verified"),
            "phone": ("phone_number",),
            "address": ("address",),
        }.get(s, ())
    }
    if not record["phone"]:
        absent.add("phone_number")
    assert not absent & set(info), f"claims released beyond the scopes: {absent & set(info)}"
    assert all(v is not None for v in info.values())
