"""The access log: who looked at a citizen's data, what, why, when, on which basis (issue 6,
"The citizen's access log"; Estonia's data tracker is the model).

Every release (``GET /kyc/v1/person``) and every match check about a known person writes one
:class:`AccessEntry`, in the same transaction as its ``kyc.released`` / ``kyc.matched`` audit
entry, so the two cannot disagree. Entries hold attribute NAMES only, never values. The
citizen reads their own entries (:meth:`AccessLog.for_person`, newest first, exportable as
JSON); operators and auditors get counts per bank, kind and purpose
(:meth:`AccessLog.stats`), never attributes or persons.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.clock import require_aware
from core.db import Base
from kyc.errors import KYCStoreUnavailable
from kyc.models import AccessLogRow

__all__ = ["MAX_PAGE", "AccessEntry", "AccessLog", "AccessStats"]

MAX_PAGE = 1000
_INSERT = insert(Base.metadata.tables[AccessLogRow.__tablename__])


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One release or match check. ``txn`` is also the signed response's ``txn``."""

    txn: str
    at: dt.datetime
    person_id: str
    rp_id: str
    client_id: str
    entity_id: str
    kind: str
    purpose: str
    attributes: tuple[str, ...]
    basis: str
    grant_id: str | None
    consent_granted_at: dt.datetime | None

    def row(self) -> dict[str, Any]:
        """The ``kyc_access_log`` row's values (for a Core insert)."""
        return {
            "id": self.txn,
            "at": self.at,
            "person_id": self.person_id,
            "rp_id": self.rp_id,
            "client_id": self.client_id,
            "entity_id": self.entity_id,
            "kind": self.kind,
            "purpose": self.purpose,
            "attributes": " ".join(self.attributes),
            "basis": self.basis,
            "grant_id": self.grant_id,
            "consent_granted_at": self.consent_granted_at,
        }

    def to_json(self) -> dict[str, Any]:
        """The citizen's view of the entry (no internal relying-party or grant ids)."""
        return {
            "txn": self.txn,
            "time": self.at.isoformat(),
            "kind": self.kind,
            "entity_id": self.entity_id,
            "client_id": self.client_id,
            "purpose": self.purpose,
            "attributes": list(self.attributes),
            "basis": self.basis,
            "consent_granted_at": (
                self.consent_granted_at.isoformat() if self.consent_granted_at else None
            ),
        }


def _entry(row: AccessLogRow) -> AccessEntry:
    return AccessEntry(
        txn=row.id,
        at=row.at,
        person_id=row.person_id,
        rp_id=row.rp_id,
        client_id=row.client_id,
        entity_id=row.entity_id,
        kind=row.kind,
        purpose=row.purpose,
        attributes=tuple(row.attributes.split()),
        basis=row.basis,
        grant_id=row.grant_id,
        consent_granted_at=row.consent_granted_at,
    )


@dataclass(frozen=True, slots=True)
class AccessStats:
    """How many releases or matches one bank made for one purpose in a period."""

    entity_id: str
    client_id: str
    kind: str
    purpose: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "entity_id": self.entity_id,
            "client_id": self.client_id,
            "kind": self.kind,
            "purpose": self.purpose,
            "count": self.count,
        }


class AccessLog:
    """Reads the access log (writes happen in :class:`kyc.service.KYCService`'s transactions)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @staticmethod
    def add(session: Session, entry: AccessEntry) -> None:
        """Insert ``entry`` in ``session``'s transaction, at once (a Core insert: on every
        release, the ORM's unit of work cost more than the statement)."""
        session.connection().execute(_INSERT, entry.row())

    def for_person(self, person_id: str, *, limit: int = 100, offset: int = 0) -> list[AccessEntry]:
        """The person's entries, newest first."""
        limit = max(1, min(int(limit), MAX_PAGE))
        query = (
            select(AccessLogRow)
            .where(AccessLogRow.person_id == person_id)
            .order_by(AccessLogRow.at.desc(), AccessLogRow.id)
            .limit(limit)
            .offset(max(0, int(offset)))
        )
        try:
            with self._sessions() as session:
                return [_entry(r) for r in session.scalars(query)]
        except SQLAlchemyError as exc:
            raise KYCStoreUnavailable(f"the access log failed ({type(exc).__name__})") from None

    def stats(self, *, since: dt.datetime, until: dt.datetime) -> list[AccessStats]:
        """Counts per bank, kind and purpose for ``since <= at < until``."""
        since, until = require_aware(since, "since"), require_aware(until, "until")
        count = func.count(AccessLogRow.id)
        query = (
            select(
                AccessLogRow.entity_id,
                AccessLogRow.client_id,
                AccessLogRow.kind,
                AccessLogRow.purpose,
                count,
            )
            .where(AccessLogRow.at >= since, AccessLogRow.at < until)
            .group_by(
                AccessLogRow.entity_id,
                AccessLogRow.client_id,
                AccessLogRow.kind,
                AccessLogRow.purpose,
            )
            .order_by(AccessLogRow.client_id, AccessLogRow.kind, AccessLogRow.purpose)
        )
        try:
            with self._sessions() as session:
                rows = session.execute(query).all()
        except SQLAlchemyError as exc:
            raise KYCStoreUnavailable(f"the access log failed ({type(exc).__name__})") from None
        return [AccessStats(str(r[0]), r[1], r[2], r[3], int(r[4])) for r in rows]
