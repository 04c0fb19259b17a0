"""Checking validated records against the database, and inserting them in bulk.

One code path serves a single ``add`` (a batch of one), a CSV import (thousands of rows) and
the demo data, so a rule checked for one is checked for all. Each ``prepare_*`` function takes
``(line, record)`` pairs that already passed :mod:`registry.schemas`, and returns the rows to
insert plus the problems of the others:

* uniqueness inside the batch (a second row with the same national ID refers to the first
  row's line) and against the database (one ``IN`` query per chunk, not one per row);
* references: a civil servant's person must exist, and its ministry must be a legal entity of
  kind ``ministry`` (named by id, register number, or exact English or Khmer name).

Nothing is written by ``prepare_*``; :func:`insert_rows` writes the accepted rows with
multi-row ``INSERT`` statements of :data:`INSERT_CHUNK` rows. The caller runs everything in
one transaction, so either all accepted rows are stored or none are.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.db import Base
from registry.models import CivilServantRow, LegalEntityRow, PersonRow
from registry.records import EntityKind
from registry.schemas import EntityIn, PersonIn, ServantIn, canonical_id

__all__ = [
    "INSERT_CHUNK",
    "Problem",
    "insert_rows",
    "prepare_entities",
    "prepare_persons",
    "prepare_servants",
]

#: Rows per multi-row INSERT statement, and values per ``IN (...)`` lookup.
INSERT_CHUNK = 1000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Problem:
    """Why the record at ``line`` cannot be stored. ``conflict`` marks a taken unique value
    (HTTP 409 for a single add) as opposed to invalid content."""

    line: int
    reason: str
    conflict: bool = False


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _existing(
    session: Session, column: InstrumentedAttribute[Any], values: Iterable[Any]
) -> set[Any]:
    """Which of ``values`` already occur in ``column``."""
    wanted = sorted(set(values))
    found: set[Any] = set()
    for chunk in _chunks(wanted, INSERT_CHUNK):
        found.update(session.scalars(select(column).where(column.in_(chunk))))
    return found


class _Unique:
    """First-come uniqueness of one attribute over a batch, plus the values the DB holds."""

    def __init__(self, taken: set[Any], field: str, what: str) -> None:
        self._taken = taken
        self._seen: dict[Any, int] = {}
        self._field = field
        self._what = what

    def check(self, line: int, value: Any) -> Problem | None:
        if value is None:
            return None
        if value in self._taken:
            return Problem(line, f"{self._field}: {self._what} already exists", conflict=True)
        first = self._seen.setdefault(value, line)
        if first != line:
            return Problem(line, f"{self._field}: same as line {first}", conflict=True)
        return None


def _sift(
    batch: Sequence[tuple[int, T]],
    checks: Sequence[Callable[[int, T], Problem | None]],
    build: Callable[[int, T], dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Run ``checks`` on each record (the first problem wins); ``build`` rows of the rest."""
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for line, record in batch:
        problem = next((p for check in checks if (p := check(line, record)) is not None), None)
        if problem is None:
            rows.append(build(line, record))
        else:
            problems.append(problem)
    return rows, problems


def _new_id(given: str | None) -> str:
    # Random, never derived from the national ID (ARCHITECTURE.md, "Identifiers").
    return given if given is not None else str(uuid.uuid4())


def prepare_persons(
    session: Session, batch: Sequence[tuple[int, PersonIn]], *, now: dt.datetime
) -> tuple[list[dict[str, Any]], list[Problem]]:
    ids = _Unique(
        _existing(session, PersonRow.id, (r.id for _, r in batch if r.id)),
        "id",
        "a person with this id",
    )
    nids = _Unique(
        _existing(session, PersonRow.national_id, (r.national_id for _, r in batch)),
        "national_id",
        "a person with this national ID",
    )

    def build(_line: int, r: PersonIn) -> dict[str, Any]:
        family_km, given_km, family_latin, given_latin = r.names
        return {
            "id": _new_id(r.id),
            "national_id": r.national_id,
            "family_name_km": family_km,
            "given_name_km": given_km,
            "family_name_latin": family_latin,
            "given_name_latin": given_latin,
            "birthdate": r.birthdate,
            "sex": r.sex.value if r.sex is not None else None,
            "nationality": r.nationality,
            "address": r.address,
            "phone": r.phone,
            "email": r.email,
            "status": r.status.value,
            "created_at": now,
            "updated_at": now,
        }

    return _sift(
        batch,
        [lambda line, r: ids.check(line, r.id), lambda line, r: nids.check(line, r.national_id)],
        build,
    )


def prepare_entities(
    session: Session, batch: Sequence[tuple[int, EntityIn]], *, now: dt.datetime
) -> tuple[list[dict[str, Any]], list[Problem]]:
    ids = _Unique(
        _existing(session, LegalEntityRow.id, (r.id for _, r in batch if r.id)),
        "id",
        "a legal entity with this id",
    )
    numbers = _Unique(
        _existing(session, LegalEntityRow.register_no, (r.register_no for _, r in batch)),
        "register_no",
        "a legal entity with this register number",
    )

    def build(_line: int, r: EntityIn) -> dict[str, Any]:
        return {
            "id": _new_id(r.id),
            "register_no": r.register_no,
            "name_km": r.name_km,
            "name_en": r.name_en,
            "kind": r.kind.value,
            "status": r.status.value,
            "created_at": now,
            "updated_at": now,
        }

    return _sift(
        batch,
        [
            lambda line, r: ids.check(line, r.id),
            lambda line, r: numbers.check(line, r.register_no),
        ],
        build,
    )


class _Ministries:
    """Resolves the ``ministry`` of a servant record among entities of kind ``ministry``."""

    def __init__(self, session: Session) -> None:
        rows = session.scalars(
            select(LegalEntityRow).where(LegalEntityRow.kind == EntityKind.MINISTRY.value)
        ).all()
        self._by_key: dict[str, set[str]] = {}
        for row in rows:
            for key in (row.id, row.register_no, row.name_en.casefold(), row.name_km):
                self._by_key.setdefault(key, set()).add(row.id)

    def resolve(self, record: ServantIn) -> str:
        """The ministry's id, or ``ValueError`` with the reason."""
        if record.ministry_id is not None:
            key = record.ministry_id
        else:
            assert record.ministry is not None  # ServantIn requires one of the two
            try:
                key = canonical_id(record.ministry)
            except ValueError:
                key = record.ministry
        matches = (
            self._by_key.get(key)
            or self._by_key.get(key.upper())
            or self._by_key.get(key.casefold())
            or set()
        )
        if not matches:
            raise ValueError("ministry: no ministry with this id, register number or name")
        if len(matches) > 1:
            raise ValueError("ministry: several ministries have this name; give its id")
        return next(iter(matches))


def prepare_servants(
    session: Session, batch: Sequence[tuple[int, ServantIn]], *, now: dt.datetime
) -> tuple[list[dict[str, Any]], list[Problem]]:
    ministries = _Ministries(session)
    resolved: dict[int, str] = {}
    unresolved: dict[int, Problem] = {}
    for line, record in batch:
        try:
            resolved[line] = ministries.resolve(record)
        except ValueError as exc:
            unresolved[line] = Problem(line, str(exc))
    persons = _existing(session, PersonRow.id, (r.person_id for _, r in batch))
    ids = _Unique(
        _existing(session, CivilServantRow.id, (r.id for _, r in batch if r.id)),
        "id",
        "a civil servant with this id",
    )
    taken_numbers = {
        (ministry, number)
        for ministry, number in session.execute(
            select(CivilServantRow.ministry_id, CivilServantRow.employee_number).where(
                CivilServantRow.ministry_id.in_(sorted(set(resolved.values()))),
                CivilServantRow.employee_number.is_not(None),
            )
        )
    }
    numbers = _Unique(taken_numbers, "employee_number", "this employee number in this ministry")

    def person_exists(line: int, r: ServantIn) -> Problem | None:
        if r.person_id in persons:
            return None
        return Problem(line, "person_id: no person with this id")

    def employee_number(line: int, r: ServantIn) -> Problem | None:
        if r.employee_number is None:
            return None
        return numbers.check(line, (resolved[line], r.employee_number))

    def build(line: int, r: ServantIn) -> dict[str, Any]:
        return {
            "id": _new_id(r.id),
            "person_id": r.person_id,
            "ministry_id": resolved[line],
            "unit": r.unit,
            "title": r.title,
            "unit_km": r.unit_km,
            "title_km": r.title_km,
            "employee_number": r.employee_number,
            "active": r.active,
            "created_at": now,
            "updated_at": now,
        }

    return _sift(
        batch,
        [
            lambda line, r: unresolved.get(line),
            person_exists,
            lambda line, r: ids.check(line, r.id),
            employee_number,
        ],
        build,
    )


def insert_rows(session: Session, table: type[Base], rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` with multi-row INSERTs of :data:`INSERT_CHUNK` rows each."""
    for chunk in _chunks(rows, INSERT_CHUNK):
        session.execute(insert(table), list(chunk))
