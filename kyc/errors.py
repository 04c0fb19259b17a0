"""Errors of KYC for relying parties. Each concrete error also derives from one of core's
fault kinds, so ``api/errors.py`` maps it to the right HTTP status (RFC 9457 problem details).

One rule shapes this module: :class:`KYCAccessDenied` is the ONE answer for "no such person",
"no account", "no consent", "consent withdrawn or expired" and "the purpose was not consented",
with one fixed message, so no response tells a bank whether a person exists (issue 6, "Bad
input and abuse").
"""

from __future__ import annotations

from core.errors import (
    Conflict,
    InfrastructureError,
    InvalidInput,
    NatIDError,
    NotFound,
    PermissionDenied,
)

__all__ = [
    "ACCESS_DENIED_MESSAGE",
    "InvalidMatchRequest",
    "InvalidRelyingParty",
    "KYCAccessDenied",
    "KYCError",
    "KYCRateLimited",
    "KYCStoreUnavailable",
    "NotARelyingParty",
    "PolicyViolation",
    "RelyingPartyExists",
    "RelyingPartyNotFound",
]

#: The fixed text of every :class:`KYCAccessDenied` (never varied by cause).
ACCESS_DENIED_MESSAGE = "no consented data is available to this relying party for this request"


class KYCError(NatIDError):
    """Base of every error the kyc package raises."""

    code = "kyc_error"


class KYCAccessDenied(KYCError, PermissionDenied):
    """No live consent covers the request, or the person is unknown: deliberately the same."""

    code = "kyc_access_denied"

    def __init__(self) -> None:
        super().__init__(ACCESS_DENIED_MESSAGE)


class PolicyViolation(KYCError, PermissionDenied):
    """The bank asked for a purpose or attribute outside its onboarding policy (its own fault,
    and independent of any person, so it may be said plainly)."""

    code = "kyc_policy_violation"


class NotARelyingParty(KYCError, PermissionDenied):
    """The client is not onboarded (or is suspended) as a KYC relying party."""

    code = "kyc_not_a_relying_party"


class KYCRateLimited(KYCError, PermissionDenied):
    """The bank went over its requests per minute; ``retry_after`` is in whole seconds."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InvalidRelyingParty(KYCError, InvalidInput):
    """An operator's relying-party settings are malformed or break a rule."""

    code = "kyc_invalid_relying_party"


class RelyingPartyExists(KYCError, Conflict):
    code = "kyc_relying_party_exists"


class RelyingPartyNotFound(KYCError, NotFound):
    code = "kyc_relying_party_not_found"


class InvalidMatchRequest(KYCError, InvalidInput):
    """A match request with malformed or unknown attributes (the values are never echoed)."""

    code = "kyc_invalid_match_request"


class KYCStoreUnavailable(KYCError, InfrastructureError):
    code = "kyc_store_unavailable"
