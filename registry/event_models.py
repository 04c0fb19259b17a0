"""ORM tables of the register's life-event feed (migration ``0021_registry_events``).

* ``registry_events``: one row per life event the register recorded (a death, a change of name,
  an ID card renewal, a civil servant joining, moving or leaving). The primary key is the event
  id the producer gave (an external register's own id) or a random UUID, so a replayed push is
  recognised (idempotency). ``payload`` holds the event's details as JSON, never a national ID
  number (a renewal stores that the number changed, not the number). ``processed_at`` and
  ``outcome`` say whether the consequences (certificates, sessions, roles) were carried out.
* ``registry_reissue_flags``: certificates a name change or card renewal made outdated. The
  certificate stays valid until a new one of the same profile is issued to the same subject;
  then it is revoked as ``superseded`` and the flag is resolved (``ca/lifecycle.py``). The
  table lives next to the feed because the flag is an effect of an event and names it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UTCDateTime

__all__ = [
    "EventOutcome",
    "EventSource",
    "EventType",
    "RegisterEventRow",
    "ReissueFlagRow",
]

_ID = Uuid(as_uuid=False)
EVENT_ID_LENGTH = 64


class EventType(StrEnum):
    DEATH = "death"
    NAME_CHANGE = "name_change"
    ID_CARD_RENEWAL = "id_card_renewal"
    SERVANT_JOINED = "servant_joined"
    SERVANT_MOVED = "servant_moved"
    SERVANT_LEFT = "servant_left"


class EventSource(StrEnum):
    """Where the event came from: the embedded register, a push over HTTP, or the CLI."""

    EMBEDDED = "embedded"
    PUSH = "push"
    CLI = "cli"


class EventOutcome(StrEnum):
    DONE = "done"
    FAILED = "failed"


def _one_of(column: str, codes: type[StrEnum]) -> CheckConstraint:
    values = ", ".join(f"'{member.value}'" for member in codes)
    return CheckConstraint(f"{column} IN ({values})", name=column)


class RegisterEventRow(Base):
    __tablename__ = "registry_events"
    __table_args__ = (
        _one_of("type", EventType),
        _one_of("source", EventSource),
        _one_of("outcome", EventOutcome),
        # `natid registry events process` picks the unprocessed ones in the order received.
        Index("ix_registry_events_processed_at_received_at", "processed_at", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(EVENT_ID_LENGTH), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(_ID, ForeignKey("registry_persons.id"), index=True)
    effective_date: Mapped[dt.date] = mapped_column(Date)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(16))
    #: What the handlers did (counts, ids) or, on failure, the error's code; never personal data.
    outcome_detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    def __repr__(self) -> str:
        return f"RegisterEventRow(id={self.id!r}, type={self.type!r})"


class ReissueFlagRow(Base):
    __tablename__ = "registry_reissue_flags"

    #: The certificate's serial (``ca_certificates.serial_hex``; no foreign key, as the
    #: register sits below the CA in the layering).
    serial_hex: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    profile: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(
        String(EVENT_ID_LENGTH), ForeignKey("registry_events.id"), index=True
    )
    flagged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    superseded_by: Mapped[str | None] = mapped_column(String(64))
