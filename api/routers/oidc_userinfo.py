"""The UserInfo endpoint (OIDC Core §5.3), a protected resource of the IdP (RFC 6750, RFC 9449).

The access token comes in the ``Authorization`` header, as ``Bearer`` (RFC 6750 §2.1) or as
``DPoP`` with a ``DPoP`` proof whose ``ath`` is the token's hash and whose ``htu`` is
``issuer + "/userinfo"`` (RFC 9449 §7). A POST may carry it instead as the form parameter
``access_token`` (RFC 6750 §2.2); the URI query never (§2.3 is refused: URIs end up in logs).
Exactly one of these per request (§2).

A token bound to a DPoP key (``cnf.jkt``) is only accepted with a proof by that key, never as
a bearer token (RFC 9449 §7.2); an unbound token is refused under the ``DPoP`` scheme. The
token must carry ``openid`` (OIDC Core §5.3: else ``insufficient_scope``, 403).

The claims are those of the token's scopes plus the ``userinfo`` member of the authorization's
``claims`` request (§5.5), in the locales recorded with it (§5.2); ``sub`` is the token's
(pairwise) subject. Errors carry ``WWW-Authenticate`` challenges (RFC 6750 §3; RFC 9449 §7.1).
A client registered with ``userinfo_signed_response_alg`` (``natid idp client add
--userinfo-signed``) gets the same claims as a signed JWT (``application/jwt``) with ``iss`` and
``aud`` added (OIDC Core §5.3.2; :mod:`idp.userinfo`); every other client gets JSON.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.context import AppContext
from api.deps import Ctx
from api.oauth_wire import (
    NO_STORE,
    dpop_verifier,
    form_value,
    no_store_json,
    refusal_challenge,
    resource_error_response,
    verify_dpop,
)
from api.routers.oidc_token import (
    released_claims,
    remembered_userinfo_body,
    remembered_userinfo_claims,
)
from idp.errors import InsufficientScope, InvalidRequest, InvalidToken, OAuthError
from idp.userinfo import USERINFO_JWT_MEDIA_TYPE, sign_userinfo

__all__ = ["router"]

router = APIRouter(tags=["idp"])

USERINFO_PATH = "/userinfo"


async def _presented_token(request: Request) -> tuple[str, str]:
    """``(scheme, token)``: scheme ``bearer`` or ``dpop``. Raises for none or several."""
    # An empty query string has no parameters: parsing one only to find that out cost more
    # than the rest of this function.
    if request.scope.get("query_string") and "access_token" in request.query_params:
        raise InvalidRequest("an access token in the URI query is refused (RFC 6750 §2.3)")
    found: list[tuple[str, str]] = []
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        scheme = scheme.lower()
        credentials = credentials.strip()
        if scheme not in {"bearer", "dpop"} or not credentials or " " in credentials:
            raise InvalidToken("expected Authorization: Bearer <token> or DPoP <token>")
        found.append((scheme, credentials))
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and content_type == "application/x-www-form-urlencoded":
        body_token = form_value(await request.form(), "access_token")
        if body_token is not None:
            found.append(("bearer", body_token))
    if len(found) > 1:
        raise InvalidRequest("the access token was sent in more than one way")
    if not found:
        raise _NoToken
    return found[0]


class _NoToken(Exception):
    """No credentials at all: answered with bare challenges (RFC 6750 §3.1)."""


def _userinfo(
    ctx: AppContext, request: Request, scheme: str, token: str
) -> tuple[dict[str, Any] | bytes, str | None]:
    """The released claims (or, for a plain JSON answer from the claims kept at the code
    exchange, the response body itself), and the signed form of them if the client
    registered for one."""
    proof = None
    if scheme == "dpop":
        proof = verify_dpop(request, ctx, USERINFO_PATH, access_token=token)
        if proof is None:
            raise InvalidToken("the DPoP scheme needs a DPoP proof")
    info = ctx.idp_core().tokens.verify_access_token(
        token, at=ctx.clock.now(), dpop_jkt=proof.jkt if proof else None, check_binding=True
    )
    if scheme == "dpop" and info.jkt is None:
        raise InvalidToken("the access token is not DPoP-bound; use the Bearer scheme")
    if "openid" not in info.scopes:
        raise InsufficientScope("the access token lacks the openid scope")
    core = ctx.idp_core()
    client = core.clients.get(info.client_id)
    sub = info.claims["sub"]
    if client.userinfo_signed_response_alg is None:
        # Released once, at the code exchange, and kept rendered: served as kept.
        body = remembered_userinfo_body(ctx, info.grant_id, info.scopes, sub)
        if body is not None:
            return body, None
    # Computed here only when that copy is gone (another cache, or a refreshed token with a
    # narrower scope), or to be signed.
    claims = remembered_userinfo_claims(ctx, info.grant_id, info.scopes)
    if claims is None:
        claims = released_claims(
            ctx,
            info.subject,
            scopes=info.scopes,
            claims_request=info.claims_request,
            target="userinfo",
        )
    claims["sub"] = sub
    if client.userinfo_signed_response_alg is None:
        return claims, None
    signed = sign_userinfo(claims, client=client, keys=core.signing_keys, issuer=core.issuer)
    return claims, signed


async def _handle(request: Request, ctx: AppContext) -> Response:
    scheme: str | None = None
    try:
        scheme, token = await _presented_token(request)
        body, signed = _userinfo(ctx, request, scheme, token)
    except _NoToken:
        return resource_error_response(None)
    except OAuthError as exc:
        scope = "openid" if isinstance(exc, InsufficientScope) else None
        return resource_error_response(exc, scheme=refusal_challenge(exc, scheme), scope=scope)
    headers = {}
    if scheme == "dpop":
        headers["DPoP-Nonce"] = dpop_verifier(request).new_nonce(at=ctx.clock.now())
    if signed is not None:
        return Response(signed, media_type=USERINFO_JWT_MEDIA_TYPE, headers={**NO_STORE, **headers})
    if isinstance(body, bytes):
        # The headers no_store_json would give (api/oauth_wire.py).
        return Response(body, media_type="application/json", headers={**NO_STORE, **headers})
    return no_store_json(body, headers=headers)


@router.get(USERINFO_PATH)
async def userinfo_get(request: Request, ctx: Ctx) -> Response:
    """UserInfo by GET (OIDC Core §5.3.1)."""
    return await _handle(request, ctx)


@router.post(USERINFO_PATH)
async def userinfo_post(request: Request, ctx: Ctx) -> Response:
    """UserInfo by POST (OIDC Core §5.3.1), the token in the header or the form body."""
    return await _handle(request, ctx)
