"""The Cloud Signature Consortium API: remote signing with officials' server-side keys.

Served twice, because the clients in the field speak both versions:

* ``/csc/v2/...`` - CSC API v2.0.0.2 (``hashes``, ``hashAlgorithmOID``, ``authData``, ``auth``
  in credentials/info);
* ``/csc/v1/...`` - CSC API v1.0.4.0 (``hash``, ``hashAlgo``, ``OTP``, ``authMode``). pyHanko's
  own CSC client (``pyhanko.sign.signers.csc_signer``, "based on version 1.0.4.0") sends v1
  payloads - and its ``api_ver`` setting only changes the path - so without v1 it could not
  sign here.

Methods (POST, JSON): ``info`` (no authentication), ``credentials/list``, ``credentials/info``,
``credentials/authorize`` and ``signatures/signHash``. The caller authenticates with a NatID
IdP access token, ``Authorization: Bearer`` or ``DPoP`` with a proof for this URL (RFC 6750,
RFC 9449), with the scope ``service``. What the domain checks (fresh login, OTP, the SAD's
bindings) is :mod:`signing.csc` and :mod:`signing.sad`.

Errors are CSC's JSON ``{"error", "error_description"}`` (CSC API §10.1): token problems are
RFC 6750 ``invalid_token`` (401) / ``insufficient_scope`` (403) with ``WWW-Authenticate``
challenges chosen as at UserInfo (:func:`api.oauth_wire.refusal_challenge`; a request without
any token gets the bare ``Bearer`` and ``DPoP`` challenges and an empty body, RFC 6750 §3.1); a
login too weak or too old to authorise is RFC 9470's ``insufficient_user_authentication``
(401, with ``acr_values`` and ``max_age`` in the challenge); a wrong OTP is ``invalid_otp``;
everything else about the request (unknown or foreign credential, bad or spent SAD, a hash
not authorised) is ``invalid_request`` (400). Responses are never cached.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from api.context import AppContext
from api.oauth_wire import (
    NO_STORE,
    dpop_verifier,
    refusal_challenge,
    resource_error_response,
    verify_dpop,
)
from api.routers import csc_schemas as wire
from core.errors import InfrastructureError, InvalidInput, NatIDError
from idp.errors import AuthenticatorError, InsufficientScope, InvalidToken, OAuthError
from signing.csc import (
    MAX_AUTH_AGE,
    SERVICE_SCOPE,
    Caller,
    InsufficientUserAuthentication,
    MissingScope,
    OtpLocked,
    RemoteSigning,
    WrongOtp,
)
from signing.errors import InvalidSigningRequest

__all__ = ["AccountOtp", "remote_signing", "router"]

router = APIRouter(tags=["csc"])

_SPECS = {1: "1.0.4.0", 2: "2.0.0.2"}
_METHODS = ["credentials/list", "credentials/info", "credentials/authorize", "signatures/signHash"]
_MAX_BODY = 256 * 1024
_LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="96" height="32" viewBox="0 0 96 32">'
    b'<rect width="96" height="32" rx="4" fill="#0b3d91"/><text x="48" y="22" fill="#fff" '
    b'font-family="sans-serif" font-size="16" text-anchor="middle">NatID</text></svg>'
)
_M = TypeVar("_M", bound=BaseModel)


class AccountOtp:
    """The :class:`~signing.csc.OtpVerifier` port over the IdP's TOTP authenticators."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    def verify_otp(self, person_id: str, code: str, *, at: dt.datetime) -> None:
        accounts = self._ctx.idp_accounts()
        try:
            account = accounts.find_by_person(person_id)
        except NatIDError:
            account = None
        if account is None or account.status.value != "active":
            raise WrongOtp("this signer has no active NatID account with an authenticator")
        compact = "".join(str(code).split())
        if not (compact.isdigit() and len(compact) == 6):
            raise WrongOtp("the OTP is the 6-digit code of the authenticator app")
        try:
            accounts.totp.verify(account.id, compact, at=at)
        except AuthenticatorError as exc:
            raise WrongOtp(f"the OTP is not accepted ({exc.code})") from None


def remote_signing(request: Request) -> RemoteSigning:
    """The application's one :class:`RemoteSigning` (stateless; its state is in the cache)."""
    found = getattr(request.app.state, "csc_remote_signing", None)
    if isinstance(found, RemoteSigning):
        return found
    ctx: AppContext = request.app.state.ctx
    service = RemoteSigning(
        ca=ctx.ca(),
        keys=ctx.keys,
        register=ctx.register,
        otp=AccountOtp(ctx),
        cache=ctx.cache,
        ledger=ctx.ledger,
        clock=ctx.clock,
    )
    request.app.state.csc_remote_signing = service
    return service


# --- plumbing -----------------------------------------------------------------------------------


def _csc_error(error: str, description: str, status: int) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description[:300]},
        status_code=status,
        headers=dict(NO_STORE),
    )


def _step_up(exc: InsufficientUserAuthentication, scheme: str) -> JSONResponse:
    """RFC 9470 §3: the challenge names the levels and the maximum age that would do."""
    response = _csc_error(exc.code, exc.message, 401)
    description = "".join(c for c in exc.message if 0x20 <= ord(c) <= 0x7E and c not in '"\\')
    response.headers["WWW-Authenticate"] = (
        f'{"DPoP" if scheme == "dpop" else "Bearer"} error="{exc.code}", '
        f'error_description="{description}", acr_values="substantial high", '
        f'max_age="{int(MAX_AUTH_AGE.total_seconds())}"'
    )
    return response


def _domain_error(exc: NatIDError, scheme: str) -> JSONResponse:  # noqa: PLR0911 - one per kind
    if isinstance(exc, InsufficientUserAuthentication):
        return _step_up(exc, scheme)
    if isinstance(exc, MissingScope):
        refused = InsufficientScope(exc.message)
        return resource_error_response(
            refused, scheme=refusal_challenge(refused, scheme), scope=SERVICE_SCOPE
        )
    if isinstance(exc, WrongOtp):
        return _csc_error("invalid_otp", exc.message, 400)
    if isinstance(exc, OtpLocked):
        return _csc_error("access_denied", exc.message, 403)
    if isinstance(exc, InfrastructureError):
        return _csc_error("temporarily_unavailable", exc.message, 503)
    if isinstance(exc, InvalidInput):
        return _csc_error("invalid_request", exc.message, 400)
    return _csc_error("access_denied", exc.message, 403)


async def _json_body(request: Request, model: type[_M]) -> _M:
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise InvalidSigningRequest(f"the request body is larger than {_MAX_BODY} bytes")
    try:
        data = json.loads(raw) if raw.strip() else {}
        return model.model_validate(data)
    except json.JSONDecodeError:
        raise InvalidSigningRequest("the request body is not JSON") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise InvalidSigningRequest(
            f"invalid parameter {where[:60]}: {first.get('msg', '')[:120]}"
        ) from None


def _caller(request: Request, ctx: AppContext, path: str) -> tuple[Caller, str]:
    """The person behind the request's access token, and the scheme it came with."""
    authorization = request.headers.get("authorization") or ""
    scheme, _, token = authorization.partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if scheme not in {"bearer", "dpop"} or not token or " " in token or len(token) > 16384:
        raise InvalidToken("an access token is required: Authorization: Bearer or DPoP")
    proof = None
    if scheme == "dpop":
        proof = verify_dpop(request, ctx, path, access_token=token)
        if proof is None:
            raise InvalidToken("the DPoP scheme needs a DPoP proof")
    info = ctx.idp_core().tokens.verify_access_token(
        token, at=ctx.clock.now(), dpop_jkt=proof.jkt if proof else None
    )
    if scheme == "dpop" and info.jkt is None:
        raise InvalidToken("the access token is not DPoP-bound; use the Bearer scheme")
    auth_time = info.claims.get("auth_time")
    acr = info.claims.get("acr")
    caller = Caller(
        subject=info.subject,
        client_id=info.client_id,
        scopes=frozenset(info.scopes),
        acr=acr if isinstance(acr, str) else None,
        auth_time=(
            dt.datetime.fromtimestamp(auth_time, dt.UTC)
            if isinstance(auth_time, int | float)
            else None
        ),
    )
    return caller, scheme


async def _protected(
    request: Request,
    version: int,
    method: str,
    handler: Callable[[RemoteSigning, Caller, Any], dict[str, Any]],
    model: type[BaseModel],
) -> Response:
    ctx: AppContext = request.app.state.ctx
    path = f"/csc/v{version}/{method}"
    scheme = ""
    authorization = request.headers.get("authorization")
    if not authorization:
        # RFC 6750 §3.1: no credentials at all get the bare challenges, without an error code,
        # as at UserInfo, KYC and the signing API.
        return resource_error_response(None)
    try:
        caller, scheme = await run_in_threadpool(_caller, request, ctx, path)
    except OAuthError as exc:
        presented = authorization.split(" ")[0]
        return resource_error_response(exc, scheme=refusal_challenge(exc, presented))
    try:
        body = await _json_body(request, model)
        result = await run_in_threadpool(handler, remote_signing(request), caller, body)
    except NatIDError as exc:
        return _domain_error(exc, scheme)
    headers = dict(NO_STORE)
    if scheme == "dpop":
        headers["DPoP-Nonce"] = dpop_verifier(request).new_nonce(at=ctx.clock.now())
    return JSONResponse(result, headers=headers)


# --- the methods --------------------------------------------------------------------------------


def _info(request: Request, version: int) -> dict[str, Any]:
    ctx: AppContext = request.app.state.ctx
    base = ctx.settings.public_base_url.rstrip("/")
    body: dict[str, Any] = {
        "specs": _SPECS[version],
        "name": "NatID remote signing",
        "logo": f"{base}/csc/logo.svg",
        "region": "KH",
        "lang": "en",
        "description": "Remote signing with NatID signing certificates (server-side keys)",
        "authType": ["oauth2code"],
        "oauth2": base,
        "methods": ["info", *_METHODS] if version == 1 else _METHODS,
    }
    if version == 2:
        body["oauth2Issuer"] = base
        body["asynchronousOperationMode"] = False
        body["validationInfo"] = False
        body["signAlgorithms"] = {
            "algos": [
                "1.2.840.10045.4.3.2",
                "1.2.840.10045.4.3.3",
                "1.2.840.10045.4.3.4",
                "1.2.840.113549.1.1.11",
                "1.2.840.113549.1.1.12",
                "1.2.840.113549.1.1.13",
                "1.2.840.113549.1.1.10",
            ]
        }
    return body


def _list(version: int) -> Callable[[RemoteSigning, Caller, Any], dict[str, Any]]:
    def handle(service: RemoteSigning, caller: Caller, body: Any) -> dict[str, Any]:
        if body.userID is not None:
            raise InvalidSigningRequest("userID is not used: the access token names the user")
        found = service.credentials(caller)
        result: dict[str, Any] = {"credentialIDs": [c.credential_id for c in found]}
        if version == 2 and body.credentialInfo:
            result["credentialInfos"] = [
                {"credentialID": c.credential_id,
                 **wire.credential_info(c, version=2, certificates=body.certificates,
                                        cert_info=body.certInfo, auth_info=body.authInfo)}
                for c in found
            ]  # fmt: skip
        if version == 2:
            result["onlyValid"] = True
        return result

    return handle


def _credential_info(version: int) -> Callable[[RemoteSigning, Caller, Any], dict[str, Any]]:
    def handle(service: RemoteSigning, caller: Caller, body: Any) -> dict[str, Any]:
        credential = service.credential(caller, body.credentialID)
        return wire.credential_info(
            credential,
            version=version,
            certificates=body.certificates,
            cert_info=body.certInfo,
            auth_info=body.authInfo or version == 2,
        )

    return handle


def _authorize(service: RemoteSigning, caller: Caller, body: Any) -> dict[str, Any]:
    if isinstance(body, wire.AuthorizeV2):
        hashes, algorithm, otp = body.hashes, body.hashAlgorithmOID, body.otp()
    else:
        if body.PIN is not None:
            raise InvalidSigningRequest("this credential takes no PIN (authMode explicit: OTP)")
        hashes, algorithm, otp = body.hash, None, body.OTP
    granted = service.authorize(
        caller,
        body.credentialID,
        num_signatures=body.numSignatures,
        hashes=wire.decode_hashes(hashes),
        hash_algorithm=algorithm,
        otp=otp,
    )
    return {"SAD": granted.sad, "expiresIn": granted.expires_in}


def _sign_hash(service: RemoteSigning, caller: Caller, body: Any) -> dict[str, Any]:
    if isinstance(body, wire.SignHashV2):
        if body.operationMode != "S":
            raise InvalidSigningRequest("only the synchronous operation mode (S) is offered")
        hashes, algorithm = body.hashes, body.hashAlgorithmOID
    else:
        hashes, algorithm = body.hash, body.hashAlgo
    signatures = service.sign_hash(
        caller,
        body.credentialID,
        sad=body.SAD,
        hashes=wire.decode_hashes(hashes),
        sign_algorithm=body.signAlgo,
        hash_algorithm=algorithm,
        sign_algorithm_params=wire.decode_params(body.signAlgoParams),
    )
    return {"signatures": [base64.b64encode(s).decode("ascii") for s in signatures]}


def _routes(version: int) -> None:
    prefix = f"/csc/v{version}"
    models = {
        "credentials/list": wire.ListV2 if version == 2 else wire.ListV1,
        "credentials/info": wire.CredentialInfoRequest,
        "credentials/authorize": wire.AuthorizeV2 if version == 2 else wire.AuthorizeV1,
        "signatures/signHash": wire.SignHashV2 if version == 2 else wire.SignHashV1,
    }
    handlers = {
        "credentials/list": _list(version),
        "credentials/info": _credential_info(version),
        "credentials/authorize": _authorize,
        "signatures/signHash": _sign_hash,
    }

    async def info(request: Request) -> Response:
        try:
            await _json_body(request, wire.InfoRequest)
        except NatIDError as exc:
            return _domain_error(exc, "")
        return JSONResponse(_info(request, version))

    router.add_api_route(f"{prefix}/info", info, methods=["POST"], summary=f"CSC v{version} info")
    for method in _METHODS:

        def endpoint(method: str = method) -> Callable[[Request], Any]:
            async def route(request: Request) -> Response:
                return await _protected(request, version, method, handlers[method], models[method])

            return route

        router.add_api_route(
            f"{prefix}/{method}", endpoint(), methods=["POST"], summary=f"CSC v{version} {method}"
        )


_routes(2)
_routes(1)


@router.get("/csc/logo.svg", include_in_schema=False)
async def logo() -> Response:
    """The logo ``info`` names (CSC: "the URI of the image file containing the logo")."""
    return Response(_LOGO, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})
