"""The code exchange's person read (registry/person_read.py) answers as the reads it replaced.

``read_person_and_servants`` reads the person and their positions in one joined statement on
held connections (core/held_read.py), falling back to a connection of the engine when the
engine shares one connection, and builds the records without ORM objects. Pinned here, on
SQLite and PostgreSQL, against the ORM reads (``get_person``/``servants_of_person``, which go
through ``to_person``/``to_servant``) and against the former implementation (kept below as
``_former_read``, two selects and transient ORM rows): every field of every record, value and
type; not-found; failures (no tables, database unreachable) with the same error, message and
log lines through the register; and a change committed by another engine is read by the next
call.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Select, bindparam, create_engine, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

import registry.person_read
import registry.service
from core.clock import FixedClock
from core.db import make_engine, make_session_factory
from core.held_read import reader_for, sqlalchemy_error
from migrations import upgrade
from registry.errors import RegistryUnavailable, SubjectNotFound
from registry.models import CivilServantRow, LegalEntityRow, PersonRow
from registry.person_read import (
    _PERSON_AND_POSITIONS,
    _PERSON_COLUMNS,
    _SERVANT_COLUMNS,
    read_person_and_servants,
)
from registry.records import CivilServant, Person
from registry.service import EmbeddedRegister
from tests.registry.conftest import ministry, person

NO_ID = "0" * 8 + "-0000-4000-8000-" + "0" * 12

# --- the former implementation, the reference for "answers as before" ---------------------------

_PERSONS = PersonRow.__table__
_SERVANTS = CivilServantRow.__table__
_ENTITIES = LegalEntityRow.__table__
_FORMER_PERSON: Select[Any] = select(_PERSONS).where(_PERSONS.c.id == bindparam("b_id"))
_FORMER_POSITIONS: Select[Any] = (
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


def _former_read(
    sessions: sessionmaker[Session], key: str
) -> tuple[Person, tuple[CivilServant, ...]]:
    with registry.person_read._connection(sessions) as connection:
        row = connection.execute(_FORMER_PERSON, {"b_id": key}).first()
        if row is None:
            raise SubjectNotFound(f"no person with id {key}")
        positions = connection.execute(_FORMER_POSITIONS, {"b_person_id": key}).all()
    found = PersonRow(**row._asdict()).to_person()
    servants = tuple(
        CivilServantRow(**{k: position._mapping[k] for k in _SERVANT_KEYS}).to_servant(
            LegalEntityRow(name_en=position.ministry_name_en, name_km=position.ministry_name_km)
        )
        for position in positions
    )
    return found, servants


# --- helpers -------------------------------------------------------------------------------------


def _typed(value: Any) -> Any:
    """A record as (field, type, value) triples: ``True == 1`` and naive == aware are caught."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple(
            (f.name, type(getattr(value, f.name)), getattr(value, f.name))
            for f in dataclasses.fields(value)
        ) + tuple(
            (f.name, getattr(value, f.name).tzinfo)
            for f in dataclasses.fields(value)
            if isinstance(getattr(value, f.name), dt.datetime)
        )
    if isinstance(value, tuple):
        return tuple(_typed(item) for item in value)
    return value


def _outcome(call: Callable[..., Any], *args: Any) -> Any:
    try:
        return _typed(call(*args))
    except Exception as exc:
        return type(exc), str(exc)


def _no_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry.person_read, "reader_for", lambda *_a, **_k: None)


def _people(register: EmbeddedRegister, clock: FixedClock) -> dict[str, str]:
    """Persons covering the cases: no positions and every optional field None; one position;
    several positions in two ministries, in creation order, one tie broken by id, optional
    position fields None, an inactive one."""
    health = register.add_entity(ministry(), actor="t")
    education = register.add_entity(
        ministry(register_no="MIN-MOE", name_km="ក្រសួងអប់រំ យុវជន និងកីឡា",
                 name_en="Ministry of Education, Youth and Sport"),
        actor="t",
    )  # fmt: skip
    bare = register.add_person(
        person(national_id="100000001", name_km="ចាន់ ធីតា", name_latin="Chan Thida",
               sex=None, address=None),
        actor="t",
    )  # fmt: skip
    single = register.add_person(
        person(national_id="100000002", name_km="សុខ ដារ៉ា", name_latin="Sok Dara",
               email="dara@example.com", phone="+85512345678"),
        actor="t",
    )  # fmt: skip
    register.add_servant(
        {"person_id": single.id, "ministry_id": health.id, "unit": "Hospital Services",
         "title": "Nurse", "unit_km": "សេវាមន្ទីរពេទ្យ", "title_km": "គិលានុបដ្ឋាយិកា",
         "employee_number": "MOH-0001"},
        actor="t",
    )  # fmt: skip
    several = register.add_person(
        person(national_id="100000003", name_km="ហេង សុភា", name_latin="Heng Sophea", sex="X"),
        actor="t",
    )  # fmt: skip
    clock.advance(dt.timedelta(minutes=1))
    # Added in this order at the same instant: read back by id, so "f..." after "1...".
    later_id, earlier_id = "ffffffff-0000-4000-8000-000000000001", "1" * 8 + NO_ID[8:]
    for servant_id in (later_id, earlier_id):
        register.add_servant(
            {"id": servant_id, "person_id": several.id, "ministry_id": education.id,
             "unit": "Provincial Office", "title": "Inspector"},
            actor="t",
        )  # fmt: skip
    clock.advance(dt.timedelta(seconds=1, microseconds=123456))
    register.add_servant(
        {"person_id": several.id, "ministry_id": health.id, "unit": "Planning",
         "title": "Adviser", "title_km": "ទីប្រឹក្សា", "active": False},
        actor="t",
    )  # fmt: skip
    clock.advance(dt.timedelta(hours=-2))  # created before the others: read first
    register.add_servant(
        {"person_id": several.id, "ministry_id": health.id, "unit": "Archive",
         "title": "Clerk", "employee_number": "MOH-0002"},
        actor="t",
    )  # fmt: skip
    return {"bare": bare.id, "single": single.id, "several": several.id}


# --- tests ---------------------------------------------------------------------------------------


def test_the_statement_lists_the_records_fields_in_order() -> None:
    assert [c.name for c in _PERSON_COLUMNS] == [f.name for f in dataclasses.fields(Person)]
    assert [c.name for c in _SERVANT_COLUMNS] == [f.name for f in dataclasses.fields(CivilServant)]


def test_every_path_reads_the_same_records(
    register: EmbeddedRegister,
    session_factory: sessionmaker[Session],
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = _people(register, clock)
    for name, key in ids.items():
        orm = _typed((register.get_person(key), register.servants_of_person(key)))
        held = _outcome(read_person_and_servants, session_factory, key)
        former = _outcome(_former_read, session_factory, key)
        through_register = _outcome(register.person_and_servants, key)
        with monkeypatch.context() as patched:
            _no_reader(patched)
            connection = _outcome(read_person_and_servants, session_factory, key)
        assert held == orm == former == through_register == connection, name
    bare, none = register.person_and_servants(ids["bare"])
    assert none == () and bare.sex is None and bare.address is None and bare.email is None
    assert bare.family_name_km == "ចាន់"
    _, positions = register.person_and_servants(ids["several"])
    assert [(s.unit, s.ministry_name_en) for s in positions] == [
        ("Archive", "Ministry of Health"),
        ("Provincial Office", "Ministry of Education, Youth and Sport"),
        ("Provincial Office", "Ministry of Education, Youth and Sport"),
        ("Planning", "Ministry of Health"),
    ]
    assert positions[1].id < positions[2].id
    assert positions[3].active is False and positions[0].active is True
    assert positions[3].title_km == "ទីប្រឹក្សា" and positions[3].unit_km is None
    # The held reader served them: one connection waits in its free list.
    reader = reader_for(
        session_factory.kw["bind"], _PERSON_AND_POSITIONS, on_failure=sqlalchemy_error,
        label="register",
    )  # fmt: skip
    assert reader is not None and reader.idle_connections() == 1


def test_a_missing_person_is_not_found_on_every_path(
    register: EmbeddedRegister,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = (SubjectNotFound, f"no person with id {NO_ID}")
    assert _outcome(register.person_and_servants, NO_ID) == expected
    assert _outcome(_former_read, session_factory, NO_ID) == expected
    _no_reader(monkeypatch)
    assert _outcome(register.person_and_servants, NO_ID) == expected
    # Ids are checked before any read, as before.
    assert _outcome(register.person_and_servants, "not-a-uuid")[0] is not SubjectNotFound


def test_a_commit_by_another_engine_is_read_by_the_next_call(
    register: EmbeddedRegister, db_url: str, clock: FixedClock
) -> None:
    ids = _people(register, clock)
    key = ids["single"]
    assert len(register.person_and_servants(key)[1]) == 1
    other_engine = make_engine(db_url)
    try:
        other = EmbeddedRegister(make_session_factory(other_engine), clock=clock)
        clock.advance(dt.timedelta(hours=3))  # the newest position: read last
        added = other.add_servant(
            {"person_id": key, "ministry": "MIN-MOH", "unit": "Labs", "title": "Analyst"}
        )
        assert register.person_and_servants(key)[1][-1] == added
        with other_engine.begin() as connection:
            connection.execute(
                update(PersonRow).where(PersonRow.id == key).values(email="new@example.com")
            )
        assert register.person_and_servants(key)[0].email == "new@example.com"
    finally:
        other_engine.dispose()


def test_an_engine_sharing_one_connection_reads_through_it(clock: FixedClock) -> None:
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    try:
        upgrade(engine)
        sessions = make_session_factory(engine)
        register = EmbeddedRegister(sessions, clock=clock)
        ids = _people(register, clock)
        assert reader_for(engine, _PERSON_AND_POSITIONS, label="register") is None
        for key in ids.values():
            assert _outcome(register.person_and_servants, key) == _outcome(
                _former_read, sessions, key
            )
    finally:
        engine.dispose()


def test_a_failing_database_is_the_registers_error_as_before(
    failing_sessions: sessionmaker[Session],
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    register = EmbeddedRegister(failing_sessions, clock=clock)

    def through_register() -> tuple[Any, list[tuple[str, str, Any]]]:
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            outcome = _outcome(register.person_and_servants, NO_ID)
        logged = [
            (r.name, r.getMessage(), getattr(r, "error", None))
            for r in caplog.records
            if r.levelno >= logging.INFO
        ]
        return outcome, logged

    held = through_register()
    with monkeypatch.context() as patched:
        _no_reader(patched)
        connection = through_register()
    with monkeypatch.context() as patched:
        patched.setattr(registry.service, "read_person_and_servants", _former_read)
        former = through_register()
    assert held == connection == former
    (kind, message), logged = held
    assert kind is RegistryUnavailable
    assert message.startswith("the register's database failed (") and "SELECT" not in message
    assert [(name, text) for name, text, _error in logged] == [
        ("registry.service", "register database error")
    ]
