"""The relying party's read on every KYC call, on held connections (issue 6 benchmark).

Every release and match check first reads the bank's policy by its client id (step 1 of
:mod:`kyc.service`). It is read from storage on every call, never cached, so a suspended bank
or a narrowed policy takes effect on the next request in every worker. Through an ORM session
that read cost a pool checkout, ``BEGIN`` and ``ROLLBACK`` (and on PostgreSQL the pool's
pre-ping round trip); like OCSP's status read and the IdP's grant read it is instead one
compiled SQLAlchemy Core select on a DBAPI connection held by
:class:`core.held_read.HeldReader` (autocommit: each read sees every commit before it;
values go through the column types' result processors, so they read as through the ORM).

The KYC service is built per call; the held connections are kept per engine and statement by
:func:`core.held_read.reader_for`. Engines that share one
connection (in-memory SQLite) get none, and the caller reads through its session as before.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, sessionmaker

from core.errors import StorageUnavailable
from core.held_read import HeldReader, sessions_reader_for
from kyc.errors import KYCStoreUnavailable
from kyc.models import RelyingPartyRow

__all__ = ["COLUMNS", "RelyingPartyReader", "held_rp_reader"]

_RP = RelyingPartyRow.__table__.c
#: The columns read, in order (names as on :class:`~kyc.models.RelyingPartyRow`).
COLUMNS: tuple[str, ...] = tuple(column.name for column in _RP)
_BY_CLIENT: Select[Any] = select(*_RP).where(_RP.client_id == bindparam("b_client_id"))


def held_rp_reader(sessions: sessionmaker[Session]) -> RelyingPartyReader | None:
    """The reader over the engine ``sessions`` is bound to, or None (shared-connection pools)."""
    reader = sessions_reader_for(sessions, _BY_CLIENT, label="KYC")
    return None if reader is None else RelyingPartyReader(reader)


class RelyingPartyReader:
    """Reads one relying party row by client id on held connections."""

    def __init__(self, reader: HeldReader) -> None:
        self._reader = reader

    def by_client(self, client_id: str) -> dict[str, Any] | None:
        """The row of ``client_id`` as ``{column name: value}``, or None when there is none.

        :raises KYCStoreUnavailable: the database failed twice in a row.
        """
        try:
            row = self._reader.fetch(client_id)
        except StorageUnavailable:
            raise KYCStoreUnavailable("the KYC store failed; is the database migrated?") from None
        return None if row is None else dict(zip(COLUMNS, row, strict=True))
