"""Operator values: roles, token format, errors (the service is :mod:`core.operators`).

Tokens follow RFC 6750 §2.1 (``Authorization: Bearer``) and look like
``natid_op_<id>_<secret>``: ``id`` is 8 random bytes in lowercase hex, stored in clear as the
lookup key; ``secret`` is 32 bytes from the OS CSPRNG in unpadded base64url (RFC 4648 §5),
43 characters. The fixed, recognisable prefix lets secret scanners find leaked tokens (as
GitHub's and PyPI's tokens do). Only the SHA-256 of the whole token, under a domain label, is
stored (:func:`token_hash`); why that is enough is explained in :mod:`core.operators`.

Operator names are login-like (``alice.ra``) and start with a letter, so a national ID number
can never be a name; audit entries carry operator ids, not names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from core.errors import (
    Conflict,
    CoreError,
    InfrastructureError,
    InvalidInput,
    NotFound,
    PermissionDenied,
)

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "MAX_TOKEN_LIFETIME",
    "TOKEN_PREFIX",
    "AuthFailure",
    "AuthenticationFailed",
    "DuplicateOperator",
    "InvalidOperatorInput",
    "IssuedToken",
    "Operator",
    "OperatorError",
    "OperatorNotFound",
    "OperatorRole",
    "OperatorStatus",
    "OperatorStoreUnavailable",
    "RequestInfo",
    "RoleNotGranted",
    "TokenInfo",
    "TooManyFailures",
    "check_name",
    "check_roles",
    "new_token",
    "parse_roles",
    "parse_token",
    "parse_token_id",
    "token_hash",
]

DEFAULT_TOKEN_LIFETIME = dt.timedelta(days=90)
MAX_TOKEN_LIFETIME = dt.timedelta(days=365)

TOKEN_PREFIX = "natid_op_"  # noqa: S105 - a public marker, not a secret
_TOKEN_RE = re.compile(r"natid_op_([0-9a-f]{16})_[A-Za-z0-9_-]{43}")
_TOKEN_ID_RE = re.compile(r"(?:natid_op_)?([0-9a-f]{16})(?:_[A-Za-z0-9_-]{43})?")
_MAX_TOKEN_LENGTH = 100
_HASH_LABEL = b"natid-operator-token-v1\x00"
# Login-like: lowercase, starts with a letter (so a 9-digit national ID number is never a name).
_NAME_RE = re.compile(r"[a-z][a-z0-9._-]{1,62}[a-z0-9]")


class OperatorRole(StrEnum):
    """What an operator may do; a route names the roles it accepts."""

    #: Registration officer: proves identity in person, enrols subjects, requests certificates.
    RA_OFFICER = "ra-officer"
    #: CA operator: issues and revokes certificates, runs key ceremonies, publishes CRLs.
    CA_OPERATOR = "ca-operator"
    #: Auditor: reads the audit ledger and logs; changes nothing.
    AUDITOR = "auditor"
    #: Health issuer: enters vaccination, test and recovery records (issue 7).
    HEALTH_ISSUER = "health-issuer"
    #: IdP administrator: registers OpenID Connect clients (issue 4).
    IDP_ADMIN = "idp-admin"
    #: KYC administrator: registers relying parties (banks) and their permitted attributes.
    KYC_ADMIN = "kyc-admin"


class OperatorStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class AuthFailure(StrEnum):
    """Why an authentication failed; recorded in the ledger, never told to the caller."""

    MALFORMED = "malformed_token"
    UNKNOWN_TOKEN = "unknown_token"  # noqa: S105 - a reason code
    REVOKED = "revoked"
    EXPIRED = "expired"
    DISABLED = "disabled"
    ROLE = "role"


# --- errors ----------------------------------------------------------------------------------


class OperatorError(CoreError):
    """Base of the operator service's errors."""

    code = "operator_error"


class InvalidOperatorInput(OperatorError, InvalidInput):
    code = "invalid_operator_input"


class OperatorNotFound(OperatorError, NotFound):
    code = "operator_not_found"


class DuplicateOperator(OperatorError, Conflict):
    code = "duplicate_operator"


class AuthenticationFailed(OperatorError, InvalidInput):
    """No valid token: one message for every reason (the reason goes to the ledger only)."""

    code = "invalid_token"
    http_status = 401

    def __init__(self, reason: AuthFailure) -> None:
        super().__init__("the operator token is missing, malformed, unknown, expired or revoked")
        self.reason = reason


class RoleNotGranted(OperatorError, PermissionDenied):
    code = "insufficient_role"


class TooManyFailures(OperatorError, InvalidInput):
    code = "too_many_failures"
    http_status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed authentications; retry in {retry_after} seconds")
        self.retry_after = retry_after


class OperatorStoreUnavailable(OperatorError, InfrastructureError):
    code = "operator_store_unavailable"


# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operator:
    id: str
    name: str
    roles: frozenset[OperatorRole]
    status: OperatorStatus
    created_at: dt.datetime
    last_used_at: dt.datetime | None

    def has_any(self, roles: Collection[OperatorRole]) -> bool:
        """True if no role is asked for or the operator holds at least one of ``roles``."""
        return not roles or bool(self.roles & frozenset(roles))


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What may be shown about a token: its public id and dates, never the secret."""

    id: str
    operator_id: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    def usable(self, at: dt.datetime) -> bool:
        return self.revoked_at is None and at < self.expires_at


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: ``token`` is shown once to the operator and exists nowhere else."""

    token: str = field(repr=False)
    info: TokenInfo


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the ledger records about the request a token was presented with."""

    method: str
    route: str
    source: str | None = None
    request_id: str | None = None


# --- token format ----------------------------------------------------------------------------


def parse_token(token: str) -> str:
    """Return the token id of a well-formed token; raise :class:`AuthenticationFailed`."""
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_LENGTH:
        raise AuthenticationFailed(AuthFailure.MALFORMED)
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        raise AuthenticationFailed(AuthFailure.MALFORMED)
    return match.group(1)


def parse_token_id(text: str) -> str:
    """A token id from ``<id>``, ``natid_op_<id>`` or a whole token (to revoke a leaked one)."""
    match = _TOKEN_ID_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidOperatorInput("token id: expected 16 lowercase hex digits")
    return match.group(1)


def token_hash(token: str) -> str:
    """SHA-256 of the token under a domain label, lowercase hex: what the database holds."""
    return hashlib.sha256(_HASH_LABEL + token.encode("ascii")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh ``(token id, token)``."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)  # 32 bytes -> 43 base64url characters, no padding
    return token_id, f"{TOKEN_PREFIX}{token_id}_{secret}"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidOperatorInput(
            "operator name: expected 3-64 characters a-z 0-9 . _ -, starting with a letter "
            "(a login name such as alice.ra, never a national ID number)"
        )
    return name


def check_roles(roles: Iterable[OperatorRole | str]) -> frozenset[OperatorRole]:
    try:
        parsed = frozenset(OperatorRole(r) for r in roles)
    except ValueError:
        expected = ", ".join(r.value for r in OperatorRole)
        raise InvalidOperatorInput(f"role: expected one of {expected}") from None
    if not parsed:
        raise InvalidOperatorInput("roles: an operator needs at least one role")
    return parsed


def parse_roles(text: str) -> frozenset[OperatorRole]:
    # A role removed from the code but still stored is dropped: access fails closed.
    known = {r.value for r in OperatorRole}
    return frozenset(OperatorRole(r) for r in text.split() if r in known)
