"""The database layer behaves the same on SQLite and PostgreSQL for what NatID relies on."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, select, text

from core.db import UTCDateTime
from core.errors import InvalidInput


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
            back = conn.execute(select(table.c.at)).scalar_one()
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
