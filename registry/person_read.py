"""A person and their civil-service positions in one Core read (the OpenID code exchange's).

Every login's code exchange releases claims from the register person and their positions
(:meth:`registry.service.EmbeddedRegister.person_and_servants`). Through an ORM ``Session``
those two selects cost ~0.7 ms of CPU on SQLite, most of it session set-up and ORM loading;
here they are compiled Core selects on one connection of the same engine, in one deferred read
transaction (on SQLite it never waits for the write lock), at well under half of that. The
values go through the same ``to_person``/``to_servant`` as every other read: each row becomes a
transient mapped object (never added to a session), so a person reads the same whichever path
read it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from registry.errors import SubjectNotFound
from registry.models import CivilServantRow, LegalEntityRow, PersonRow
from registry.records import CivilServant, Person

__all__ = ["read_person_and_servants"]

_PERSONS = PersonRow.__table__
_SERVANTS = CivilServantRow.__table__
_ENTITIES = LegalEntityRow.__table__
_PERSON: Select[Any] = select(_PERSONS).where(_PERSONS.c.id == bindparam("b_id"))
_POSITIONS: Select[Any] = (
    select(
        _SERVANTS,
        _ENTITIES.c.name_en.label("ministry_name_en"),
        _ENTITIES.c.name_km.label("ministry_name_km"),
    )
    .join(_ENTITIES, _SERVANTS.c.ministry_id == _ENTITIES.c.id)
    .where(_SERVANTS.c.person_id == bindparam("b_person_id"))
    .order_by(_SERVANTS.c.created_at, _SERVANTS.c.id)
)
_SERVANT_KEYS = tuple(column.key for column in _SERVANTS.columns)


@contextmanager
def _connection(sessions: sessionmaker[Session]) -> Iterator[Connection]:
    """A connection in a deferred read transaction (a session's, for non-engine binds)."""
    bind = sessions.kw.get("bind")
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            connection.execution_options(sqlite_deferred=True)
            yield connection
        return
    with sessions() as session:
        yield session.connection(execution_options={"sqlite_deferred": True})


def read_person_and_servants(
    sessions: sessionmaker[Session], key: str
) -> tuple[Person, tuple[CivilServant, ...]]:
    """Person ``key`` (a canonical id) and their positions, oldest first, in one read.

    :raises SubjectNotFound: there is no such person. Database errors propagate as SQLAlchemy
        errors (the register turns them into :class:`~registry.errors.RegistryUnavailable`).
    """
    with _connection(sessions) as connection:
        row = connection.execute(_PERSON, {"b_id": key}).first()
        if row is None:
            raise SubjectNotFound(f"no person with id {key}")
        positions = connection.execute(_POSITIONS, {"b_person_id": key}).all()
    person = PersonRow(**row._asdict()).to_person()
    servants = tuple(
        CivilServantRow(**{k: position._mapping[k] for k in _SERVANT_KEYS}).to_servant(
            LegalEntityRow(name_en=position.ministry_name_en, name_km=position.ministry_name_km)
        )
        for position in positions
    )
    return person, servants
