"""Activation codes: how a person enrolled at a counter takes over their account (issue 8).

An officer's enrolment (or an in-person reset) calls :meth:`ActivationService.issue`: the
person's IdP account is opened (``pending``) if missing, a one-time code is made and shown
once (on the printed letter, and by SMS when the register holds a phone number). The citizen
then types their ID card number and the code on ``/activate`` (:meth:`~ActivationService.redeem`)
and sets a password and a second factor (``api/routers/activation.py``).

Decisions:

* A code is 10 characters of Crockford's base32 (``0-9 A-Z`` without ``I L O U``), 50 bits
  from the OS CSPRNG, shown as ``XXXX-XXXX-XX``. Reading it back forgives what people mistype:
  case, spaces, hyphens, ``O`` for ``0`` and ``I``/``L`` for ``1`` (Crockford's decoding rules).
  With the rate limits below an online guesser gets about 220 tries a day per person, a chance
  of ~2e-13 per day against one person's 2^50 codes (NIST SP 800-63B §5.1.1.2 asks for at
  least 20 bits of a look-up secret with rate limiting).
* Only ``HMAC-SHA256(key, person id || code)`` is stored (:mod:`idp.activation_models`). The key
  is derived from ``NATID_IDP_SECRET_KEY`` like the IdP's other secrets; binding the digest to
  the person means a code only ever opens the account of the person it was printed for.
* A code is single-use (marked used by a conditional UPDATE, so two racing redemptions cannot
  both win), expires (``NATID_ACTIVATION_CODE_DAYS``, default 14 days), and issuing a new one
  for the person revokes the older live ones (a reprinted letter replaces the lost one).
* Redemption failures count in a :class:`~idp.throttle.LoginThrottle` of its own (prefix
  ``idp:activation``): per person (the ID card number typed, HMAC-keyed by the throttle) and per
  source address. Every failure - unknown number, wrong, expired, used or revoked code, a
  disabled account, too many attempts - raises the same :class:`ActivationFailed` with the same
  words, so the answer is no oracle for which ID card numbers are enrolled; the audit entry
  keeps the precise reason for the operators.
* Audit: ``idp.activation.issued`` (actor the officer, subject the account; the office, the
  activation id, how many earlier codes it revoked), ``idp.activation.sms_failed``,
  ``idp.activation.redeemed`` and ``idp.activation.failed`` (a reason code and the source
  address). Never the code, never an ID card number.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from core.clock import require_aware
from core.errors import PermissionDenied
from core.notify import Notification, Notifier
from idp.account_models import AccountRow, AccountStatus, store_read, store_write
from idp.accounts import AccountService
from idp.activation_models import ActivationCodeRow
from idp.errors import AccountError, AccountNotActive, LoginThrottled
from idp.throttle import LoginThrottle
from registry.errors import InvalidRecord
from registry.ports import AuditSink, PopulationRegister
from registry.records import PersonStatus

__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "DEFAULT_LIFETIME",
    "ActivationFailed",
    "ActivationService",
    "IssuedActivation",
    "format_code",
    "normalise_code",
]

log = logging.getLogger(__name__)

#: Crockford's base32 alphabet: no I, L, O or U.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10
DEFAULT_LIFETIME = dt.timedelta(days=14)
_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_USABLE = frozenset({AccountStatus.PENDING, AccountStatus.ACTIVE, AccountStatus.LOCKED})
_GENERIC = "the ID card number or the activation code is wrong, expired or already used"


class ActivationFailed(AccountError, PermissionDenied):
    """The one answer to every failed redemption (see the module docstring)."""

    code = "activation_failed"


@dataclass(frozen=True, slots=True)
class IssuedActivation:
    """A freshly issued code. ``code`` exists only here: print it, then forget it."""

    activation_id: str
    person_id: str
    account_id: str
    code: str
    expires_at: dt.datetime
    activate_url: str
    sms_sent: bool

    def __repr__(self) -> str:
        return (
            f"IssuedActivation(activation_id={self.activation_id!r}, "
            f"account_id={self.account_id!r}, code=<hidden>)"
        )


@dataclass(frozen=True, slots=True)
class _Found:
    """What redemption needs to know of a stored code (read in one short transaction)."""

    activation_id: str
    account_id: str
    expires_at: dt.datetime
    used: bool
    revoked: bool
    account_status: str | None

    def refusal(self, at: dt.datetime, *, person_active: bool) -> str | None:
        """Why the code cannot be used now (an audit reason code), or None."""
        if self.used:
            return "used"
        if self.revoked:
            return "revoked"
        if at >= self.expires_at:
            return "expired"
        if not person_active:
            return "person_inactive"
        if self.account_status not in _USABLE:
            return "account_not_usable"
        return None


def format_code(compact: str) -> str:
    """``7KQ4M2XD9P`` -> ``7KQ4-M2XD-9P`` (how letters, SMS and pages show a code)."""
    return "-".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def normalise_code(typed: str) -> str | None:
    """The compact code a person meant, or None if it cannot be one (wrong length or letters)."""
    compact = "".join(typed.split()).replace("-", "").upper().translate(_TYPOS)
    if len(compact) != CODE_LENGTH or any(c not in ALPHABET for c in compact):
        return None
    return compact


def _new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def _identifier(value: str) -> str:
    return "".join(value.split()).replace("-", "")


def _sms_text(code: str, expires: dt.date) -> tuple[str, str]:
    """The SMS subject and text in Khmer and English (the register keeps no preferred
    language, so both go in one message, Khmer first)."""
    day = expires.isoformat()
    km = (
        f"NatID៖ លេខកូដធ្វើឱ្យសកម្មរបស់អ្នកគឺ {code} ។ ប្រើវាមុនថ្ងៃ {day} ។ "
        "កុំប្រាប់លេខកូដនេះដល់អ្នកណាម្នាក់ ទោះជាមន្ត្រីក៏ដោយ។"
    )
    en = (
        f"NatID: your activation code is {code}. Use it before {day}. "
        "Never tell this code to anyone, not even an officer."
    )
    return "NatID activation code / លេខកូដធ្វើឱ្យសកម្ម", f"{km}\n{en}"


class ActivationService:
    """Issues and redeems the one-time codes of citizen activation."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        accounts: AccountService,
        register: PopulationRegister,
        ledger: AuditSink,
        notifier: Notifier,
        throttle: LoginThrottle,
        key: bytes,
        public_base_url: str,
        lifetime: dt.timedelta = DEFAULT_LIFETIME,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the activation HMAC key must be at least 16 bytes")
        if lifetime <= dt.timedelta(0):
            raise ValueError("an activation code's lifetime must be positive")
        self.accounts = accounts
        self._sessions = sessions
        self._register = register
        self._ledger = ledger
        self._notifier = notifier
        self._throttle = throttle
        self._key = key
        self._base = public_base_url.rstrip("/")
        self.lifetime = lifetime

    def _digest(self, person_id: str, compact: str) -> str:
        message = f"natid-activation\x00{person_id}\x00{compact}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    # --- issuing --------------------------------------------------------------------------------

    def issue(
        self, person_id: str, *, officer: str, office: str, at: dt.datetime
    ) -> IssuedActivation:
        """A new code for ``person_id`` (opening a pending account if the person has none);
        the person's earlier unused codes stop working. Raises
        :class:`~registry.errors.SubjectNotFound` for an unknown person and
        :class:`~idp.errors.AccountNotActive` for a person no longer active or a disabled
        account."""
        at = require_aware(at)
        person = self._register.get_person(person_id)
        if person.status is not PersonStatus.ACTIVE:
            raise AccountNotActive("the person is not active in the register")
        account, _created = self.accounts.ensure(person.id, actor=officer)
        if account.status is AccountStatus.DISABLED:
            raise AccountNotActive("the person's account is disabled")
        compact = _new_code()
        activation_id = str(uuid.uuid4())
        expires_at = at + self.lifetime
        with store_write(self._sessions) as session:
            revoked = session.execute(
                update(ActivationCodeRow)
                .where(
                    ActivationCodeRow.person_id == person.id,
                    ActivationCodeRow.used_at.is_(None),
                    ActivationCodeRow.revoked_at.is_(None),
                )
                .values(revoked_at=at)
            ).rowcount  # type: ignore[attr-defined]
            session.add(
                ActivationCodeRow(
                    id=activation_id,
                    person_id=person.id,
                    account_id=account.id,
                    code_hmac=self._digest(person.id, compact),
                    issued_by=officer[:64],
                    office=office[:200],
                    created_at=at,
                    expires_at=expires_at,
                )
            )
            session.flush()
            self._ledger.append(
                "idp.activation.issued",
                actor=officer,
                subject=account.id,
                data={
                    "activation_id": activation_id,
                    "person_id": person.id,
                    "office": office[:200],
                    "expires_at": expires_at.isoformat(),
                    "revoked_earlier": int(revoked or 0),
                    "sms": bool(person.phone),
                },
                session=session,
            )
        code = format_code(compact)
        sms_sent = False
        if person.phone:
            sms_sent = self._send_sms(
                person.id, person.phone, code, activation_id=activation_id,
                expires_at=expires_at, at=at,
            )  # fmt: skip
        return IssuedActivation(
            activation_id=activation_id,
            person_id=person.id,
            account_id=account.id,
            code=code,
            expires_at=expires_at,
            activate_url=f"{self._base}/activate?code={code}",
            sms_sent=sms_sent,
        )

    def _send_sms(
        self,
        person_id: str,
        phone: str,
        code: str,
        *,
        activation_id: str,
        expires_at: dt.datetime,
        at: dt.datetime,
    ) -> bool:
        subject, text = _sms_text(code, expires_at.date())
        notification = Notification(
            kind="activation_code",
            subject=subject,
            text=text,
            locale="km",
            to_phone=phone,
            person_id=person_id,
            data={"activation_id": activation_id, "expires_at": expires_at.isoformat()},
        )
        try:
            self._notifier.send(notification, at=at)
        except Exception as exc:  # noqa: BLE001 - the letter still carries the code
            log.warning(
                "activation SMS not sent",
                extra={"activation_id": activation_id, "error": type(exc).__name__},
            )
            self._ledger.append(
                "idp.activation.sms_failed",
                subject=person_id,
                data={"activation_id": activation_id, "error": type(exc).__name__},
            )
            return False
        return True

    # --- redeeming ------------------------------------------------------------------------------

    def _fail(self, reason: str, source: str | None, actor: str | None = None) -> ActivationFailed:
        data: dict[str, Any] = {"reason": reason, "source": (source or "")[:64]}
        self._ledger.append("idp.activation.failed", actor=actor, subject=actor, data=data)
        return ActivationFailed(_GENERIC)

    def _find(self, person_id: str, digest: str) -> _Found | None:
        with store_read(self._sessions) as session:
            row = session.scalar(
                select(ActivationCodeRow).where(
                    ActivationCodeRow.person_id == person_id,
                    ActivationCodeRow.code_hmac == digest,
                )
            )
            if row is None:
                return None
            account = session.get(AccountRow, row.account_id)
            return _Found(
                activation_id=row.id,
                account_id=row.account_id,
                expires_at=row.expires_at,
                used=row.used_at is not None,
                revoked=row.revoked_at is not None,
                account_status=account.status if account is not None else None,
            )

    def redeem(self, national_id: str, code: str, *, source: str | None, at: dt.datetime) -> str:
        """Use the code: the ID card number and the code must belong together, the code be
        live; returns the account id. Every failure is :class:`ActivationFailed`."""
        at = require_aware(at)
        key = "act:" + _identifier(national_id)[:32]
        try:
            self._throttle.check(identifier=key, source=source)
        except LoginThrottled:
            raise self._fail("throttled", source) from None
        compact = normalise_code(code)
        try:
            person = self._register.find_person_by_national_id(_identifier(national_id))
        except InvalidRecord:
            person = None
        # The digest is computed either way, so an unknown number costs about the same time.
        digest = self._digest(person.id if person is not None else "-", compact or "-")
        found = None
        if person is not None and compact is not None:
            found = self._find(person.id, digest)
        if person is None:
            reason: str | None = "unknown_identifier"
        elif found is None:
            reason = "wrong_code"
        else:
            reason = found.refusal(at, person_active=person.status is PersonStatus.ACTIVE)
        actor = found.account_id if found is not None else None
        if reason is not None or found is None:
            self._throttle.record_failure(identifier=key, source=source)
            raise self._fail(reason or "wrong_code", source, actor)
        with store_write(self._sessions) as session:
            taken = session.execute(
                update(ActivationCodeRow)
                .where(
                    ActivationCodeRow.id == found.activation_id,
                    ActivationCodeRow.used_at.is_(None),
                    ActivationCodeRow.revoked_at.is_(None),
                )
                .values(used_at=at)
            )
            won = taken.rowcount == 1  # type: ignore[attr-defined]
            if won:
                self._ledger.append(
                    "idp.activation.redeemed",
                    actor=found.account_id,
                    subject=found.account_id,
                    data={"activation_id": found.activation_id, "source": (source or "")[:64]},
                    session=session,
                )
        if not won:
            # Another request used the same code a moment earlier.
            self._throttle.record_failure(identifier=key, source=source)
            raise self._fail("used", source, found.account_id)
        self._throttle.record_success(identifier=key)
        return found.account_id

    def live_codes(self, person_id: str, *, at: dt.datetime) -> int:
        """How many codes of the person could still be redeemed (for officer pages)."""
        at = require_aware(at)
        with store_read(self._sessions) as session:
            rows = session.scalars(
                select(ActivationCodeRow.expires_at).where(
                    ActivationCodeRow.person_id == person_id,
                    ActivationCodeRow.used_at.is_(None),
                    ActivationCodeRow.revoked_at.is_(None),
                )
            )
            return sum(1 for expires in rows if expires > at)
