"""WAL checkpoints of SQLite databases in a background thread, off the request path.

In WAL mode (core/db.py) a commit appends pages to the ``-wal`` file; a *checkpoint* copies them
back into the database file and, with ``synchronous=NORMAL``, syncs both files to disk. By
default SQLite runs it inside whichever commit pushes the WAL past 1,000 pages, so one request
in a hundred or so waits for two ``fsync`` calls. On the development machine those commits took
10-50 ms instead of ~50 µs; under the OpenID provider's benchmark load (two commits per login,
~900 commits per second) that stalled the one event loop several times a second, for every
request it was serving. Decisions:

1. **One daemon thread per process** runs ``PRAGMA wal_checkpoint(PASSIVE)`` on each registered
   database every :data:`INTERVAL_SECONDS`, on a connection of its own. A passive checkpoint
   never waits for readers or writers and never blocks them (SQLite's checkpoint lock is its
   own); Python's ``sqlite3`` releases the GIL while SQLite works, so the copy and the syncs no
   longer hold up the event loop or any request thread. With nothing new in the WAL the call
   only reads the WAL index (a few microseconds). Several worker processes may each run one;
   SQLite lets one checkpoint run at a time and the others return at once.
2. **The requests' connections keep a backstop**: their ``wal_autocheckpoint`` is raised to
   :data:`BACKSTOP_PAGES` (about 40 MB of WAL) instead of being turned off, so if this thread
   ever stops or falls behind, the WAL still cannot grow without bound; a commit then
   checkpoints as before.
3. **Lifetime follows the engine**: core/db.py registers an engine when it opens a connection,
   and :func:`register` takes the engine weakly. ``dispose()`` closes the thread's connection to
   that database before it returns (unless another live engine uses the same file), so the
   last connection's close still merges the WAL into the database file and removes it, as it
   did before this thread; an engine that is garbage-collected without ``dispose()`` loses
   that connection at the next pass. Nothing keeps a database file open after its engine is
   gone. An engine used again after
   ``dispose()`` registers again with its next connection. A failing
   checkpoint (database deleted, disk full) is logged at DEBUG without its message and retried
   at the next pass; anything else a pass raises is logged as a WARNING, by type only, and
   the thread goes on.
4. **Only file databases**: in-memory databases have no WAL (:func:`is_file_database`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from sqlalchemy import Engine, event

__all__ = [
    "BACKSTOP_PAGES",
    "INTERVAL_SECONDS",
    "checkpoint_now",
    "is_file_database",
    "register",
    "registered_paths",
]

log = logging.getLogger(__name__)

#: How often the thread checkpoints each database (decision 1).
INTERVAL_SECONDS = 0.2
#: The requests' connections' ``wal_autocheckpoint`` (decision 2), in pages.
BACKSTOP_PAGES = 10_000


def is_file_database(engine: Engine) -> bool:
    """Whether ``engine`` is SQLite on a file (decision 4)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return False
    return engine.url.query.get("mode") != "memory" and "mode=memory" not in database


class _Checkpointer:
    """The process's one checkpoint thread and the databases it looks after."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engines: weakref.WeakKeyDictionary[Engine, Path] = weakref.WeakKeyDictionary()
        self._connections: dict[Path, sqlite3.Connection] = {}
        self._pass_lock = threading.Lock()  # the thread's passes and checkpoint_now()
        self._thread: threading.Thread | None = None

    def register(self, engine: Engine, path: Path) -> None:
        with self._lock:
            if self._engines.get(engine) == path:
                return
            self._engines[engine] = path
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="natid-sqlite-checkpoint", daemon=True
                )
                self._thread.start()
        if not event.contains(engine, "engine_disposed", self._disposed):
            event.listen(engine, "engine_disposed", self._disposed)

    def paths(self) -> set[Path]:
        with self._lock:
            return set(self._engines.values())

    def _disposed(self, engine: Engine) -> None:
        with self._lock:
            path = self._engines.pop(engine, None)
            if path is None or path in self._engines.values():
                return
        # Now, not at the next pass: SQLite merges the WAL into the database file and removes
        # it when the last connection closes, which callers of dispose() rely on (a copy of
        # the file is then the whole database).
        with self._pass_lock:
            connection = self._connections.pop(path, None)
            if connection is not None:
                _close(connection)

    def _run(self) -> None:
        while True:
            time.sleep(INTERVAL_SECONDS)
            self.pass_safely()

    def pass_safely(self) -> None:
        """:meth:`pass_once`, logging instead of raising whatever it raised (decision 3)."""
        try:
            self.pass_once()
        except Exception as exc:  # noqa: BLE001 - the thread must outlive any one failure
            log.warning("WAL checkpoint pass failed: %s", type(exc).__name__)

    def pass_once(self) -> None:
        """Checkpoint every registered database once; close connections no engine needs."""
        with self._pass_lock:
            live = self.paths()
            for path in [p for p in self._connections if p not in live]:
                _close(self._connections.pop(path))
            for path in live:
                self._checkpoint(path)

    def _checkpoint(self, path: Path) -> None:
        connection = self._connections.get(path)
        try:
            if connection is None:
                if not path.exists():
                    return  # not created yet, or removed with its data directory
                connection = sqlite3.connect(
                    path, timeout=0, isolation_level=None, check_same_thread=False
                )
                self._connections[path] = connection
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except (sqlite3.Error, OSError) as exc:
            # Decision 3: a type name only; the next pass tries again on a new connection.
            log.debug("WAL checkpoint failed: %s", type(exc).__name__)
            stale = self._connections.pop(path, None)
            if stale is not None:
                _close(stale)


def _close(connection: sqlite3.Connection) -> None:
    try:
        connection.close()
    except sqlite3.Error:
        log.debug("closing a checkpoint connection failed", exc_info=True)


_CHECKPOINTER = _Checkpointer()


def register(engine: Engine) -> None:
    """Have the background thread checkpoint ``engine``'s database (a file SQLite engine)."""
    if not is_file_database(engine):
        raise ValueError("only SQLite file databases have a WAL to checkpoint")
    database = engine.url.database
    assert database is not None
    _CHECKPOINTER.register(engine, Path(database).resolve())


def registered_paths() -> set[Path]:
    """The database files the thread looks after now (for tests and diagnostics)."""
    return _CHECKPOINTER.paths()


def checkpoint_now() -> None:
    """Run one pass in the calling thread (tests; the thread's own passes are the same)."""
    _CHECKPOINTER.pass_once()
