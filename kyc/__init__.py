"""KYC for banks: relying parties, consented attribute release as signed OpenID Connect for
Identity Assurance ``verified_claims``, yes/no match checks, and the citizen's access log.

The api layer verifies the bank's DPoP-bound token with the IdP and looks up the citizen's
consent; everything here works on the values it hands in (see :mod:`kyc.service`).
"""

from kyc.access_log import AccessEntry, AccessLog, AccessStats
from kyc.errors import (
    ACCESS_DENIED_MESSAGE,
    InvalidMatchRequest,
    InvalidRelyingParty,
    KYCAccessDenied,
    KYCError,
    KYCRateLimited,
    KYCStoreUnavailable,
    NotARelyingParty,
    PolicyViolation,
    RelyingPartyExists,
    RelyingPartyNotFound,
)
from kyc.match import match_person, normalise_name
from kyc.policy import (
    ATTRIBUTES_BY_SCOPE,
    KYC_SCOPE,
    PURPOSE_SCOPE_PREFIX,
    Attribute,
    ConsentView,
    GrantView,
    Purpose,
    RelyingParty,
    decide_release,
    purpose_scope,
)
from kyc.relying_parties import ClientFacts, RelyingParties
from kyc.requests import (
    ApprovedRequest,
    DecoupledRequests,
    InvalidDecoupledRequest,
    PendingRequest,
    PollError,
    PollRefused,
    RequestNotFound,
    RequestStats,
    StartedRequest,
)
from kyc.service import ConsentedRequest, KYCService, SignedResponse
from kyc.verified_claims import KYC_JWT_TYPE, TRUST_FRAMEWORK, ResponseSigner

__all__ = [
    "ACCESS_DENIED_MESSAGE",
    "ATTRIBUTES_BY_SCOPE",
    "KYC_JWT_TYPE",
    "KYC_SCOPE",
    "PURPOSE_SCOPE_PREFIX",
    "TRUST_FRAMEWORK",
    "AccessEntry",
    "AccessLog",
    "AccessStats",
    "ApprovedRequest",
    "Attribute",
    "ClientFacts",
    "ConsentView",
    "ConsentedRequest",
    "DecoupledRequests",
    "GrantView",
    "InvalidDecoupledRequest",
    "InvalidMatchRequest",
    "InvalidRelyingParty",
    "KYCAccessDenied",
    "KYCError",
    "KYCRateLimited",
    "KYCService",
    "KYCStoreUnavailable",
    "NotARelyingParty",
    "PendingRequest",
    "PolicyViolation",
    "PollError",
    "PollRefused",
    "Purpose",
    "RelyingParties",
    "RelyingParty",
    "RelyingPartyExists",
    "RelyingPartyNotFound",
    "RequestNotFound",
    "RequestStats",
    "ResponseSigner",
    "SignedResponse",
    "StartedRequest",
    "decide_release",
    "match_person",
    "normalise_name",
    "purpose_scope",
]
