"""Alembic migrations for NatID's schema, and the helpers that run them.

``natid db upgrade``, ``natid init`` and ``natid serve`` call :func:`upgrade`; the test suite
builds every test database with it too, so the migrations are exercised on SQLite and
PostgreSQL on every run. ``alembic check`` (in ``make lint``) proves the models and the
migrations agree.

Several hosts started together each run ``natid serve``, and each migrates first, so
:func:`upgrade` must be safe to run concurrently against one database. Alembic takes no lock of
its own: two upgrades of an empty PostgreSQL database both found no ``alembic_version`` table,
both created it, and the second failed with a unique violation. So one upgrade at a time holds
the database's migration lock and the others wait for it, then find the schema at the newest
revision and do nothing:

- PostgreSQL: a session-level advisory lock (``pg_advisory_lock``, PostgreSQL manual §13.3.5)
  with NatID's fixed key :data:`MIGRATION_LOCK_KEY`, held on the migration connection around the
  whole upgrade. The server releases it when that session ends, so a killed upgrade does not
  leave it behind.
- SQLite: the upgrade's one transaction begins ``BEGIN IMMEDIATE`` (core/db.py), which takes the
  file's write lock; the others wait in SQLite's busy handler, given
  :data:`SQLITE_MIGRATION_WAIT_MS` on the migration connection rather than the engine's usual
  busy timeout, since a whole schema can take longer to build than a request is let wait.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, MetaData, func, select
from sqlalchemy.exc import DBAPIError

__all__ = [
    "MIGRATION_LOCK_KEY",
    "MODEL_MODULES",
    "SQLITE_MIGRATION_WAIT_MS",
    "alembic_config",
    "target_metadata",
    "upgrade",
]

log = logging.getLogger(__name__)

#: Every module that defines ORM tables. A package's tables are migrated once listed here.
MODEL_MODULES = (
    "core.models",
    "registry.models",
    "registry.event_models",
    "ca.models",
    "idp.models",
    "idp.account_models",
    "idp.consent_models",
    "idp.activation_models",
    "idp.recovery_models",
    "signing.models",
    "signing.workflow_models",
    "kyc.models",
    "kyc.request_models",
    "vaccine_cert.models",
)

#: The PostgreSQL advisory lock key :func:`upgrade` holds: the ASCII bytes of ``NatIDMIG`` as a
#: signed 64-bit integer. Advisory keys are per database, so it only has to differ from other
#: keys taken in NatID's own database.
MIGRATION_LOCK_KEY = int.from_bytes(b"NatIDMIG", "big", signed=True)

#: How long (milliseconds) an upgrade on SQLite waits for another one to finish: ten minutes.
SQLITE_MIGRATION_WAIT_MS = 600_000

_HERE = Path(__file__).resolve().parent


def target_metadata() -> MetaData:
    """Import every package's models and return the shared metadata."""
    for name in MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    from core.db import Base

    return Base.metadata


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision`` (default: the newest).

    Safe to run from several processes at once: each waits for the database's migration lock
    (module docstring), so one migrates and the others then find nothing to do. Not from
    several threads of one process: Alembic keeps the running migration's context in module
    globals.
    """
    # Import the models (seconds on a small host) before taking the lock, so the others wait
    # only for the migration itself.
    target_metadata()
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection, _migration_lock(connection), connection.begin():
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


@contextmanager
def _migration_lock(connection: Connection) -> Iterator[None]:
    """Hold the database's migration lock on ``connection`` (outside any transaction)."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        with _pg_advisory_lock(connection):
            yield
    elif dialect == "sqlite":
        with _sqlite_busy_timeout(connection, SQLITE_MIGRATION_WAIT_MS):
            yield
    else:  # NatID runs on these two (core/db.py); another database migrates unlocked.
        yield


@contextmanager
def _pg_advisory_lock(connection: Connection) -> Iterator[None]:
    if not connection.scalar(select(func.pg_try_advisory_lock(MIGRATION_LOCK_KEY))):
        log.info("another process is migrating this database; waiting for it to finish")
        connection.execute(select(func.pg_advisory_lock(MIGRATION_LOCK_KEY)))
    try:
        # A session-level lock outlives the transaction the query above began.
        connection.commit()
        yield
    finally:
        try:
            connection.execute(select(func.pg_advisory_unlock(MIGRATION_LOCK_KEY)))
            connection.commit()
        except DBAPIError:
            # The session is broken (the server restarted, say), which has ended its locks;
            # the connection must not go back to the pool either way. Whatever broke the
            # session is the error the caller hears, from the upgrade or the next use.
            connection.invalidate()


@contextmanager
def _sqlite_busy_timeout(connection: Connection, milliseconds: int) -> Iterator[None]:
    # On the driver's connection: a statement through SQLAlchemy would begin a transaction,
    # and core/db.py begins every one with BEGIN IMMEDIATE, the very lock being waited for.
    raw = connection.connection.driver_connection
    assert raw is not None
    previous = raw.execute("PRAGMA busy_timeout").fetchone()[0]
    raw.execute(f"PRAGMA busy_timeout={int(milliseconds)}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(previous)}")
