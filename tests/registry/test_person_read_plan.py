"""The code exchange's person read searches by ``person_id`` however many civil servants there are.

Every login reads the person and their positions (registry/person_read.py, decision 1). Pinned
here with a few thousand positions of other persons in the register: the statement's plan
searches ``registry_civil_servants`` through its ``person_id`` index and never scans it (SQLite:
``EXPLAIN QUERY PLAN``, as the database ships, without ``ANALYZE``; PostgreSQL: ``EXPLAIN``
after ``ANALYZE``), and the read still answers as the ORM's ``get_person``/``servants_of_person``
for persons with no, one and several positions among them. On SQLite, a position whose ministry
is missing (written with foreign keys off) is left out, as the former inner join left it out.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.clock import FixedClock
from core.db import make_engine, make_session_factory
from registry.models import CivilServantRow, PersonRow
from registry.person_read import _PERSON_AND_POSITIONS, read_person_and_servants
from registry.service import EmbeddedRegister
from tests.registry.test_person_read import _former_read, _people, _typed

#: Positions of other persons: enough that a scan costs milliseconds and a planner with
#: statistics (PostgreSQL after ANALYZE) has every reason to search the index.
OTHERS = 3000
INDEX = "ix_registry_civil_servants_person_id"


def _crowd(sessions: sessionmaker[Session], ministry_id: str, count: int) -> list[str]:
    """``count`` persons with one position each, inserted in bulk; their ids."""
    at = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    persons = [
        {"id": str(uuid.uuid4()), "national_id": f"{200000000 + n}", "family_name_km": "កែវ",
         "given_name_km": "សុភា", "family_name_latin": "Keo", "given_name_latin": "Sophea",
         "birthdate": dt.date(1985, 1, 1), "sex": "F", "nationality": "KHM", "address": None,
         "phone": None, "email": None, "status": "active", "created_at": at, "updated_at": at}
        for n in range(count)
    ]  # fmt: skip
    servants = [
        {"id": str(uuid.uuid4()), "person_id": p["id"], "ministry_id": ministry_id,
         "unit": "Provincial Office", "title": "Officer", "unit_km": None, "title_km": None,
         "employee_number": f"E{n:06d}", "active": True, "created_at": at, "updated_at": at}
        for n, p in enumerate(persons)
    ]  # fmt: skip
    with sessions.begin() as session:
        session.execute(insert(PersonRow), persons)
        session.execute(insert(CivilServantRow), servants)
    return [str(p["id"]) for p in persons]


def _plan(engine: Engine, key: str) -> list[str]:
    """The database's plan of the read's own statement for person ``key``, one line per step."""
    sql = str(
        _PERSON_AND_POSITIONS.params(b_id=key).compile(
            dialect=engine.dialect, compile_kwargs={"literal_binds": True}
        )
    )
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            # Rows of (id, parent, notused, detail).
            return [row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
        connection.execute(text("ANALYZE registry_persons, registry_civil_servants"))
        return [row[0] for row in connection.exec_driver_sql("EXPLAIN " + sql)]


def test_the_read_searches_the_person_id_index_among_thousands_of_positions(
    register: EmbeddedRegister,
    session_factory: sessionmaker[Session],
    engine: Engine,
    clock: FixedClock,
) -> None:
    ids = _people(register, clock)
    health = register.servants_of_person(ids["single"])[0].ministry_id
    others = _crowd(session_factory, health, OTHERS)

    plan = _plan(engine, ids["several"])
    servant_steps = [step for step in plan if "registry_civil_servants" in step]
    if engine.dialect.name == "sqlite":
        assert servant_steps, plan
        assert all(step.startswith(f"SEARCH registry_civil_servants USING INDEX {INDEX} (")
                   for step in servant_steps), plan  # fmt: skip
        assert not any(step.startswith(("SCAN", "MATERIALIZE")) for step in plan), plan
    else:
        assert any(INDEX in step for step in plan), plan
        assert not any("Seq Scan on registry_civil_servants" in step for step in plan), plan

    # Among them, every kind of person still reads as the ORM reads them.
    for name, key in {**ids, "one of the others": others[OTHERS // 2]}.items():
        expected = _typed((register.get_person(key), register.servants_of_person(key)))
        assert _typed(read_person_and_servants(session_factory, key)) == expected, name
    assert len(register.person_and_servants(ids["several"])[1]) == 4


def test_a_position_without_its_ministry_is_left_out_as_before(
    _sqlite_template: Path, tmp_path: Path, clock: FixedClock
) -> None:
    path = tmp_path / "natid.db"
    shutil.copyfile(_sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    # A plain SQLite connection: foreign keys off, as a database written without core/db.py's
    # PRAGMA would have them.
    unchecked = create_engine(f"sqlite:///{path}")
    try:
        sessions = make_session_factory(engine)
        register = EmbeddedRegister(sessions, clock=clock)
        ids = _people(register, clock)
        health = register.servants_of_person(ids["single"])[0].ministry_id
        at = clock.now() + dt.timedelta(days=1)
        missing = str(uuid.uuid4())
        with unchecked.begin() as connection:
            connection.execute(
                insert(CivilServantRow),
                [
                    {"id": str(uuid.uuid4()), "person_id": key, "ministry_id": ministry_id,
                     "unit": "Ghost Office", "title": "Nobody", "active": True,
                     "created_at": at, "updated_at": at}
                    for key, ministry_id in (
                        (ids["bare"], missing), (ids["single"], missing),
                        (ids["several"], health), (ids["several"], missing),
                    )
                ],
            )  # fmt: skip
        for name, key in ids.items():
            read = _typed(read_person_and_servants(sessions, key))
            assert read == _typed(_former_read(sessions, key)), name
        # The bare person's only position has no ministry: no position, as before.
        assert register.person_and_servants(ids["bare"])[1] == ()
        assert len(register.person_and_servants(ids["single"])[1]) == 1
        several = register.person_and_servants(ids["several"])[1]
        assert len(several) == 5 and several[-1].unit == "Ghost Office"
    finally:
        unchecked.dispose()
        engine.dispose()
