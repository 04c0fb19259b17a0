"""The database layer behaves the same on SQLite and PostgreSQL for what NatID relies on."""

from __future__ import annotations

import datetime as dt
import select
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, text
from sqlalchemy.exc import OperationalError

import core.db
from core.db import UTCDateTime, connection_lost, make_engine
from core.errors import DatabaseUnreachable, InvalidDatabaseURL, InvalidInput


def test_timestamps_round_trip_as_aware_utc(engine: Engine) -> None:
    metadata = MetaData()
    table = Table(
        "tz_probe", metadata, Column("id", Integer, primary_key=True), Column("at", UTCDateTime())
    )
    metadata.create_all(engine)
    ict = dt.timezone(dt.timedelta(hours=7))
    moment = dt.datetime(2026, 11, 1, 16, 30, 5, 123456, tzinfo=ict)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert().values(id=1, at=moment))
        with engine.connect() as conn:
            back = conn.execute(table.select().with_only_columns(table.c.at)).scalar_one()
    finally:
        metadata.drop_all(engine)
    assert back == moment
    assert back.utcoffset() == dt.timedelta(0)


def test_naive_timestamp_cannot_be_stored(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="naive"):
        UTCDateTime().process_bind_param(dt.datetime(2026, 1, 1), engine.dialect)


def test_migrations_reach_head(engine: Engine) -> None:
    from alembic.script import ScriptDirectory

    from migrations import alembic_config

    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as conn:
        versions = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    # One linear chain, and the test database is at its newest revision.
    assert head is not None
    assert versions == [head]


# --- PostgreSQL's pooled connections: dropped ones never reach a caller ----------------------


# These are about PostgreSQL's pool only, so they take a PostgreSQL engine of their own rather
# than the two-database ``engine`` fixture (nothing to skip on the SQLite leg).


@pytest.fixture
def pg_url(_postgres_db: tuple[str, Any]) -> str:
    return _postgres_db[0]


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url)
    try:
        yield eng
    finally:
        eng.dispose()


def _pool_of(engine: Engine, size: int) -> list[int]:
    """Check out ``size`` connections at once, then return them all to the pool; their pids."""
    conns = [engine.connect() for _ in range(size)]
    pids = [int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in conns]
    for c in conns:
        c.close()
    return pids


def _count_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_conn: Any) -> bool:
        pings.append(1)
        return real(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


@pytest.mark.postgres
def test_idle_pooled_connection_is_used_without_a_ping(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _pool_of(pg_engine, 1)
    pings = _count_pings(pg_engine, monkeypatch)
    assert _pool_of(pg_engine, 1) == first
    assert pings == []


@pytest.mark.postgres
def test_long_idle_connection_is_pinged(pg_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection dropped silently (a firewall's idle timeout) sends nothing: age decides."""
    first = _pool_of(pg_engine, 1)
    pings = _count_pings(pg_engine, monkeypatch)
    monkeypatch.setattr(core.db, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert _pool_of(pg_engine, 1) == first
    assert pings == [1]


@pytest.mark.postgres
def test_terminated_backends_are_replaced_without_error(
    pg_url: str, pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_terminate_backend (as a server restart or an idle timeout does to every session):
    each request after it gets a working connection, none sees the dropped one."""
    old = _pool_of(pg_engine, 3)
    pings = _count_pings(pg_engine, monkeypatch)
    admin = make_engine(pg_url)
    try:
        with admin.connect() as conn:
            for pid in old:
                # With a timeout, the call returns once the backend has exited.
                assert conn.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})
    finally:
        admin.dispose()
    for _ in range(3):
        with pg_engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            assert pid not in old
    assert pings  # the pool noticed by itself
    assert set(_pool_of(pg_engine, 3)).isdisjoint(old)


@pytest.mark.postgres
def test_pooled_connection_with_a_notification_is_kept(
    pg_url: str, pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Something other than a goodbye arrived while pooled: the ping runs, and succeeds."""
    with pg_engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        conn.execute(text("LISTEN natid_pool_probe"))
        conn.commit()
        fd = conn.connection.dbapi_connection.fileno()  # type: ignore[union-attr]
    pings = _count_pings(pg_engine, monkeypatch)
    admin = make_engine(pg_url)
    try:
        with admin.begin() as conn:
            conn.execute(text("NOTIFY natid_pool_probe"))
    finally:
        admin.dispose()
    # The listening backend sends the notification when it next idles: wait until it has.
    assert select.select([fd], [], [], 10)[0]
    with pg_engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
    assert pings == [1]


# --- database URLs that cannot be used; connections lost under a statement -------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        # The password s3cret@pass:w0rd, unencoded: SQLAlchemy reads the port as "w0rd@db.example".
        (
            "postgresql+psycopg://natid:s3cret@pass:w0rd@db.example/natid",
            "the port must be a number (percent-encode an @, : or / in the user name or password)",
        ),
        # The password s3cret@w0rd, unencoded: the host would be "w0rd@db.example".
        (
            "postgresql+psycopg://natid:s3cret@w0rd@db.example:5432/natid",
            "its host name has an @ in it (percent-encode an @, : or / in the user name or "
            "password)",
        ),
        (
            "natid:s3cret-w0rd@db.example/natid",
            "expected postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE or sqlite:///PATH",
        ),
        (
            "postgres+psycopg://natid:s3cret-w0rd@db.example/natid",
            "unknown database or driver 'postgres+psycopg'; NatID runs on postgresql+psycopg "
            "and sqlite",
        ),
        (
            "sqlite://natid:s3cret-w0rd@db.example/natid.db",
            "a SQLite URL names a file, sqlite:///RELATIVE/PATH or sqlite:////ABSOLUTE/PATH",
        ),
    ],
    ids=["port-not-a-number", "host-with-an-at", "no-dialect", "unknown-dialect", "sqlite-host"],
)
def test_unusable_url_is_an_error_that_quotes_no_part_of_the_password(
    url: str, reason: str
) -> None:
    with pytest.raises(InvalidDatabaseURL) as info:
        make_engine(url)
    assert str(info.value) == f"the database URL is not valid: {reason}"
    assert info.value.code == "invalid_database_url"
    # Nor does SQLAlchemy's error ride along into a logged traceback.
    logged = "".join(traceback.format_exception(info.value))
    assert "w0rd" not in logged
    assert "s3cret" not in logged


def test_url_naming_a_driver_that_is_not_installed_is_an_invalid_database_url() -> None:
    with pytest.raises(InvalidDatabaseURL) as info:
        make_engine("oracle+oracledb://natid:s3cret@db.example/natid")
    assert str(info.value) == (
        "the database URL is not valid: the driver of 'oracle+oracledb' cannot be loaded "
        "(No module named 'oracledb'); NatID runs on postgresql+psycopg and sqlite"
    )


@pytest.mark.parametrize(
    ("driver_says", "reason"),
    [
        (
            "terminating connection due to administrator command",
            "terminating connection due to administrator command",
        ),
        (
            "consuming input failed: server closed the connection unexpectedly\n"
            "\tThis probably means the server terminated abnormally",
            "server closed the connection unexpectedly",
        ),
        ("the connection to natid:s3cret was lost", "the connection to natid:*** was lost"),
    ],
    ids=["terminated", "server-gone", "password-in-the-reason"],
)
def test_connection_lost_says_where_and_why_but_never_the_statement(
    driver_says: str, reason: str
) -> None:
    error = OperationalError(
        "UPDATE persons SET status = %(status)s WHERE persons.national_id = %(national_id)s",
        {"status": "deceased", "national_id": "012345678"},
        Exception(driver_says),
        connection_invalidated=True,
    )
    lost = connection_lost("postgresql+psycopg://natid:s3cret@db.example:5432/natid", error)
    assert isinstance(lost, DatabaseUnreachable)
    assert lost.code == "database_unreachable"
    assert str(lost) == (
        f"lost the connection to the database at db.example:5432 (postgresql): {reason}"
    )
