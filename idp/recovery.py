"""Account recovery (issue 8): password reset by SMS code, a lost phone, an officer's reset.

* **SMS password reset.** ``start_sms_reset`` takes an ID card number and, when it belongs to
  an active account whose person has a phone number in the register, sends an 8-digit code
  there. The caller learns nothing either way: the outcome is the same (NIST SP 800-63B
  §6.1.2.3 asks recovery not to reveal whether an account exists). The code is stored as an
  HMAC-SHA256 only, is good for :data:`RESET_LIFETIME` (15 minutes), once, for at most
  :data:`MAX_ATTEMPTS` wrong guesses, and a newer code replaces an older one. Requests and
  attempts are rate-limited per ID card number and per source address (through the shared
  cache, keyed with an HMAC, never the number itself). The codes: :mod:`idp.reset_codes`.
  ``finish_sms_reset`` replaces the password and ends every session of the account. An SMS
  proves possession of the phone only, so the login it gives is at most level ``low``
  (:meth:`RecoveryService.login_after_reset`); second factors are left as they were, and
  ``substantial`` needs one of them again (eIDAS 2015/1502 annex §2.2.2: recovery must not
  raise the level beyond what the means used prove).
* **Lost phone.** :meth:`RecoveryService.report_lost_device` removes the TOTP authenticator
  (and its recovery codes) and the passkeys the holder picks, ends every other session and
  tells the person. The holder reaches that button after logging in with a password and a
  recovery code, the way back when the phone is gone.
* **In-person reset.** :meth:`RecoveryService.reset_in_person` (an officer, after checking the
  ID card at the counter) removes every authenticator - password, TOTP, passkeys, recovery
  codes - ends every session, puts the account back to ``pending`` and issues a new
  activation through the activation service, which the officer prints as a new letter.

Audit: ``idp.recovery.*`` events with account ids only; never an ID card number, a code or a
password, in the ledger, a log line or an error message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from core.cache import Cache
from core.clock import require_aware
from core.errors import NatIDError
from core.notify import Notification, Notifier
from idp.account_models import (
    AccountRow,
    AccountStatus,
    AuthenticatorKind,
    AuthenticatorRow,
    PasskeyRow,
    RecoveryCodeRow,
    store_read,
    store_write,
)
from idp.account_records import LoginResult
from idp.accounts import AccountService
from idp.errors import AccountNotActive, LoginFailed, LoginThrottled
from idp.reset_codes import MAX_ATTEMPTS, RESET_LIFETIME, ResetCodes, reset_sms_text
from idp.sessions import LoginSessions

if TYPE_CHECKING:
    from idp.tokens import TokenService
from registry.errors import InvalidRecord
from registry.ports import AuditSink, PopulationRegister
from registry.records import AssuranceLevel, Person, PersonStatus

__all__ = [
    "MAX_ATTEMPTS",
    "RESET_LIFETIME",
    "ActivationIssuer",
    "RecoveryLimits",
    "RecoveryService",
    "ResetFailed",
]

log = logging.getLogger(__name__)


class ResetFailed(LoginFailed):
    """The ID card number, the code or its age is wrong; one message for every case."""

    code = "reset_failed"


@dataclass(frozen=True, slots=True)
class RecoveryLimits:
    """How many reset requests (and code attempts) an ID card number and a source address
    get per :attr:`window`."""

    per_identifier: int = 5
    per_source: int = 30
    window: dt.timedelta = dt.timedelta(hours=1)


class ActivationIssuer(Protocol):
    """The activation service's ``issue`` (idp/activation.py), used by the in-person reset."""

    def issue(self, person_id: str, *, officer: str, office: str, at: dt.datetime) -> Any: ...


def _identifier(value: str) -> str:
    return "".join(value.split()).replace("-", "")


class RecoveryService:
    """Password reset by SMS, lost-device reports and in-person resets."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        accounts: AccountService,
        login_sessions: LoginSessions,
        register: PopulationRegister,
        ledger: AuditSink,
        notifier: Notifier,
        cache: Cache,
        key: bytes,
        activations: ActivationIssuer | None = None,
        limits: RecoveryLimits | None = None,
        tokens: TokenService | None = None,
    ) -> None:
        self._sessions = sessions
        #: Revokes the grants made in the sessions a recovery ends (as a logout does).
        self._tokens = tokens
        self._accounts = accounts
        self._login_sessions = login_sessions
        self._register = register
        self._ledger = ledger
        self._notifier = notifier
        self._cache = cache
        self._key = key
        self._activations = activations
        self._limits = limits or RecoveryLimits()
        self._codes = ResetCodes(sessions, ledger=ledger, mac=self._mac)

    # --- helpers -----------------------------------------------------------------------------

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def _throttle(self, step: str, identifier: str, source: str | None) -> None:
        """Count this attempt; raise :class:`LoginThrottled` once a limit is passed."""
        ttl = self._limits.window.total_seconds()
        by_id = self._cache.incr(f"recover:{step}:id:{self._mac('id', identifier)}", ttl=ttl)
        by_source = self._cache.incr(f"recover:{step}:src:{(source or '-')[:64]}", ttl=ttl)
        if by_id > self._limits.per_identifier or by_source > self._limits.per_source:
            self._ledger.append(
                f"idp.recovery.{step}_refused",
                data={"reason": "throttled", "source": (source or "")[:64]},
            )
            raise LoginThrottled(self._limits.window.total_seconds())

    def _account_of(self, national_id: str) -> tuple[Person, AccountRow] | None:
        """The active person and active account behind an ID card number, or None."""
        try:
            person = self._register.find_person_by_national_id(national_id)
        except InvalidRecord:
            return None
        if person is None or person.status is not PersonStatus.ACTIVE:
            return None
        with store_read(self._sessions) as session:
            row = session.scalar(select(AccountRow).where(AccountRow.person_id == person.id))
        if row is None or row.status != AccountStatus.ACTIVE:
            return None
        return person, row

    # --- SMS password reset ------------------------------------------------------------------

    def start_sms_reset(
        self, national_id: str, *, source: str | None, at: dt.datetime, locale: str = "km"
    ) -> None:
        """Send a reset code to the registered phone, if there is one; the caller is told
        nothing either way. Raises only :class:`LoginThrottled`."""
        at = require_aware(at)
        identifier = _identifier(national_id)
        self._throttle("sms", identifier, source)
        found = self._account_of(identifier)
        data = {"source": (source or "")[:64]}
        if found is None or not found[0].phone:
            reason = "no_account" if found is None else "no_phone"
            actor = None if found is None else found[1].id
            self._ledger.append(
                "idp.recovery.sms_not_sent",
                actor=actor,
                subject=actor,
                data={**data, "reason": reason},
            )
            return
        person, account = found
        reset_id, code = self._codes.issue(account.id, source=data["source"], at=at)
        subject, text, language = reset_sms_text(code, locale)
        try:
            self._notifier.send(
                Notification(
                    kind="password_reset_code",
                    subject=subject,
                    text=text,
                    locale=language,
                    to_phone=person.phone,
                    person_id=person.id,
                    data={"reset_id": reset_id},
                ),
                at=at,
            )
        except NatIDError as exc:
            # The page still answers as always; the person can ask again.
            log.warning("reset code not delivered", extra={"error_code": exc.code})

    def finish_sms_reset(
        self, national_id: str, code: str, new_password: str, *, source: str | None, at: dt.datetime
    ) -> str:
        """Check the code, replace the password and end every session; return the account
        id. Raises :class:`ResetFailed`, :class:`LoginThrottled` or
        :class:`~idp.errors.WeakPassword` (the code stays good for another try)."""
        at = require_aware(at)
        identifier = _identifier(national_id)
        self._throttle("code", identifier, source)
        found = self._account_of(identifier)
        compact = "".join(code.split())
        if found is None:
            raise ResetFailed("the ID card number or the code is wrong, or the code expired")
        person, account = found
        reset_id = self._codes.check(account.id, compact, source=(source or "")[:64], at=at)
        if reset_id is None:
            raise ResetFailed("the ID card number or the code is wrong, or the code expired")
        self._accounts.check_new_password(person.id, new_password)
        if not self._codes.use(reset_id, at=at):
            raise ResetFailed("the ID card number or the code is wrong, or the code expired")
        self._accounts.set_password(account.id, new_password, actor=account.id)
        ended = self._login_sessions.end_all(
            account.id, at=at, actor=account.id, reason="password_reset"
        )
        self._end_tokens([e.id for e in ended], reason="password_reset", at=at)
        self._ledger.append(
            "idp.recovery.password_reset",
            actor=account.id,
            subject=account.id,
            data={"reset_id": reset_id, "source": (source or "")[:64]},
        )
        return account.id

    def login_after_reset(self, account_id: str, *, at: dt.datetime) -> LoginResult:
        """The login an SMS reset gives: password only, level ``low``."""
        account = self._accounts.get(account_id)
        return LoginResult(
            account_id=account.id,
            person_id=account.person_id,
            acr=AssuranceLevel.LOW,
            amr=("pwd", "sms"),
            authenticated_at=require_aware(at),
            second_factor_available=self._accounts.totp.status(account.id).enrolled,
        )

    # --- lost phone --------------------------------------------------------------------------

    def report_lost_device(
        self,
        account_id: str,
        *,
        at: dt.datetime,
        passkey_ids: tuple[str, ...] = (),
        keep_session_id: str | None = None,
    ) -> None:
        """Remove the TOTP authenticator (and its recovery codes) and the passkeys named,
        end every session but ``keep_session_id`` (the one reporting), and audit it; the
        security notices follow from the audit entries."""
        at = require_aware(at)
        account = self._accounts.get(account_id)
        self._accounts.totp.remove(account.id, actor=account.id)
        removed = self._remove_passkeys(account.id, passkey_ids)
        ended = 0
        for live in self._login_sessions.list_for_account(account.id, at=at):
            if live.id != keep_session_id:
                self._login_sessions.end(live.id, at=at, actor=account.id, reason="lost_device")
                self._end_tokens([live.id], reason="lost_device", at=at)
                ended += 1
        self._ledger.append(
            "idp.recovery.lost_device",
            actor=account.id,
            subject=account.id,
            data={"passkeys_removed": removed, "sessions_ended": ended},
        )

    def _remove_passkeys(self, account_id: str, passkey_ids: tuple[str, ...]) -> int:
        wanted = {str(uuid.UUID(p)) for p in passkey_ids if _is_uuid(p)}
        if not wanted:
            return 0
        with store_write(self._sessions) as session:
            owned = list(
                session.scalars(
                    select(AuthenticatorRow.id).where(
                        AuthenticatorRow.account_id == account_id,
                        AuthenticatorRow.kind == AuthenticatorKind.PASSKEY.value,
                        AuthenticatorRow.id.in_(wanted),
                    )
                )
            )
            if not owned:
                return 0
            session.execute(delete(PasskeyRow).where(PasskeyRow.authenticator_id.in_(owned)))
            session.execute(delete(AuthenticatorRow).where(AuthenticatorRow.id.in_(owned)))
            for authenticator_id in owned:
                self._ledger.append(
                    "idp.factor.passkey_removed",
                    actor=account_id,
                    subject=account_id,
                    data={"authenticator_id": authenticator_id, "reason": "lost_device"},
                    session=session,
                )
            return len(owned)

    # --- in-person reset ---------------------------------------------------------------------

    def reset_in_person(self, person_id: str, *, officer: str, office: str, at: dt.datetime) -> Any:
        """Remove every authenticator and recovery code of the person's account, end its
        sessions, set it back to ``pending`` and return a new activation (an
        ``IssuedActivation`` of idp/activation.py) for the officer's letter."""
        at = require_aware(at)
        if self._activations is None:
            raise AccountNotActive("in-person reset needs the activation service")
        account = self._accounts.find_by_person(person_id)
        if account is not None:
            with store_write(self._sessions) as session:
                passkeys = select(AuthenticatorRow.id).where(
                    AuthenticatorRow.account_id == account.id,
                    AuthenticatorRow.kind == AuthenticatorKind.PASSKEY.value,
                )
                session.execute(delete(PasskeyRow).where(PasskeyRow.authenticator_id.in_(passkeys)))
                removed = session.execute(
                    delete(AuthenticatorRow)
                    .where(AuthenticatorRow.account_id == account.id)
                    .execution_options(synchronize_session=False)
                )
                session.execute(
                    delete(RecoveryCodeRow).where(RecoveryCodeRow.account_id == account.id)
                )
                row = session.get(AccountRow, account.id)
                if row is not None and row.status == AccountStatus.ACTIVE:
                    row.status, row.updated_at = AccountStatus.PENDING.value, at
                session.flush()
                self._ledger.append(
                    "idp.recovery.reset_in_person",
                    actor=officer,
                    subject=account.id,
                    data={
                        "office": office[:100],
                        "authenticators_removed": getattr(removed, "rowcount", 0),
                    },
                    session=session,
                )
            ended = self._login_sessions.end_all(
                account.id, at=at, actor=officer, reason="in_person_reset"
            )
            self._end_tokens([e.id for e in ended], reason="in_person_reset", at=at)
        return self._activations.issue(person_id, officer=officer, office=office, at=at)

    def _end_tokens(self, session_ids: list[str], *, reason: str, at: dt.datetime) -> None:
        """The tokens of the ended sessions end with them, ``offline_access`` grants aside
        (what a logout does: api.idp_web.end_login_session)."""
        if self._tokens is None:
            return
        for sid in session_ids:
            self._tokens.revoke_grants_where(sid=sid, keep_offline=True, reason=reason, at=at)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True
