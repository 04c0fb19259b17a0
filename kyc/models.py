"""ORM tables of KYC (migration ``0018_kyc``): relying parties and the access log.

* ``kyc_relying_parties`` - one row per onboarded bank: its register entity, its IdP client
  (unique: one policy per client), the allowed attributes and purposes (space-separated codes
  of :mod:`kyc.policy`, checked there), its rate limit, contact, legal-basis flag for match
  checks, optional public encryption JWK, and whether it is active. Never deleted (suspend).
* ``kyc_access_log`` - one row per release or match check: who (relying party, client,
  entity), about whom (the register's person id, never a national ID number), what (attribute
  NAMES, never values), why (purpose), on which basis (``consent`` with the grant id and the
  consent's grant time, or ``legal_basis``), when, and the ``txn`` the signed response carries.
  Indexed by person and time (the citizen's export) and by time (the operators' figures).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

__all__ = ["AccessLogRow", "RelyingPartyRow"]

_ID = Uuid(as_uuid=False)


class RelyingPartyRow(Base):
    __tablename__ = "kyc_relying_parties"
    __table_args__ = (CheckConstraint("rate_limit_per_minute > 0", name="rate_limit_per_minute"),)

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    entity_id: Mapped[str] = mapped_column(
        _ID, ForeignKey("registry_legal_entities.id"), index=True
    )
    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("idp_clients.client_id"), unique=True
    )
    attributes: Mapped[str] = mapped_column(String(1000))
    purposes: Mapped[str] = mapped_column(String(500))
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer)
    contact: Mapped[str | None] = mapped_column(String(254))
    legal_basis_match: Mapped[bool] = mapped_column(Boolean)
    encryption_jwk: Mapped[str | None] = mapped_column(Text())
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"RelyingPartyRow(id={self.id!r}, client_id={self.client_id!r})"


class AccessLogRow(Base):
    __tablename__ = "kyc_access_log"
    __table_args__ = (
        CheckConstraint("kind IN ('release', 'match')", name="kind"),
        CheckConstraint("basis IN ('consent', 'legal_basis')", name="basis"),
        Index("ix_kyc_access_log_person_id_at", "person_id", "at"),
    )

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    person_id: Mapped[str] = mapped_column(_ID, ForeignKey("registry_persons.id"))
    rp_id: Mapped[str] = mapped_column(_ID, ForeignKey("kyc_relying_parties.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(_ID)
    kind: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))
    attributes: Mapped[str] = mapped_column(String(1000))
    basis: Mapped[str] = mapped_column(String(16))
    grant_id: Mapped[str | None] = mapped_column(String(64))
    consent_granted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"AccessLogRow(id={self.id!r}, kind={self.kind!r})"
