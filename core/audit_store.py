"""The audit ledger's statements on the DBAPI cursor, and its after-commit hooks.

An append is three statements - lock and read the head row, insert the entry, move the head -
inside a transaction, and every login, KYC release and signature pays for them. Through
``Connection.execute`` each cost 14-18 µs of CPU on SQLite (11 of them SQLAlchemy's
per-statement work: cache lookup, execution context, result object) and about 38 µs on
PostgreSQL; on the cursor they cost 1-3 µs and 17-21 µs. Attaching two session event listeners
per business transaction, to tell the ledger's listeners after the commit, cost another 30 µs.
Decisions:

1. **The SQL is SQLAlchemy's own.** The statements are compiled once per dialect by
   :class:`core.write_tx.Compiled`, exactly as the engine would, and each bound value passes
   through its type's bind processor (``UTCDateTime`` gives the same text on SQLite, the same
   UTC timestamp on PostgreSQL), so the driver sees the same statements and values: the stored
   rows - entries, the head, checkpoints - are the same byte for byte. What is kept per dialect
   depends only on the dialect and the schema, so it cannot go stale.
2. **The same transaction and lock.** The statements run on a :class:`core.write_tx.CursorTx`:
   either the DBAPI connection under the caller's SQLAlchemy ``Connection``, inside its
   transaction, or a write transaction of the caller's own (:func:`core.write_tx.
   write_transaction`, which begins with ``BEGIN IMMEDIATE`` on SQLite as core/db.py does).
   ``BEGIN IMMEDIATE`` on SQLite and ``SELECT ... FOR UPDATE`` of the head row on PostgreSQL
   still serialise appenders until that transaction ends.
3. **The same errors.** A driver error is raised as the exception SQLAlchemy raises for it
   (``DBAPIError.instance`` with the dialect's translation, so the ledger's ``AuditUnavailable``
   names the same class), and a lost connection - or an interrupt in the middle of a statement -
   invalidates the connection as SQLAlchemy does, so it is never reused (core/write_tx.py).
   Engine events (``before_cursor_execute``) and ``echo`` do not see these statements.
4. **Listeners after the commit, once per session class.** :func:`tell_after_commit` parks the
   entries in ``session.info`` and hooks ``after_commit``/``after_rollback`` once per session
   class instead of twice per session: the hook tells the parked entries on the commit and
   drops them on the rollback. SQLAlchemy fires both events for a SAVEPOINT too
   (``Session.begin_nested``; bulk issuance writes each batch in one): its release commits
   nothing, so the entries stay parked until the outermost transaction commits, and the
   listeners, which read and write through sessions of their own, see them committed (told at
   the release, they ran while the caller still held the write lock: "database is locked" on
   SQLite, rows not yet visible on PostgreSQL). Entries are parked with the (sub)transaction
   they were appended in, so rolling back a SAVEPOINT drops its own entries and keeps those of
   the transaction around it. A session of a hooked class with nothing parked pays one
   dictionary look-up per commit or rollback. In a write transaction of the caller's own,
   :func:`tell_after_tx_commit` parks them in the transaction and tells them after its commit.
5. **One round trip fewer on PostgreSQL.** The last entry's INSERT and the head's UPDATE go
   in one statement (``WITH new_entry AS (INSERT ...) UPDATE audit_head ...``): the same rows,
   under the head row lock taken by the ``SELECT ... FOR UPDATE`` before it. SQLite has no
   data-modifying WITH, and there a statement costs no round trip.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.expression import ClauseElement

from core.audit_format import GENESIS_HASH, AuditEntry
from core.db import Base
from core.models import AuditCheckpointRow, AuditEntryRow, AuditHeadRow
from core.write_tx import Compiled, CursorTx

__all__ = [
    "CHECKPOINT_KEYS",
    "ENTRY_KEYS",
    "HEAD_ID",
    "LOCK_HEAD",
    "AppendSQL",
    "append_sql",
    "tell_after_commit",
    "tell_after_tx_commit",
]

HEAD_ID = 1
_ENTRIES = Base.metadata.tables[AuditEntryRow.__tablename__]
_HEAD = Base.metadata.tables[AuditHeadRow.__tablename__]
_CHECKPOINTS = Base.metadata.tables[AuditCheckpointRow.__tablename__]
#: The entry columns in the order of the rows :meth:`AppendSQL.insert` takes.
ENTRY_KEYS = ("seq", "at", "event", "actor", "subject", "data", "prev_hash", "entry_hash")
#: The checkpoint columns :meth:`AppendSQL.insert_checkpoint` takes.
CHECKPOINT_KEYS = ("seq", "entry_hash", "at", "key_label", "algorithm", "signature", "public_key")
LOCK_HEAD = (
    select(_HEAD.c.last_seq, _HEAD.c.last_hash, _HEAD.c.checkpoint_seq)
    .where(_HEAD.c.id == HEAD_ID)
    .with_for_update()
)
_INSERT_ENTRY = insert(_ENTRIES)
_INSERT_CHECKPOINT = insert(_CHECKPOINTS)
_ANY_ENTRY = select(_ENTRIES.c.seq).limit(1)
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == HEAD_ID)
    .values(
        last_seq=bindparam("new_seq"),
        last_hash=bindparam("new_hash"),
        checkpoint_seq=bindparam("new_checkpoint_seq"),
    )
)
_SEED_VALUES = {"id": HEAD_ID, "last_seq": 0, "last_hash": GENESIS_HASH, "checkpoint_seq": 0}

# PostgreSQL runs a data-modifying WITH exactly once, whether or not the UPDATE reads it.
_CTE_KEYS = tuple(f"entry_{key}" for key in ENTRY_KEYS)
_INSERT_AND_MOVE = _MOVE_HEAD.add_cte(
    insert(_ENTRIES)
    .values({key: bindparam(name) for key, name in zip(ENTRY_KEYS, _CTE_KEYS, strict=True)})
    .cte("new_entry")
)


def _seed_head(dialect: str) -> ClauseElement:
    """The statement that re-seeds a missing head row without overwriting an existing one."""
    if dialect == "postgresql":
        return postgresql.insert(_HEAD).values(_SEED_VALUES).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(_HEAD).values(_SEED_VALUES).on_conflict_do_nothing()
    return insert(_HEAD).values(_SEED_VALUES)


class AppendSQL:
    """The append path's statements for one dialect, run on a :class:`~core.write_tx.CursorTx`
    (decisions 1-3)."""

    def __init__(self, dialect: Dialect) -> None:
        self._lock = Compiled(LOCK_HEAD, dialect)
        self._insert = Compiled(_INSERT_ENTRY, dialect, ENTRY_KEYS)
        self._move = Compiled(_MOVE_HEAD, dialect)
        self._checkpoint = Compiled(_INSERT_CHECKPOINT, dialect, CHECKPOINT_KEYS)
        self._seed = Compiled(_seed_head(dialect.name), dialect)
        self._any_entry = Compiled(_ANY_ENTRY, dialect)
        self._insert_and_move = (
            Compiled(_INSERT_AND_MOVE, dialect) if dialect.name == "postgresql" else None
        )

    def lock_head(self, tx: CursorTx) -> tuple[Any, ...] | None:
        """Lock the head row and return (last_seq, last_hash, checkpoint_seq), or ``None``."""
        row = tx.run(self._lock, {}).fetchone()
        return None if row is None else tuple(row)

    def seed_head(self, tx: CursorTx) -> None:
        """Insert the genesis head row unless one exists (the ledger says when)."""
        tx.run(self._seed, {})

    def any_entry(self, tx: CursorTx) -> bool:
        """Whether any entry is stored."""
        return tx.run(self._any_entry, {}).fetchone() is not None

    def insert(self, tx: CursorTx, rows: Sequence[Sequence[Any]]) -> None:
        """Insert entries given as tuples in :data:`ENTRY_KEYS` order."""
        tx.run_many(self._insert, [dict(zip(ENTRY_KEYS, row, strict=True)) for row in rows])

    def insert_checkpoint(self, tx: CursorTx, values: Mapping[str, Any]) -> None:
        """Insert a checkpoint row (``values`` keyed by :data:`CHECKPOINT_KEYS`)."""
        tx.run(self._checkpoint, values)

    def finish(
        self, tx: CursorTx, rows: Sequence[Sequence[Any]], head: tuple[int, str, int]
    ) -> None:
        """Insert the remaining ``rows`` and move the head to (seq, hash, checkpoint seq).

        On PostgreSQL one entry and the head move go in one statement (decision 5).
        """
        seq, entry_hash, checkpoint_seq = head
        values = {"new_seq": seq, "new_hash": entry_hash, "new_checkpoint_seq": checkpoint_seq}
        if len(rows) == 1 and self._insert_and_move is not None:
            values.update(zip(_CTE_KEYS, rows[0], strict=True))
            tx.run(self._insert_and_move, values)
            return
        if rows:
            self.insert(tx, rows)
        tx.run(self._move, values)


# Keyed by the engine's dialect object; the value depends on nothing else (decision 1).
_BY_DIALECT: weakref.WeakKeyDictionary[Dialect, AppendSQL] = weakref.WeakKeyDictionary()


def append_sql(dialect: Dialect) -> AppendSQL:
    """The :class:`AppendSQL` of ``dialect`` (compiled on first use; a race compiles twice)."""
    found = _BY_DIALECT.get(dialect)
    if found is None:
        found = _BY_DIALECT[dialect] = AppendSQL(dialect)
    return found


# --- after-commit listeners (decision 4) ----------------------------------------------------

_PENDING = "natid_audit_pending"
_HOOKED: weakref.WeakSet[type[Session]] = weakref.WeakSet()
_HOOK_LOCK = threading.Lock()
_Tell = Callable[[Sequence[AuditEntry]], None]
#: Entries parked with the transaction (or SAVEPOINT) they were appended in.
_Parked = tuple[SessionTransaction | None, list[AuditEntry]]


def tell_after_commit(session: Session, entries: Sequence[AuditEntry], tell: _Tell) -> None:
    """Call ``tell`` with ``entries`` once ``session``'s outermost transaction commits; never
    when the transaction, or the SAVEPOINT they were appended in, rolls back (decision 4).

    Entries of later appends in the same transaction join the first one's call.
    """
    # The innermost transaction open now: a SAVEPOINT's, or the session's own.
    where = session.get_nested_transaction() or session.get_transaction()
    pending: tuple[_Tell, list[_Parked]] | None = session.info.get(_PENDING)
    if pending is not None:
        pending[1].append((where, list(entries)))
        return
    cls = type(session)
    if cls not in _HOOKED:
        with _HOOK_LOCK:
            if cls not in _HOOKED:
                event.listen(cls, "after_commit", _committed)
                event.listen(cls, "after_rollback", _rolled_back)
                _HOOKED.add(cls)
    session.info[_PENDING] = (tell, [(where, list(entries))])


def _committed(session: Session) -> None:
    pending: tuple[_Tell, list[_Parked]] | None = session.info.get(_PENDING)
    if pending is None or session.in_nested_transaction():
        # Nothing parked, or a SAVEPOINT released: nothing is committed before the outermost.
        return
    del session.info[_PENDING]
    tell, parked = pending
    tell([entry for _where, entries in parked for entry in entries])


def _rolled_back(session: Session) -> None:
    pending: tuple[_Tell, list[_Parked]] | None = session.info.get(_PENDING)
    if pending is None:
        return
    savepoint = session.get_nested_transaction()
    if savepoint is None:
        # The outermost transaction rolled back: every parked entry is gone.
        del session.info[_PENDING]
        return
    # A SAVEPOINT rolled back: what was appended in it, or in SAVEPOINTs inside it, is gone.
    kept = [(where, entries) for where, entries in pending[1] if not _inside(where, savepoint)]
    if kept:
        pending[1][:] = kept
    else:
        del session.info[_PENDING]


def _inside(where: SessionTransaction | None, savepoint: SessionTransaction) -> bool:
    while where is not None:
        if where is savepoint:
            return True
        where = where.parent
    return False


_TX_PENDING = "natid_audit_pending"


def tell_after_tx_commit(tx: CursorTx, entries: Sequence[AuditEntry], tell: _Tell) -> None:
    """Call ``tell`` with ``entries`` once ``tx`` (a write transaction) commits; never when it
    rolls back. Entries of later appends in the same transaction join the first one's call."""
    pending: list[AuditEntry] | None = tx.info.get(_TX_PENDING)
    if pending is not None:
        pending.extend(entries)
        return
    parked = tx.info[_TX_PENDING] = list(entries)
    tx.after_commit(lambda: tell(parked))
