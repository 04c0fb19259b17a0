"""Signed request objects at the PAR endpoint (RFC 9101 JAR; RFC 9126 §3; FAPI 2.0 Message
Signing §5.3.1 and the FAPI 2.0 conformance plan's request-object tests).

A client may send its authorization parameters as a signed JWT in the ``request`` parameter of
its pushed request. :func:`verify_request_object` checks, in this order:

1. the JWS (:func:`idp.jose.verify_jws`) under the client's registered keys with the
   algorithm allow-list of request objects: ES256 or PS256 for FAPI 2.0 clients, also RS256
   for others; ``none``, HMAC, and a key embedded in the header are refused (RFC 9101 §6.1,
   RFC 8725 §3.1);
2. ``iss`` is the ``client_id`` (RFC 9101 §6.1) and a ``client_id`` claim, if any, equals it
   (§5: "the client_id ... MUST ... match");
3. ``aud`` is the issuer identifier, as a string or in an array (§4; conformance test
   ``ensure-request-object-with-multiple-aud-succeeds``);
4. ``exp`` and ``nbf`` are both required (FAPI 2.0 Message Signing §5.3.1 item 2 and 3):
   ``exp`` not past, ``nbf`` not more than :data:`MAX_LIFETIME` (60 minutes) in the past and
   not in the future beyond :data:`CLOCK_SKEW` (an ``nbf`` 8 s ahead passes), and ``exp`` at
   most 60 minutes after ``nbf``;
5. ``request`` and ``request_uri`` are refused inside the object (§4).

The parameters of the request are then the object's claims only (RFC 9101 §6.3: "the
Authorization Server MUST only use the parameters in the Request Object"); those sent beside it
are ignored, except ``client_id``, which is matched. Values that are not strings are
turned into the text the query would have carried (``max_age`` 60 -> ``"60"``, ``claims`` an
object -> its JSON).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from core.clock import require_aware
from core.errors import InvalidInput
from idp.clients import Client
from idp.errors import IdPError, InvalidJWS
from idp.jose import JWSUse, numeric_date, verify_jws

__all__ = ["CLOCK_SKEW", "MAX_LIFETIME", "InvalidRequestObject", "verify_request_object"]

MAX_LIFETIME = dt.timedelta(minutes=60)
CLOCK_SKEW = dt.timedelta(seconds=10)
_JWT_CLAIMS = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti", "sub"})
_MAX_PARAMS = 50


class InvalidRequestObject(IdPError, InvalidInput):
    """A request object that is refused (OAuth error ``invalid_request_object``, RFC 9101 §6.3)."""

    code = "invalid_request_object"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _check_times(claims: dict[str, Any], at: dt.datetime) -> None:
    try:
        exp = numeric_date(claims, "exp", required=True)
        nbf = numeric_date(claims, "nbf", required=True)
    except InvalidJWS as exc:
        raise InvalidRequestObject(f"request object: {exc}") from None
    assert exp is not None and nbf is not None
    now = at.timestamp()
    skew = CLOCK_SKEW.total_seconds()
    limit = MAX_LIFETIME.total_seconds()
    if exp <= now - skew:
        raise InvalidRequestObject("request object: expired (exp is past)")
    if nbf > now + skew:
        raise InvalidRequestObject("request object: not yet valid (nbf is in the future)")
    if nbf < now - limit:
        raise InvalidRequestObject("request object: nbf is more than 60 minutes in the past")
    if exp - nbf > limit:
        raise InvalidRequestObject("request object: exp is more than 60 minutes after nbf")


def _as_parameter(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if name == "claims" and isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidRequestObject(f"request object: the parameter {name[:40]!r} must be a string")


def verify_request_object(
    token: str, *, client: Client, issuer: str, at: dt.datetime
) -> dict[str, str]:
    """The authorization parameters of ``client``'s signed request object; raises
    :class:`InvalidRequestObject` when any check of the module docstring fails."""
    at = require_aware(at)
    if not client.jwks:
        raise InvalidRequestObject("this client has no registered keys to sign request objects")
    use = JWSUse.REQUEST_OBJECT_FAPI if client.fapi2 else JWSUse.REQUEST_OBJECT
    try:
        claims = dict(verify_jws(token, keys=client.jwks, use=use).claims)
    except InvalidJWS as exc:
        raise InvalidRequestObject(f"request object: {exc}") from None
    if claims.get("iss") != client.client_id:
        raise InvalidRequestObject("request object: iss must be the client_id")
    if "client_id" in claims and claims["client_id"] != client.client_id:
        raise InvalidRequestObject("request object: client_id differs from the client's")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if issuer not in audiences:
        raise InvalidRequestObject("request object: aud must name the issuer identifier")
    _check_times(claims, at)
    if "request" in claims or "request_uri" in claims:
        raise InvalidRequestObject("request object: must not contain request or request_uri")
    params = {k: v for k, v in claims.items() if k not in _JWT_CLAIMS and v is not None}
    if len(params) > _MAX_PARAMS:
        raise InvalidRequestObject(f"request object: at most {_MAX_PARAMS} parameters")
    return {name: _as_parameter(name, value) for name, value in params.items()}
