"""Shared fixtures: databases on SQLite and PostgreSQL, clocks, and required-tool checks.

Every test that takes ``engine`` or ``session_factory`` runs twice: on SQLite (always) and on
PostgreSQL (``NATID_TEST_DATABASE_URL``; CI sets it). Each database is built by the Alembic
migrations, so the migrations are tested with everything else.

A test that needs an outside tool (SoftHSM2, PostgreSQL, Redis, openssl, ...) calls
:func:`require` or uses a fixture that does: on a developer machine a missing tool skips with
the reason; under ``CI=true`` it fails, so a missing install step can never pass silently.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from core.cache import CacheError, RedisCache
from core.clock import FixedClock
from core.db import make_engine, make_session_factory
from migrations import target_metadata, upgrade

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, what: str) -> None:
    """Skip (developer machine) or fail (CI) when a needed tool or service is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {what} is missing: install it (make install) or fix CI")
    pytest.skip(f"{what} is missing")


def require_command(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"the command {name!r}")
    assert path is not None
    return path


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC))


# --- a Redis of a test's own -------------------------------------------------------------------


@pytest.fixture
def evicting_redis(tmp_path: Path) -> Iterator[str]:
    """A Redis of the test's own (a unix socket, nothing on disk) with a memory limit and
    ``maxmemory-policy volatile-lru``: it would drop keys that have a time to live."""
    server = require_command("redis-server")
    sock = tmp_path / "redis.sock"
    proc = subprocess.Popen(
        [server, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path), "--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"unix://{sock}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                RedisCache.from_url(url).ping()
                break
            except CacheError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.02)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (much faster than migrating again)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "natid.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    # Closing the last connection checkpoints the WAL into the main file, so a plain copy of
    # natid.db is the whole database.
    engine.dispose()
    assert not path.with_name("natid.db-wal").exists()
    return path


@pytest.fixture(scope="session")
def _postgres_db() -> Iterator[tuple[str, dict[str, list[dict[str, object]]]]]:
    """A fresh PostgreSQL database for this test session (and xdist worker), migrated once.

    Yields its URL and the rows the migrations themselves seeded (the ledger's head row, the
    transparency log's head row), so tests can start from exactly a freshly migrated state.
    """
    base = os.environ.get("NATID_TEST_DATABASE_URL")
    require(bool(base), "PostgreSQL (set NATID_TEST_DATABASE_URL)")
    assert base is not None
    name = f"natid_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    seeded: dict[str, list[dict[str, object]]] = {}
    with engine.connect() as conn:
        for table in target_metadata().sorted_tables:
            rows = [dict(r._mapping) for r in conn.execute(table.select())]
            if rows:
                seeded[table.name] = rows
    engine.dispose()
    try:
        yield url, seeded
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _reset_to_migrated(engine: Engine, seeded: dict[str, list[dict[str, object]]]) -> None:
    """Empty every table, then put back the rows the migrations seed."""
    metadata = target_metadata()
    tables = [t.name for t in metadata.sorted_tables]
    with engine.begin() as conn:
        quoted = ", ".join(f'"{t}"' for t in tables)
        conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        for name, rows in seeded.items():
            conn.execute(metadata.tables[name].insert(), rows)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        target = tmp_path / "natid.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    url, seeded = request.getfixturevalue("_postgres_db")
    engine = make_engine(url)
    _reset_to_migrated(engine, seeded)
    engine.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def pg_migrated_engine(
    _postgres_db: tuple[str, dict[str, list[dict[str, object]]]],
) -> Iterator[Engine]:
    """A PostgreSQL engine on a freshly migrated database, for tests about PostgreSQL alone
    (a lost server connection, say): nothing to skip on the SQLite leg."""
    url, seeded = _postgres_db
    eng = make_engine(url)
    _reset_to_migrated(eng, seeded)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture(params=["no tables", "unreachable"])
def failing_sessions(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path
) -> Iterator[sessionmaker[Session]]:
    """Sessions over a database that fails: one without the tables, or one that cannot be
    reached at all (for the held-read paths, which must fail as the general path does)."""
    engine: Engine
    if db_url.startswith("sqlite"):
        path = tmp_path / ("empty.db" if request.param == "no tables" else "missing/dir.db")
        engine = make_engine(f"sqlite:///{path}")
    elif request.param == "no tables":
        options = {"options": "-c search_path=natid_no_such_schema"}
        engine = create_engine(db_url, connect_args=options)
    else:
        missing = make_url(db_url).set(database="natid_no_such_database")
        engine = create_engine(missing.render_as_string(hide_password=False))
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


# The one SoftHSM2 token directory of the session (tests/_softhsm.py says why there is one).
from tests._softhsm import softhsm  # noqa: E402, F401
