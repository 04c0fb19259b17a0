"""Held-connection reads with several named parameters and several rows (core/held_read.py).

:meth:`HeldReader.fetch_params` and :meth:`HeldReader.fetch_all` serve the reads that take
more than one value (a consent by account and client) or give more than one row (a person's
positions). Pinned here, on SQLite and PostgreSQL: values are bound and read exactly as through
SQLAlchemy; a commit by another connection is read by the next call; a failing database raises
the default ``StorageUnavailable`` (logged under the reader's label) or what the caller's
``on_failure`` makes of SQLAlchemy's own error; a reader's options cannot be silently swapped by
another caller.

The statements read a register table: the test databases are built by the migrations, and any
table with a ``Uuid`` key, a ``UTCDateTime`` and several rows per value serves.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from core.db import make_engine
from core.errors import StorageUnavailable
from core.held_read import EngineClosed, HeldReader, reader_for, sqlalchemy_error
from registry.models import LegalEntityRow

_ENTITIES = LegalEntityRow.__table__.c
#: Two parameters, one of them a ``Uuid`` (stored as 32 hex digits on SQLite), several rows.
_BY_KIND_AND_STATUS: Select[Any] = (
    select(_ENTITIES.id, _ENTITIES.register_no, _ENTITIES.created_at)
    .where(_ENTITIES.kind == bindparam("b_kind"), _ENTITIES.status == bindparam("b_status"))
    .order_by(_ENTITIES.register_no)
)
_BY_ID_AND_KIND: Select[Any] = select(_ENTITIES.register_no, _ENTITIES.created_at).where(
    _ENTITIES.id == bindparam("b_id"), _ENTITIES.kind == bindparam("b_kind")
)
AT = dt.datetime(2026, 11, 1, 9, 0, 0, 123456, tzinfo=dt.UTC)


def _add(engine: Engine, register_no: str, kind: str = "ministry") -> str:
    entity_id = str(uuid.uuid4())
    with engine.begin() as connection:
        connection.execute(
            insert(LegalEntityRow).values(
                id=entity_id, register_no=register_no, name_km="ក្រសួង", name_en=register_no,
                kind=kind, status="active", created_at=AT, updated_at=AT,
            )
        )  # fmt: skip
    return entity_id


def _general(engine: Engine, statement: Select[Any], params: dict[str, Any]) -> list[Any]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(statement, params)]


def test_several_parameters_and_rows_read_as_through_sqlalchemy(engine: Engine) -> None:
    ids = {no: _add(engine, no) for no in ("MIN-C", "MIN-A", "MIN-B")}
    _add(engine, "CO-1", kind="company")
    reader = HeldReader(engine, _BY_KIND_AND_STATUS, label="test")
    params = {"b_kind": "ministry", "b_status": "active"}
    rows = reader.fetch_all(params)
    assert rows == _general(engine, _BY_KIND_AND_STATUS, params)
    assert rows == [(ids[no], no, AT) for no in ("MIN-A", "MIN-B", "MIN-C")]
    assert rows[0][2].tzinfo is not None  # aware UTC, as UTCDateTime reads
    assert reader.fetch_params(params) == rows[0]
    assert reader.fetch_all({"b_kind": "ministry", "b_status": "dissolved"}) == []
    assert reader.fetch_params({"b_kind": "nothing", "b_status": "active"}) is None

    by_id = HeldReader(engine, _BY_ID_AND_KIND, label="test")
    params = {"b_id": ids["MIN-A"], "b_kind": "ministry"}
    assert by_id.fetch_params(params) == ("MIN-A", AT)  # the Uuid's bind processor ran
    # Whatever SQLAlchemy makes of another spelling (its callers pass canonical ids), so does
    # the reader.
    for entity_id in (ids["MIN-A"], ids["MIN-A"].upper(), ids["MIN-A"].replace("-", "")):
        params = {"b_id": entity_id, "b_kind": "ministry"}
        general = _general(engine, _BY_ID_AND_KIND, params)
        assert by_id.fetch_all(params) == general
        assert by_id.fetch_params(params) == (general[0] if general else None)
    assert by_id.fetch_params({"b_id": ids["MIN-A"], "b_kind": "company"}) is None


def test_wrong_parameters_are_refused(engine: Engine) -> None:
    reader = HeldReader(engine, _BY_KIND_AND_STATUS, label="test")
    for params in ({"b_kind": "ministry"}, {"b_kind": "x", "b_status": "y", "b_other": "z"}):
        with pytest.raises(ValueError, match="b_kind, b_status"):
            reader.fetch_all(params)
        with pytest.raises(ValueError, match="b_kind, b_status"):
            reader.fetch_params(params)
    with pytest.raises(ValueError, match="one bound parameter"):
        reader.fetch("ministry")
    fixed = select(_ENTITIES.id).where(_ENTITIES.kind == "ministry")
    with pytest.raises(ValueError, match="caller's values"):
        HeldReader(engine, fixed, label="test")


def test_a_commit_by_another_connection_is_read_by_the_next_call(
    engine: Engine, db_url: str
) -> None:
    reader = HeldReader(engine, _BY_KIND_AND_STATUS, label="test")
    params = {"b_kind": "ministry", "b_status": "active"}
    assert reader.fetch_all(params) == []
    assert reader.idle_connections() == 1
    other = make_engine(db_url)
    try:
        first = _add(other, "MIN-A")
        assert reader.fetch_all(params) == [(first, "MIN-A", AT)]
        second = _add(other, "MIN-B")
        assert [row[0] for row in reader.fetch_all(params)] == [first, second]
        with other.begin() as connection:
            connection.execute(
                update(LegalEntityRow).where(_ENTITIES.id == first).values(status="dissolved")
            )
        assert reader.fetch_all(params) == [(second, "MIN-B", AT)]
    finally:
        other.dispose()
    assert reader.idle_connections() == 1  # the same held connection all along


@pytest.fixture(params=["no tables", "unreachable"])
def failing_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / ("empty.db" if request.param == "no tables" else "missing/dir.db")
    engine = make_engine(f"sqlite:///{path}")
    try:
        yield engine
    finally:
        engine.dispose()


def test_failures_raise_the_default_error_or_the_callers(
    failing_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    params = {"b_kind": "ministry", "b_status": "active"}
    with caplog.at_level(logging.ERROR, logger="core.held_read"):
        with pytest.raises(StorageUnavailable, match=r"\(OperationalError\)") as caught:
            HeldReader(failing_engine, _BY_KIND_AND_STATUS, label="IdP").fetch_all(params)
        with pytest.raises(StorageUnavailable):
            HeldReader(failing_engine, _BY_KIND_AND_STATUS, label="KYC").fetch_params(params)
    assert [r.getMessage() for r in caplog.records] == [
        "IdP database error on a held read",
        "KYC database error on a held read",
    ]
    assert [getattr(r, "error", None) for r in caplog.records] == ["OperationalError"] * 2
    message = str(caught.value)
    assert message == "the IdP database failed (OperationalError) on a held read"
    assert caught.value.code == "storage_unavailable" and caught.value.http_status == 503

    seen: list[SQLAlchemyError] = []

    def on_failure(exc: SQLAlchemyError) -> Exception:
        seen.append(exc)
        return LookupError("the caller's own error")

    with pytest.raises(LookupError, match="the caller's own error"):
        HeldReader(
            failing_engine, _BY_KIND_AND_STATUS, on_failure=on_failure, label="test"
        ).fetch_all(params)
    assert len(seen) == 1 and isinstance(seen[0], OperationalError)  # what SQLAlchemy raises
    assert type(seen[0].orig).__name__ == "OperationalError"
    with pytest.raises(OperationalError):
        reader = HeldReader(
            failing_engine, _BY_KIND_AND_STATUS, on_failure=sqlalchemy_error, label="test"
        )
        reader.fetch_params(params)


def test_a_statements_reader_keeps_its_callers_options(engine: Engine) -> None:
    reader = reader_for(engine, _BY_ID_AND_KIND, on_failure=sqlalchemy_error, label="register")
    assert reader is not None
    again = reader_for(engine, _BY_ID_AND_KIND, on_failure=sqlalchemy_error, label="register")
    assert again is reader
    with pytest.raises(ValueError, match="another on_failure or label"):
        reader_for(engine, _BY_ID_AND_KIND, label="register")
    with pytest.raises(ValueError, match="another on_failure or label"):
        reader_for(engine, _BY_ID_AND_KIND, on_failure=sqlalchemy_error, label="IdP")


def test_a_reader_whose_engine_is_gone_fails_with_engine_closed(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gone.db'}")
    seen: list[SQLAlchemyError] = []

    def on_failure(exc: SQLAlchemyError) -> Exception:
        seen.append(exc)
        return LookupError("closed")

    default = HeldReader(engine, _BY_KIND_AND_STATUS, label="IdP")
    handled = HeldReader(engine, _BY_KIND_AND_STATUS, on_failure=on_failure, label="IdP")
    engine.dispose()
    del engine  # the readers hold it weakly
    gc.collect()
    params = {"b_kind": "ministry", "b_status": "active"}
    with pytest.raises(StorageUnavailable, match=r"^the IdP database engine is closed$"):
        default.fetch_all(params)
    with pytest.raises(LookupError, match="closed"):
        handled.fetch_params(params)
    assert len(seen) == 1 and isinstance(seen[0], EngineClosed)
