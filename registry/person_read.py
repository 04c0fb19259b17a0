"""A person and their civil-service positions in one statement (the OpenID code exchange's read).

Every login's code exchange releases claims from the register person and their positions
(:meth:`registry.service.EmbeddedRegister.person_and_servants`, from
``idp.accounts.claims_subject_of_person``). Decisions:

1. **One statement, searched by ``person_id``.** The person, ``LEFT OUTER JOIN`` their
   positions on ``person_id``, ``LEFT OUTER JOIN`` each position's ministry; one row per
   position, oldest first (``created_at``, then ``id``); a person without positions is one row
   whose position columns are all NULL. One statement is one snapshot, so the person and their
   positions are read as consistent with each other as the former read transaction of two
   selects made them, in one round trip instead of two on PostgreSQL. The person's columns
   repeat on each row; a person holds a handful of positions at most. The positions are not
   written as an inner join of position and ministry inside the outer join (``persons LEFT JOIN
   (civil_servants JOIN legal_entities)``): SQLite materialises that parenthesised join whole,
   a scan of every civil servant at every login, where two left joins search the ``person_id``
   index (PostgreSQL searches it either way; tests/registry/test_person_read_plan.py pins both
   plans). The answer is still the inner join's. A position always has its ministry:
   ``ministry_id`` is NOT NULL with a foreign key, enforced on PostgreSQL and, on SQLite, by
   core/db.py's ``PRAGMA foreign_keys=ON``, and the register deletes no legal entity. Should a
   row lack its ministry all the same (written with foreign keys off), its NULL
   ``ministry_name_en`` (NOT NULL in ``registry_legal_entities``) marks it and it is dropped
   when the records are built, as the inner join dropped it, rather than read as a position
   without a ministry name.
2. **Held connections** (core/held_read.py) when ``sessions`` is bound to an Engine: no Session,
   no pool checkout, no ``BEGIN``/``ROLLBACK``; autocommit, so a change committed by any worker
   is read by the next call and nothing is cached. Engines that share one connection
   (in-memory SQLite) get no reader; the same statement then runs on a connection of the
   engine (or of a session, for other binds) in a deferred read transaction, as before.
3. **No transient ORM objects.** Values go through the column types' result processors on both
   paths (aware UTC times, ``Uuid`` strings, ``Date``, ``Boolean``) and are put straight into
   :class:`~registry.records.Person` and :class:`~registry.records.CivilServant`, converting
   what ``PersonRow.to_person`` / ``CivilServantRow.to_servant`` convert (``Sex`` and
   ``PersonStatus`` codes) and nothing else, so a person reads the same, field by field and
   type by type, whichever path read it (tests/registry/test_person_read.py compares them with
   the ORM's ``get_person``/``servants_of_person``). Building a ``PersonRow`` per call cost
   ~40 µs of instrumentation alone.
4. **Failures** are the SQLAlchemy errors the general path raises (the held reader's
   ``on_failure`` is :func:`core.held_read.sqlalchemy_error`), which the register turns into
   :class:`~registry.errors.RegistryUnavailable` and its "register database error" log line, on
   either path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from core.held_read import reader_for, sqlalchemy_error
from registry.errors import SubjectNotFound
from registry.models import CivilServantRow, LegalEntityRow, PersonRow
from registry.records import CivilServant, Person, PersonStatus, Sex

__all__ = ["read_person_and_servants"]

_P = PersonRow.__table__.c
_S = CivilServantRow.__table__.c
_E = LegalEntityRow.__table__.c
#: The person's columns, in the order of :class:`Person`'s fields.
_PERSON_COLUMNS = (
    _P.id,
    _P.national_id,
    _P.family_name_km,
    _P.given_name_km,
    _P.family_name_latin,
    _P.given_name_latin,
    _P.birthdate,
    _P.sex,
    _P.nationality,
    _P.address,
    _P.phone,
    _P.email,
    _P.status,
    _P.created_at,
    _P.updated_at,
)
#: A position's columns, in the order of :class:`CivilServant`'s fields.
_SERVANT_COLUMNS = (
    _S.id,
    _S.person_id,
    _S.ministry_id,
    _E.name_en.label("ministry_name_en"),
    _E.name_km.label("ministry_name_km"),
    _S.unit,
    _S.title,
    _S.unit_km,
    _S.title_km,
    _S.employee_number,
    _S.active,
    _S.created_at,
    _S.updated_at,
)
_WIDTH = len(_PERSON_COLUMNS)
#: ``ministry_name_en``'s place in a row: NULL only where no ministry joined (decision 1).
_MINISTRY_NAME = _WIDTH + 3
# Two left joins, not a left join of an inner join: SQLite materialises the latter (decision 1).
_PERSON_AND_POSITIONS: Select[Any] = (
    select(*_PERSON_COLUMNS, *_SERVANT_COLUMNS)
    .select_from(
        PersonRow.__table__.outerjoin(CivilServantRow.__table__, _S.person_id == _P.id).outerjoin(
            LegalEntityRow.__table__, _S.ministry_id == _E.id
        )
    )
    .where(_P.id == bindparam("b_id"))
    .order_by(_S.created_at, _S.id)
)


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


def _rows(sessions: sessionmaker[Session], key: str) -> Sequence[Sequence[Any]]:
    """The statement's rows for person ``key``: held (decision 2) or through a connection."""
    params = {"b_id": key}
    bind = sessions.kw.get("bind")
    if isinstance(bind, Engine):
        reader = reader_for(
            bind, _PERSON_AND_POSITIONS, on_failure=sqlalchemy_error, label="register"
        )
        if reader is not None:
            return reader.fetch_all(params)
    with _connection(sessions) as connection:
        return connection.execute(_PERSON_AND_POSITIONS, params).all()


def _person(row: Sequence[Any]) -> Person:
    """What ``PersonRow.to_person`` makes of the person's columns (decision 3)."""
    return Person(
        id=row[0],
        national_id=row[1],
        family_name_km=row[2],
        given_name_km=row[3],
        family_name_latin=row[4],
        given_name_latin=row[5],
        birthdate=row[6],
        sex=Sex(row[7]) if row[7] is not None else None,
        nationality=row[8],
        address=row[9],
        phone=row[10],
        email=row[11],
        status=PersonStatus(row[12]),
        created_at=row[13],
        updated_at=row[14],
    )


def read_person_and_servants(
    sessions: sessionmaker[Session], key: str
) -> tuple[Person, tuple[CivilServant, ...]]:
    """Person ``key`` (a canonical id) and their positions, oldest first, in one read.

    :raises SubjectNotFound: there is no such person. Database errors propagate as SQLAlchemy
        errors (the register turns them into :class:`~registry.errors.RegistryUnavailable`).
    """
    rows = _rows(sessions, key)
    if not rows:
        raise SubjectNotFound(f"no person with id {key}")
    person = _person(rows[0])
    if rows[0][_WIDTH] is None:  # no position: the outer join's one row of NULLs
        return person, ()
    # What ``CivilServantRow.to_servant`` makes of them: every value as read (decision 3); a
    # position without its ministry is dropped, as the inner join dropped it (decision 1).
    return person, tuple(
        CivilServant(*row[_WIDTH:]) for row in rows if row[_MINISTRY_NAME] is not None
    )
