"""Values the account service hands out: accounts, authenticators, login results.

Frozen dataclasses (STYLE.md, "Data"); the ORM rows of :mod:`idp.account_models` never leave
the idp package. None of them carries a secret, a password hash or an ID card number.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from idp.account_models import AccountRow, AccountStatus, AuthenticatorKind
from registry.records import AssuranceLevel

__all__ = ["Account", "AuthenticatorInfo", "LoginResult", "to_account"]


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    person_id: str
    status: AccountStatus
    operator_id: str | None
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    email_verified: bool
    phone_verified: bool


@dataclass(frozen=True, slots=True)
class AuthenticatorInfo:
    """What the account pages show of an authenticator (never its secret)."""

    id: str
    kind: AuthenticatorKind
    label: str | None
    created_at: dt.datetime
    confirmed_at: dt.datetime | None
    last_used_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A successful authentication step. Keep it server-side between the password and the
    second-factor steps (never in a form the browser can change)."""

    account_id: str
    person_id: str
    acr: AssuranceLevel
    amr: tuple[str, ...]
    authenticated_at: dt.datetime
    #: The account has a second factor, so the login page should ask for it next.
    second_factor_available: bool


def to_account(row: AccountRow) -> Account:
    return Account(
        id=row.id,
        person_id=row.person_id,
        status=AccountStatus(row.status),
        operator_id=row.operator_id,
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        email_verified=row.email_verified_at is not None,
        phone_verified=row.phone_verified_at is not None,
    )
