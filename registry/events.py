"""The register's life-event feed: death, change of name, ID card renewal, civil servants
joining, moving and leaving (issue 8, "Life events").

:class:`EventFeed` records one event in ONE transaction: it validates the event
(:class:`EventIn`, untrusted input from a push, the CLI or the embedded register), applies it to
the register's own records (a death marks the person deceased and ends their positions; a name
change replaces the names; a renewal replaces the card number; servant events add or end
positions), stores the event row (``registry_events``) and appends the audit entry. Nothing is
stored half-way: a bad event raises :class:`~registry.errors.InvalidRecord` and leaves no trace.

Events are idempotent by id: recording an id that is already stored returns the stored event
(``created=False``) without applying it again; the same id with a different type or subject is
a :class:`~registry.errors.DuplicateRecord`. What follows from an event in the CA and the IdP
is not done here (the register sits below them): the API layer's dispatcher
(``api/lifecycle.py``) reads :meth:`EventFeed.pending` and marks each event processed.

The stored payload never holds a national ID card number (a renewal records only that the
number changed); audit entries carry ids and the event type only.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from core.db import transaction
from registry import loading
from registry.errors import DuplicateRecord, InvalidRecord, RegistryUnavailable, SubjectNotFound
from registry.event_models import EventOutcome, EventSource, EventType, RegisterEventRow
from registry.models import CivilServantRow, PersonRow
from registry.ports import AuditSink
from registry.records import PersonStatus
from registry.schemas import (
    CAMBODIA_TZ,
    Id,
    KhmerNamePart,
    KhmerText,
    LatinNamePart,
    NationalId,
    ServantIn,
    Text,
    validate_record,
)

__all__ = ["EventFeed", "EventIn", "EventOutcome", "EventSource", "EventType", "RegisterEvent"]

log = logging.getLogger(__name__)

_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_NAME_FIELDS = ("family_name_km", "given_name_km", "family_name_latin", "given_name_latin")
_POSITION_FIELDS = ("ministry", "ministry_id", "unit", "title", "unit_km", "title_km")
_SERVANT_FIELDS = (*_POSITION_FIELDS, "employee_number")
#: Which optional fields each type takes (everything else must be absent).
_ALLOWED: dict[EventType, frozenset[str]] = {
    EventType.DEATH: frozenset(),
    EventType.NAME_CHANGE: frozenset(_NAME_FIELDS),
    EventType.ID_CARD_RENEWAL: frozenset({"national_id"}),
    EventType.SERVANT_JOINED: frozenset(_SERVANT_FIELDS),
    EventType.SERVANT_MOVED: frozenset({"servant_id", *_SERVANT_FIELDS}),
    EventType.SERVANT_LEFT: frozenset({"servant_id"}),
}
_COMMON = frozenset({"id", "type", "subject", "date"})
MAX_PENDING = 1000


class EventIn(BaseModel):
    """One life event as a producer states it (JSON of ``natid registry event`` and of
    ``POST /registry/v1/events``); ``subject`` is the person's internal id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str | None = None
    type: EventType
    subject: Id
    date: dt.date
    family_name_km: KhmerNamePart | None = None
    given_name_km: KhmerNamePart | None = None
    family_name_latin: LatinNamePart | None = None
    given_name_latin: LatinNamePart | None = None
    national_id: NationalId | None = Field(default=None, repr=False)
    servant_id: Id | None = None
    ministry: Text | None = None
    ministry_id: Id | None = None
    unit: Text | None = None
    title: Text | None = None
    unit_km: KhmerText | None = None
    title_km: KhmerText | None = None
    employee_number: str | None = None

    @field_validator("id")
    @classmethod
    def _event_id(cls, value: str | None) -> str | None:
        if value is not None and not _EVENT_ID.fullmatch(value):
            raise ValueError("expected 1-64 characters of letters, digits, '.', '_', ':' or '-'")
        return value

    @field_validator("date", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        # Only YYYY-MM-DD: pydantic would also take a number of seconds since 1970.
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            return value.strip()
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        raise ValueError("expected a date as YYYY-MM-DD")

    @model_validator(mode="after")
    def _fields_of_type(self, info: ValidationInfo) -> Self:
        today = (info.context or {}).get("today")
        if today is not None and self.date > today:
            raise ValueError("date: an event cannot take effect in the future")
        given = {name for name in type(self).model_fields if getattr(self, name) is not None}
        extra = sorted(given - _COMMON - _ALLOWED[self.type])
        if extra:
            raise ValueError(f"{', '.join(extra)}: not a field of a {self.type.value} event")
        kind = self.type
        if kind is EventType.NAME_CHANGE and not given & set(_NAME_FIELDS):
            raise ValueError("a name_change event needs at least one new name part")
        if kind is EventType.ID_CARD_RENEWAL and self.national_id is None:
            raise ValueError("national_id: required (the new card's number)")
        if kind in (EventType.SERVANT_MOVED, EventType.SERVANT_LEFT) and self.servant_id is None:
            raise ValueError("servant_id: required (the position that ends)")
        if kind in (EventType.SERVANT_JOINED, EventType.SERVANT_MOVED):
            missing = [n for n in ("unit", "title") if n not in given]
            if not given & {"ministry", "ministry_id"}:
                missing.insert(0, "ministry_id")
            if missing:
                raise ValueError(f"{', '.join(missing)}: required for a {kind.value} event")
        return self


@dataclass(frozen=True, slots=True)
class RegisterEvent:
    """A stored life event and whether its consequences have been carried out."""

    id: str
    type: EventType
    subject_id: str
    effective_date: dt.date
    payload: Mapping[str, Any] = field(repr=False)
    source: EventSource
    received_at: dt.datetime
    processed_at: dt.datetime | None
    outcome: EventOutcome | None
    outcome_detail: Mapping[str, Any] | None = field(repr=False)


def _event(row: RegisterEventRow) -> RegisterEvent:
    return RegisterEvent(
        id=row.id,
        type=EventType(row.type),
        subject_id=row.subject_id,
        effective_date=row.effective_date,
        payload=dict(row.payload),
        source=EventSource(row.source),
        received_at=row.received_at,
        processed_at=row.processed_at,
        outcome=EventOutcome(row.outcome) if row.outcome else None,
        outcome_detail=dict(row.outcome_detail) if row.outcome_detail is not None else None,
    )


class EventFeed:
    """Records life events in the embedded register and keeps their processing state."""

    def __init__(
        self, sessions: sessionmaker[Session], *, clock: Clock, ledger: AuditSink | None = None
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ledger = ledger

    @contextmanager
    def _db(self) -> Iterator[Session]:
        try:
            with transaction(self._sessions) as session:
                yield session
        except IntegrityError:
            raise DuplicateRecord(
                "the event conflicts with a record stored at the same time; nothing was written"
            ) from None
        except SQLAlchemyError as exc:
            # from None: SQLAlchemy's message quotes parameters (a card number among them).
            error = type(getattr(exc, "orig", None) or exc).__name__
            raise RegistryUnavailable(
                f"the register's database failed ({error}); nothing was written"
            ) from None

    def parse(self, data: object) -> EventIn:
        """Validate an event given as JSON-like data; :class:`InvalidRecord` lists problems."""
        if isinstance(data, EventIn):
            data = data.model_dump(exclude_none=True)
        today = self._clock.now().astimezone(CAMBODIA_TZ).date()
        return validate_record(EventIn, data, today=today)

    def record(
        self, data: object, *, source: EventSource | str, actor: str | None
    ) -> tuple[RegisterEvent, bool]:
        """Validate, apply and store one event; ``(event, created)``. Idempotent by id."""
        event = self.parse(data)
        source = EventSource(source)
        event_id = event.id or str(uuid.uuid4())
        now = self._clock.now()
        with self._db() as session:
            stored = session.get(RegisterEventRow, event_id)
            if stored is not None:
                if stored.type != event.type.value or stored.subject_id != event.subject:
                    raise DuplicateRecord(
                        f"event id {event_id} is already used by a different event"
                    )
                return _event(stored), False
            person = session.get(PersonRow, event.subject)
            if person is None:
                raise SubjectNotFound(f"no person with id {event.subject}")
            if person.status != PersonStatus.ACTIVE.value:
                raise InvalidRecord([f"subject: the person is {person.status}, not active"])
            payload = _APPLY[event.type](session, event, person, now)
            row = RegisterEventRow(
                id=event_id,
                type=event.type.value,
                subject_id=event.subject,
                effective_date=event.date,
                payload=payload,
                source=source.value,
                actor=actor[:64] if actor else None,
                received_at=now,
            )
            session.add(row)
            session.flush()
            if self._ledger is not None:
                self._ledger.append(
                    "registry.event.recorded",
                    actor=actor,
                    subject=event.subject,
                    data={"event_id": event_id, "type": event.type.value, "source": source.value},
                    session=session,
                )
            recorded = _event(row)
        log.info("registry event recorded", extra={"event_id": event_id, "type": event.type})
        return recorded, True

    def get(self, event_id: str) -> RegisterEvent:
        with self._db() as session:
            row = session.get(RegisterEventRow, event_id)
            if row is None:
                raise SubjectNotFound(f"no register event with id {event_id[:64]}")
            return _event(row)

    def pending(self, *, limit: int = MAX_PENDING) -> tuple[RegisterEvent, ...]:
        """Events whose consequences have not been carried out (or failed), oldest first."""
        query = (
            select(RegisterEventRow)
            .where(
                (RegisterEventRow.processed_at.is_(None))
                | (RegisterEventRow.outcome == EventOutcome.FAILED.value)
            )
            .order_by(RegisterEventRow.received_at, RegisterEventRow.id)
            .limit(limit)
        )
        with self._db() as session:
            return tuple(_event(row) for row in session.scalars(query))

    def of_subject(self, person_id: str) -> tuple[RegisterEvent, ...]:
        query = (
            select(RegisterEventRow)
            .where(RegisterEventRow.subject_id == person_id)
            .order_by(RegisterEventRow.received_at, RegisterEventRow.id)
        )
        with self._db() as session:
            return tuple(_event(row) for row in session.scalars(query))

    def mark_processed(
        self,
        event_id: str,
        *,
        outcome: EventOutcome,
        detail: Mapping[str, Any],
        at: dt.datetime,
    ) -> RegisterEvent:
        """Store the processing outcome (audited)."""
        with self._db() as session:
            session.execute(
                update(RegisterEventRow)
                .where(RegisterEventRow.id == event_id)
                .values(
                    processed_at=at,
                    outcome=EventOutcome(outcome).value,
                    outcome_detail=dict(detail),
                )
            )
            row = session.get(RegisterEventRow, event_id)
            if row is None:
                raise SubjectNotFound(f"no register event with id {event_id[:64]}")
            if self._ledger is not None:
                self._ledger.append(
                    f"registry.event.{EventOutcome(outcome).value}",
                    actor="lifecycle",
                    subject=row.subject_id,
                    data={"event_id": event_id, "type": row.type},
                    session=session,
                )
            return _event(row)


# --- applying an event to the register's own records ---------------------------------------


def _death(session: Session, event: EventIn, person: PersonRow, now: dt.datetime) -> dict[str, Any]:
    person.status, person.updated_at = PersonStatus.DECEASED.value, now
    ended = _end_positions(session, person.id, now)
    return {"positions_ended": ended}


def _name_change(
    session: Session, event: EventIn, person: PersonRow, now: dt.datetime
) -> dict[str, Any]:
    changed = {}
    for name in _NAME_FIELDS:
        value = getattr(event, name)
        if value is not None and value != getattr(person, name):
            setattr(person, name, value)
            changed[name] = value
    if not changed:
        raise InvalidRecord(["name_change: the names given are the ones already registered"])
    person.updated_at = now
    return {"names": changed}


def _renewal(
    session: Session, event: EventIn, person: PersonRow, now: dt.datetime
) -> dict[str, Any]:
    if event.national_id == person.national_id:
        raise InvalidRecord(["national_id: the person already holds this card number"])
    taken = session.scalar(select(PersonRow.id).where(PersonRow.national_id == event.national_id))
    if taken is not None:
        raise DuplicateRecord("a person with this national ID already exists")
    person.national_id, person.updated_at = event.national_id or "", now
    # Not the number: only that it changed (the register holds it).
    return {"national_id_changed": True}


def _joined(
    session: Session, event: EventIn, person: PersonRow, now: dt.datetime
) -> dict[str, Any]:
    return {"servant_id": _new_position(session, event, now)}


def _moved(session: Session, event: EventIn, person: PersonRow, now: dt.datetime) -> dict[str, Any]:
    old = _end_position(session, event, now)
    return {"from_servant_id": old, "servant_id": _new_position(session, event, now)}


def _left(session: Session, event: EventIn, person: PersonRow, now: dt.datetime) -> dict[str, Any]:
    return {"from_servant_id": _end_position(session, event, now)}


def _end_positions(session: Session, person_id: str, now: dt.datetime) -> list[str]:
    rows = session.scalars(
        select(CivilServantRow).where(
            CivilServantRow.person_id == person_id, CivilServantRow.active.is_(True)
        )
    ).all()
    for row in rows:
        row.active, row.updated_at = False, now
    return sorted(row.id for row in rows)


def _end_position(session: Session, event: EventIn, now: dt.datetime) -> str:
    row = session.get(CivilServantRow, event.servant_id)
    if row is None or row.person_id != event.subject:
        raise InvalidRecord(["servant_id: not a position of this person"])
    if not row.active:
        raise InvalidRecord(["servant_id: the position has already ended"])
    row.active, row.updated_at = False, now
    return row.id


def _new_position(session: Session, event: EventIn, now: dt.datetime) -> str:
    record: dict[str, Any] = {"person_id": event.subject}
    for name in _SERVANT_FIELDS:
        value = getattr(event, name)
        if value is not None:
            record[name] = value
    servant = validate_record(ServantIn, record, today=now.astimezone(CAMBODIA_TZ).date())
    rows, problems = loading.prepare_servants(session, [(1, servant)], now=now)
    if problems:
        if problems[0].conflict:
            raise DuplicateRecord(problems[0].reason)
        raise InvalidRecord([problems[0].reason])
    loading.insert_rows(session, CivilServantRow, rows)
    new_id: str = rows[0]["id"]
    return new_id


_APPLY = {
    EventType.DEATH: _death,
    EventType.NAME_CHANGE: _name_change,
    EventType.ID_CARD_RENEWAL: _renewal,
    EventType.SERVANT_JOINED: _joined,
    EventType.SERVANT_MOVED: _moved,
    EventType.SERVANT_LEFT: _left,
}
