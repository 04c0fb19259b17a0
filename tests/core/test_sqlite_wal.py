"""WAL checkpoints in the background thread (core/sqlite_wal.py), not in a request's commit."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import StaticPool

from core import sqlite_wal
from core.db import make_engine


def _open_paths() -> set[str]:
    """The files this process has open (Linux ``/proc``)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return found


def _wal_engine(tmp_path: Path) -> tuple[Engine, Path]:
    path = tmp_path / "natid.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)"))
    return engine, path


def test_request_connections_keep_only_the_backstop(tmp_path: Path) -> None:
    engine, path = _wal_engine(tmp_path)
    try:
        with engine.connect() as conn:
            backstop = conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one()
        assert backstop == sqlite_wal.BACKSTOP_PAGES
        assert path.resolve() in sqlite_wal.registered_paths()
    finally:
        engine.dispose()


def test_the_thread_copies_committed_pages_into_the_database_file(tmp_path: Path) -> None:
    engine, path = _wal_engine(tmp_path)
    try:
        before = path.stat().st_size
        # ~2 MB in 200 commits: below SQLite's own threshold (1,000 pages), so without the
        # thread nothing would reach the database file.
        for n in range(200):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO blobs (id, data) VALUES (:i, :d)"),
                             {"i": n, "d": os.urandom(10_000)})  # fmt: skip
        deadline = time.monotonic() + 10
        while path.stat().st_size < before + 2_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size >= before + 2_000_000
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM blobs")).scalar_one() == 200
    finally:
        engine.dispose()


def test_in_memory_databases_are_not_registered() -> None:
    memory = make_engine("sqlite://")
    uri = create_engine(
        "sqlite:///file:natid-wal-test?mode=memory&cache=shared&uri=true", poolclass=StaticPool
    )
    try:
        assert not sqlite_wal.is_file_database(memory)
        assert not sqlite_wal.is_file_database(uri)
        with pytest.raises(ValueError, match="only SQLite file databases"):
            sqlite_wal.register(memory)
    finally:
        memory.dispose()
        uri.dispose()


def test_dispose_releases_the_file_and_reuse_registers_again(tmp_path: Path) -> None:
    engine, path = _wal_engine(tmp_path)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO blobs (id, data) VALUES (1, x'00')"))
    sqlite_wal.checkpoint_now()
    assert str(path.resolve()) in _open_paths()  # the thread's own connection
    engine.dispose()
    # At once: the last connection's close merged the WAL into the file and removed it.
    assert path.resolve() not in sqlite_wal.registered_paths()
    assert str(path.resolve()) not in _open_paths()
    assert not path.with_name("natid.db-wal").exists()
    with engine.connect() as conn:  # an engine may be used again after dispose()
        conn.execute(text("SELECT 1"))
    assert path.resolve() in sqlite_wal.registered_paths()
    engine.dispose()


def test_a_failing_checkpoint_is_logged_without_details_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "not-a-database.db"
    path.write_bytes(b"secret-looking bytes, not SQLite " * 200)
    engine = make_engine(f"sqlite:///{path}")
    sqlite_wal.register(engine)
    try:
        with caplog.at_level(logging.DEBUG, logger="core.sqlite_wal"):
            sqlite_wal.checkpoint_now()
            sqlite_wal.checkpoint_now()
        failures = [r.getMessage() for r in caplog.records if "checkpoint failed" in r.message]
        assert failures == ["WAL checkpoint failed: DatabaseError"] * 2
        assert str(path.resolve()) not in _open_paths()  # the broken connection was closed
    finally:
        engine.dispose()


def test_an_unexpected_failure_is_logged_and_the_next_pass_runs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, path = _wal_engine(tmp_path)
    checkpointer = sqlite_wal._CHECKPOINTER
    calls: list[Path] = []

    def failing(checked: Path) -> None:
        calls.append(checked)
        raise RuntimeError("not a sqlite3 error")

    try:
        monkeypatch.setattr(checkpointer, "_checkpoint", failing)
        with caplog.at_level(logging.WARNING, logger="core.sqlite_wal"):
            checkpointer.pass_safely()
            checkpointer.pass_safely()
        assert path.resolve() in calls
        failures = [r.getMessage() for r in caplog.records if "pass failed" in r.message]
        assert failures[:2] == ["WAL checkpoint pass failed: RuntimeError"] * 2
        assert "not a sqlite3 error" not in caplog.text
    finally:
        monkeypatch.undo()
        engine.dispose()
