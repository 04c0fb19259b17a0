"""The SMS password-reset codes of :class:`idp.recovery.RecoveryService` (issue 8).

A code is 8 digits, stored as an HMAC-SHA256 only (keyed by the recovery service), good for
:data:`RESET_LIFETIME`, once, for at most :data:`MAX_ATTEMPTS` wrong guesses; a newer code
replaces an older one. Issuing and every wrong guess are audited (``idp.recovery.sms_sent``,
``idp.recovery.reset_failed``) with account ids only, never the code.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid
from collections.abc import Callable
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from idp.account_models import store_write
from idp.recovery_models import PasswordResetRow
from registry.ports import AuditSink

__all__ = ["CODE_DIGITS", "MAX_ATTEMPTS", "RESET_LIFETIME", "ResetCodes", "reset_sms_text"]

RESET_LIFETIME: Final = dt.timedelta(minutes=15)
MAX_ATTEMPTS: Final = 5
CODE_DIGITS: Final = 8

_TEXTS: Final = {
    "km": (
        "កូដប្តូរពាក្យសម្ងាត់ NatID",
        "កូដប្តូរពាក្យសម្ងាត់ NatID របស់អ្នកគឺ {code}។ មានសុពលភាព {minutes} នាទី។ កុំប្រាប់វាដល់នរណាម្នាក់។",
    ),
    "en": (
        "NatID password reset code",
        "Your NatID password reset code is {code}. It is valid for {minutes} minutes."
        " Do not share it with anyone.",
    ),
}


def reset_sms_text(code: str, locale: str) -> tuple[str, str, str]:
    """The SMS's subject, text and locale (Khmer for an unknown ``locale``)."""
    subject, text = _TEXTS.get(locale, _TEXTS["km"])
    minutes = int(RESET_LIFETIME.total_seconds() // 60)
    return subject, text.format(code=code, minutes=minutes), locale if locale in _TEXTS else "km"


class ResetCodes:
    """Issue, check and use up the reset codes of accounts (``idp_password_resets``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ledger: AuditSink,
        mac: Callable[[str, str], str],
    ) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._mac = mac

    def issue(self, account_id: str, *, source: str, at: dt.datetime) -> tuple[str, str]:
        """A new code for the account, replacing any still good; ``(reset_id, code)``."""
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        reset_id = str(uuid.uuid4())
        with store_write(self._sessions) as session:
            # A new code replaces the ones before it (only the newest SMS is good).
            session.execute(
                update(PasswordResetRow)
                .where(
                    PasswordResetRow.account_id == account_id,
                    PasswordResetRow.used_at.is_(None),
                    PasswordResetRow.expires_at > at,
                )
                .values(expires_at=at)
                .execution_options(synchronize_session=False)
            )
            session.add(
                PasswordResetRow(
                    id=reset_id,
                    account_id=account_id,
                    code_hmac=self._mac(account_id, code),
                    created_at=at,
                    expires_at=at + RESET_LIFETIME,
                    failed_attempts=0,
                )
            )
            session.flush()
            self._ledger.append(
                "idp.recovery.sms_sent",
                actor=account_id,
                subject=account_id,
                data={"source": source, "reset_id": reset_id},
                session=session,
            )
        return reset_id, code

    def check(self, account_id: str, code: str, *, source: str, at: dt.datetime) -> str | None:
        """The id of the account's newest good code if ``code`` is it; otherwise None, one
        more wrong guess counted against that code, and the failure audited."""
        with store_write(self._sessions) as session:
            row = session.scalar(
                select(PasswordResetRow)
                .where(
                    PasswordResetRow.account_id == account_id,
                    PasswordResetRow.used_at.is_(None),
                    PasswordResetRow.expires_at > at,
                )
                .order_by(PasswordResetRow.created_at.desc())
                .limit(1)
            )
            good = (
                row is not None
                and row.failed_attempts < MAX_ATTEMPTS
                and hmac.compare_digest(row.code_hmac, self._mac(account_id, code))
            )
            if not good:
                if row is not None:
                    row.failed_attempts += 1
                self._ledger.append(
                    "idp.recovery.reset_failed",
                    actor=account_id,
                    subject=account_id,
                    data={"source": source},
                    session=session,
                )
            reset_id = row.id if row is not None else None
        return reset_id if good else None

    def use(self, reset_id: str, *, at: dt.datetime) -> bool:
        """Mark the code used; False when another request used it first."""
        with store_write(self._sessions) as session:
            used = session.execute(
                update(PasswordResetRow)
                .where(PasswordResetRow.id == reset_id, PasswordResetRow.used_at.is_(None))
                .values(used_at=at)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(used, "rowcount", 0))
