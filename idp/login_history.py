"""Recent logins of an account, for the account page, read from the audit ledger.

Why the ledger and not a table of its own: every login step already appends
``idp.login.succeeded`` or ``idp.login.failed`` with the account id as actor (password and
second factor in :mod:`idp.accounts`, passkeys in :mod:`idp.passkeys`, certificates in
:mod:`idp.certlogin`), with the step, reason code and source address, and never an ID
number. A second table would repeat those facts, could disagree with the ledger, and would
need every login path to write it too. The read is one range scan on the index
``ix_audit_entries_actor_seq`` (migration 0015) taking the newest entries first.

Attempts with an unknown ID card number have no actor and so belong to nobody's history; the
page never learns whether someone typed a citizen's number.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.models import AuditEntryRow
from idp.errors import AccountStoreUnavailable

__all__ = ["LOGIN_EVENTS", "LoginHistory", "LoginRecord"]

LOGIN_EVENTS = ("idp.login.succeeded", "idp.login.failed")
_MAX = 100


@dataclass(frozen=True, slots=True)
class LoginRecord:
    """One login step as the account page shows it."""

    at: dt.datetime
    succeeded: bool
    #: ``password``, ``second_factor``, ``passkey``, ``certificate`` (the ``step`` recorded).
    method: str
    source: str | None
    #: The refusal's reason code for a failure (``wrong_password``, ``throttled``, ...).
    reason: str | None
    acr: str | None


def _record(at: dt.datetime, event: str, data: str) -> LoginRecord:
    try:
        values: dict[str, Any] = json.loads(data) if data else {}
    except ValueError:
        values = {}
    if not isinstance(values, dict):
        values = {}

    def text(name: str) -> str | None:
        value = values.get(name)
        return str(value)[:64] if isinstance(value, str) and value else None

    return LoginRecord(
        at=at,
        succeeded=event == "idp.login.succeeded",
        method=text("step") or "password",
        source=text("source"),
        reason=text("reason"),
        acr=text("acr"),
    )


class LoginHistory:
    """Reads an account's newest login attempts from the audit ledger."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def recent(self, account_id: str, *, limit: int = 20) -> list[LoginRecord]:
        """The account's newest ``limit`` login steps, newest first."""
        limit = max(1, min(limit, _MAX))
        query = (
            select(AuditEntryRow.at, AuditEntryRow.event, AuditEntryRow.data)
            .where(AuditEntryRow.actor == account_id, AuditEntryRow.event.in_(LOGIN_EVENTS))
            .order_by(AuditEntryRow.seq.desc())
            .limit(limit)
        )
        try:
            with self._sessions() as session:
                session.connection(execution_options={"sqlite_deferred": True})
                rows = session.execute(query).all()
        except SQLAlchemyError as exc:
            raise AccountStoreUnavailable(
                f"the audit ledger could not be read ({type(exc).__name__})"
            ) from None
        return [_record(at, event, data) for at, event, data in rows]
