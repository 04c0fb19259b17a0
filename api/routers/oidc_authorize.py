"""The authorization endpoint and the PAR endpoint of the OpenID provider.

* ``GET``/``POST /authorize`` (OIDC Core §3.1.2.1: both methods, POST as a form): validates the
  request (:mod:`idp.authz_request`) or loads it from a pushed ``request_uri`` (RFC 9126 §4),
  then decides (:meth:`idp.authorize.AuthorizationService.decide`): 303 to the client with a
  code, to ``/login?pending=..`` (:mod:`api.routers.idp_login`), to ``/consent?pending=..``, or
  to the client with an error. An unknown client, an unregistered ``redirect_uri`` or an
  unusable ``request_uri`` is an error *page*, never a redirect (RFC 6749 §4.1.2.1).
* ``GET /authorize/continue?pending=..[&consented=1]``: where the login and consent pages send
  the browser back; the same decision for the stored request.
* ``POST /par`` (RFC 9126 §2): client authentication as at the token endpoint, an optional DPoP
  proof that binds the request (RFC 9449 §10.1), an optional signed request object
  (:mod:`idp.request_object`); answers ``201 {"request_uri", "expires_in"}`` or an OAuth JSON
  error. Other methods get 405 (FAPI 2.0 test ``par-attempt-invalid-http-method``).

Redirects are ``303 See Other`` with ``Cache-Control: no-store``: the code and the state must
not be kept by any cache, and a POSTed request must become a GET at the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.context import AppContext
from api.idp_web import choose_language, consents, context_of, current_session, error_page
from api.oauth_wire import (
    authenticate_client,
    dpop_verifier,
    no_store_json,
    oauth_error_response,
    read_form,
    used_basic_auth,
    verify_dpop,
)
from core.cache import InMemoryCache
from idp.authorize import (
    AuthorizationService,
    Decision,
    PendingAuthorizations,
    Step,
    error_redirect,
)
from idp.authz_request import (
    MAX_STATE,
    AuthorizationError,
    AuthorizationRequest,
    UntrustedRedirect,
    error_code,
    parse_request,
    resolve_client,
)
from idp.dpop import DPoPProof
from idp.errors import InvalidRequest, OAuthError
from idp.par import InvalidRequestUri, PushedRequests, is_request_uri
from idp.request_object import InvalidRequestObject, verify_request_object
from idp.sessions import LoginSession, LoginSessions

__all__ = [
    "AUTHORIZE_PATH",
    "CONTINUE_PATH",
    "PAR_PATH",
    "authorization_service",
    "pending_authorizations",
    "pushed_requests",
    "router",
]

router = APIRouter(tags=["idp"])

AUTHORIZE_PATH = "/authorize"
CONTINUE_PATH = "/authorize/continue"
PAR_PATH = "/par"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: Client-authentication parameters of a PAR request: not authorization parameters.
_AUTH_PARAMS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})
_TRUST_PARAMS = frozenset({"client_id", "redirect_uri", "request_uri"})


# --- accessors (U's and W's pages use them too) ------------------------------------------------


def pending_authorizations(request: Request) -> PendingAuthorizations:
    """The store of requests waiting for login and consent."""
    return PendingAuthorizations(context_of(request).cache)


def pushed_requests(request: Request) -> PushedRequests:
    """The store of pushed authorization requests (RFC 9126)."""
    return PushedRequests(context_of(request).cache)


def authorization_service(request: Request) -> AuthorizationService:
    """The decision and code-issuing service over the application's collaborators."""
    ctx = context_of(request)
    return AuthorizationService(
        ctx.idp_core(),
        accounts=ctx.idp_accounts(),
        login_sessions=LoginSessions(ctx.sessions, ledger=ctx.ledger),
        consents=consents(request),
        pushed=pushed_requests(request),
        ledger=ctx.ledger,
    )


# --- helpers ----------------------------------------------------------------------------------


#: ``RedirectResponse(url, status_code=303, headers=_NO_STORE)``'s headers before ``location``
#: (``content-length: 0`` is what Starlette adds for the empty body).
_SEE_OTHER_HEADERS = (
    *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in _NO_STORE.items()),
    (b"content-length", b"0"),
)
#: What ``RedirectResponse`` leaves unquoted in the ``location``.
_LOCATION_SAFE = ":/%#?=@[]!$&'()*+,;"


class _SeeOther(RedirectResponse):
    """``RedirectResponse(url, status_code=303, headers=_NO_STORE)`` with the constant headers
    encoded once per process instead of once per response: the same status, body and raw
    headers in the same order (``tests/api/idp_authorize/test_hot_path_equivalence.py``)."""

    def __init__(self, url: str) -> None:
        # Sets every attribute ``Response.__init__`` sets (``_headers`` is made on first use).
        self.status_code = 303
        self.background = None
        self.body = b""
        self.raw_headers = [
            *_SEE_OTHER_HEADERS,
            (b"location", quote(url, safe=_LOCATION_SAFE).encode("latin-1")),
        ]


def _see_other(url: str) -> RedirectResponse:
    return _SeeOther(url)


def _page(request: Request, message_key: str, status: int = 400) -> Response:
    # The request's ui_locales count here as on the login pages (an error page is the
    # only page a citizen sees of a request with a bad client or redirect URI).
    wished = request.query_params.get("ui_locales", "").split()[:10]
    return error_page(
        request, lang=choose_language(request, wished), message_key=message_key, status=status
    )


def _single(items: Sequence[tuple[str, Any]]) -> tuple[dict[str, str], set[str]]:
    """One value per parameter, and the names that were repeated (RFC 6749 §3.1: refused)."""
    values: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in items:
        if not isinstance(value, str):
            repeated.add(name)  # a file upload is no parameter of ours
            continue
        if name in values:
            repeated.add(name)
        values[name] = value
    return {k: v for k, v in values.items() if v != ""}, repeated


def _id_token_keys(ctx: AppContext, params: dict[str, str]) -> list[dict[str, Any]]:
    if "id_token_hint" not in params:
        return []
    keys: list[dict[str, Any]] = ctx.idp_core().signing_keys.jwks(at=ctx.clock.now())["keys"]
    return keys


# --- /authorize -------------------------------------------------------------------------------


def _from_parameters(
    request: Request, params: dict[str, str], repeated: set[str]
) -> AuthorizationRequest | Response:
    """The validated request, or the response (error page or error redirect) to send."""
    ctx = context_of(request)
    if repeated & _TRUST_PARAMS:
        return _page(request, "invalid_request")
    request_uri = params.get("request_uri")
    if request_uri is not None and is_request_uri(request_uri):
        try:
            return pushed_requests(request).load(
                request_uri, client_id=params.get("client_id"), at=ctx.clock.now()
            )
        except InvalidRequestUri:
            return _page(request, "invalid_request_uri")
    return _from_plain_parameters(request, params, repeated)


def _from_plain_parameters(
    request: Request, params: dict[str, str], repeated: set[str]
) -> AuthorizationRequest | Response:
    ctx = context_of(request)
    core = ctx.idp_core()
    at = ctx.clock.now()
    request_uri = params.get("request_uri")
    try:
        client, redirect_uri = resolve_client(
            core.clients, params.get("client_id"), params.get("redirect_uri")
        )
    except UntrustedRedirect as exc:
        return _page(request, exc.reason)
    state = params.get("state")
    state = state if state is not None and len(state) <= MAX_STATE else None

    def fail(error: str, description: str) -> Response:
        ctx.ledger.append(
            "idp.authorization.denied", subject=client.client_id, data={"error": error}
        )
        return _see_other(
            error_redirect(redirect_uri, error, description, state=state, issuer=core.issuer)
        )

    if request_uri is not None:
        # OIDC Core §6.2 / RFC 9126: only our own pushed URNs are dereferenced.
        return fail("request_uri_not_supported", "request_uri must come from the PAR endpoint")
    if repeated:
        return fail("invalid_request", f"repeated parameters: {' '.join(sorted(repeated))[:100]}")
    if client.require_par:
        # FAPI 2.0 Security Profile §5.3.2.2 item 1: PAR is required for this client.
        return fail("invalid_request", "this client must push its requests to the PAR endpoint")
    try:
        return parse_request(
            params,
            client=client,
            redirect_uri=redirect_uri,
            issuer=core.issuer,
            id_token_keys=_id_token_keys(ctx, params),
            at=at,
        )
    except (OAuthError, AuthorizationError) as exc:
        return fail(error_code(exc), exc.description)


def _act(
    request: Request,
    authz: AuthorizationRequest,
    decision: Decision,
    session: LoginSession | None,
    pending_id: str | None,
    *,
    service: AuthorizationService,
) -> Response:
    """Carry out ``decision``; ``service`` is the one that made it (built once per request)."""
    ctx = context_of(request)
    at = ctx.clock.now()
    if decision.step in (Step.LOGIN, Step.CONSENT):
        if pending_id is None:
            pending_id = pending_authorizations(request).create(authz, session=session)
        page = "/login" if decision.step is Step.LOGIN else "/consent"
        return _see_other(f"{page}?pending={quote(pending_id, safe='')}")
    if pending_id is not None:
        pending_authorizations(request).delete(pending_id)
    if decision.step is Step.ISSUE:
        assert session is not None
        return _see_other(service.issue_code(authz, decision, session=session, at=at))
    return _see_other(
        service.deny(
            authz,
            decision.error or "invalid_request",
            decision.description or "the request was refused",
            at=at,
            account_id=session.account_id if session is not None else None,
        )
    )


def _authorize(request: Request, items: Sequence[tuple[str, Any]]) -> Response:
    params, repeated = _single(items)
    found = _from_parameters(request, params, repeated)
    if isinstance(found, Response):
        return found
    # The session's read also brings its account's consent to this client (one statement).
    session = current_session(request, consent_for=found.client_id)
    service = authorization_service(request)
    decision = service.decide(
        found,
        session=session,
        logged_in_since_request=False,
        consent_given_now=False,
        at=context_of(request).clock.now(),
    )
    return _act(request, found, decision, session, None, service=service)


def _all_local(ctx: AppContext) -> bool:
    """Whether the authorization endpoint's storage is all in this machine's process or files:
    SQLite and the in-process cache. Then it runs on the event loop (as the token endpoint
    does), saving the thread-pool hop (~0.3 ms of CPU per request); a network database or
    Redis means a round trip, which never blocks the event loop."""
    return ctx.engine.dialect.name == "sqlite" and isinstance(ctx.cache, InMemoryCache)


def _query_items(request: Request) -> list[tuple[str, str]]:
    """``request.query_params.multi_items()`` without building the multidict: Starlette parses
    the query string exactly so (latin-1, then ``parse_qsl`` keeping blank values)."""
    query: bytes = request.scope["query_string"]
    return parse_qsl(query.decode("latin-1"), keep_blank_values=True)


@router.get(AUTHORIZE_PATH)
async def authorize_get(request: Request) -> Response:
    """The authorization endpoint by GET (OIDC Core §3.1.2.1)."""
    items = _query_items(request)
    if _all_local(context_of(request)):
        return _authorize(request, items)
    return await run_in_threadpool(_authorize, request, items)


@router.post(AUTHORIZE_PATH)
async def authorize_post(request: Request) -> Response:
    """The authorization endpoint by POST with a form body (OIDC Core §3.1.2.1)."""
    try:
        form = await read_form(request)
    except InvalidRequest:
        return _page(request, "invalid_request")
    return await run_in_threadpool(_authorize, request, form.multi_items())


def _continue(request: Request) -> Response:
    ctx = context_of(request)
    pending = pending_authorizations(request)
    pending_id = request.query_params.get("pending")
    try:
        record = pending.record(pending_id)
    except InvalidRequest:
        return _page(request, "pending_unknown")
    at = ctx.clock.now()
    session = current_session(request)
    since = record.logged_in_since(session)
    if since and not record.login_done:
        pending.mark_login_done(record.pending_id, at=at)
    service = authorization_service(request)
    decision = service.decide(
        record.request,
        session=session,
        logged_in_since_request=since,
        consent_given_now=request.query_params.get("consented") == "1",
        at=at,
    )
    return _act(request, record.request, decision, session, record.pending_id, service=service)


@router.get(CONTINUE_PATH)
async def authorize_continue(request: Request) -> Response:
    """Resume a stored request after the login or consent page."""
    return await run_in_threadpool(_continue, request)


# --- /par -------------------------------------------------------------------------------------


def _json_error(
    error: str, description: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": error, "error_description": description[:300]}
    return no_store_json(body, status=400, headers=headers)


def _push(
    request: Request, items: Sequence[tuple[str, Any]], client_id: str, proof: DPoPProof | None
) -> dict[str, Any]:
    """Validate and store a pushed request; raises OAuth-style errors."""
    ctx = context_of(request)
    core = ctx.idp_core()
    at = ctx.clock.now()
    client = core.clients.get(client_id)
    params, repeated = _single([(k, v) for k, v in items if k not in _AUTH_PARAMS])
    if repeated:
        raise InvalidRequest(f"repeated parameters: {' '.join(sorted(repeated))[:100]}")
    if "request_uri" in params:
        # RFC 9126 §2.1: "The request_uri authorization request parameter is one exception,
        # and it MUST NOT be provided."
        raise InvalidRequest("request_uri must not be sent to the PAR endpoint")
    if params.get("client_id", client.client_id) != client.client_id:
        raise InvalidRequest("client_id differs from the authenticated client")
    if "request" in params:
        params = verify_request_object(params["request"], client=client, issuer=core.issuer, at=at)
    redirect_uri = client.check_redirect_uri(params.get("redirect_uri"))
    authz = parse_request(
        params,
        client=client,
        redirect_uri=redirect_uri,
        issuer=core.issuer,
        id_token_keys=_id_token_keys(ctx, params),
        at=at,
    )
    if proof is not None:
        # RFC 9449 §10.1: a proof at PAR binds the code; dpop_jkt, if also sent, must agree.
        if authz.dpop_jkt is not None and authz.dpop_jkt != proof.jkt:
            raise InvalidRequest("dpop_jkt does not match the key of the DPoP proof")
        authz = replace(authz, dpop_jkt=proof.jkt)
    pushed = pushed_requests(request).push(authz, at=at)
    return {"request_uri": pushed.request_uri, "expires_in": pushed.expires_in}


@router.post(PAR_PATH)
async def par(request: Request) -> Response:
    """Push an authorization request (RFC 9126 §2.1); ``201`` with its ``request_uri``."""
    ctx = context_of(request)
    basic = used_basic_auth(request.headers.get("authorization"))
    try:
        proof = verify_dpop(request, ctx, PAR_PATH)
        client = await authenticate_client(request, ctx, PAR_PATH)
        form = await read_form(request)
    except OAuthError as exc:
        headers = {}
        if request.headers.get("dpop") is not None and exc.oauth_error.value != "use_dpop_nonce":
            headers["DPoP-Nonce"] = dpop_verifier(request).new_nonce(at=ctx.clock.now())
        return oauth_error_response(exc, basic_challenge=basic, headers=headers)
    headers = {}
    if proof is not None:
        headers["DPoP-Nonce"] = dpop_verifier(request).new_nonce(at=ctx.clock.now())
    try:
        body = await run_in_threadpool(_push, request, form.multi_items(), client.client_id, proof)
    except (OAuthError, AuthorizationError) as exc:
        return _json_error(error_code(exc), exc.description, headers=headers)
    except InvalidRequestObject as exc:
        return _json_error("invalid_request_object", exc.description, headers=headers)
    return no_store_json(body, status=201, headers=headers)
