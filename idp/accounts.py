"""IdP accounts of persons and civil servants, and logging in: password, then a second factor.

Decisions (issue 4, "People and authenticators"):

* An account belongs to one person of the register and is keyed by the register's internal id;
  civil servants log in with the same account and get their positions as claims
  (:mod:`idp.claims`). The login identifier is the ID card number: it is looked up through the
  :class:`~registry.PopulationRegister` on every login, never stored here, never logged, never
  in an audit entry or an error message.
* Status: ``pending`` (created at enrolment, waiting for activation, issue 8), ``active``,
  ``locked`` (an officer's or the holder's decision, e.g. a lost phone) and ``disabled`` (for
  good). Only ``active`` accounts log in; a person no longer active in the register (deceased)
  cannot either.
* Levels of assurance (``acr``, eIDAS): a password gives ``low``; a password plus a TOTP code
  or a recovery code gives ``substantial``. Either is capped by how well the person's identity
  was proven (:meth:`~registry.PopulationRegister.proofing_level`): eIDAS annex §2.1 makes the
  level of an authentication the lower of the proofing and the means used. Level ``high`` needs
  a NatID certificate (TLS client authentication) or a passkey bound at in-person enrolment;
  neither ceremony is part of this module, so no method here ever returns ``high``.
* No answer or timing difference between an unknown identifier and a wrong password: both get
  :class:`~idp.errors.LoginFailed` with the same message, both go through one Argon2id
  verification (a dummy hash for the unknown one), both count against the same kind of
  throttle counter (:mod:`idp.throttle`). A pending, locked or disabled account is named as
  such only after the right password.
* Audit: every login attempt appends ``idp.login.succeeded`` or ``idp.login.failed`` (step
  ``password`` or ``second_factor``, a reason code, the source address); actor = account id,
  or none for an unknown identifier. Factor and status changes append ``idp.factor.*`` and
  ``idp.account.*``. Never an ID card number, a password or a code.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Protocol, cast, runtime_checkable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock, require_aware
from core.models import OperatorRow
from core.operator_records import OperatorStatus
from idp.account_models import (
    AccountRow,
    AccountStatus,
    AuthenticatorKind,
    AuthenticatorRow,
    store_read,
    store_write,
)
from idp.account_reads import account_reads_for
from idp.account_records import Account, AuthenticatorInfo, LoginResult, to_account
from idp.claims import ClaimsSubject
from idp.codes import AccountFacts
from idp.errors import (
    AccountExists,
    AccountNotActive,
    AccountNotFound,
    AuthenticatorError,
    LoginFailed,
    LoginThrottled,
)
from idp.passwords import Passwords, PersonalData, check_policy
from idp.throttle import LoginThrottle
from idp.totp import TotpAuthenticators
from registry.errors import InvalidRecord
from registry.ports import AuditSink, PopulationRegister
from registry.records import AssuranceLevel, CivilServant, Person, PersonStatus

__all__ = [
    "SECOND_FACTOR_WINDOW",
    "Account",
    "AccountService",
    "AuthenticatorInfo",
    "LoginResult",
]

#: How long after the password step the second factor may follow.
SECOND_FACTOR_WINDOW = dt.timedelta(minutes=10)
_WRONG = "the ID card number or the password is wrong"


def _identifier(value: str) -> str:
    return "".join(value.split()).replace("-", "")


def _account_key(account_id: str) -> str:
    """The canonical form of an account id; :class:`AccountNotFound` when it is no UUID."""
    try:
        return str(uuid.UUID(account_id))
    except (ValueError, AttributeError, TypeError):
        raise AccountNotFound("account id: expected a UUID") from None


@runtime_checkable
class _PersonAndServantsRegister(Protocol):
    """A register that reads a person and their positions in one go (the embedded one)."""

    def person_and_servants(self, person_id: str) -> tuple[Person, tuple[CivilServant, ...]]: ...


class AccountService:
    """Creates accounts, sets passwords, and authenticates logins."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        register: PopulationRegister,
        ledger: AuditSink,
        clock: Clock,
        passwords: Passwords,
        throttle: LoginThrottle,
        totp: TotpAuthenticators,
    ) -> None:
        self._sessions = sessions
        self._register = register
        self._ledger = ledger
        self._clock = clock
        self._passwords = passwords
        self._throttle = throttle
        self.totp = totp
        self._reads = account_reads_for(sessions)
        # Whether the register reads a person and their positions in one go, found once per
        # register object (a runtime-checkable Protocol's isinstance costs tens of
        # microseconds, on every code exchange).
        self._batched: tuple[object, bool] | None = None

    # --- accounts -------------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return require_aware(self._clock.now(), "the clock's time")

    @staticmethod
    def _row(session: Session, account_id: str) -> AccountRow:
        key = _account_key(account_id)
        row = session.get(AccountRow, key)
        if row is None:
            raise AccountNotFound(f"no account with id {key}")
        return row

    def create(self, person_id: str, *, actor: str, activate: bool = False) -> Account:
        """Open an account for an active person of the register."""
        person = self._register.get_person(person_id)
        if person.status is not PersonStatus.ACTIVE:
            raise AccountNotActive("the person is not active in the register")
        now = self._now()
        with store_write(self._sessions) as session:
            if session.scalar(select(AccountRow.id).where(AccountRow.person_id == person.id)):
                raise AccountExists("the person already has an account")
            row = AccountRow(
                id=str(uuid.uuid4()),
                person_id=person.id,
                status=(AccountStatus.ACTIVE if activate else AccountStatus.PENDING).value,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            self._ledger.append(
                "idp.account.created",
                actor=actor,
                subject=row.id,
                data={"person_id": person.id, "status": row.status},
                session=session,
            )
            return to_account(row)

    def get(self, account_id: str) -> Account:
        if self._reads is None:
            with store_read(self._sessions) as session:
                return to_account(self._row(session, account_id))
        key = _account_key(account_id)
        found = self._reads.by_id(key)
        if found is None:
            raise AccountNotFound(f"no account with id {key}")
        return found

    def find_by_person(self, person_id: str) -> Account | None:
        person = self._register.get_person(person_id)
        with store_read(self._sessions) as session:
            row = session.scalar(select(AccountRow).where(AccountRow.person_id == person.id))
            return to_account(row) if row is not None else None

    def ensure(self, person_id: str, *, actor: str) -> tuple[Account, bool]:
        """The person's account, created (pending) if missing; True if it was created."""
        found = self.find_by_person(person_id)
        if found is not None:
            return found, False
        return self.create(person_id, actor=actor), True

    def set_status(
        self, account_id: str, status: AccountStatus, *, actor: str, reason: str | None = None
    ) -> Account:
        """Activate, lock, unlock (``active``) or disable an account; audited."""
        status = AccountStatus(status)
        with store_write(self._sessions) as session:
            row = self._row(session, account_id)
            if row.status == AccountStatus.DISABLED and status != AccountStatus.DISABLED:
                raise AccountNotActive("a disabled account cannot be reopened")
            if row.status != status:
                previous, row.status, row.updated_at = row.status, status.value, self._now()
                session.flush()
                data: dict[str, Any] = {"from": previous}
                if reason:
                    data["reason"] = reason[:40]
                self._ledger.append(
                    f"idp.account.{status.value}",
                    actor=actor,
                    subject=row.id,
                    data=data,
                    session=session,
                )
            return to_account(row)

    def link_operator(self, account_id: str, operator_id: str | None, *, actor: str) -> Account:
        """Link the account to an operator (whose roles become the ``roles`` claim), or unlink."""
        with store_write(self._sessions) as session:
            row = self._row(session, account_id)
            if operator_id is not None and session.get(OperatorRow, operator_id) is None:
                raise AccountNotFound(f"no operator with id {operator_id}")
            row.operator_id, row.updated_at = operator_id, self._now()
            session.flush()
            self._ledger.append(
                "idp.account.operator_linked",
                actor=actor,
                subject=row.id,
                data={"operator_id": operator_id},
                session=session,
            )
            return to_account(row)

    def authenticators(self, account_id: str) -> list[AuthenticatorInfo]:
        with store_read(self._sessions) as session:
            row = self._row(session, account_id)
            query = (
                select(AuthenticatorRow)
                .where(AuthenticatorRow.account_id == row.id)
                .order_by(AuthenticatorRow.created_at, AuthenticatorRow.kind, AuthenticatorRow.id)
            )
            return [
                AuthenticatorInfo(
                    a.id,
                    AuthenticatorKind(a.kind),
                    a.label,
                    a.created_at,
                    a.confirmed_at,
                    a.last_used_at,
                )
                for a in session.scalars(query)
            ]

    def check_new_password(self, person_id: str, password: str) -> None:
        """Raise :class:`~idp.errors.WeakPassword` if ``password`` breaks the policy for this
        person (their register data included); lets a caller check before creating anything."""
        check_policy(password, personal=_personal(self._register.get_person(person_id)))

    def set_password(
        self, account_id: str, password: str, *, actor: str, activate: bool = False
    ) -> Account:
        """Check ``password`` against the policy and the holder's register data, then replace
        the account's password. With ``activate``, a pending account becomes active."""
        account = self.get(account_id)
        self.check_new_password(account.person_id, password)
        hashed = self._passwords.hash(password)
        now = self._now()
        with store_write(self._sessions) as session:
            row = self._row(session, account_id)
            session.execute(
                delete(AuthenticatorRow).where(
                    AuthenticatorRow.account_id == row.id,
                    AuthenticatorRow.kind == AuthenticatorKind.PASSWORD.value,
                )
            )
            session.add(
                AuthenticatorRow(
                    id=str(uuid.uuid4()),
                    account_id=row.id,
                    kind=AuthenticatorKind.PASSWORD.value,
                    label="password",
                    created_at=now,
                    confirmed_at=now,
                    password_hash=hashed,
                    bound_in_person=False,
                )
            )
            row.updated_at = now
            if activate and row.status == AccountStatus.PENDING:
                row.status = AccountStatus.ACTIVE.value
            session.flush()
            self._ledger.append(
                "idp.factor.password_set", actor=actor, subject=row.id, session=session
            )
            if activate and row.status == AccountStatus.ACTIVE and account.status != row.status:
                self._ledger.append(
                    "idp.account.active",
                    actor=actor,
                    subject=row.id,
                    data={"from": account.status.value},
                    session=session,
                )
            return to_account(row)

    def check_password(self, account_id: str, password: str) -> None:
        """Raise :class:`AuthenticatorError` unless ``password`` is the account's password now.

        For the operator's tools on this machine, e.g. ``natid init`` checking whether the demo
        password it kept still works: it is not a login, so it neither counts against the login
        throttle nor appends ``idp.login.*``, and it never rehashes. Whoever can call it already
        reads the hashes in the account store. A password that arrives over the network goes
        through :meth:`authenticate_password` instead. Codes: ``no_password`` (the account has
        none) or ``password_mismatch``.
        """
        with store_read(self._sessions) as session:
            row = self._row(session, account_id)
            stored = session.scalar(
                select(AuthenticatorRow.password_hash).where(
                    AuthenticatorRow.account_id == row.id,
                    AuthenticatorRow.kind == AuthenticatorKind.PASSWORD.value,
                )
            )
        if stored is None:
            raise AuthenticatorError("the account has no password", code="no_password")
        self._passwords.verify(stored, password)

    def claims_subject(self, account_id: str) -> ClaimsSubject:
        """The register data and account facts :func:`idp.claims.release_claims` needs."""
        with store_read(self._sessions) as session:
            row = self._row(session, account_id)
            roles = self._roles(session, row)
            account = to_account(row)
        return self._claims_subject(account, self._register.get_person(account.person_id), roles)

    def claims_subject_of_person(
        self, person_id: str, *, account: AccountFacts | None = None
    ) -> ClaimsSubject | None:
        """:meth:`claims_subject` for the account of register person ``person_id`` (a grant's
        subject), reading each row once; None when the person has no account.

        The code exchange asks this on every login: the register's person and positions come
        in one read where the register offers it, the account from a held connection, and the
        operator row only for an account linked to one. With ``account`` (the facts the code
        carries from ``/authorize``, idp/codes.py) the account is not read again."""
        person, servants = self._person_and_servants(person_id)
        roles: frozenset[str] | None = None
        if account is None:
            if self._reads is None:
                with store_read(self._sessions) as session:
                    row = session.scalar(
                        select(AccountRow).where(AccountRow.person_id == person.id)
                    )
                    if row is None:
                        return None
                    roles = self._roles(session, row)
                    found: Account | None = to_account(row)
            else:
                found = self._reads.by_person(person.id)
            if found is None:
                return None
            account = AccountFacts(found.email_verified, found.phone_verified, found.operator_id)
        if roles is None:
            roles = frozenset()
            if account.operator_id is not None:
                with store_read(self._sessions) as session:
                    roles = self._operator_roles(session, account.operator_id)
        return ClaimsSubject(
            person=person,
            servants=servants,
            roles=roles,
            email_verified=account.email_verified,
            phone_verified=account.phone_verified,
        )

    def _person_and_servants(self, person_id: str) -> tuple[Person, tuple[CivilServant, ...]]:
        register = self._register
        known = self._batched
        if known is None or known[0] is not register:
            known = self._batched = (register, isinstance(register, _PersonAndServantsRegister))
        if known[1]:
            return cast(_PersonAndServantsRegister, register).person_and_servants(person_id)
        person = register.get_person(person_id)
        return person, register.servants_of_person(person.id)

    @staticmethod
    def _roles(session: Session, row: AccountRow) -> frozenset[str]:
        if row.operator_id is None:
            return frozenset()
        return AccountService._operator_roles(session, row.operator_id)

    @staticmethod
    def _operator_roles(session: Session, operator_id: str) -> frozenset[str]:
        operator = session.get(OperatorRow, operator_id)
        if operator is not None and operator.status == OperatorStatus.ACTIVE.value:
            return frozenset(operator.roles.split())
        return frozenset()

    def _claims_subject(
        self, account: Account, person: Person, roles: frozenset[str]
    ) -> ClaimsSubject:
        return ClaimsSubject(
            person=person,
            servants=self._register.servants_of_person(person.id),
            roles=roles,
            email_verified=account.email_verified,
            phone_verified=account.phone_verified,
        )

    # --- logging in -----------------------------------------------------------------------------

    def _audit_attempt(
        self,
        succeeded: bool,
        *,
        actor: str | None,
        data: dict[str, Any],
        session: Session | None = None,
    ) -> None:
        event = "idp.login.succeeded" if succeeded else "idp.login.failed"
        self._ledger.append(event, actor=actor, subject=actor, data=data, session=session)

    def _guard(self, key: str, source: str | None, data: dict[str, Any], actor: str | None) -> None:
        try:
            self._throttle.check(identifier=key, source=source)
        except LoginThrottled:
            self._audit_attempt(False, actor=actor, data={**data, "reason": "throttled"})
            raise

    def _lookup(self, identifier: str) -> tuple[Person, AccountRow, str | None] | None:
        try:
            person = self._register.find_person_by_national_id(identifier)
        except InvalidRecord:
            return None
        if person is None:
            return None
        with store_read(self._sessions) as session:
            row = session.scalar(select(AccountRow).where(AccountRow.person_id == person.id))
            if row is None:
                return None
            stored = session.scalar(
                select(AuthenticatorRow.password_hash).where(
                    AuthenticatorRow.account_id == row.id,
                    AuthenticatorRow.kind == AuthenticatorKind.PASSWORD.value,
                )
            )
            return person, row, stored

    def _level(self, person_id: str, wanted: AssuranceLevel) -> AssuranceLevel:
        proven = self._register.proofing_level(person_id) or AssuranceLevel.LOW
        return wanted if wanted.rank <= proven.rank else proven

    @staticmethod
    def _check_active(row: AccountRow, person: Person) -> str | None:
        if person.status is not PersonStatus.ACTIVE:
            return "person_inactive"
        if row.status != AccountStatus.ACTIVE:
            return f"account_{row.status}"
        return None

    def authenticate_password(
        self, identifier: str, password: str, *, source: str | None, at: dt.datetime
    ) -> LoginResult:
        """First step of a login: ID card number and password -> ``acr`` low (at most).

        Raises :class:`LoginThrottled` (too many failures; nothing is verified),
        :class:`LoginFailed` (unknown identifier or wrong password, indistinguishable) or
        :class:`AccountNotActive` (right password, account not usable).
        """
        at = require_aware(at)
        key = "pwd:" + _identifier(identifier)
        data: dict[str, Any] = {"step": "password", "source": (source or "")[:64]}
        self._guard(key, source, data, None)
        found = self._lookup(_identifier(identifier))
        try:
            if found is None or found[2] is None:
                self._passwords.verify_dummy(password)
            check = self._passwords.verify(found[2], password)
        except AuthenticatorError:
            self._throttle.record_failure(identifier=key, source=source)
            actor = found[1].id if found is not None else None
            reason = "unknown_identifier" if found is None else "wrong_password"
            if found is not None and found[2] is None:
                reason = "no_password"
            self._audit_attempt(False, actor=actor, data={**data, "reason": reason})
            raise LoginFailed(_WRONG) from None
        person, row, _ = found
        refusal = self._check_active(row, person)
        if refusal is not None:
            self._audit_attempt(False, actor=row.id, data={**data, "reason": refusal})
            raise AccountNotActive(
                "this account cannot log in now"
                + (f" ({row.status})" if refusal.startswith("account_") else "")
            )
        rehash = self._passwords.hash(password) if check.needs_rehash else None
        with store_write(self._sessions) as session:
            account = self._row(session, row.id)
            account.last_login_at = at
            pw = session.scalar(
                select(AuthenticatorRow).where(
                    AuthenticatorRow.account_id == row.id,
                    AuthenticatorRow.kind == AuthenticatorKind.PASSWORD.value,
                )
            )
            if pw is not None:
                pw.last_used_at = at
                if rehash is not None:
                    pw.password_hash = rehash
            session.flush()
            acr = self._level(person.id, AssuranceLevel.LOW)
            self._audit_attempt(
                True,
                actor=row.id,
                data={**data, "acr": acr.value, "amr": ["pwd"], "rehashed": rehash is not None},
                session=session,
            )
        self._throttle.record_success(identifier=key)
        return LoginResult(
            account_id=row.id,
            person_id=person.id,
            acr=acr,
            amr=("pwd",),
            authenticated_at=at,
            second_factor_available=self.totp.status(row.id).enrolled,
        )

    def verify_second_factor(
        self, first: LoginResult, code: str, *, source: str | None, at: dt.datetime
    ) -> LoginResult:
        """Second step: a TOTP code (6 digits) or a recovery code -> ``acr`` substantial (at
        most the proofing level). Raises :class:`LoginThrottled` or :class:`LoginFailed`."""
        at = require_aware(at)
        data: dict[str, Any] = {"step": "second_factor", "source": (source or "")[:64]}
        account_id = first.account_id
        key = "2fa:" + account_id
        self._guard(key, source, data, account_id)
        if not _within_window(at - first.authenticated_at):
            self._audit_attempt(False, actor=account_id, data={**data, "reason": "expired"})
            raise LoginFailed("the login took too long; start again", code="login_expired")
        compact = "".join(code.split())
        method = "totp" if compact.isdigit() and len(compact) == 6 else "recovery_code"
        try:
            if method == "totp":
                self.totp.verify(account_id, compact, at=at)
            else:
                self.totp.use_recovery_code(account_id, compact, at=at)
        except AuthenticatorError as exc:
            self._throttle.record_failure(identifier=key, source=source)
            self._audit_attempt(False, actor=account_id, data={**data, "reason": exc.code})
            raise LoginFailed("the code is wrong") from None
        with store_read(self._sessions) as session:
            row = self._row(session, account_id)
        person = self._register.get_person(row.person_id)
        refusal = self._check_active(row, person)
        if refusal is not None:
            self._audit_attempt(False, actor=account_id, data={**data, "reason": refusal})
            raise AccountNotActive("this account cannot log in now")
        self._throttle.record_success(identifier=key)
        acr = self._level(person.id, AssuranceLevel.SUBSTANTIAL)
        amr = ("pwd", "otp", "mfa")
        self._audit_attempt(
            True,
            actor=account_id,
            data={**data, "acr": acr.value, "amr": list(amr), "method": method},
        )
        return LoginResult(
            account_id=account_id,
            person_id=person.id,
            acr=acr,
            amr=amr,
            authenticated_at=at,
            second_factor_available=True,
        )


def _within_window(elapsed: dt.timedelta) -> bool:
    return dt.timedelta(0) <= elapsed <= SECOND_FACTOR_WINDOW


def _personal(person: Person) -> PersonalData:
    return PersonalData(
        national_id=person.national_id,
        birthdate=person.birthdate,
        names=(person.family_name_latin, person.given_name_latin, person.name_latin),
    )
