"""The token endpoint (RFC 6749 §3.2, §4.1.3, §6; OIDC Core §3.1.3), token introspection
(RFC 7662) and token revocation (RFC 7009).

``POST /token`` takes ``grant_type=authorization_code`` (the code is redeemed once,
:meth:`idp.codes.AuthorizationCodes.redeem` checks client, ``redirect_uri``, PKCE and the DPoP
key the authorization was bound to) and ``grant_type=refresh_token`` (rotation with reuse
detection, :meth:`idp.tokens.TokenService.refresh`). Every call authenticates its client with
exactly one method (:func:`api.oauth_wire.authenticate_client`). A refresh token is issued only
when the grant includes ``offline_access`` (OIDC Core §11); a grant whose code was exchanged
with a DPoP proof binds its refresh tokens to that key (RFC 9449 §5).

DPoP (RFC 9449 §5): the proof is checked *before* client authentication, so a client that is
asked for a server nonce (``use_dpop_nonce``) does not burn its client assertion's ``jti``. With
a proof the tokens are bound to its key (``cnf.jkt``) and ``token_type`` is ``DPoP``; without
one ``Bearer``. FAPI 2.0 clients must send a proof (FAPI 2.0 Security Profile §5.3.2.1); that
is checked before the code is redeemed, so a request without one does not use the code up.

ID token claims (OIDC Core §5.4, §5.5): the scope claims go to UserInfo; the ID token carries
what the ``claims`` request asked for in its ``id_token`` member. Responses are never cached
(``Cache-Control: no-store``, RFC 6749 §5.1). Issuing, refreshing and revoking are audited by
:class:`idp.tokens.TokenService`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.context import AppContext
from api.deps import Ctx
from api.oauth_wire import (
    NO_STORE,
    authenticate_client,
    dpop_verifier,
    form_value,
    no_store_json,
    oauth_error_response,
    read_form,
    used_basic_auth,
    verify_dpop,
)
from api.routers.kyc_requests import CIBA_GRANT_TYPE, ciba_error_response, ciba_token
from core.cache import CacheError
from core.errors import NotFound
from core.json_text import compact_json
from idp.claims import ClaimsRequest, ClaimsSubject, parse_claims_request, release_claims
from idp.codes import AccountFacts
from idp.dpop import DPoPProof
from idp.errors import (
    InvalidDPoPProof,
    InvalidRequest,
    OAuthError,
    UnsupportedGrantType,
)
from kyc.requests import PollRefused

__all__ = [
    "GRANT_TYPES",
    "claims_locales_of",
    "released_claims",
    "remember_userinfo_claims",
    "remembered_userinfo_body",
    "remembered_userinfo_claims",
    "router",
]

log = logging.getLogger(__name__)

router = APIRouter(tags=["idp"])

TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret
INTROSPECT_PATH = "/introspect"
REVOKE_PATH = "/revoke"
#: The member of a grant's stored ``claims`` request under which /authorize records the
#: request's ``claims_locales`` (OIDC Core §5.2); ignored by the claims-request parser.
CLAIMS_LOCALES_KEY = "claims_locales"
#: The scope that asks for a refresh token (OIDC Core §11).
OFFLINE_ACCESS = "offline_access"
#: The grant types /token accepts, as discovery lists them (``grant_types_supported``): one
#: list, so the two cannot drift apart. The CIBA grant is KYC's decoupled consent
#: (api/routers/kyc_requests.py); a client that is not a KYC relying party gets
#: unauthorized_client for it (RFC 6749 §5.2), any other grant type unsupported_grant_type.
GRANT_TYPES = ("authorization_code", "refresh_token", CIBA_GRANT_TYPE)


def claims_locales_of(claims_request: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    """The ``claims_locales`` recorded with a grant's claims request, if any."""
    if not claims_request:
        return None
    value = claims_request.get(CLAIMS_LOCALES_KEY)
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list | tuple):
        return None
    return tuple(v for v in value if isinstance(v, str)) or None


def released_claims(
    ctx: AppContext,
    person_id: str,
    *,
    scopes: Sequence[str],
    claims_request: Mapping[str, Any] | None,
    target: str,
) -> dict[str, Any]:
    """The claims about ``person_id`` for ``target`` (``id_token`` or ``userinfo``).

    ``person_id`` is the register's internal id (the grant's subject); no account (or no
    such person any more) releases nothing beyond ``sub``.
    """
    subject = _claims_subject(ctx, person_id)
    if subject is None:
        return {}
    return _release(subject, scopes=scopes, claims_request=claims_request, target=target)


def _claims_subject(
    ctx: AppContext, person_id: str, account: AccountFacts | None = None
) -> ClaimsSubject | None:
    try:
        return ctx.idp_accounts().claims_subject_of_person(person_id, account=account)
    except NotFound:
        return None


def _parse(claims_request: Mapping[str, Any] | None) -> ClaimsRequest:
    """A grant's stored claims request, parsed (its other members, such as the recorded
    ``claims_locales``, are not claims)."""
    return parse_claims_request(
        {k: v for k, v in (claims_request or {}).items() if k in {"userinfo", "id_token"}}
    )


def _release(
    subject: ClaimsSubject,
    *,
    scopes: Sequence[str],
    claims_request: Mapping[str, Any] | None,
    target: str,
) -> dict[str, Any]:
    parsed = _parse(claims_request)
    requested = parsed.id_token if target == "id_token" else parsed.userinfo
    return release_claims(
        subject,
        scopes=scopes,
        requested=requested,
        claims_locales=claims_locales_of(claims_request),
    ).claims


def _userinfo_key(grant_id: str) -> str:
    return f"idp:userinfo-claims:{grant_id}"


#: Marks the kept form below; anything else under the key (an older form) is ignored.
_KEPT_FORM = b"natid-userinfo-1"


def _render_claims(claims: Mapping[str, Any]) -> bytes:
    """``claims`` as JSON exactly as :func:`api.oauth_wire.no_store_json` renders them."""
    return compact_json(claims)


def remember_userinfo_claims(
    ctx: AppContext, grant_id: str, scopes: Sequence[str], claims: Mapping[str, Any]
) -> None:
    """Keep the UserInfo claims released at the code exchange for the access token's lifetime,
    so /userinfo serves them without reading the register again (one release per login).

    They are kept rendered (the scope, then the claims' JSON, one per line), so /userinfo adds
    ``sub`` and answers without parsing and rendering them again. Claims that name ``sub``
    themselves are not kept (released claims never do; UserInfo then releases them anew)."""
    if "sub" in claims:
        return
    ttl = ctx.idp_core().tokens.access_token_lifetime.total_seconds()
    scope = " ".join(scopes).encode("utf-8")
    try:
        ctx.cache.set(
            _userinfo_key(grant_id),
            b"\n".join((_KEPT_FORM, scope, _render_claims(claims))),
            ttl=ttl,
        )
    except CacheError as exc:
        # Only a saving, kept after the tokens were committed: a full or unreachable cache
        # must not turn an issued token response into an error. UserInfo releases them anew.
        log.warning("UserInfo claims not kept", extra={"error_code": exc.code})


def _kept_claims(ctx: AppContext, grant_id: str, scopes: Sequence[str]) -> bytes | None:
    """The claims' JSON kept for ``grant_id`` if it was kept for exactly these scopes."""
    raw = ctx.cache.get(_userinfo_key(grant_id))
    if raw is None:
        return None
    form, _, rest = raw.partition(b"\n")
    scope, _, body = rest.partition(b"\n")
    if form != _KEPT_FORM or scope != " ".join(scopes).encode("utf-8"):
        return None
    return body if body.startswith(b"{") and body.endswith(b"}") else None


def remembered_userinfo_body(
    ctx: AppContext, grant_id: str, scopes: Sequence[str], sub: str
) -> bytes | None:
    """The UserInfo response body of the claims :func:`remember_userinfo_claims` kept for
    ``grant_id`` and these scopes, with ``sub`` added as the last member: the bytes
    :func:`_render_claims` gives for those claims and then ``sub``. None when none are kept."""
    body = _kept_claims(ctx, grant_id, scopes)
    if body is None:
        return None
    member = b'"sub":' + json.dumps(sub, ensure_ascii=False).encode("utf-8")
    return body[:-1] + (member if body == b"{}" else b"," + member) + b"}"


def remembered_userinfo_claims(
    ctx: AppContext, grant_id: str, scopes: Sequence[str]
) -> dict[str, Any] | None:
    """The claims :func:`remember_userinfo_claims` kept for ``grant_id`` and these scopes, as
    a dict (for a signed UserInfo response)."""
    body = _kept_claims(ctx, grant_id, scopes)
    if body is None:
        return None
    try:
        claims = json.loads(body)
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def _scope_param(form_scope: str | None) -> tuple[str, ...] | None:
    if form_scope is None:
        return None
    return tuple(form_scope.split())


async def _token(request: Request, ctx: Ctx) -> tuple[dict[str, Any], DPoPProof | None]:
    form = await read_form(request)
    grant_type = form_value(form, "grant_type", required=True)
    if grant_type not in GRANT_TYPES:
        # RFC 6749 §5.2: checked before the client is authenticated, so an unknown grant type
        # is unsupported_grant_type for every client (unauthorized_client is for a supported
        # grant type this client may not use).
        raise UnsupportedGrantType(f"grant_type {str(grant_type)[:40]!r} is not supported")
    proof = verify_dpop(request, ctx, TOKEN_PATH)
    client = await authenticate_client(request, ctx, TOKEN_PATH)
    if client.require_dpop and proof is None:
        # FAPI 2.0 Security Profile §5.3.2.1, before the code is used up.
        raise InvalidDPoPProof("this client must send a DPoP proof to the token endpoint")
    jkt = proof.jkt if proof is not None else None
    core = ctx.idp_core()
    at = ctx.clock.now()
    if grant_type == "authorization_code":
        grant = core.codes.redeem(
            form_value(form, "code", required=True) or "",
            client_id=client.client_id,
            redirect_uri=form_value(form, "redirect_uri"),
            code_verifier=form_value(form, "code_verifier"),
            dpop_jkt=jkt,
            at=at,
        )
        # The register is read once per login: the ID token's claims now, UserInfo's kept.
        # The claims request and its locales are read once for both.
        subject = (
            _claims_subject(ctx, grant.subject, grant.account) if "openid" in grant.scopes else None
        )
        id_claims: dict[str, Any] = {}
        if subject is not None:
            parsed = _parse(grant.claims)
            locales = claims_locales_of(grant.claims)
            id_claims = release_claims(
                subject, scopes=(), requested=parsed.id_token, claims_locales=locales
            ).claims
        response = core.tokens.exchange_code(
            grant,
            client=client,
            dpop_jkt=jkt,
            at=at,
            # OIDC Core §11: a refresh token (access while the user is away) only when the
            # user granted offline_access.
            issue_refresh_token=OFFLINE_ACCESS in grant.scopes,
            id_token_claims=id_claims,
        )
        if subject is not None:
            userinfo = release_claims(
                subject, scopes=grant.scopes, requested=parsed.userinfo, claims_locales=locales
            ).claims
            remember_userinfo_claims(ctx, response.grant_id, grant.scopes, userinfo)
    elif grant_type == CIBA_GRANT_TYPE:
        # Decoupled KYC consent (CIBA Core §10.1; api/routers/kyc_requests.py).
        auth_req_id = form_value(form, "auth_req_id", required=True) or ""
        response = ciba_token(ctx, client, auth_req_id, dpop_jkt=jkt)
    else:
        response = core.tokens.refresh(
            form_value(form, "refresh_token", required=True) or "",
            client=client,
            dpop_jkt=jkt,
            at=at,
            scope=_scope_param(form_value(form, "scope")),
        )
    return response.to_wire(), proof


def _error(request: Request, ctx: AppContext, exc: OAuthError) -> JSONResponse:
    headers: dict[str, str] = {}
    if request.headers.get("dpop") is not None and not isinstance(exc, InvalidRequest):
        headers["DPoP-Nonce"] = dpop_verifier(request).new_nonce(at=ctx.clock.now())
    return oauth_error_response(
        exc, basic_challenge=used_basic_auth(request.headers.get("authorization")), headers=headers
    )


@router.post("/token")
async def token(request: Request, ctx: Ctx) -> JSONResponse:
    """Exchange a code or a refresh token for tokens (RFC 6749 §5.1, OIDC Core §3.1.3.3)."""
    try:
        body, proof = await _token(request, ctx)
    except OAuthError as exc:
        return _error(request, ctx, exc)
    except PollRefused as exc:
        return ciba_error_response(exc)
    headers = {}
    if proof is not None:
        # RFC 9449 §8.2: a fresh nonce with every DPoP response, for the client's next proof.
        headers["DPoP-Nonce"] = dpop_verifier(request).new_nonce(at=ctx.clock.now())
    return no_store_json(body, headers=headers)


@router.post(INTROSPECT_PATH)
async def introspect(request: Request, ctx: Ctx) -> JSONResponse:
    """RFC 7662 §2: whether ``token`` is active, for the client it was issued to."""
    try:
        form = await read_form(request)
        client = await authenticate_client(request, ctx, INTROSPECT_PATH)
        token_value = form_value(form, "token", required=True) or ""
    except OAuthError as exc:
        return _error(request, ctx, exc)
    body = ctx.idp_core().tokens.introspect(token_value, client=client, at=ctx.clock.now())
    return no_store_json(body)


@router.post(REVOKE_PATH)
async def revoke(request: Request, ctx: Ctx) -> Response:
    """RFC 7009 §2: revoke a token; 200 whether or not it was known (§2.2), but
    ``invalid_request`` (400) for a live token issued to another client, which stays valid
    (§2.1; :meth:`idp.tokens.TokenService.revoke`)."""
    try:
        form = await read_form(request)
        client = await authenticate_client(request, ctx, REVOKE_PATH)
        token_value = form_value(form, "token", required=True) or ""
        ctx.idp_core().tokens.revoke(token_value, client=client, at=ctx.clock.now())
    except OAuthError as exc:
        return _error(request, ctx, exc)
    return Response(status_code=200, headers=dict(NO_STORE))
