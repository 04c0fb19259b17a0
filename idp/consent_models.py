"""ORM table of the consents citizens gave to relying parties (migration ``0014_idp_consents``).

One row per (account, client): the scopes and the claims (names from the ``claims`` request
parameter, OIDC Core §5.5) the holder allowed that client to receive, when, and until when.
Both are stored space-separated: scope tokens (RFC 6749 §3.3) and claim names never contain a
space. Withdrawing a consent deletes the row; the audit ledger keeps the history.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

__all__ = ["ConsentRow"]


class ConsentRow(Base):
    __tablename__ = "idp_consents"

    account_id: Mapped[str] = mapped_column(
        Uuid(as_uuid=False), ForeignKey("idp_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("idp_clients.client_id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    )
    scopes: Mapped[str] = mapped_column(String(1000))
    claims: Mapped[str] = mapped_column(Text())
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"ConsentRow(account_id={self.account_id!r}, client_id={self.client_id!r})"
