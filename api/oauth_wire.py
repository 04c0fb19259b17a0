"""The OAuth 2.0 wire format shared by the IdP's back-channel endpoints (token, PAR,
introspection, revocation, UserInfo).

* :func:`oauth_error_response` - the JSON error body of RFC 6749 §5.2 (``error``,
  ``error_description``), always with ``Cache-Control: no-store`` and ``Pragma: no-cache``
  (§5.1); ``invalid_client`` is 401 and, when the client tried ``Authorization: Basic``, carries
  ``WWW-Authenticate: Basic`` (§5.2); ``use_dpop_nonce`` carries the fresh ``DPoP-Nonce``
  (RFC 9449 §8).
* :func:`resource_error_response` - the error of a protected resource (RFC 6750 §3,
  RFC 9449 §7.1): status 401 (400 for a malformed request, 403 for too little scope) with one
  ``WWW-Authenticate`` challenge per accepted scheme (``Bearer`` and ``DPoP``).
* :func:`refusal_challenge` - which of those challenges a refusal carries, one rule for every
  resource server that takes NatID access tokens (UserInfo, KYC, CSC, signing workflows).
* :func:`authenticate_client` - client authentication (RFC 6749 §2.3, OIDC Core §9): exactly
  one of ``client_secret_basic`` (the ``Authorization: Basic`` header, whose id and secret are
  form-urlencoded before base64, RFC 6749 §2.3.1), ``client_secret_post`` and
  ``private_key_jwt`` (RFC 7523 §2.2). Two methods in one request, or a client-authentication
  parameter repeated, is ``invalid_request`` (RFC 6749 §3.2); the checks themselves are
  :meth:`idp.clients.ClientRegistry.authenticate`.
* :func:`dpop_verifier` and :func:`verify_dpop` - the app's one :class:`idp.dpop.DPoPVerifier`
  (nonce key derived from ``NATID_IDP_SECRET_KEY`` or the soft key passphrase, like the other
  IdP secrets) and a request's ``DPoP`` header checked against ``issuer + endpoint_path``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl, unquote_plus

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData, UploadFile

from api.context import AppContext
from core.json_text import compact_json
from idp.clients import Client, ClientAuthMethod
from idp.dpop import DPoPProof, DPoPVerifier
from idp.errors import (
    DPoPBoundTokenAsBearer,
    InvalidClient,
    InvalidDPoPProof,
    InvalidRequest,
    OAuthError,
    OAuthErrorCode,
    UseDPoPNonce,
)

__all__ = [
    "NO_STORE",
    "ClientCredentials",
    "authenticate_client",
    "dpop_verifier",
    "form_value",
    "no_store_json",
    "oauth_error_response",
    "parse_client_credentials",
    "read_form",
    "refusal_challenge",
    "resource_error_response",
    "used_basic_auth",
    "verify_dpop",
]

#: RFC 6749 §5.1: responses with tokens or secrets must not be stored by any cache.
NO_STORE: Mapping[str, str] = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_REALM = "natid"
_AUTH_PARAMS = ("client_id", "client_secret", "client_assertion", "client_assertion_type")
_MAX_DESCRIPTION = 300


def no_store_json(
    body: Mapping[str, Any], *, status: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON response that no cache keeps (token, introspection, UserInfo responses).

    The headers go to the constructor, which writes them once; updating ``response.headers``
    afterwards rescanned the raw list per header (~5 µs per response)."""
    return _CompactJSONResponse(
        dict(body), status_code=status, headers={**NO_STORE, **headers} if headers else NO_STORE
    )


class _CompactJSONResponse(JSONResponse):
    """Starlette's ``JSONResponse`` with its body from :func:`core.json_text.compact_json`:
    the same compact UTF-8 text, ~10x cheaper to make (docs/benchmarks.md, "Nineteenth round")."""

    def render(self, content: Any) -> bytes:
        return compact_json(content)


def _quoted(value: str) -> str:
    # RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E; drop what is not.
    return "".join(c for c in value if 0x20 <= ord(c) <= 0x7E and c not in '"\\')


def oauth_error_response(
    error: OAuthError,
    *,
    status: int | None = None,
    basic_challenge: bool = False,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The OAuth JSON error for ``error`` (RFC 6749 §5.2; RFC 9449 §8 for ``use_dpop_nonce``).

    Status: 401 for ``invalid_client`` and ``invalid_token``, else 400, unless ``status`` is
    given. ``basic_challenge`` adds ``WWW-Authenticate: Basic`` (set it when the client tried
    HTTP Basic; :func:`used_basic_auth`).
    """
    code = error.oauth_error
    if status is None:
        status = (
            401 if code in {OAuthErrorCode.INVALID_CLIENT, OAuthErrorCode.INVALID_TOKEN} else 400
        )
    body = {"error": code.value, "error_description": error.description[:_MAX_DESCRIPTION]}
    response = no_store_json(body, status=status, headers=headers)
    if code is OAuthErrorCode.INVALID_CLIENT and (basic_challenge or status == 401):
        # RFC 6749 §5.2 requires the challenge after a Basic attempt; RFC 9110 §15.5.2 requires
        # one on every 401, and Basic is the scheme a client can answer it with.
        response.headers["WWW-Authenticate"] = f'Basic realm="{_REALM}"'
    if isinstance(error, UseDPoPNonce):
        response.headers["DPoP-Nonce"] = error.nonce
    return response


def resource_error_response(
    error: OAuthError | None,
    *,
    dpop_algs: tuple[str, ...] = ("ES256", "PS256"),
    scheme: str | None = None,
    status: int | None = None,
    scope: str | None = None,
) -> JSONResponse:
    """A protected resource's error (RFC 6750 §3, RFC 9449 §7.1).

    ``error`` None means no credentials were sent: 401 with bare challenges (RFC 6750 §3.1
    says no error code then). Otherwise the error code goes into the challenge of ``scheme``
    (``Bearer`` or ``DPoP``; both when None). A ``use_dpop_nonce`` error gets the
    ``DPoP-Nonce`` header.
    """
    if status is None:
        status = 401
        if error is not None and error.oauth_error is OAuthErrorCode.INVALID_REQUEST:
            status = 400
        elif error is not None and error.oauth_error is OAuthErrorCode.INSUFFICIENT_SCOPE:
            status = 403
    body: dict[str, str] = {}
    params: list[str] = [f'realm="{_REALM}"']
    if error is not None:
        body = {
            "error": error.oauth_error.value,
            "error_description": error.description[:_MAX_DESCRIPTION],
        }
        params.append(f'error="{error.oauth_error.value}"')
        params.append(f'error_description="{_quoted(error.description[:_MAX_DESCRIPTION])}"')
    if scope:
        params.append(f'scope="{_quoted(scope)}"')
    response = no_store_json(body, status=status)
    algs = f'algs="{" ".join(dpop_algs)}"'
    wanted = scheme.lower() if scheme else None
    if wanted in {None, "bearer"}:
        response.headers.append("WWW-Authenticate", "Bearer " + ", ".join(params))
    if wanted in {None, "dpop"}:
        response.headers.append("WWW-Authenticate", "DPoP " + ", ".join([*params, algs]))
    if isinstance(error, UseDPoPNonce):
        response.headers["DPoP-Nonce"] = error.nonce
    return response


def refusal_challenge(error: OAuthError | None, presented: str | None) -> str | None:
    """The ``scheme`` argument of :func:`resource_error_response` for a resource that takes
    both ``Bearer`` and ``DPoP``, given the scheme the token was ``presented`` with (the
    ``Authorization`` header's first word, any case; None when there was none).

    The error goes into the challenge of the scheme the client used (RFC 6750 §3, RFC 9449
    §7.1), so it knows which attempt failed. Both challenges when there was no token (RFC 6750
    §3.1: bare challenges, ``error`` None) or an unknown scheme (the client must learn what is
    accepted), and for a DPoP-bound token sent as a bearer token
    (:class:`~idp.errors.DPoPBoundTokenAsBearer`): the ``DPoP`` challenge, with its ``algs``,
    tells the client how to send that token (RFC 9449 §7.1, §12.2), while the ``Bearer`` one
    still says why this request failed. Every resource server decides through this function,
    so a client sees the same answer from UserInfo, KYC, CSC and the signing API.
    """
    if error is None or isinstance(error, DPoPBoundTokenAsBearer):
        return None
    return {"bearer": "Bearer", "dpop": "DPoP"}.get((presented or "").lower())


# --- forms --------------------------------------------------------------------------------------


_URLENCODED = "application/x-www-form-urlencoded"
#: Starlette's defaults for ``request.form()``: at most 1,000 fields of at most 1 MiB each.
#: Bodies that could reach either limit take Starlette's own parser, which raises its errors.
_MAX_FIELDS = 1000
_MAX_FIELD_BYTES = 1024 * 1024


def _direct_parse(content_type: str) -> bool:
    """Whether Starlette would also read ``content_type`` as urlencoded (python-multipart's
    ``parse_options_header``: the type lower-cased, before the first unquoted ``;``). Only the
    plain spellings qualify; anything unusual keeps Starlette's own path."""
    lowered = content_type.lower()
    return lowered == _URLENCODED or lowered.startswith(_URLENCODED + ";")


async def read_form(request: Request) -> FormData:
    """The request's form body (parsed once, cached on the request like ``request.form()``).

    RFC 6749 §3.2 / §4.1.3: the back-channel endpoints take ``application/x-www-form-urlencoded``
    by POST; anything else is ``invalid_request``.

    A plain urlencoded body is parsed here with :func:`urllib.parse.parse_qsl` instead of
    Starlette's streaming python-multipart parser, which calls back per field and byte range
    (a token request's form: ~15 µs of CPU before, ~9 µs now). The result is the same:
    Starlette decodes each name and value as latin-1 and then ``unquote_plus`` (``+`` is a
    space, %-escapes are UTF-8 with invalid bytes replaced), splits fields on ``&`` only, skips
    empty fields, and keeps a field without ``=`` as an empty value - which is
    ``parse_qsl(body.decode("latin-1"), keep_blank_values=True)``. The parsed form is stored
    where ``request.form()`` keeps its own, so both return the same object. Bodies that could
    reach Starlette's limits (more than 1 MiB, or 1,000 or more ``&``) go through
    ``request.form()`` (the body is cached by then; it is read again from there), keeping its
    400 errors word for word; so do ``Content-Type`` spellings other than the plain type with
    or without parameters (e.g. with leading blanks), whose reading stays Starlette's.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != _URLENCODED:
        raise InvalidRequest("expected an application/x-www-form-urlencoded body")
    cached = request._form
    if cached is not None:
        return cached
    if _direct_parse(content_type):
        body = await request.body()
        if len(body) <= _MAX_FIELD_BYTES and body.count(b"&") < _MAX_FIELDS:
            items = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
            form = FormData(cast("list[tuple[str, str | UploadFile]]", items))
            request._form = form
            return form
    return await request.form()


def form_value(form: FormData, name: str, *, required: bool = False) -> str | None:
    """The single value of ``name``; a repeated parameter is ``invalid_request`` (§3.2)."""
    values = form.getlist(name)
    if len(values) > 1:
        raise InvalidRequest(f"the parameter {name} is repeated")
    value = values[0] if values else None
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"the parameter {name} must be text")
    if value == "":
        # RFC 6749 §3.2: parameters sent without a value are treated as omitted.
        value = None
    if required and value is None:
        raise InvalidRequest(f"the parameter {name} is required")
    return value


# --- client authentication ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What a request presents to authenticate its client (parsed, not yet checked)."""

    method: ClientAuthMethod
    client_id: str | None
    secret: str | None = field(default=None, repr=False)
    assertion: str | None = field(default=None, repr=False)
    assertion_type: str | None = None


def used_basic_auth(authorization: str | None) -> bool:
    """True if the request's ``Authorization`` header uses the Basic scheme."""
    return bool(authorization) and authorization.split(" ", 1)[0].lower() == "basic"  # type: ignore[union-attr]


def _parse_basic(authorization: str) -> tuple[str, str]:
    _, _, encoded = authorization.partition(" ")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidClient("client authentication failed: malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("client authentication failed: malformed Basic credentials")
    # RFC 6749 §2.3.1: the id and the secret are form-urlencoded before being joined.
    return unquote_plus(client_id), unquote_plus(secret)


def parse_client_credentials(form: FormData, authorization: str | None) -> ClientCredentials:
    """The one client-authentication method a request uses (RFC 6749 §2.3, OIDC Core §9)."""
    values = {name: form_value(form, name) for name in _AUTH_PARAMS}
    client_id = values["client_id"]
    found: list[ClientCredentials] = []
    if used_basic_auth(authorization):
        assert authorization is not None
        basic_id, basic_secret = _parse_basic(authorization)
        if client_id is not None and client_id != basic_id:
            raise InvalidRequest("client_id in the body differs from the one of the Basic header")
        found.append(
            ClientCredentials(
                ClientAuthMethod.CLIENT_SECRET_BASIC, client_id=basic_id, secret=basic_secret
            )
        )
    if values["client_secret"] is not None:
        found.append(
            ClientCredentials(
                ClientAuthMethod.CLIENT_SECRET_POST,
                client_id=client_id,
                secret=values["client_secret"],
            )
        )
    if values["client_assertion"] is not None or values["client_assertion_type"] is not None:
        found.append(
            ClientCredentials(
                ClientAuthMethod.PRIVATE_KEY_JWT,
                client_id=client_id,
                assertion=values["client_assertion"],
                assertion_type=values["client_assertion_type"],
            )
        )
    if len(found) > 1:
        # RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each
        # request."
        raise InvalidRequest("more than one client authentication method was used")
    if not found:
        # Public clients are not registered at NatID: every client authenticates.
        raise InvalidClient("client authentication failed: no client credentials")
    return found[0]


async def authenticate_client(request: Request, ctx: AppContext, endpoint_path: str) -> Client:
    """The client that authenticated this request to ``endpoint_path`` (``"/token"``, ``"/par"``,
    ...); raises :class:`~idp.errors.InvalidClient` or :class:`~idp.errors.InvalidRequest`.

    Reads the form body (:func:`read_form`), so the route can read it again. The endpoint URL
    ``issuer + endpoint_path`` is an accepted assertion audience for non-FAPI clients.
    """
    form = await read_form(request)
    credentials = parse_client_credentials(form, request.headers.get("authorization"))
    core = ctx.idp_core()
    return core.clients.authenticate(
        client_id=credentials.client_id,
        method=credentials.method,
        endpoint_url=core.issuer + endpoint_path,
        at=ctx.clock.now(),
        secret=credentials.secret,
        assertion=credentials.assertion,
        assertion_type=credentials.assertion_type,
    )


# --- DPoP ---------------------------------------------------------------------------------------


def dpop_verifier(request: Request) -> DPoPVerifier:
    """The application's DPoP verifier (built once per app; stateless apart from the cache)."""
    verifier = getattr(request.app.state, "idp_dpop_verifier", None)
    if isinstance(verifier, DPoPVerifier):
        return verifier
    from idp.totp import derive_key

    ctx: AppContext = request.app.state.ctx
    configured = ctx.settings.idp_secret_key or ctx.settings.soft_key_passphrase
    verifier = DPoPVerifier(
        ctx.cache, secret=derive_key(configured.get_secret_value().encode(), "dpop nonce")
    )
    request.app.state.idp_dpop_verifier = verifier
    return verifier


def verify_dpop(
    request: Request,
    ctx: AppContext,
    endpoint_path: str,
    *,
    access_token: str | None = None,
    require_nonce: bool = True,
) -> DPoPProof | None:
    """Check the request's ``DPoP`` header (RFC 9449 §4.3) for ``issuer + endpoint_path``.

    None when the request has no proof. Raises :class:`~idp.errors.InvalidDPoPProof`, or
    :class:`~idp.errors.UseDPoPNonce` (its ``nonce`` goes into the ``DPoP-Nonce`` header).
    """
    proofs = request.headers.getlist("dpop")
    if len(proofs) > 1:
        # RFC 9449 §4.3 check 1: not more than one DPoP header.
        raise InvalidDPoPProof("more than one DPoP header")
    proof = proofs[0] if proofs else None
    return dpop_verifier(request).verify(
        proof,
        method=request.method,
        url=ctx.idp_core().issuer + endpoint_path,
        at=ctx.clock.now(),
        access_token=access_token,
        require_nonce=require_nonce,
    )
