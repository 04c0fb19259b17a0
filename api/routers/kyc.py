"""The KYC API for banks, ``/kyc/v1/`` (issue 6), and the citizen's access-log export.

* ``GET /kyc/v1/person`` - the consented attributes as signed OpenID Connect for Identity
  Assurance ``verified_claims`` (``application/jwt``; a JWE when the bank registered an
  encryption key). Needs a DPoP-bound access token (``Authorization: DPoP``, RFC 9449 §7) of
  an onboarded bank's client with the scope ``kyc`` and one ``kyc:purpose:<purpose>`` scope;
  a ``Bearer`` token is refused even if otherwise valid (KYC data only goes to the holder of
  the key, FAPI 2.0 Security Profile §5.3.2.1).
* ``POST /kyc/v1/match`` - JSON ``{"attributes": {"given_name": "..", "birthdate": ".."}}``;
  per attribute ``true``/``false`` in a signed response, never the stored values. Either with
  the citizen's DPoP-bound token as above (consent), or, for a bank onboarded with the
  legal-basis flag, without a token: the bank authenticates with a ``private_key_jwt`` client
  assertion (RFC 7523 §2.2, audience the issuer as for FAPI 2.0 clients) in the body members
  ``client_assertion_type`` / ``client_assertion``, states ``purpose``, and names the person by
  ``national_id_number``.
* ``GET /kyc/v1/access-log`` - the citizen's own access log as JSON (newest first,
  ``limit``/``offset``), with the citizen's IdP access token (scope ``openid``; Bearer or
  DPoP). Tokens issued to a KYC relying party are refused: a bank must never read which other
  banks looked at a customer.

Errors: token problems in the OAuth resource-server format with ``WWW-Authenticate``
(RFC 6750 §3, RFC 9449 §7.1); KYC refusals as RFC 9457 problem details (``api/errors.py``);
over the rate limit 429 with ``Retry-After``. "No such person" and "no consent" are the same
``kyc_access_denied`` answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.context import AppContext
from api.deps import Ctx
from api.errors import problem
from api.oauth_wire import (
    NO_STORE,
    dpop_verifier,
    refusal_challenge,
    resource_error_response,
    verify_dpop,
)
from idp.clients import ClientAuthMethod
from idp.consents import Consents
from idp.errors import InsufficientScope, InvalidRequest, InvalidToken, OAuthError
from idp.jose import sign_jws
from idp.tokens import AccessTokenInfo
from kyc import (
    KYC_JWT_TYPE,
    KYC_SCOPE,
    ConsentedRequest,
    ConsentView,
    GrantView,
    KYCRateLimited,
    KYCService,
    SignedResponse,
)
from registry.errors import RegistryError

__all__ = ["kyc_service", "router"]

router = APIRouter(tags=["kyc"])

PERSON_PATH = "/kyc/v1/person"
MATCH_PATH = "/kyc/v1/match"
ACCESS_LOG_PATH = "/kyc/v1/access-log"
JWT_MEDIA_TYPE = "application/jwt"
MAX_MATCH_ATTRIBUTES = 20


class _IdPSigner:
    """Signs KYC responses with the IdP's active key (verifiable against ``/jwks``)."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    @property
    def issuer(self) -> str:
        return self._ctx.idp_core().issuer

    def sign(self, claims: Mapping[str, Any]) -> str:
        key = self._ctx.idp_core().signing_keys.signing_key()
        return sign_jws(claims, key=key.key, kid=key.kid, typ=KYC_JWT_TYPE)


def kyc_service(ctx: AppContext) -> KYCService:
    """The KYC service on the application's collaborators (built per call: it is stateless)."""
    return KYCService(
        ctx.sessions,
        register=ctx.register_port(),
        ledger=ctx.ledger,
        cache=ctx.cache,
        clock=ctx.clock,
        signer=_IdPSigner(ctx),
    )


class _NoToken(Exception):
    """No credentials at all: bare challenges (RFC 6750 §3.1)."""


def _authorization(request: Request) -> tuple[str, str]:
    if "access_token" in request.query_params:
        raise InvalidRequest("an access token in the URI query is refused (RFC 6750 §2.3)")
    header = request.headers.get("authorization")
    if not header:
        raise _NoToken
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() not in {"bearer", "dpop"} or not token or " " in token:
        raise InvalidToken("expected Authorization: DPoP <token>")
    return scheme.lower(), token


def _verified(request: Request, ctx: AppContext, path: str, *, dpop_only: bool) -> AccessTokenInfo:
    scheme, token = _authorization(request)
    if dpop_only and scheme != "dpop":
        raise InvalidToken("the KYC API accepts only DPoP-bound access tokens (DPoP scheme)")
    proof = None
    if scheme == "dpop":
        proof = verify_dpop(request, ctx, path, access_token=token)
        if proof is None:
            raise InvalidToken("the DPoP scheme needs a DPoP proof")
    info = ctx.idp_core().tokens.verify_access_token(
        token, at=ctx.clock.now(), dpop_jkt=proof.jkt if proof else None, check_binding=True
    )
    if scheme == "dpop" and info.jkt is None:
        raise InvalidToken("the access token is not DPoP-bound")
    return info


def _live_consent(
    ctx: AppContext, person_id: str, client_id: str, *, at: dt.datetime
) -> ConsentView | None:
    """The citizen's live consent for the bank, or None (no such person or account, no
    consent, or an expired one: all the same to the caller)."""
    found = Consents(ctx.sessions, ledger=ctx.ledger).find_for_person(person_id, client_id, at=at)
    if found is None:
        return None
    return ConsentView(found.scopes, found.claims, found.granted_at, found.expires_at)


def _consented(request: Request, ctx: AppContext, path: str) -> ConsentedRequest:
    """The verified token of a bank, and the citizen's live consent for that bank (or None)."""
    info = _verified(request, ctx, path, dpop_only=True)
    if KYC_SCOPE not in info.scopes:
        raise InsufficientScope("the access token lacks the kyc scope")
    consent = _live_consent(ctx, info.subject, info.client_id, at=ctx.clock.now())
    userinfo = (info.claims_request or {}).get("userinfo")
    requested = frozenset(userinfo) if isinstance(userinfo, Mapping) else frozenset()
    return ConsentedRequest(
        client_id=info.client_id,
        person_id=info.subject,
        sub=str(info.claims.get("sub", "")),
        grant_id=info.grant_id,
        grant=GrantView(scopes=frozenset(info.scopes), requested_claims=requested),
        consent=consent,
    )


def _oauth_error(exc: OAuthError, scheme: str = "DPoP") -> JSONResponse:
    scope = KYC_SCOPE if isinstance(exc, InsufficientScope) else None
    return resource_error_response(exc, scheme=scheme, scope=scope)


def _rate_limited(request: Request, exc: KYCRateLimited) -> JSONResponse:
    response = problem(429, "Too Many Requests", code=exc.code, detail=exc.message, request=request)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _signed(request: Request, ctx: AppContext, signed: SignedResponse, dpop: bool) -> Response:
    headers = dict(NO_STORE)
    if dpop:
        headers["DPoP-Nonce"] = dpop_verifier(request).new_nonce(at=ctx.clock.now())
    return Response(signed.token, media_type=JWT_MEDIA_TYPE, headers=headers)


@router.get(
    PERSON_PATH,
    summary="The citizen's consented attributes as signed verified_claims (application/jwt)",
    response_class=Response,
    responses={200: {"content": {JWT_MEDIA_TYPE: {}}}},
)
def kyc_person(request: Request, ctx: Ctx) -> Response:
    try:
        consented = _consented(request, ctx, PERSON_PATH)
        signed = kyc_service(ctx).release(consented)
    except _NoToken:
        return resource_error_response(None, scheme="DPoP")
    except OAuthError as exc:
        return _oauth_error(exc)
    except KYCRateLimited as exc:
        return _rate_limited(request, exc)
    return _signed(request, ctx, signed, dpop=True)


class MatchBody(BaseModel):
    """A match request. ``attributes`` maps attribute names to the values the bank holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attributes: dict[Annotated[str, Field(max_length=40)], Annotated[str, Field(max_length=200)]]
    purpose: Annotated[str, Field(max_length=40)] | None = None
    client_assertion_type: Annotated[str, Field(max_length=200)] | None = None
    client_assertion: Annotated[str, Field(max_length=16384)] | None = None


@router.post(
    MATCH_PATH,
    summary="Yes/no match of attributes the bank holds (signed, application/jwt)",
    response_class=Response,
    responses={200: {"content": {JWT_MEDIA_TYPE: {}}}},
)
def kyc_match(request: Request, body: MatchBody, ctx: Ctx) -> Response:
    with_token = "authorization" in request.headers
    try:
        signed = _match(request, ctx, body, with_token=with_token)
    except _NoToken:
        return resource_error_response(None, scheme="DPoP")
    except OAuthError as exc:
        return _oauth_error(exc)
    except KYCRateLimited as exc:
        return _rate_limited(request, exc)
    return _signed(request, ctx, signed, dpop=with_token)


def _match(
    request: Request, ctx: AppContext, body: MatchBody, *, with_token: bool
) -> SignedResponse:
    if len(body.attributes) > MAX_MATCH_ATTRIBUTES:
        raise InvalidRequest(f"at most {MAX_MATCH_ATTRIBUTES} attributes per match request")
    service = kyc_service(ctx)
    if with_token:
        if body.client_assertion is not None or body.purpose is not None:
            raise InvalidRequest("with an access token, send neither purpose nor assertion")
        return service.match(body.attributes, request=_consented(request, ctx, MATCH_PATH))
    if body.client_assertion is None:
        raise _NoToken
    core = ctx.idp_core()
    # RFC 7523 §2.2 client authentication, as at the token endpoint (the assertion's jti is
    # single-use there too); FAPI 2.0 clients use the issuer as audience.
    client = core.clients.authenticate(
        client_id=None,
        method=ClientAuthMethod.PRIVATE_KEY_JWT,
        endpoint_url=core.issuer + MATCH_PATH,
        at=ctx.clock.now(),
        assertion=body.client_assertion,
        assertion_type=body.client_assertion_type,
    )
    return service.match(body.attributes, client_id=client.client_id, purpose=body.purpose)


@router.get(ACCESS_LOG_PATH, summary="Who looked at my data: my KYC access log (JSON)")
def kyc_access_log(
    request: Request,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    scheme = None
    try:
        scheme, _ = _authorization(request)
        info = _verified(request, ctx, ACCESS_LOG_PATH, dpop_only=False)
        if "openid" not in info.scopes:
            raise InsufficientScope("the access token lacks the openid scope")
        service = kyc_service(ctx)
        if service.relying_parties.find_by_client(info.client_id) is not None:
            raise InsufficientScope("a KYC relying party's token cannot read access logs")
        entries = service.access_log.for_person(info.subject, limit=limit, offset=offset)
    except _NoToken:
        return resource_error_response(None)
    except OAuthError as exc:
        scope = "openid" if isinstance(exc, InsufficientScope) else None
        return resource_error_response(exc, scheme=refusal_challenge(exc, scheme), scope=scope)
    names: dict[str, dict[str, str]] = {}
    for entry in entries:
        if entry.entity_id not in names:
            try:
                entity = ctx.register.get_entity(entry.entity_id)
                names[entry.entity_id] = {"en": entity.name_en, "km": entity.name_km}
            except RegistryError:
                names[entry.entity_id] = {}
    body = {
        "entries": [{**e.to_json(), "entity_name": names.get(e.entity_id, {})} for e in entries],
        "limit": limit,
        "offset": offset,
    }
    headers = dict(NO_STORE)
    if scheme == "dpop":
        headers["DPoP-Nonce"] = dpop_verifier(request).new_nonce(at=ctx.clock.now())
    return JSONResponse(body, headers=headers)
