"""Consents: which scopes and claims a citizen allowed a relying party to receive.

OIDC Core §3.1.2.4 lets the provider obtain the end-user's consent once and remember it;
``prompt=consent`` asks again. Decisions:

* One consent per (account, client), stored in the database (``idp_consents``): the account
  pages list and withdraw them, and every worker must see the same answer.
* A consent lasts :data:`DEFAULT_LIFETIME` (a year) unless the caller says otherwise; after
  that the consent page is shown again. An expired consent covers nothing and is not listed.
* :meth:`Consents.grant` merges with what the holder already allowed that client (asking for
  one more scope does not silently drop the others) minus what they refused this time (an
  unticked box on the consent page withdraws that item), so the stored consent is always the
  holder's latest word on each item.
* ``openid`` is always part of a consent (OIDC Core §3.1.2.1: it is what makes the request an
  OpenID request); the consent page does not offer to untick it.
* Audit: ``idp.consent.granted`` and ``idp.consent.withdrawn`` with the account as actor, the
  client as subject, and scope and claim NAMES only (never a claim's value).
* :meth:`Consents.find` is asked on every ``/authorize`` with a login session and
  :meth:`Consents.find_for_person` on every KYC call, so both are one compiled select on a
  connection held by :class:`core.held_read.HeldReader` (autocommit: a consent granted or
  withdrawn by any worker is seen by the next read; nothing is cached), not a pool checkout
  and a read transaction per call. A failing database raises what the general path raises
  (``read_failed``'s :class:`~idp.errors.AccountStoreUnavailable`). Engines that share one
  connection (in-memory SQLite) get no reader and read through ``store_read_core`` as before.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import require_aware
from core.held_read import sessions_reader_for
from idp.account_models import AccountRow, read_failed, store_read, store_read_core, store_write
from idp.consent_models import ConsentRow
from idp.errors import AccountError
from registry.ports import AuditSink

__all__ = [
    "CONSENT_COLUMNS",
    "DEFAULT_LIFETIME",
    "Consents",
    "GrantedConsent",
    "InvalidConsent",
    "live_consent",
]

DEFAULT_LIFETIME = dt.timedelta(days=365)
_MAX_ITEMS = 100
_MAX_NAME = 100
_CONSENTS = ConsentRow.__table__.c
#: The columns :func:`live_consent` reads a consent from, in its order (also read with the
#: login session by /authorize: idp/session_reads.py).
CONSENT_COLUMNS = (
    _CONSENTS.account_id,
    _CONSENTS.client_id,
    _CONSENTS.scopes,
    _CONSENTS.claims,
    _CONSENTS.granted_at,
    _CONSENTS.expires_at,
)
_FIND: Select[Any] = select(*CONSENT_COLUMNS).where(
    _CONSENTS.account_id == bindparam("b_account_id"),
    _CONSENTS.client_id == bindparam("b_client_id"),
)
_ACCOUNTS = AccountRow.__table__.c
_FIND_FOR_PERSON: Select[Any] = (
    select(*_FIND.selected_columns)
    .join_from(ConsentRow, AccountRow, _CONSENTS.account_id == _ACCOUNTS.id)
    .where(
        _ACCOUNTS.person_id == bindparam("b_person_id"),
        _CONSENTS.client_id == bindparam("b_client_id"),
    )
)


class InvalidConsent(AccountError):
    """A consent with malformed scope or claim names, or a non-positive lifetime."""

    code = "invalid_consent"


@dataclass(frozen=True, slots=True)
class GrantedConsent:
    """What a holder allowed one client to receive, and for how long."""

    account_id: str
    client_id: str
    scopes: frozenset[str]
    claims: frozenset[str]
    granted_at: dt.datetime
    expires_at: dt.datetime

    def covers(self, scopes: Iterable[str], claim_names: Iterable[str] = ()) -> bool:
        return set(scopes) <= self.scopes and set(claim_names) <= self.claims


def _names(values: Iterable[str], what: str) -> frozenset[str]:
    names = frozenset(values)
    if len(names) > _MAX_ITEMS:
        raise InvalidConsent(f"{what}: at most {_MAX_ITEMS} names")
    for name in names:
        if (
            not isinstance(name, str)
            or not 0 < len(name) <= _MAX_NAME
            or not name.isprintable()
            or any(c.isspace() for c in name)
        ):
            raise InvalidConsent(f"{what}: expected short names without spaces")
    return names


def _account(account_id: str) -> str:
    try:
        return str(uuid.UUID(str(account_id)))
    except ValueError:
        raise InvalidConsent("account id: expected a UUID") from None


def _value(row: ConsentRow) -> GrantedConsent:
    return GrantedConsent(
        account_id=row.account_id,
        client_id=row.client_id,
        scopes=frozenset(row.scopes.split()),
        claims=frozenset(row.claims.split()),
        granted_at=row.granted_at,
        expires_at=row.expires_at,
    )


def live_consent(values: Sequence[Any] | None, at: dt.datetime) -> GrantedConsent | None:
    """The consent of a row of :data:`CONSENT_COLUMNS`, or None when there is none (a row of
    NULLs from an outer join counts as none) or it expired at ``at``."""
    if values is None or values[0] is None:
        return None
    account_id, client_id, scopes, claims, granted_at, expires_at = values
    if expires_at <= at:
        return None
    return GrantedConsent(
        account_id=account_id,
        client_id=client_id,
        scopes=frozenset(scopes.split()),
        claims=frozenset(claims.split()),
        granted_at=granted_at,
        expires_at=expires_at,
    )


class Consents:
    """Finds, grants, lists and withdraws consents."""

    def __init__(self, sessions: sessionmaker[Session], *, ledger: AuditSink) -> None:
        self._sessions = sessions
        self._ledger = ledger

    @staticmethod
    def _row(session: Session, account_id: str, client_id: str) -> ConsentRow | None:
        return session.get(ConsentRow, (_account(account_id), str(client_id)))

    def find(self, account_id: str, client_id: str, *, at: dt.datetime) -> GrantedConsent | None:
        """The holder's live consent for ``client_id``, or None (none, or expired)."""
        at = require_aware(at)
        try:
            key = _account(account_id)
        except InvalidConsent:
            return None
        params = {"b_account_id": key, "b_client_id": str(client_id)}
        return live_consent(self._read(_FIND, params), at)

    def find_for_person(
        self, person_id: str, client_id: str, *, at: dt.datetime
    ) -> GrantedConsent | None:
        """The live consent the account of register person ``person_id`` gave ``client_id``,
        or None: no such person or account, no consent, or an expired one, all alike.

        One statement (account joined to consent) for a resource server that knows only the
        token's subject: the KYC API asks it on every call, where the account by person and
        then :meth:`find` took the register's person, the account and the consent in three
        reads."""
        at = require_aware(at)
        try:
            person_key = str(uuid.UUID(str(person_id)))
        except ValueError:
            return None
        params = {"b_person_id": person_key, "b_client_id": str(client_id)}
        return live_consent(self._read(_FIND_FOR_PERSON, params), at)

    def _read(self, statement: Select[Any], params: Mapping[str, Any]) -> Sequence[Any] | None:
        """The first row of ``statement``: on a held connection, or through ``store_read_core``
        when the engine has none (module docstring)."""
        reader = sessions_reader_for(self._sessions, statement, on_failure=read_failed, label="IdP")
        if reader is not None:
            return reader.fetch_params(params)
        with store_read_core(self._sessions) as connection:
            row = connection.execute(statement, params).first()
        return None if row is None else tuple(row)

    def covers(
        self,
        account_id: str,
        client_id: str,
        scopes: Iterable[str],
        claim_names: Iterable[str],
        *,
        at: dt.datetime,
    ) -> bool:
        """Whether a live consent already allows every one of ``scopes`` and ``claim_names``."""
        found = self.find(account_id, client_id, at=at)
        return found is not None and found.covers(scopes, claim_names)

    def grant(
        self,
        account_id: str,
        client_id: str,
        scopes: Iterable[str],
        claim_names: Iterable[str],
        *,
        at: dt.datetime,
        lifetime: dt.timedelta = DEFAULT_LIFETIME,
        refused_scopes: Iterable[str] = (),
        refused_claims: Iterable[str] = (),
    ) -> GrantedConsent:
        """Record that the holder allows ``scopes`` and ``claim_names`` (and refuses the
        ``refused_*`` ones) for ``client_id`` from ``at`` for ``lifetime``."""
        at = require_aware(at)
        if lifetime <= dt.timedelta(0):
            raise InvalidConsent("a consent's lifetime must be positive")
        allowed_scopes = _names(scopes, "scopes") | {"openid"}
        allowed_claims = _names(claim_names, "claims")
        no_scopes = _names(refused_scopes, "refused scopes") - {"openid"}
        no_claims = _names(refused_claims, "refused claims")
        account_id = _account(account_id)
        with store_write(self._sessions) as session:
            row = self._row(session, account_id, client_id)
            if row is not None and row.expires_at > at:
                allowed_scopes |= frozenset(row.scopes.split())
                allowed_claims |= frozenset(row.claims.split())
            allowed_scopes -= no_scopes
            allowed_claims -= no_claims
            if row is None:
                row = ConsentRow(account_id=str(account_id), client_id=str(client_id))
                session.add(row)
            row.scopes = " ".join(sorted(allowed_scopes))
            row.claims = " ".join(sorted(allowed_claims))
            row.granted_at = at
            row.expires_at = at + lifetime
            session.flush()
            self._ledger.append(
                "idp.consent.granted",
                actor=str(account_id),
                subject=str(client_id),
                data={
                    "scopes": sorted(allowed_scopes),
                    "claims": sorted(allowed_claims),
                    "refused_scopes": sorted(no_scopes),
                    "refused_claims": sorted(no_claims),
                    "expires_at": row.expires_at.isoformat(),
                },
                session=session,
            )
            return _value(row)

    def withdraw(self, account_id: str, client_id: str, *, at: dt.datetime) -> bool:
        """Withdraw the holder's consent for ``client_id``; True if there was one."""
        at = require_aware(at)
        account_id = _account(account_id)
        with store_write(self._sessions) as session:
            result = session.execute(
                delete(ConsentRow).where(
                    ConsentRow.account_id == str(account_id),
                    ConsentRow.client_id == str(client_id),
                )
            )
            removed = bool(getattr(result, "rowcount", 0))
            if removed:
                self._ledger.append(
                    "idp.consent.withdrawn",
                    actor=str(account_id),
                    subject=str(client_id),
                    data={"at": at.isoformat()},
                    session=session,
                )
            return removed

    def list_for_account(self, account_id: str, *, at: dt.datetime) -> list[GrantedConsent]:
        """The holder's live consents, newest first."""
        at = require_aware(at)
        account_id = _account(account_id)
        with store_read(self._sessions) as session:
            query = (
                select(ConsentRow)
                .where(ConsentRow.account_id == str(account_id), ConsentRow.expires_at > at)
                .order_by(ConsentRow.granted_at.desc(), ConsentRow.client_id)
            )
            return [_value(row) for row in session.scalars(query)]
