"""Authorization requests: parsing and validation (OIDC Core §3.1.2.1, RFC 6749 §4.1.1,
RFC 7636, RFC 9126, FAPI 2.0 Security Profile §5.3.2.2).

Validation happens in two steps, because an error can be sent back to the client only once
the client and its redirect URI are known to be genuine (RFC 6749 §4.1.2.1):

1. :func:`resolve_client` - ``client_id`` names a registered client and ``redirect_uri`` is one
   of its registered URIs, by exact string match (RFC 9700 §4.1.3). A failure here raises
   :class:`UntrustedRedirect`: the user sees an error page and is never redirected.
2. :func:`parse_request` - every other parameter. A failure raises an
   :class:`~idp.errors.OAuthError` (or :class:`AuthorizationError` for the codes
   ``idp.errors`` lacks) that goes back to the client as an error redirect with ``state`` and
   ``iss`` (:func:`idp.authorize.error_redirect_url`).

What is accepted: ``response_type=code`` only (``response_mode`` ``query`` only); ``scope``
with ``openid``; PKCE S256 only, required (``plain`` and a missing method are refused);
``state`` up to 2,048 characters and ``nonce`` up to 512, both optional (the code flow does
not need a nonce, OIDC Core §3.1.2.1); ``prompt`` (:data:`PROMPT_VALUES`, ``none`` alone; any
other value, such as ``create`` of OpenID Connect Prompt Create 1.0, is ``invalid_request``);
``max_age``; ``acr_values``;
``login_hint``; ``id_token_hint`` (an ID token this provider signed, checked against its
published keys even when expired; only its ``sub`` is kept); ``ui_locales``;
``claims_locales``; ``claims`` (§5.5); ``display`` (accepted, ignored: pages are responsive);
``dpop_jkt`` (RFC 9449 §10). Unknown parameters are ignored (RFC 6749 §3.1). A ``request``
object by value at the authorization endpoint is ``request_not_supported`` (§6.1); request
objects are accepted only at the PAR endpoint (:mod:`idp.request_object`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.clock import require_aware
from core.errors import InvalidInput
from idp import pkce
from idp.claims import ClaimsRequest, parse_claims_request, within_scopes
from idp.clients import Client, ClientRegistry
from idp.errors import (
    ClientNotFound,
    IdPError,
    InvalidClaimsRequest,
    InvalidJWS,
    InvalidRequest,
    InvalidScope,
    OAuthError,
)
from idp.jose import JWSUse, verify_jws

__all__ = [
    "MAX_NONCE",
    "MAX_STATE",
    "PROMPT_VALUES",
    "AuthorizationError",
    "AuthorizationRequest",
    "UntrustedRedirect",
    "error_code",
    "parse_request",
    "resolve_client",
]

MAX_STATE = 2048
MAX_NONCE = 512
MAX_HINT = 256
MAX_CLAIMS_JSON = 8192
MAX_LOCALES = 10
MAX_ACR_VALUES = 10
#: ``max_age`` above ten years is certainly a mistake; refused rather than overflowing.
MAX_MAX_AGE = 10 * 365 * 24 * 3600
#: The ``prompt`` values this provider acts on, as discovery lists them
#: (``prompt_values_supported``). ``create`` is not one: accounts come from the national register
#: through in-person enrolment, never from self-registration.
PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account"})
DISPLAY_VALUES = frozenset({"page", "popup", "touch", "wap"})
_LOCALE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8}){0,4}")
_ACR = re.compile(r"[\x21-\x7E]{1,64}")
_JKT = re.compile(r"[A-Za-z0-9_-]{43}")
#: ``json.dumps(..., separators=(",", ":"), ensure_ascii=False)`` without a new encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class AuthorizationError(IdPError, InvalidInput):
    """An authorization-endpoint error whose OAuth code :class:`idp.errors.OAuthErrorCode`
    does not have (``request_not_supported``, ``request_uri_not_supported``,
    ``unsupported_response_type`` for the authorization response, OIDC Core §3.1.2.6)."""

    code = "invalid_request"

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description, code=error)
        self.error = error
        self.description = description


class UntrustedRedirect(IdPError, InvalidInput):
    """The client or its redirect URI cannot be trusted: show an error page, never redirect
    (RFC 6749 §4.1.2.1). ``reason`` is ``invalid_client`` or ``invalid_redirect_uri``."""

    code = "invalid_request"

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description, code=reason)
        self.reason = reason


def error_code(error: OAuthError | AuthorizationError | InvalidInput) -> str:
    """The OAuth ``error`` value of an error raised by the validation."""
    if isinstance(error, OAuthError):
        return error.oauth_error.value
    if isinstance(error, AuthorizationError):
        return error.error
    return "invalid_request"


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated authorization request, as the login, consent and code-issuing steps see it.

    ``scopes`` are in request order and always contain ``openid``; ``claims`` is the ``claims``
    parameter's JSON object (validated; :attr:`claims_request` parses it); ``id_token_hint_sub``
    is the ``sub`` of a verified ``id_token_hint`` (the client-visible, usually pairwise, one).
    ``request_uri`` names the PAR entry the request came from (consumed when a code is issued).
    """

    client_id: str
    client_name: str
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str
    created_at: dt.datetime
    state: str | None = None
    nonce: str | None = None
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    acr_values: tuple[str, ...] = ()
    login_hint: str | None = None
    id_token_hint_sub: str | None = None
    ui_locales: tuple[str, ...] = ()
    claims_locales: tuple[str, ...] = ()
    claims: Mapping[str, Any] | None = field(default=None, hash=False)
    dpop_jkt: str | None = None
    request_uri: str | None = None

    @property
    def claims_request(self) -> ClaimsRequest:
        """The parsed ``claims`` parameter (empty when there was none)."""
        return parse_claims_request(dict(self.claims) if self.claims is not None else None)

    @property
    def optional_scopes(self) -> tuple[str, ...]:
        """The scopes the user may refuse on the consent page: all but ``openid``."""
        return tuple(s for s in self.scopes if s != "openid")

    @property
    def requested_claim_names(self) -> tuple[str, ...]:
        """Claims asked for by name through ``claims`` (UserInfo and ID token), sorted."""
        if self.claims is None:
            return ()  # what the empty ClaimsRequest gives, without building one
        parsed = self.claims_request
        return tuple(sorted(set(parsed.userinfo) | set(parsed.id_token)))

    @property
    def essential_acr_values(self) -> tuple[str, ...]:
        """The ``acr`` values of an essential ``acr`` claim request for the ID token
        (§5.5.1.1): unlike ``acr_values`` they are a requirement, not a wish."""
        if self.claims is None:
            return ()  # what the empty ClaimsRequest gives, without building one
        spec = self.claims_request.id_token.get("acr")
        if spec is None or not spec.essential or not spec.values:
            return ()
        return tuple(str(v) for v in spec.values)

    @property
    def essential_claims(self) -> tuple[str, ...]:
        """Claims marked essential (§5.5.1); the consent page shows them as not optional."""
        parsed = self.claims_request
        names = {n for target in (parsed.userinfo, parsed.id_token) for n, r in target.items()
                 if r.essential}  # fmt: skip
        return tuple(sorted(names))

    def to_json(self) -> bytes:
        # The members one by one, in field order: ``dataclasses.asdict`` deep-copied every
        # value only for the copies to be encoded and dropped. Tuples encode as JSON arrays.
        data = {
            "client_id": self.client_id,
            "client_name": self.client_name,
            "redirect_uri": self.redirect_uri,
            "scopes": self.scopes,
            "code_challenge": self.code_challenge,
            "created_at": self.created_at.isoformat(),
            "state": self.state,
            "nonce": self.nonce,
            "prompt": sorted(self.prompt),
            "max_age": self.max_age,
            "acr_values": self.acr_values,
            "login_hint": self.login_hint,
            "id_token_hint_sub": self.id_token_hint_sub,
            "ui_locales": self.ui_locales,
            "claims_locales": self.claims_locales,
            "claims": dict(self.claims) if self.claims is not None else None,
            "dpop_jkt": self.dpop_jkt,
            "request_uri": self.request_uri,
        }
        return _ENCODER.encode(data).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes | str) -> AuthorizationRequest:
        data = json.loads(raw)
        data["created_at"] = dt.datetime.fromisoformat(data["created_at"])
        data["prompt"] = frozenset(data["prompt"])
        for name in ("scopes", "acr_values", "ui_locales", "claims_locales"):
            data[name] = tuple(data[name])
        return cls(**data)


# --- step 1: the client and its redirect URI --------------------------------------------------


def resolve_client(
    clients: ClientRegistry, client_id: str | None, redirect_uri: str | None
) -> tuple[Client, str]:
    """The client and its registered ``redirect_uri``; :class:`UntrustedRedirect` otherwise."""
    if not client_id:
        raise UntrustedRedirect("invalid_client", "client_id is required")
    try:
        client = clients.get(client_id)
    except ClientNotFound:
        raise UntrustedRedirect("invalid_client", "unknown client_id") from None
    try:
        return client, client.check_redirect_uri(redirect_uri)
    except InvalidRequest as exc:
        raise UntrustedRedirect("invalid_redirect_uri", exc.description) from None


# --- step 2: everything else ------------------------------------------------------------------


def _space_list(
    value: str | None, name: str, pattern: re.Pattern[str], limit: int
) -> tuple[str, ...]:
    if value is None:
        return ()
    items = tuple(dict.fromkeys(value.split()))
    if len(items) > limit or any(not pattern.fullmatch(v) for v in items):
        raise InvalidRequest(f"{name}: expected at most {limit} space-separated values")
    return items


def _bounded(value: str | None, name: str, limit: int) -> str | None:
    if value is not None and len(value) > limit:
        raise InvalidRequest(f"{name}: at most {limit} characters")
    return value


def _response_type(params: Mapping[str, str]) -> None:
    response_type = params.get("response_type")
    if response_type is None:
        # oidcc-response-type-missing: invalid_request (or unsupported_response_type).
        raise InvalidRequest("response_type is required")
    if response_type.split() != ["code"]:
        # FAPI 2.0 §5.3.2.2 item 2 and this provider: the authorization code flow only.
        raise AuthorizationError(
            "unsupported_response_type", "only response_type=code is supported"
        )
    mode = params.get("response_mode")
    if mode is not None and mode != "query":
        raise InvalidRequest("only response_mode=query is supported")


def _scopes(params: Mapping[str, str], client: Client) -> tuple[str, ...]:
    scope = params.get("scope")
    if not scope or "openid" not in scope.split():
        raise InvalidScope("scope must contain openid (this is an OpenID Connect provider)")
    return client.check_scopes(scope.split())


def _prompt(value: str | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    given = frozenset(value.split())
    unsupported = sorted(given - PROMPT_VALUES)
    if unsupported:
        # OpenID Connect Prompt Create 1.0 §4.1: a value not in prompt_values_supported is
        # invalid_request, naming the value. Ignoring it would let a client believe that, say,
        # prompt=create was honoured when nothing of the kind happened.
        shown = " ".join(unsupported)[:100]
        raise InvalidRequest(
            f"prompt value not supported: {shown}; expected none, login, consent or select_account"
        )
    if "none" in given and len(given) > 1:
        # OIDC Core §3.1.2.1: none with any other value is an error.
        raise InvalidRequest("prompt=none must not be combined with other values")
    return given


def _max_age(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        raise InvalidRequest("max_age must be a non-negative integer number of seconds")
    number = int(value)
    if number > MAX_MAX_AGE:
        raise InvalidRequest(f"max_age must be at most {MAX_MAX_AGE} seconds")
    return number


def _claims(value: str | None, allowed_scopes: Collection[str]) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if len(value) > MAX_CLAIMS_JSON:
        raise InvalidRequest(f"claims: at most {MAX_CLAIMS_JSON} characters of JSON")
    try:
        parse_claims_request(value)
    except InvalidClaimsRequest as exc:
        raise InvalidRequest(exc.message) from None
    parsed: dict[str, Any] = json.loads(value)
    return within_scopes(parsed, allowed_scopes)


def _id_token_hint(
    value: str | None, *, issuer: str, client_id: str, keys: Sequence[Mapping[str, Any]]
) -> str | None:
    """The ``sub`` of an ID token we issued to this client (its expiry does not matter, OIDC
    Core §3.1.2.1); ``invalid_request`` if it is not one."""
    if value is None:
        return None
    try:
        verified = verify_jws(value, keys=keys, use=JWSUse.ID_TOKEN)
    except InvalidJWS:
        raise InvalidRequest("id_token_hint is not an ID token issued by this provider") from None
    claims = verified.claims
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    sub = claims.get("sub")
    if claims.get("iss") != issuer or client_id not in audiences or not isinstance(sub, str):
        raise InvalidRequest("id_token_hint was not issued by this provider to this client")
    return sub


def parse_request(
    params: Mapping[str, str],
    *,
    client: Client,
    redirect_uri: str,
    issuer: str,
    id_token_keys: Sequence[Mapping[str, Any]],
    at: dt.datetime,
    request_uri: str | None = None,
) -> AuthorizationRequest:
    """Validate the parameters of an authorization request of ``client`` (step 2).

    ``params`` holds one value per parameter (the caller refuses repeated ones, RFC 6749
    §3.1); empty values count as absent. ``id_token_keys`` are the provider's published
    JWKs (for ``id_token_hint``). Raises :class:`~idp.errors.OAuthError` or
    :class:`AuthorizationError`.
    """
    at = require_aware(at)
    params = {k: v for k, v in params.items() if v != ""}
    if "request" in params:
        raise AuthorizationError(
            "request_not_supported", "request objects are accepted only at the PAR endpoint"
        )
    _response_type(params)
    scopes = _scopes(params, client)
    challenge = pkce.check_challenge(
        params.get("code_challenge"), params.get("code_challenge_method")
    )
    display = params.get("display")
    if display is not None and display not in DISPLAY_VALUES:
        raise InvalidRequest("display: expected page, popup, touch or wap")
    dpop_jkt = params.get("dpop_jkt")
    if dpop_jkt is not None and not _JKT.fullmatch(dpop_jkt):
        raise InvalidRequest("dpop_jkt must be a base64url SHA-256 JWK thumbprint")
    return AuthorizationRequest(
        client_id=client.client_id,
        client_name=client.name,
        redirect_uri=redirect_uri,
        scopes=scopes,
        code_challenge=challenge,
        created_at=at,
        state=_bounded(params.get("state"), "state", MAX_STATE),
        nonce=_bounded(params.get("nonce"), "nonce", MAX_NONCE),
        prompt=_prompt(params.get("prompt")),
        max_age=_max_age(params.get("max_age")),
        acr_values=_space_list(params.get("acr_values"), "acr_values", _ACR, MAX_ACR_VALUES),
        login_hint=_bounded(params.get("login_hint"), "login_hint", MAX_HINT),
        id_token_hint_sub=_id_token_hint(
            params.get("id_token_hint"),
            issuer=issuer,
            client_id=client.client_id,
            keys=id_token_keys,
        ),
        ui_locales=_space_list(params.get("ui_locales"), "ui_locales", _LOCALE, MAX_LOCALES),
        claims_locales=_space_list(
            params.get("claims_locales"), "claims_locales", _LOCALE, MAX_LOCALES
        ),
        claims=_claims(params.get("claims"), client.scopes),
        dpop_jkt=dpop_jkt,
        request_uri=request_uri,
    )
