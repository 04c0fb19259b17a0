"""Many register records read at once: the look-up side of bulk issuance.

Issuing one certificate asks the register two questions about its subject (who is it, how
well was their identity proven: :meth:`~registry.ports.PopulationRegister.get_person` and
:meth:`~registry.ports.PopulationRegister.proofing_level`), and each answer is one read
transaction. Bulk issuance asks them for every line of a file, so it reads a batch's subjects
once instead (:meth:`registry.service.EmbeddedRegister.snapshot`): one query per kind of record
and one for the persons' proofing records, all in one read transaction.

A :class:`RegisterSnapshot` answers the :class:`~registry.ports.PopulationRegister` questions
from those rows with the register's own rules (a person who is not active has no proofing
level; the current record is the newest at the highest level, :func:`registry.proofing.
newest_highest`), and hands every other question - an id it did not read, an unknown or
malformed id, a look-up by national ID number - to the register itself, so errors are the
register's own. A snapshot is a point-in-time view for one batch: it is not kept, and a caller
that needs the newest state asks the register.

Registers that can read in bulk say so by implementing :class:`BatchReadableRegister`; an
adapter for a national civil register need not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, TypeVar, runtime_checkable

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import CivilServantRow, LegalEntityRow, PersonRow, ProofingRow
from registry.ports import PopulationRegister
from registry.proofing import newest_highest
from registry.records import (
    AssuranceLevel,
    CivilServant,
    LegalEntity,
    Person,
    PersonStatus,
    ProofingRecord,
)
from registry.schemas import canonical_id

__all__ = ["BatchReadableRegister", "RegisterSnapshot", "read_snapshot"]

#: Ids per ``IN (...)`` list (well under every database's parameter limit).
_CHUNK = 500
_V = TypeVar("_V")


@runtime_checkable
class BatchReadableRegister(Protocol):
    """A register that can read many subjects in one go (see the module docstring)."""

    def snapshot(
        self,
        *,
        persons: Iterable[str] = (),
        entities: Iterable[str] = (),
        servants: Iterable[str] = (),
    ) -> PopulationRegister: ...


class RegisterSnapshot:
    """The records read by :func:`read_snapshot`, in front of the register they came from."""

    def __init__(
        self,
        register: PopulationRegister,
        *,
        persons: Mapping[str, Person],
        proofing: Mapping[str, tuple[ProofingRecord, ...]],
        entities: Mapping[str, LegalEntity],
        servants: Mapping[str, CivilServant],
    ) -> None:
        self._register = register
        self._persons = persons
        self._proofing = proofing
        self._entities = entities
        self._servants = servants

    def get_person(self, person_id: str) -> Person:
        found = _find(self._persons, person_id)
        return found if found is not None else self._register.get_person(person_id)

    def find_person_by_national_id(self, national_id: str) -> Person | None:
        return self._register.find_person_by_national_id(national_id)

    def get_entity(self, entity_id: str) -> LegalEntity:
        found = _find(self._entities, entity_id)
        return found if found is not None else self._register.get_entity(entity_id)

    def get_servant(self, servant_id: str) -> CivilServant:
        found = _find(self._servants, servant_id)
        return found if found is not None else self._register.get_servant(servant_id)

    def servants_of_person(self, person_id: str) -> tuple[CivilServant, ...]:
        return self._register.servants_of_person(person_id)

    def current_proofing(self, person_id: str) -> ProofingRecord | None:
        person = _find(self._persons, person_id)
        if person is None:
            return self._register.current_proofing(person_id)
        # The register's rule (EmbeddedRegister.current_proofing): only an active person has
        # a current proofing record.
        if person.status is not PersonStatus.ACTIVE:
            return None
        return newest_highest(self._proofing.get(person.id, ()))

    def proofing_level(self, person_id: str) -> AssuranceLevel | None:
        record = self.current_proofing(person_id)
        return record.level if record is not None else None


def read_snapshot(
    session: Session,
    register: PopulationRegister,
    *,
    persons: Iterable[str] = (),
    entities: Iterable[str] = (),
    servants: Iterable[str] = (),
) -> RegisterSnapshot:
    """Read the given subjects (malformed ids are skipped: the register refuses them later)
    and the persons of the servants, with every person's proofing records, in ``session``."""
    entity_rows: dict[str, LegalEntity] = {}
    for chunk in _chunks(_keys(entities)):
        for entity in session.scalars(select(LegalEntityRow).where(LegalEntityRow.id.in_(chunk))):
            entity_rows[entity.id] = entity.to_entity()
    servant_rows: dict[str, CivilServant] = {}
    query = select(CivilServantRow, LegalEntityRow).join(
        LegalEntityRow, CivilServantRow.ministry_id == LegalEntityRow.id
    )
    for chunk in _chunks(_keys(servants)):
        for servant, ministry in session.execute(query.where(CivilServantRow.id.in_(chunk))):
            servant_rows[servant.id] = servant.to_servant(ministry)
    person_ids = _keys(persons) | {s.person_id for s in servant_rows.values()}
    person_rows: dict[str, Person] = {}
    proofing: dict[str, list[ProofingRecord]] = {}
    for chunk in _chunks(person_ids):
        for person in session.scalars(select(PersonRow).where(PersonRow.id.in_(chunk))):
            person_rows[person.id] = person.to_person()
        records = session.scalars(select(ProofingRow).where(ProofingRow.person_id.in_(chunk)))
        for record in records:
            proofing.setdefault(record.person_id, []).append(record.to_record())
    return RegisterSnapshot(
        register,
        persons=person_rows,
        proofing={k: tuple(v) for k, v in proofing.items()},
        entities=entity_rows,
        servants=servant_rows,
    )


def _find(found: Mapping[str, _V], value: str) -> _V | None:
    key = _key(value)
    return None if key is None else found.get(key)


def _key(value: str) -> str | None:
    try:
        return canonical_id(value)
    except ValueError:
        return None


def _keys(values: Iterable[str]) -> set[str]:
    return {key for key in map(_key, values) if key is not None}


def _chunks(keys: set[str]) -> Iterable[list[str]]:
    ordered = sorted(keys)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]
