"""What register life events mean for IdP accounts (issue 8, "Life events").

:class:`AccountLifecycle` takes register ids and acts through the IdP's own services, so each
step is audited the way a user's or an officer's action is:

* **Death** - every login session of the person's account ends, every grant (the token
  family: refresh and access tokens, RFC 7009 §2.1) issued for the person is revoked, every
  consent (to relying parties and banks, the KYC basis) is withdrawn, and the account is
  ``disabled`` for good. Grants are found by the person's register id, so a refresh token
  fails at ``/token`` even for a person whose account was already closed.
* **A civil servant leaves the service** (no active position left) - the roles of the
  operator linked to the person's account (``ra-officer``...) are removed, so the ``roles``
  claim and every operator-protected route stop admitting them.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.audit import AuditLedger
from core.models import OperatorRow
from idp.account_models import AccountStatus, store_write
from idp.accounts import AccountService
from idp.consents import Consents
from idp.sessions import LoginSessions
from idp.tokens import TokenService

__all__ = ["AccountLifecycle"]

log = logging.getLogger(__name__)

ACTOR = "lifecycle"


class AccountLifecycle:
    """Carries out the IdP side of life events (see the module docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        ledger: AuditLedger,
        accounts: AccountService,
        tokens: TokenService,
    ) -> None:
        self._sessions = sessions
        self._ledger = ledger
        self._accounts = accounts
        self._tokens = tokens
        self._login_sessions = LoginSessions(sessions, ledger=ledger)
        self._consents = Consents(sessions, ledger=ledger)

    def close_after_death(self, person_id: str, *, at: dt.datetime) -> dict[str, Any]:
        """End sessions, revoke grants, withdraw consents, disable the account; counts."""
        grants = self._revoke_grants(person_id, reason="subject_deceased", at=at)
        account = self._accounts.find_by_person(person_id)
        if account is None:
            return {"account": None, "sessions_ended": 0, "grants_revoked": grants, "consents": 0}
        ended = self._login_sessions.end_all(account.id, at=at, actor=ACTOR, reason="death")
        withdrawn = sum(
            self._consents.withdraw(account.id, consent.client_id, at=at)
            for consent in self._consents.list_for_account(account.id, at=at)
        )
        self._accounts.set_status(account.id, AccountStatus.DISABLED, actor=ACTOR, reason="death")
        log.info("account closed after a death", extra={"account_id": account.id})
        return {
            "account": account.id,
            "sessions_ended": len(ended),
            "grants_revoked": grants,
            "consents": withdrawn,
        }

    def remove_operator_roles(self, person_id: str) -> list[str]:
        """Remove every role of the operator linked to the person's account; the roles removed."""
        account = self._accounts.find_by_person(person_id)
        if account is None or account.operator_id is None:
            return []
        with store_write(self._sessions) as session:
            operator = session.get(OperatorRow, account.operator_id)
            if operator is None or not operator.roles.strip():
                return []
            removed = operator.roles.split()
            operator.roles = ""
            session.flush()
            self._ledger.append(
                "idp.operator.roles_removed",
                actor=ACTOR,
                subject=operator.id,
                data={"account_id": account.id, "roles": removed, "reason": "servant_left"},
                session=session,
            )
        log.info("operator roles removed", extra={"operator_id": account.operator_id})
        return removed

    def _revoke_grants(self, person_id: str, *, reason: str, at: dt.datetime) -> int:
        return self._tokens.revoke_grants_where(
            subject=person_id, reason=reason, at=at, actor=ACTOR
        )
