"""ORM table of decoupled KYC requests (migration ``0022_kyc_requests``; OpenID CIBA Core 1.0
style, issue 6 "Decoupled consent").

``kyc_decoupled_requests`` - one row per request a bank started at its counter:

* ``handle_hash`` - SHA-256 (hex) of the ``auth_req_id`` handed to the bank; the handle
  itself is never stored, so a database reader cannot poll in the bank's name;
* the bank (relying party, client, register entity) and what it asked: ``purpose``,
  ``attributes`` and the subset the citizen may untick (``optional_attributes``), attribute
  NAMES only, space-separated, and the ``binding_message`` shown both at the counter and on
  the citizen's page (CIBA Core §7.1);
* ``person_id`` - the register's person the ID card number named, or NULL when the number
  is unknown (such a request is stored and answered exactly like the others, it just can
  never be approved); the number itself is never stored;
* ``status`` - ``pending`` -> ``approved`` | ``denied``; ``approved`` -> ``released`` once
  the bank collected the signed claims; expiry is read from ``expires_at``, not written;
* ``approved_attributes``, ``decided_at``, ``last_poll_at`` (for ``slow_down``), ``txn`` of
  the release.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

__all__ = ["DecoupledRequestRow"]

_ID = Uuid(as_uuid=False)


class DecoupledRequestRow(Base):
    __tablename__ = "kyc_decoupled_requests"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'denied', 'released')", name="status"),
        CheckConstraint("poll_interval > 0", name="poll_interval"),
        Index("ix_kyc_decoupled_requests_person_id_status", "person_id", "status"),
    )

    id: Mapped[str] = mapped_column(_ID, primary_key=True)
    handle_hash: Mapped[str] = mapped_column(String(64), unique=True)
    rp_id: Mapped[str] = mapped_column(_ID, ForeignKey("kyc_relying_parties.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(_ID)
    person_id: Mapped[str | None] = mapped_column(_ID, ForeignKey("registry_persons.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    attributes: Mapped[str] = mapped_column(String(1000))
    optional_attributes: Mapped[str] = mapped_column(String(1000))
    binding_message: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    approved_attributes: Mapped[str | None] = mapped_column(String(1000))
    poll_interval: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_poll_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    txn: Mapped[str | None] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"DecoupledRequestRow(id={self.id!r}, status={self.status!r})"
