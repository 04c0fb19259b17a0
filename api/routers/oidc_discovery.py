"""OpenID Provider metadata and the JWK Set (OIDC Discovery 1.0 §3, §4; RFC 8414 §2;
RFC 7517 §5).

``GET /.well-known/openid-configuration`` describes every endpoint and what it supports; a
relying party needs nothing else (ARCHITECTURE.md, "Interfaces"). ``issuer`` is exactly the
``iss`` of every token (OIDC Discovery §4.3). ``GET /jwks`` serves the published signing keys
(next, active, and retired ones whose tokens may still live; :mod:`idp.keys`). Its
``Cache-Control`` max-age is the keys' cache period: a new key is published at least that long
before it signs, so a relying party that caches the JWKS that long always knows the key of any
token it meets.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import Ctx
from api.routers.oidc_token import GRANT_TYPES
from idp.authz_request import PROMPT_VALUES
from idp.claims import CLAIMS_BY_SCOPE, SCOPE_CIVIL_SERVANT
from idp.clients import ClientAuthMethod
from idp.jose import ALLOWED_ALGORITHMS, JWSUse

__all__ = ["provider_metadata", "router"]

router = APIRouter(tags=["idp"])

#: How long a client may cache the metadata document.
METADATA_MAX_AGE = 3600
#: ``civil_servant`` (ministry, unit, title, roles) only for clients an operator allows it.
_SCOPES = ("openid", "profile", "email", "phone", "address", SCOPE_CIVIL_SERVANT, "offline_access")
#: Claims every ID token or UserInfo response may carry besides the scope claims.
_PROTOCOL_CLAIMS = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid")


def _claims_supported() -> list[str]:
    names: dict[str, None] = dict.fromkeys(_PROTOCOL_CLAIMS)
    for claims in CLAIMS_BY_SCOPE.values():
        for name in claims:
            # Language-tagged variants (name#km, OIDC Core §5.2) are the same claims.
            names.setdefault(name.split("#", 1)[0])
    return list(names)


def _algs(use: JWSUse) -> list[str]:
    return sorted(ALLOWED_ALGORITHMS[use])


def provider_metadata(issuer: str) -> dict[str, Any]:
    """The discovery document for ``issuer`` (no trailing slash)."""
    # Client assertions and request objects: the FAPI 2.0 algorithms (FAPI 2.0 Security
    # Profile §5.4.1), which every client may use. A client that is not FAPI 2.0 may also sign
    # with RS256 (idp/jose.py), left out here on purpose: one document serves every client, and
    # the FAPI 2.0 plan's discovery check refuses any other algorithm in these lists.
    assertion_algs = _algs(JWSUse.CLIENT_ASSERTION_FAPI)
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        "end_session_endpoint": f"{issuer}/logout",
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "scopes_supported": list(_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["pairwise", "public"],
        "acr_values_supported": ["low", "substantial", "high"],
        "ui_locales_supported": ["km", "en"],
        "claims_locales_supported": ["km", "en"],
        "claims_parameter_supported": True,
        "claims_supported": _claims_supported(),
        "claim_types_supported": ["normal"],
        "code_challenge_methods_supported": ["S256"],
        # OpenID Connect Prompt Create 1.0 §4.2; any other value is refused (idp/authz_request).
        "prompt_values_supported": sorted(PROMPT_VALUES),
        "id_token_signing_alg_values_supported": _algs(JWSUse.ID_TOKEN),
        # OIDC Core §5.3.2: signed UserInfo for clients registered with
        # userinfo_signed_response_alg (idp/userinfo.py); the others get JSON.
        "userinfo_signing_alg_values_supported": _algs(JWSUse.ID_TOKEN),
        "token_endpoint_auth_methods_supported": [m.value for m in ClientAuthMethod],
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported": [m.value for m in ClientAuthMethod],
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": [m.value for m in ClientAuthMethod],
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "dpop_signing_alg_values_supported": _algs(JWSUse.DPOP_PROOF),
        "authorization_response_iss_parameter_supported": True,
        # Signed request objects are accepted by value at the PAR endpoint only (RFC 9126 §3,
        # idp/request_object.py); /authorize answers a ``request`` parameter with
        # request_not_supported, hence request_parameter_supported false.
        "request_object_signing_alg_values_supported": _algs(JWSUse.REQUEST_OBJECT_FAPI),
        "request_parameter_supported": False,
        "request_uri_parameter_supported": True,
        "require_request_uri_registration": True,
        "require_pushed_authorization_requests": False,
    }


@router.get("/.well-known/openid-configuration", include_in_schema=True)
def openid_configuration(ctx: Ctx) -> JSONResponse:
    """OpenID Provider Configuration (OIDC Discovery §4.2)."""
    issuer = ctx.idp_core().issuer
    return JSONResponse(
        provider_metadata(issuer),
        headers={"Cache-Control": f"public, max-age={METADATA_MAX_AGE}"},
    )


@router.get("/jwks")
def jwks(ctx: Ctx) -> JSONResponse:
    """The JWK Set of the IdP's published signing keys (public members only)."""
    keys = ctx.idp_core().signing_keys
    max_age = int(keys.cache_period.total_seconds())
    return JSONResponse(
        keys.jwks(at=ctx.clock.now()),
        headers={"Cache-Control": f"public, max-age={max_age}"},
    )
