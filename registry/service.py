"""The embedded population register: :class:`EmbeddedRegister`, on NatID's own database.

It implements the :class:`~registry.ports.PopulationRegister` read side and the write side the
CLI, the RA and ``natid init`` use. Choices a reader should know:

* Every write runs in one transaction together with its audit entry (``ledger.append(...,
  session=session)``): a write is never stored without its entry, or the other way round.
  Entries name subjects by internal id; ``data`` holds codes, ids and counts, never names,
  birthdates or ID numbers. A bulk import or demo load appends one entry for the batch (kind,
  counts, the file's SHA-256), since ledger entries hold ids, not documents.
* A single add and a bulk import share one code path (:mod:`registry.loading`): an add is a
  batch of one whose problem is raised instead of reported.
* Database errors become :class:`~registry.errors.RegistryUnavailable` or, for a unique
  constraint hit by a concurrent writer, :class:`~registry.errors.DuplicateRecord`, raised
  ``from None``: SQLAlchemy's messages quote statement parameters (national ID numbers among
  them), so they must not ride along as ``__cause__`` into logs and tracebacks.
* Log lines carry internal ids, kinds and counts only.
* Reads on SQLite use a deferred transaction (``sqlite_deferred``, see ``core.db``), so they
  never wait for the write lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from core.db import transaction
from registry import loading
from registry.csvimport import read_csv, validate_rows
from registry.demo import DEMO_SEED, generate_demo
from registry.errors import DuplicateRecord, InvalidRecord, RegistryUnavailable, SubjectNotFound
from registry.events import EventFeed, RegisterEvent
from registry.models import CivilServantRow, LegalEntityRow, PersonRow, ProofingRow
from registry.person_read import read_person_and_servants
from registry.ports import AuditSink, PopulationRegister
from registry.proofing import check_proofing, newest_highest
from registry.records import (
    AssuranceLevel,
    CivilServant,
    EntityKind,
    EvidenceType,
    ImportReport,
    LegalEntity,
    Person,
    PersonStatus,
    ProofingMethod,
    ProofingRecord,
    RecordKind,
    RejectedRow,
)
from registry.schemas import (
    CAMBODIA_TZ,
    EntityIn,
    PersonIn,
    ServantIn,
    canonical_id,
    parse_national_id,
    validate_record,
)
from registry.snapshot import RegisterSnapshot, read_snapshot

__all__ = ["EmbeddedRegister"]

log = logging.getLogger(__name__)

#: Per kind: the input schema, the batch check, the table, and the noun in event names.
_KINDS: dict[RecordKind, tuple[type[Any], Any, type[Any], str]] = {
    RecordKind.PERSONS: (PersonIn, loading.prepare_persons, PersonRow, "person"),
    RecordKind.ENTITIES: (EntityIn, loading.prepare_entities, LegalEntityRow, "entity"),
    RecordKind.SERVANTS: (ServantIn, loading.prepare_servants, CivilServantRow, "servant"),
}
_SERVANTS = select(CivilServantRow, LegalEntityRow).join(
    LegalEntityRow, CivilServantRow.ministry_id == LegalEntityRow.id
)
MAX_LIST = 10_000
_S = TypeVar("_S", bound="Select[*tuple[Any, ...]]")


def _id(value: object, field: str = "id") -> str:
    try:
        return canonical_id(value)
    except ValueError:
        # The value is not echoed: a national ID number passed as an id must not leak.
        raise InvalidRecord([f"{field}: not a UUID"]) from None


def _page(query: _S, limit: int | None, offset: int) -> _S:
    if limit is not None and not 1 <= limit <= MAX_LIST:
        raise InvalidRecord([f"limit: expected 1-{MAX_LIST}, or none for all"])
    if offset < 0:
        raise InvalidRecord(["offset: expected 0 or more"])
    return query.limit(limit).offset(offset)


class EmbeddedRegister:
    """The population register in NatID's own tables (``registry_*``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Clock,
        ledger: AuditSink | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._ledger = ledger

    # --- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with self._sessions() as session:
                session.connection(execution_options={"sqlite_deferred": True})
                yield session
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from None

    @contextmanager
    def _write(self) -> Iterator[Session]:
        try:
            with transaction(self._sessions) as session:
                yield session
        except IntegrityError:
            raise DuplicateRecord(
                "the record conflicts with one stored at the same time; nothing was written"
            ) from None
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from None

    @staticmethod
    def _unavailable(exc: SQLAlchemyError) -> RegistryUnavailable:
        driver_error = type(getattr(exc, "orig", None) or exc).__name__
        log.error("register database error", extra={"error": driver_error})
        return RegistryUnavailable(
            f"the register's database failed ({driver_error}); nothing was written"
        )

    def _audit(
        self,
        session: Session,
        event: str,
        *,
        actor: str | None,
        subject: str | None,
        data: dict[str, Any],
    ) -> None:
        if self._ledger is not None:
            self._ledger.append(event, actor=actor, subject=subject, data=data, session=session)

    def _today(self) -> dt.date:
        return self._clock.now().astimezone(CAMBODIA_TZ).date()

    # --- read side (PopulationRegister) -------------------------------------------------------

    def get_person(self, person_id: str) -> Person:
        key = _id(person_id)
        with self._read() as session:
            row = session.get(PersonRow, key)
            if row is None:
                raise SubjectNotFound(f"no person with id {key}")
            return row.to_person()

    def find_person_by_national_id(self, national_id: str) -> Person | None:
        number = parse_national_id(national_id)
        with self._read() as session:
            row = session.scalar(select(PersonRow).where(PersonRow.national_id == number))
            return row.to_person() if row is not None else None

    def get_entity(self, entity_id: str) -> LegalEntity:
        key = _id(entity_id)
        with self._read() as session:
            row = session.get(LegalEntityRow, key)
            if row is None:
                raise SubjectNotFound(f"no legal entity with id {key}")
            return row.to_entity()

    def get_servant(self, servant_id: str) -> CivilServant:
        key = _id(servant_id)
        with self._read() as session:
            found = session.execute(_SERVANTS.where(CivilServantRow.id == key)).first()
            if found is None:
                raise SubjectNotFound(f"no civil servant with id {key}")
            return found[0].to_servant(found[1])

    def servants_of_person(self, person_id: str) -> tuple[CivilServant, ...]:
        key = _id(person_id, "person_id")
        with self._read() as session:
            if session.get(PersonRow, key) is None:
                raise SubjectNotFound(f"no person with id {key}")
            query = _SERVANTS.where(CivilServantRow.person_id == key).order_by(
                CivilServantRow.created_at, CivilServantRow.id
            )
            return tuple(found[0].to_servant(found[1]) for found in session.execute(query))

    def person_and_servants(self, person_id: str) -> tuple[Person, tuple[CivilServant, ...]]:
        """:meth:`get_person` and :meth:`servants_of_person` in one statement (the OpenID
        provider's claims at every code exchange need both), on held connections where the
        engine allows it (:mod:`registry.person_read`): one snapshot, no ORM objects."""
        key = _id(person_id)
        try:
            return read_person_and_servants(self._sessions, key)
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from None

    def proofing_records(self, person_id: str) -> tuple[ProofingRecord, ...]:
        """All proofing records of the person, oldest first."""
        key = _id(person_id, "person_id")
        with self._read() as session:
            if session.get(PersonRow, key) is None:
                raise SubjectNotFound(f"no person with id {key}")
            query = select(ProofingRow).where(ProofingRow.person_id == key)
            return tuple(row.to_record() for row in session.scalars(query.order_by(ProofingRow.at)))

    def current_proofing(self, person_id: str) -> ProofingRecord | None:
        key = _id(person_id, "person_id")
        # One read for the person and their records: issuance asks this for every certificate.
        with self._read() as session:
            person = session.get(PersonRow, key)
            if person is None:
                raise SubjectNotFound(f"no person with id {key}")
            if person.status != PersonStatus.ACTIVE.value:
                return None
            query = select(ProofingRow).where(ProofingRow.person_id == key)
            return newest_highest(tuple(row.to_record() for row in session.scalars(query)))

    def proofing_level(self, person_id: str) -> AssuranceLevel | None:
        record = self.current_proofing(person_id)
        return record.level if record is not None else None

    def snapshot(
        self,
        *,
        persons: Iterable[str] = (),
        entities: Iterable[str] = (),
        servants: Iterable[str] = (),
    ) -> RegisterSnapshot:
        """These subjects (and the servants' persons, with proofing) read in one transaction,
        as a register that answers for them from memory (:mod:`registry.snapshot`)."""
        with self._read() as session:
            return read_snapshot(
                session, self, persons=persons, entities=entities, servants=servants
            )

    # --- listing ------------------------------------------------------------------------------

    def list_persons(self, *, limit: int | None = 100, offset: int = 0) -> tuple[Person, ...]:
        """Persons by Latin family name, given name, then id."""
        query = select(PersonRow).order_by(
            PersonRow.family_name_latin, PersonRow.given_name_latin, PersonRow.id
        )
        with self._read() as session:
            return tuple(r.to_person() for r in session.scalars(_page(query, limit, offset)))

    def list_entities(
        self, *, kind: EntityKind | None = None, limit: int | None = 100, offset: int = 0
    ) -> tuple[LegalEntity, ...]:
        """Legal entities by English name, optionally of one kind."""
        query = select(LegalEntityRow).order_by(LegalEntityRow.name_en, LegalEntityRow.id)
        if kind is not None:
            query = query.where(LegalEntityRow.kind == EntityKind(kind).value)
        with self._read() as session:
            return tuple(r.to_entity() for r in session.scalars(_page(query, limit, offset)))

    def list_servants(
        self, *, ministry_id: str | None = None, limit: int | None = 100, offset: int = 0
    ) -> tuple[CivilServant, ...]:
        """Civil servants by ministry (English name), employee number, then id."""
        query = _SERVANTS.order_by(
            LegalEntityRow.name_en, CivilServantRow.employee_number, CivilServantRow.id
        )
        if ministry_id is not None:
            query = query.where(CivilServantRow.ministry_id == _id(ministry_id, "ministry_id"))
        with self._read() as session:
            return tuple(
                found[0].to_servant(found[1])
                for found in session.execute(_page(query, limit, offset))
            )

    def count(self, kind: RecordKind) -> int:
        """How many records of ``kind`` the register holds."""
        table = _KINDS[RecordKind(kind)][2]
        with self._read() as session:
            return session.scalar(select(func.count()).select_from(table)) or 0

    def counts(self) -> dict[str, int]:
        """``{"persons": n, "entities": n, "servants": n}`` (for ``natid init``)."""
        return {kind.value: self.count(kind) for kind in RecordKind}

    # --- write side ---------------------------------------------------------------------------

    def _add(self, kind: RecordKind, record: Mapping[str, object], actor: str | None) -> str:
        schema, prepare, table, noun = _KINDS[kind]
        validated = validate_record(schema, record, today=self._today())
        with self._write() as session:
            rows, problems = prepare(session, [(1, validated)], now=self._clock.now())
            if problems:
                problem = problems[0]
                if problem.conflict:
                    raise DuplicateRecord(problem.reason)
                raise InvalidRecord([problem.reason])
            loading.insert_rows(session, table, rows)
            new_id: str = rows[0]["id"]
            data = {k: rows[0][k] for k in ("kind", "person_id", "ministry_id") if k in rows[0]}
            self._audit(session, f"registry.{noun}.added", actor=actor, subject=new_id, data=data)
        log.info("registry %s added", noun, extra={"subject_id": new_id})
        return new_id

    def add_person(self, record: Mapping[str, object], *, actor: str | None = None) -> Person:
        """Validate and store a person given as in the JSON of ``natid registry add``."""
        return self.get_person(self._add(RecordKind.PERSONS, record, actor))

    def add_entity(self, record: Mapping[str, object], *, actor: str | None = None) -> LegalEntity:
        return self.get_entity(self._add(RecordKind.ENTITIES, record, actor))

    def add_servant(
        self, record: Mapping[str, object], *, actor: str | None = None
    ) -> CivilServant:
        return self.get_servant(self._add(RecordKind.SERVANTS, record, actor))

    def record_proofing(
        self,
        person_id: str,
        *,
        method: ProofingMethod | str,
        level: AssuranceLevel | str,
        evidence: EvidenceType | str,
        office: str,
        officer_id: str | None = None,
        at: dt.datetime | None = None,
        actor: str | None = None,
    ) -> ProofingRecord:
        """Store one identity proofing event (rules in :mod:`registry.proofing`)."""
        key = _id(person_id, "person_id")
        officer = _id(officer_id, "officer_id") if officer_id is not None else None
        now = self._clock.now()
        spec = check_proofing(
            method=method, level=level, evidence=evidence, office=office, at=at or now, now=now
        )
        with self._write() as session:
            person = session.get(PersonRow, key)
            if person is None:
                raise SubjectNotFound(f"no person with id {key}")
            if person.status != PersonStatus.ACTIVE.value:
                raise InvalidRecord(["person_id: the person is not active"])
            if officer is not None:
                servant = session.get(CivilServantRow, officer)
                if servant is None or not servant.active:
                    raise InvalidRecord(["officer_id: not an active civil servant"])
                if servant.person_id == key:
                    raise InvalidRecord(["officer_id: an officer cannot prove their own identity"])
            row = spec.row(key, officer_id=officer, recorded_at=now)
            loading.insert_rows(session, ProofingRow, [row])
            data = {k: row[k] for k in ("id", "method", "level", "evidence", "officer_id")}
            self._audit(session, "registry.proofing.recorded", actor=actor, subject=key, data=data)
        log.info("registry proofing recorded", extra={"subject_id": key, "level": spec.level.value})
        return ProofingRecord(
            row["id"], key, spec.method, spec.level, spec.evidence, spec.office, officer, spec.at
        )

    def import_csv(
        self, data: bytes | str, *, kind: RecordKind | None = None, actor: str | None = None
    ) -> ImportReport:
        """Load a CSV file (format in :mod:`registry.csvimport`): the valid rows in one
        transaction, the others reported by line and reason. Raises
        :class:`~registry.errors.ImportFileRejected` for an unusable file and
        :class:`~registry.errors.RegistryUnavailable` if the database fails (then nothing
        was loaded)."""
        parsed = read_csv(data, kind=kind)
        schema, prepare, table, _noun = _KINDS[parsed.kind]
        valid, rejected = validate_rows(schema, parsed.rows, today=self._today())
        rejected = parsed.rejected + rejected
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        with self._write() as session:
            rows, problems = prepare(session, valid, now=self._clock.now())
            rejected += [RejectedRow(p.line, p.reason) for p in problems]
            loading.insert_rows(session, table, rows)
            summary = {
                "kind": parsed.kind.value,
                "loaded": len(rows),
                "rejected": len(rejected),
                "sha256": hashlib.sha256(raw).hexdigest(),
            }
            self._audit(
                session, "registry.import.completed", actor=actor, subject=None, data=summary
            )
        log.info("registry import finished", extra=summary)
        return ImportReport(parsed.kind, len(rows), tuple(sorted(rejected, key=lambda r: r.line)))

    def record_event(
        self, event: Mapping[str, object], *, source: str = "embedded", actor: str | None = None
    ) -> tuple[RegisterEvent, bool]:
        """Apply a life event (death, name change, card renewal, servant joined/moved/left) to
        the register and append it to the event feed, in one transaction (registry/events.py);
        ``(event, created)``, idempotent by the event's ``id``."""
        feed = EventFeed(self._sessions, clock=self._clock, ledger=self._ledger)
        return feed.record(event, source=source, actor=actor)

    def load_demo(self, *, seed: int = DEMO_SEED, actor: str | None = None) -> int:
        """Load the synthetic demo data (:mod:`registry.demo`); return how many records
        (persons, entities, servants, proofing records) were added.

        Idempotent: the demo's ids derive from ``seed``, so a second call finds its first
        ministry, adds nothing and returns 0. Raises :class:`DuplicateRecord` if other records
        hold the demo's reserved numbers.
        """
        now = self._clock.now()
        demo = generate_demo(seed, at=now)
        with self._write() as session:
            if session.get(LegalEntityRow, demo.entities[0].id) is not None:
                return 0
            for kind, records in (
                (RecordKind.ENTITIES, demo.entities),
                (RecordKind.PERSONS, demo.persons),
                (RecordKind.SERVANTS, demo.servants),
            ):
                _schema, prepare, table, _noun = _KINDS[kind]
                rows, problems = prepare(session, list(enumerate(records, 1)), now=now)
                if problems:
                    raise DuplicateRecord(
                        f"the demo data clashes with stored {kind.value}: {problems[0].reason}"
                    )
                loading.insert_rows(session, table, rows)
            proofing = [
                check_proofing(
                    method=p.method,
                    level=p.level,
                    evidence=p.evidence,
                    office=p.office,
                    at=p.at,
                    now=now,
                ).row(p.person_id, officer_id=p.officer_id, recorded_at=now)
                for p in demo.proofing
            ]
            loading.insert_rows(session, ProofingRow, proofing)
            data = {
                "seed": seed,
                "persons": len(demo.persons),
                "entities": len(demo.entities),
                "servants": len(demo.servants),
                "proofing_records": len(proofing),
            }
            self._audit(session, "registry.demo.loaded", actor=actor, subject=None, data=data)
        log.info("registry demo data loaded", extra=data)
        return sum(v for k, v in data.items() if k != "seed")


def _implements_the_port(register: EmbeddedRegister) -> PopulationRegister:
    """Never called: mypy checks here that EmbeddedRegister implements PopulationRegister."""
    return register
