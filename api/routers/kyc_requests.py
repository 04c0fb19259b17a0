"""Decoupled KYC consent for banks and the operators' figures (issue 6; OpenID CIBA Core 1.0
poll mode, see :mod:`kyc.requests`). The citizen's pages are in :mod:`api.routers.kyc_pages`.

Bank API (client authentication by ``private_key_jwt``, RFC 7523 §2.2, in the form body as at
the token endpoint; :func:`api.oauth_wire.authenticate_client`):

* ``POST /kyc/v1/requests`` - form ``national_id_number``, ``binding_message`` (<= 64
  printable characters), ``purpose``, ``attributes`` (space- or comma-separated) and optional
  ``optional_attributes`` -> 201 ``{"auth_req_id", "expires_in", "interval"}`` (CIBA §7.3),
  the same for a number nobody holds.
* ``POST`` (or ``GET`` with the same form body) ``/kyc/v1/requests/{auth_req_id}`` - the poll:
  400 ``{"error": "authorization_pending" | "slow_down" | "access_denied" | "expired_token" |
  "invalid_grant"}`` (CIBA §11), or, ONCE after the citizen approved, 200 ``{"status":
  "approved", "txn", "response"}`` where ``response`` is the signed ``verified_claims`` JWT
  (a JWE when the bank registered a key), exactly what ``GET /kyc/v1/person`` returns.
  Decision (docs/decisions.md): the claims come with the poll instead of a CIBA grant at
  ``/token``, so a bank needs no second token round-trip and the token endpoint stays as is.

Operators: ``GET /admin/v1/kyc/stats`` (roles ``auditor`` or ``kyc-admin``) - counts per bank
and purpose, never persons or attributes.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from api.context import AppContext
from api.deps import Ctx
from api.errors import problem
from api.oauth_wire import (
    NO_STORE,
    authenticate_client,
    form_value,
    oauth_error_response,
    read_form,
)
from api.routers.kyc import kyc_service
from api.security import require_operator
from core.operators import Operator, OperatorRole
from idp.clients import Client
from idp.codes import AuthorizationGrant
from idp.consents import Consents
from idp.errors import InvalidDPoPProof, OAuthError, UnauthorizedClient
from idp.tokens import TokenResponse
from kyc import (
    ATTRIBUTES_BY_SCOPE,
    KYC_SCOPE,
    ConsentedRequest,
    ConsentView,
    GrantView,
    KYCAccessDenied,
    KYCRateLimited,
    NotARelyingParty,
    purpose_scope,
)
from kyc.policy import CLAIM_CONSENTABLE
from kyc.requests import (
    ApprovedRequest,
    DecoupledRequests,
    InvalidDecoupledRequest,
    PollError,
    PollRefused,
)

__all__ = [
    "CIBA_GRANT_TYPE",
    "ciba_error_response",
    "ciba_token",
    "consent_items",
    "decoupled_requests",
    "router",
]

REQUESTS_PATH = "/kyc/v1/requests"
CIBA_GRANT_TYPE = "urn:openid:params:grant-type:ciba"

_api = APIRouter(tags=["kyc"])
router = APIRouter()


def decoupled_requests(ctx: AppContext) -> DecoupledRequests:
    """The decoupled-request store on the application's collaborators (stateless)."""
    return DecoupledRequests(ctx.sessions, register=ctx.register, ledger=ctx.ledger)


# --- bank API ------------------------------------------------------------------------------------


def _ciba_error(error: str, description: str, **extra: Any) -> JSONResponse:
    body = {"error": error, "error_description": description, **extra}
    return JSONResponse(body, status_code=400, headers=dict(NO_STORE))


def _rate_limited(request: Request, exc: KYCRateLimited) -> JSONResponse:
    response = problem(429, "Too Many Requests", code=exc.code, detail=exc.message, request=request)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


class StartedOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    auth_req_id: str
    expires_in: int
    interval: int


class ApprovedOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Literal["approved"]
    txn: str
    response: str
    encrypted: bool


@_api.post(
    REQUESTS_PATH,
    status_code=201,
    summary="Start a decoupled KYC request at the bank counter (CIBA-style)",
    response_model=StartedOut,
    openapi_extra={
        "requestBody": {
            "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}
        }
    },
)
async def start_request(request: Request, ctx: Ctx) -> Response:
    try:
        client = await authenticate_client(request, ctx, REQUESTS_PATH)
        form = await read_form(request)
        service = kyc_service(ctx)
        rp = service.relying_party(client.client_id)
        now = ctx.clock.now()
        service.check_rate(rp, at=now)
        started = decoupled_requests(ctx).start(
            rp,
            national_id=form_value(form, "national_id_number", required=True) or "",
            binding_message=form_value(form, "binding_message", required=True) or "",
            purpose=form_value(form, "purpose", required=True) or "",
            attributes=_list(form_value(form, "attributes", required=True)),
            optional=_list(form_value(form, "optional_attributes")),
            at=now,
        )
    except OAuthError as exc:
        return oauth_error_response(exc)
    except InvalidDecoupledRequest as exc:
        return _ciba_error(exc.error, exc.message)
    except KYCRateLimited as exc:
        return _rate_limited(request, exc)
    body = StartedOut(
        auth_req_id=started.auth_req_id, expires_in=started.expires_in, interval=started.interval
    )
    return JSONResponse(body.model_dump(), status_code=201, headers=dict(NO_STORE))


def ciba_error_response(exc: PollRefused) -> JSONResponse:
    """A poll refusal in the OAuth JSON format (CIBA Core §11; ``interval`` on slow_down)."""
    extra = {"interval": exc.interval} if exc.error == PollError.SLOW_DOWN else {}
    return _ciba_error(exc.error.value, exc.message, **extra)


def ciba_token(
    ctx: AppContext, client: Client, auth_req_id: str, *, dpop_jkt: str | None
) -> TokenResponse:
    """``grant_type=urn:openid:params:grant-type:ciba`` at ``/token`` (CIBA Core §10.1): once
    the citizen approved, a (DPoP-bound, for FAPI 2.0 banks) access token whose scopes and
    ``claims`` request say exactly what was approved, for ``GET /kyc/v1/person``. Raises
    :class:`~kyc.requests.PollRefused` (the CIBA errors) or an OAuth error."""
    service = kyc_service(ctx)
    try:
        rp = service.relying_party(client.client_id)
    except NotARelyingParty:
        raise UnauthorizedClient("this client is not an active KYC relying party") from None
    now = ctx.clock.now()
    if client.require_dpop and dpop_jkt is None:
        # Checked before the request is used up (FAPI 2.0 Security Profile §5.3.2.1).
        raise InvalidDPoPProof("this client must send a DPoP proof to the token endpoint")
    service.check_rate(rp, at=now)
    approved = decoupled_requests(ctx).poll(client.client_id, auth_req_id, at=now)
    scopes, claims = consent_items(approved)
    grant = AuthorizationGrant(
        grant_id=approved.id,
        client_id=client.client_id,
        redirect_uri="",
        subject=approved.person_id,
        scopes=tuple(sorted(scopes)),
        code_challenge="",
        auth_time=now,
        issued_at=now,
        claims={"userinfo": dict.fromkeys(sorted(claims))},
        dpop_jkt=dpop_jkt,
    )
    return ctx.idp_core().tokens.exchange_code(
        grant, client=client, dpop_jkt=dpop_jkt, at=now, issue_refresh_token=False
    )


def _list(value: str | None) -> list[str]:
    return [v for v in (value or "").replace(",", " ").split() if v]


def _consented(ctx: AppContext, approved: ApprovedRequest) -> ConsentedRequest:
    """The approved request as the release rule sees a token: the scopes and claims the
    citizen approved, and their live consent for the bank (which they may have withdrawn)."""
    core = ctx.idp_core()
    now = ctx.clock.now()
    consent = None
    account = ctx.idp_accounts().find_by_person(approved.person_id)
    if account is not None:
        found = consents_of(ctx).find(account.id, approved.client_id, at=now)
        if found is not None:
            consent = ConsentView(found.scopes, found.claims, found.granted_at, found.expires_at)
    scopes, claims = consent_items(approved)
    return ConsentedRequest(
        client_id=approved.client_id,
        person_id=approved.person_id,
        sub=core.tokens.subject_for(core.clients.get(approved.client_id), approved.person_id),
        grant_id=approved.id,
        grant=GrantView(scopes=frozenset(scopes), requested_claims=frozenset(claims)),
        consent=consent,
    )


def consent_items(approved: ApprovedRequest) -> tuple[set[str], set[str]]:
    """Scopes and claim names that express the approval in the IdP's consent store
    (:mod:`kyc.policy`: the two NatID attributes are scopes, the OIDC ones claim names)."""
    scopes = {KYC_SCOPE, purpose_scope(approved.purpose)}
    claims = set()
    for attribute in approved.attributes:
        if attribute in CLAIM_CONSENTABLE:
            claims.add(attribute.value)
        else:
            scopes |= {s for s, a in ATTRIBUTES_BY_SCOPE.items() if a == {attribute}}
    return scopes, claims


def consents_of(ctx: AppContext) -> Consents:
    return Consents(ctx.sessions, ledger=ctx.ledger)


_POLL_DOC: dict[str, Any] = {
    "response_model": ApprovedOut,
    "responses": {400: {"description": "CIBA poll errors (authorization_pending, slow_down..)"}},
}


@_api.get(
    REQUESTS_PATH + "/{auth_req_id}",
    summary="Poll a decoupled KYC request (form body); the signed verified_claims once approved",
    operation_id="poll_kyc_request_get",
    **_POLL_DOC,
)
@_api.post(
    REQUESTS_PATH + "/{auth_req_id}",
    summary="Poll a decoupled KYC request; the signed verified_claims once approved",
    operation_id="poll_kyc_request",
    **_POLL_DOC,
)
async def poll_request(auth_req_id: str, request: Request, ctx: Ctx) -> Response:
    try:
        client = await authenticate_client(request, ctx, REQUESTS_PATH)
        service = kyc_service(ctx)
        rp = service.relying_party(client.client_id)
        now = ctx.clock.now()
        service.check_rate(rp, at=now)
        store = decoupled_requests(ctx)
        approved = store.poll(client.client_id, auth_req_id, at=now)
        signed = service.release(_consented(ctx, approved))
        store.record_txn(approved.id, signed.txn)
    except OAuthError as exc:
        return oauth_error_response(exc)
    except PollRefused as exc:
        return ciba_error_response(exc)
    except KYCAccessDenied:
        return _ciba_error("access_denied", "the citizen's consent no longer covers the request")
    except KYCRateLimited as exc:
        return _rate_limited(request, exc)
    body = ApprovedOut(
        status="approved", txn=signed.txn, response=signed.token, encrypted=signed.encrypted
    )
    return JSONResponse(body.model_dump(), headers=dict(NO_STORE))


# --- operators' figures ------------------------------------------------------------------------


class StatsRowOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    entity_id: str
    client_id: str
    purpose: str
    releases: int
    matches: int
    requests_started: int
    requests_approved: int
    refusals: int
    requests_expired: int


class StatsOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    since: dt.datetime
    until: dt.datetime
    banks: list[StatsRowOut]


StatsReader = Annotated[
    Operator, Depends(require_operator(OperatorRole.AUDITOR, OperatorRole.KYC_ADMIN))
]


@_api.get(
    "/admin/v1/kyc/stats",
    tags=["admin"],
    summary="KYC figures per bank and purpose over a period (auditor or kyc-admin); counts only",
)
def kyc_stats(
    ctx: Ctx, _operator: StatsReader, days: Annotated[int, Query(ge=1, le=3660)] = 30
) -> StatsOut:
    until = ctx.clock.now()
    since = until - dt.timedelta(days=days)
    table: dict[tuple[str, str, str], dict[str, int]] = {}
    for a in kyc_service(ctx).access_log.stats(since=since, until=until):
        counts = table.setdefault((a.entity_id, a.client_id, a.purpose), {})
        counts["releases" if a.kind == "release" else "matches"] = a.count
    for r in decoupled_requests(ctx).stats(since=since, until=until):
        counts = table.setdefault((r.entity_id, r.client_id, r.purpose), {})
        counts.update(
            requests_started=r.started,
            requests_approved=r.approved,
            refusals=r.denied,
            requests_expired=r.expired,
        )
    rows = [
        StatsRowOut(
            entity_id=k[0],
            client_id=k[1],
            purpose=k[2],
            **{
                f: v.get(f, 0)
                for f in StatsRowOut.model_fields
                if f not in {"entity_id", "client_id", "purpose"}
            },
        )
        for k, v in sorted(table.items(), key=lambda item: (item[0][1], item[0][2]))
    ]
    return StatsOut(since=since, until=until, banks=rows)


router.include_router(_api)
