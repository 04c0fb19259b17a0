"""Errors of the OpenID Connect provider. Each concrete error also derives from one of
core's fault kinds.
"""

from __future__ import annotations

from enum import StrEnum

from core.errors import (
    Conflict,
    InfrastructureError,
    InvalidInput,
    NatIDError,
    NotFound,
    PermissionDenied,
)

__all__ = [
    "AccountError",
    "AccountExists",
    "AccountNotActive",
    "AccountNotFound",
    "AccountStoreUnavailable",
    "AuthenticatorError",
    "ClientNotFound",
    "DPoPBoundTokenAsBearer",
    "IdPError",
    "IdPStoreUnavailable",
    "InsufficientScope",
    "InvalidClaimsRequest",
    "InvalidClient",
    "InvalidClientMetadata",
    "InvalidDPoPProof",
    "InvalidGrant",
    "InvalidJWS",
    "InvalidRedirectUri",
    "InvalidRequest",
    "InvalidScope",
    "InvalidToken",
    "LoginFailed",
    "LoginThrottled",
    "OAuthError",
    "OAuthErrorCode",
    "RotationTooEarly",
    "SessionNotFound",
    "SigningKeyUnavailable",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UseDPoPNonce",
    "WeakPassword",
]


class IdPError(NatIDError):
    """Base of every error the idp package raises."""

    code = "idp_error"


# --- accounts, authenticators, sessions, claims (idp/accounts.py and neighbours) -------------


class AccountError(IdPError):
    """Base of the errors of accounts, authenticators, login sessions and claims."""

    code = "account_error"


class AccountNotFound(AccountError, NotFound):
    """No IdP account for the person or account id given."""

    code = "account_not_found"


class AccountExists(AccountError, Conflict):
    """The person already has an IdP account."""

    code = "account_exists"


class WeakPassword(AccountError, InvalidInput):
    """A new password breaks the password policy; ``reasons`` name the rules, never the value."""

    code = "weak_password"

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("the password is not accepted: " + "; ".join(reasons))
        self.reasons = tuple(reasons)


class LoginFailed(AccountError, PermissionDenied):
    """Wrong identifier or password (the same answer for both), or a wrong second factor."""

    code = "login_failed"


class LoginThrottled(AccountError, PermissionDenied):
    """Too many failures for this account or address; try again after ``retry_after`` seconds."""

    code = "login_throttled"
    http_status = 429

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(f"too many failed attempts; try again in {seconds} s")
        self.retry_after = seconds


class AccountNotActive(AccountError, PermissionDenied):
    """The credentials are right but the account is pending, locked or disabled."""

    code = "account_not_active"


class AuthenticatorError(AccountError, InvalidInput):
    """An authenticator cannot be enrolled, confirmed or used as asked."""

    code = "authenticator_error"


class SessionNotFound(AccountError, NotFound):
    """No live login session for the id given (unknown, ended or expired)."""

    code = "session_not_found"


class InvalidClaimsRequest(AccountError, InvalidInput):
    """The ``claims`` request parameter (OIDC Core §5.5) is malformed."""

    code = "invalid_request"


class AccountStoreUnavailable(AccountError, InfrastructureError):
    """The account database failed."""

    code = "account_store_unavailable"


# --- OAuth 2.0 / OpenID Connect protocol core (idp/jose.py, clients, codes, tokens, keys) ----


class OAuthErrorCode(StrEnum):
    """The ``error`` values of the OAuth wire format, spelt as the standards spell them."""

    # RFC 6749 §4.1.2.1 and §5.2
    INVALID_REQUEST = "invalid_request"
    INVALID_CLIENT = "invalid_client"
    INVALID_GRANT = "invalid_grant"
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    UNSUPPORTED_RESPONSE_TYPE = "unsupported_response_type"
    INVALID_SCOPE = "invalid_scope"
    ACCESS_DENIED = "access_denied"
    SERVER_ERROR = "server_error"
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"
    # RFC 6750 §3.1
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error code, not a secret
    INSUFFICIENT_SCOPE = "insufficient_scope"
    # RFC 7009 §2.2.1
    UNSUPPORTED_TOKEN_TYPE = "unsupported_token_type"  # noqa: S105 - an error code
    # RFC 7591 §3.2.2 (used for operator registration too)
    INVALID_REDIRECT_URI = "invalid_redirect_uri"
    INVALID_CLIENT_METADATA = "invalid_client_metadata"
    # RFC 9126 §2.3 / OIDC Core §6.1
    INVALID_REQUEST_URI = "invalid_request_uri"
    INVALID_REQUEST_OBJECT = "invalid_request_object"
    # OIDC Core §3.1.2.6
    LOGIN_REQUIRED = "login_required"
    CONSENT_REQUIRED = "consent_required"
    INTERACTION_REQUIRED = "interaction_required"
    # RFC 9449 §5, §8, §9
    INVALID_DPOP_PROOF = "invalid_dpop_proof"
    USE_DPOP_NONCE = "use_dpop_nonce"


class OAuthError(IdPError):
    """An error a client sees in the OAuth wire format: ``code`` is the OAuth ``error`` value
    and the message its ``error_description`` (never a secret, a key or an ID number)."""

    oauth_error: OAuthErrorCode = OAuthErrorCode.INVALID_REQUEST
    code = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description, code=self.oauth_error.value)
        self.description = description


class InvalidRequest(OAuthError, InvalidInput):
    oauth_error = OAuthErrorCode.INVALID_REQUEST
    code = "invalid_request"


class InvalidClient(OAuthError, InvalidInput):
    """Client authentication failed (RFC 6749 §5.2: HTTP 401). One message for every cause."""

    oauth_error = OAuthErrorCode.INVALID_CLIENT
    code = "invalid_client"
    http_status = 401


class InvalidGrant(OAuthError, InvalidInput):
    oauth_error = OAuthErrorCode.INVALID_GRANT
    code = "invalid_grant"


class UnauthorizedClient(OAuthError, InvalidInput):
    oauth_error = OAuthErrorCode.UNAUTHORIZED_CLIENT
    code = "unauthorized_client"


class UnsupportedGrantType(OAuthError, InvalidInput):
    oauth_error = OAuthErrorCode.UNSUPPORTED_GRANT_TYPE
    code = "unsupported_grant_type"


class InvalidScope(OAuthError, InvalidInput):
    oauth_error = OAuthErrorCode.INVALID_SCOPE
    code = "invalid_scope"


class InvalidToken(OAuthError, InvalidInput):
    """A bearer or DPoP access token is unknown, expired, revoked or malformed (RFC 6750 §3.1)."""

    oauth_error = OAuthErrorCode.INVALID_TOKEN
    code = "invalid_token"
    http_status = 401


class DPoPBoundTokenAsBearer(InvalidToken):
    """A DPoP-bound access token presented as a bearer token, without a proof: refused (RFC
    9449 §7.2), and the answer says which scheme to use, since the client holds the right key
    and only sent the token the wrong way (unlike a proof by another key)."""


class InsufficientScope(OAuthError, PermissionDenied):
    """The access token lacks a scope the resource needs (RFC 6750 §3.1: HTTP 403)."""

    oauth_error = OAuthErrorCode.INSUFFICIENT_SCOPE
    code = "insufficient_scope"
    http_status = 403


class InvalidDPoPProof(OAuthError, InvalidInput):
    oauth_error = OAuthErrorCode.INVALID_DPOP_PROOF
    code = "invalid_dpop_proof"


class UseDPoPNonce(OAuthError, InvalidInput):
    """The server wants a DPoP proof with its ``nonce`` (RFC 9449 §8); carries the new one."""

    oauth_error = OAuthErrorCode.USE_DPOP_NONCE
    code = "use_dpop_nonce"

    def __init__(self, description: str, *, nonce: str) -> None:
        super().__init__(description)
        self.nonce = nonce


class InvalidClientMetadata(OAuthError, InvalidInput):
    """An operator tried to register a client with settings NatID refuses (RFC 7591 §3.2.2)."""

    oauth_error = OAuthErrorCode.INVALID_CLIENT_METADATA
    code = "invalid_client_metadata"


class InvalidRedirectUri(InvalidClientMetadata):
    oauth_error = OAuthErrorCode.INVALID_REDIRECT_URI
    code = "invalid_redirect_uri"


class InvalidJWS(IdPError, InvalidInput):
    """A JWS is malformed, uses a refused algorithm or key, or its signature does not verify.

    Raised by :mod:`idp.jose`; callers turn it into the OAuth error of their endpoint
    (``invalid_client`` for an assertion, ``invalid_token`` for an access token, ...)."""

    code = "invalid_jws"


class ClientNotFound(IdPError, NotFound):
    """No registered client with that id (operator view; clients get ``invalid_client``)."""

    code = "client_not_found"


class RotationTooEarly(IdPError, Conflict):
    """The next signing key has not been published for the JWKS cache period yet."""

    code = "key_rotation_too_early"


class SigningKeyUnavailable(IdPError, InfrastructureError):
    """No usable signing key (none active, or the key backend refused)."""

    code = "signing_key_unavailable"


class IdPStoreUnavailable(IdPError, InfrastructureError):
    """The IdP's database or cache failed."""

    code = "idp_store_unavailable"
