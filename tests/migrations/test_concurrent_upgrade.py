"""Several upgrades of one database at once (migrations/__init__.py): hosts started together
each run ``natid serve``, which migrates first. One migrates; the others wait for the migration
lock, then find the schema at the newest revision. Without the lock two upgrades of an empty
PostgreSQL database both created ``alembic_version`` and the second failed with a unique
violation.

The upgrades run in processes of their own, as they do on separate hosts: Alembic keeps its
migration context in module globals, so two upgrades in threads of one process get in each
other's way whatever the database does.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from core.db import make_engine
from migrations import MIGRATION_LOCK_KEY, alembic_config, target_metadata
from tests._env import environ_without_natid
from tests.conftest import require

_SPAWN = multiprocessing.get_context("spawn")


def _upgrade_in_step(url: str, barrier: Barrier, results: Any) -> None:
    """One upgrade, in a process of its own, started when every other one is ready too."""
    from migrations import upgrade

    engine = make_engine(url)
    target_metadata()  # the imports, so that every upgrade reaches the lock at once
    barrier.wait(timeout=120)
    try:
        upgrade(engine)
        results.put("ok")
    except Exception as exc:  # reported to the test, which shows it
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()


def _upgrade_together(url: str, count: int) -> list[str]:
    barrier = _SPAWN.Barrier(count)
    results = _SPAWN.Queue()
    processes = [
        _SPAWN.Process(target=_upgrade_in_step, args=(url, barrier, results)) for _ in range(count)
    ]
    for process in processes:
        process.start()
    try:
        return [results.get(timeout=300) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()


def _head(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def _assert_migrated_once(engine: Engine, url: str) -> None:
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        tables = set(inspect(conn).get_table_names())
    assert versions == [_head(url)]
    assert {t.name for t in target_metadata().sorted_tables} <= tables


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own with nothing in it: not even ``alembic_version``."""
    base = os.environ.get("NATID_TEST_DATABASE_URL")
    require(bool(base), "PostgreSQL (set NATID_TEST_DATABASE_URL)")
    assert base is not None
    name = f"natid_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_hosts_migrating_an_empty_postgres_database_at_once_all_succeed(
    empty_postgres_url: str,
) -> None:
    assert _upgrade_together(empty_postgres_url, 2) == ["ok", "ok"]
    engine = make_engine(empty_postgres_url)
    try:
        _assert_migrated_once(engine, empty_postgres_url)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_an_upgrade_waits_while_another_holds_the_migration_lock(
    empty_postgres_url: str, tmp_path: Path
) -> None:
    """The lock, not luck in timing, is what orders them: an upgrade started while the lock is
    held waits on it without touching the schema, and migrates once it is released."""
    engine = make_engine(empty_postgres_url)
    holder = engine.connect()
    try:
        holder.execute(select(func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
        holder.commit()
        upgrade = subprocess.Popen(
            [Path(sys.executable).with_name("natid"), "db", "upgrade", "--data-dir", str(tmp_path)],
            env={**_without_natid_env(), "NATID_DATABASE_URL": empty_postgres_url},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            _wait_for_an_advisory_lock_waiter(engine, upgrade)
            with engine.connect() as conn:
                assert "alembic_version" not in inspect(conn).get_table_names()
            holder.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
            holder.commit()
            out, err = upgrade.communicate(timeout=300)
        finally:
            if upgrade.poll() is None:
                upgrade.kill()
                upgrade.wait()
        assert (upgrade.returncode, err) == (0, ""), err
        assert out == "database is at the newest revision\n"
        _assert_migrated_once(engine, empty_postgres_url)
    finally:
        holder.close()
        engine.dispose()


@pytest.mark.postgres
def test_a_failed_upgrade_leaves_the_migration_lock_free(empty_postgres_url: str) -> None:
    """The lock is a session's and the session goes back to the pool: one left behind by a
    failed upgrade would make every later start wait for ever."""
    from migrations import upgrade

    engine = make_engine(empty_postgres_url)
    # Another host: a session of its own (the lock is re-entrant within one session).
    elsewhere = make_engine(empty_postgres_url)
    try:
        with pytest.raises(CommandError):
            upgrade(engine, "no_such_revision")
        with elsewhere.connect() as other:
            assert other.scalar(select(func.pg_try_advisory_lock(MIGRATION_LOCK_KEY))) is True
            other.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
        upgrade(engine)
        _assert_migrated_once(engine, empty_postgres_url)
    finally:
        elsewhere.dispose()
        engine.dispose()


def _without_natid_env() -> dict[str, str]:
    return environ_without_natid()


def _wait_for_an_advisory_lock_waiter(engine: Engine, process: subprocess.Popen[str]) -> None:
    """Until a session of this database waits for an advisory lock (the upgrade, which takes
    seconds to import NatID first); fails if the process ends first."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock' "
        "AND wait_event = 'advisory'"
    )
    deadline = time.monotonic() + 120
    while True:
        with engine.connect() as conn:
            if conn.scalar(query):
                return
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"the upgrade ended without waiting for the lock: {err}")
        if time.monotonic() > deadline:
            raise AssertionError("the upgrade did not reach the migration lock in 120 s")
        time.sleep(0.05)


@pytest.mark.slow
def test_processes_migrating_a_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'natid.db'}"
    assert _upgrade_together(url, 2) == ["ok", "ok"]
    engine = make_engine(url)
    try:
        _assert_migrated_once(engine, url)
    finally:
        engine.dispose()


def test_an_upgrade_leaves_the_sqlite_busy_timeout_as_it_found_it(tmp_path: Path) -> None:
    """The long wait for the migration lock is the migration connection's alone: afterwards the
    pooled connection gives up after the engine's usual timeout again."""
    from migrations import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'natid.db'}")
    try:
        with engine.connect() as conn:
            pooled = conn.connection.driver_connection
            before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.connection.driver_connection is pooled  # the one the upgrade used
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == before
    finally:
        engine.dispose()
