"""idp: see its issue; nothing public yet."""

from idp.errors import IdPError

__all__ = ["IdPError"]

# --- accounts, authenticators, login sessions, claims (H8) ---
from idp.account_models import AccountStatus, AuthenticatorKind
from idp.accounts import Account, AccountService, AuthenticatorInfo, LoginResult
from idp.claims import (
    CLAIMS_BY_SCOPE,
    ClaimRequest,
    ClaimsRequest,
    ClaimsSubject,
    ReleasedClaims,
    parse_claims_request,
    release_claims,
)
from idp.errors import (
    AccountError,
    AccountExists,
    AccountNotActive,
    AccountNotFound,
    AccountStoreUnavailable,
    AuthenticatorError,
    InvalidClaimsRequest,
    LoginFailed,
    LoginThrottled,
    SessionNotFound,
    WeakPassword,
)
from idp.passwords import DEFAULT_PARAMETERS, Argon2Parameters, Passwords, check_policy
from idp.sessions import LoginSession, LoginSessions, StartedSession, satisfies
from idp.throttle import LoginThrottle, ThrottlePolicy
from idp.totp import SecretBox, TotpAuthenticators, TotpEnrolment, TotpStatus

__all__ += [
    "CLAIMS_BY_SCOPE",
    "DEFAULT_PARAMETERS",
    "Account",
    "AccountError",
    "AccountExists",
    "AccountNotActive",
    "AccountNotFound",
    "AccountService",
    "AccountStatus",
    "AccountStoreUnavailable",
    "Argon2Parameters",
    "AuthenticatorError",
    "AuthenticatorInfo",
    "AuthenticatorKind",
    "ClaimRequest",
    "ClaimsRequest",
    "ClaimsSubject",
    "InvalidClaimsRequest",
    "LoginFailed",
    "LoginResult",
    "LoginSession",
    "LoginSessions",
    "LoginThrottle",
    "LoginThrottled",
    "Passwords",
    "ReleasedClaims",
    "SecretBox",
    "SessionNotFound",
    "StartedSession",
    "ThrottlePolicy",
    "TotpAuthenticators",
    "TotpEnrolment",
    "TotpStatus",
    "WeakPassword",
    "check_policy",
    "parse_claims_request",
    "release_claims",
    "satisfies",
]

# --- protocol core: JOSE, signing keys, clients, codes + PKCE, tokens, subjects (H7) ---
from idp.clients import (  # noqa: E402 - sections per part
    CLIENT_ASSERTION_TYPE,
    Client,
    ClientAuthMethod,
    ClientRegistry,
    RegisteredClient,
)
from idp.codes import AuthorizationCodes, AuthorizationGrant  # noqa: E402 - sections per part
from idp.errors import (  # noqa: E402 - sections per part
    ClientNotFound,
    IdPStoreUnavailable,
    InvalidClient,
    InvalidClientMetadata,
    InvalidDPoPProof,
    InvalidGrant,
    InvalidJWS,
    InvalidRedirectUri,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    OAuthError,
    OAuthErrorCode,
    RotationTooEarly,
    SigningKeyUnavailable,
    UnauthorizedClient,
    UnsupportedGrantType,
    UseDPoPNonce,
)
from idp.jose import JWSUse, VerifiedJWS, jwk_thumbprint, public_jwk, sign_jws, verify_jws  # noqa: E402 - sections per part
from idp.keys import KeyState, RotationResult, SigningKey, SigningKeyInfo, SigningKeys  # noqa: E402 - sections per part
from idp.service import ProviderCore, build_provider_core, issuer_from_base_url  # noqa: E402 - sections per part
from idp.subjects import SubjectIdentifiers, SubjectType, salt_from_key_backend  # noqa: E402 - sections per part
from idp.tokens import AccessTokenInfo, TokenResponse, TokenService  # noqa: E402 - sections per part

__all__ += [
    "CLIENT_ASSERTION_TYPE",
    "AccessTokenInfo",
    "AuthorizationCodes",
    "AuthorizationGrant",
    "Client",
    "ClientAuthMethod",
    "ClientNotFound",
    "ClientRegistry",
    "IdPStoreUnavailable",
    "InvalidClient",
    "InvalidClientMetadata",
    "InvalidDPoPProof",
    "InvalidGrant",
    "InvalidJWS",
    "InvalidRedirectUri",
    "InvalidRequest",
    "InvalidScope",
    "InvalidToken",
    "JWSUse",
    "KeyState",
    "OAuthError",
    "OAuthErrorCode",
    "ProviderCore",
    "RegisteredClient",
    "RotationResult",
    "RotationTooEarly",
    "SigningKey",
    "SigningKeyInfo",
    "SigningKeyUnavailable",
    "SigningKeys",
    "SubjectIdentifiers",
    "SubjectType",
    "TokenResponse",
    "TokenService",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UseDPoPNonce",
    "VerifiedJWS",
    "build_provider_core",
    "issuer_from_base_url",
    "jwk_thumbprint",
    "public_jwk",
    "salt_from_key_backend",
    "sign_jws",
    "verify_jws",
]

# --- citizen activation (issue 8, H1) ---
from idp.activation import (  # noqa: E402 - sections per part
    ActivationFailed,
    ActivationService,
    IssuedActivation,
)

__all__ += ["ActivationFailed", "ActivationService", "IssuedActivation"]
