"""The audit ledger: append-only, hash-chained, with signed checkpoints (ARCHITECTURE.md, "Audit").

Every security-relevant event (issuance, revocation, login, consent, KYC access, signature, key
use, admin action) is appended here as an :class:`AuditEntry`. Entries carry identifiers, never
names or national ID numbers: actors and subjects must be printable-ASCII ids, and ``data`` is a
small JSON object (at most 16 KiB).

* Format - the byte-exact encodings (Canonical JSON per RFC 8785, SHA-256 entry hashes with a
  domain prefix, checkpoint signatures) are specified in :mod:`core.audit_format`; that
  docstring is what an auditor needs to re-implement the verifier.
* Verification - :func:`core.audit_verify.verify_chain` is pure (no I/O) and lists what it can
  and cannot detect; :meth:`AuditLedger.verify` is the thin loader that streams the rows into it.
* Concurrency - an append locks the one-row ``audit_head`` table (``SELECT ... FOR UPDATE`` on
  PostgreSQL; SQLite writers are serialised by ``BEGIN IMMEDIATE``, see :mod:`core.db`), takes
  the time, inserts entry ``last_seq + 1`` chained to ``last_hash`` and moves the head, all in
  one transaction. The primary key on ``seq`` is the last line of defence: two writers can
  never both store entry N, so the chain cannot fork and no committed entry is lost. These
  statements run on the driver's cursor, compiled by SQLAlchemy once per dialect
  (:mod:`core.audit_store` says why and what stays the same).
* Transactions - with ``session=`` an append joins the caller's transaction, so a business
  write and its audit entry commit or roll back together; with ``tx=`` it joins the caller's
  write transaction on a DBAPI connection (:func:`core.write_tx.write_transaction`, the hot
  paths' cheaper form of the same thing); without either, it commits on its own, in such a
  write transaction when the session factory is bound to an engine (15 µs of CPU on SQLite
  instead of ``engine.begin()``'s 45).
* Batches - :meth:`AuditLedger.append_many` records several events under ONE head lock: every
  event is validated before anything is written, each entry still takes its own time under
  the lock and chains to the one before, checkpoints fall on the same entries, and the head
  moves once. The result is byte for byte the chain N single appends would have written
  (bulk issuance writes one entry per certificate this way; bench/bench_issuance.py).
* Checkpoints - once ``checkpoint_interval`` entries follow the last checkpoint, the append
  also signs one with the ledger key (the key backend's ``sign()``, possibly in an HSM).
  If the backend fails, the entry is still recorded, a warning is logged and the next append
  tries again: the ledger keeps recording while the HSM is down, and the unsigned stretch is
  reported by ``natid audit verify`` until a checkpoint covers it.
* Soon - :meth:`AuditLedger.append_soon` is for an event whose effect nobody can use without a
  later audited write of the same process: the authorization code a browser carries to the site,
  which the site must redeem at ``/token``, whose transaction records the token. The event is
  checked at once (a refused one raises there, as ``append`` would) and kept in memory; the next
  write transaction of this process that appends to the ledger with ``tx=`` or on its own takes it
  first, in the same commit, and a flusher thread writes what is still waiting after at most
  :data:`SOON_SECONDS`: it looks every ``SOON_SECONDS / 2`` and writes once the oldest waiting
  event has waited ``SOON_SECONDS / 2``. Under load a write comes within milliseconds and the
  flusher writes nothing; one that wrote whatever it found at each look wrote ~20 transactions a
  second of its own, each racing the event loop's write for SQLite's lock (a lost race costs the
  loser a 1 ms sleep in SQLite's busy handler, on the event loop). Waiting events are taken
  only under the ledger's lock, so within a process they precede every entry committed after
  them. So the code's entry commits with, and before, the token's, and a login costs one write
  transaction instead of two (docs/decisions.md, "Storage").
  What it gives up, and the bounds: the entry's ``at`` is when it is written, at most
  :data:`SOON_SECONDS` after the event; an entry still waiting when the process dies without
  closing (``kill -9``, power loss) is lost, as is the code itself when it lives in the process's
  cache; with more than :data:`SOON_MAX_PENDING` waiting, or while the flusher's last write
  failed, ``append_soon`` writes at once and raises what ``append`` would (the flusher tries
  again every :data:`SOON_RETRY_SECONDS`). Reading the ledger
  (head, tail, checkpoints, verify, checkpoint) and closing the application write what is waiting
  first; so does the process's exit.
* Listeners - :meth:`AuditLedger.add_listener` registers a callable that sees each entry once
  its transaction has committed (never an entry that was rolled back), e.g. to send the
  person a security notification. A failing listener is logged and never fails the append.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import NoResultFound, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.audit_format import (
    GENESIS_HASH,
    AuditEntry,
    AuditError,
    AuditLedgerBroken,
    AuditUnavailable,
    Checkpoint,
    CheckpointAlgorithm,
    InvalidAuditEntry,
    LedgerHead,
    NoCheckpointPossible,
    PrivateKey,
    PublicKey,
    algorithm_for,
    canonical_data,
    check_event,
    check_identifier,
    checkpoint_message,
    compute_entry_hash,
    sign_checkpoint,
)
from core.audit_store import (
    HEAD_ID,
    AppendSQL,
    append_sql,
    tell_after_commit,
    tell_after_tx_commit,
)
from core.audit_verify import LedgerReport, verify_chain
from core.clock import Clock, require_aware
from core.db import Base, transaction
from core.errors import NatIDError
from core.models import AuditCheckpointRow, AuditEntryRow, AuditHeadRow
from core.write_tx import CursorTx, joined, write_transaction

__all__ = [
    "AuditEntry",
    "AuditError",
    "AuditEvent",
    "AuditLedger",
    "AuditLedgerBroken",
    "AuditUnavailable",
    "Checkpoint",
    "CheckpointAlgorithm",
    "InvalidAuditEntry",
    "LedgerHead",
    "LedgerReport",
    "NoCheckpointPossible",
    "verify_chain",
]

log = logging.getLogger(__name__)

#: How long an event of :meth:`AuditLedger.append_soon` waits at most for a write to join.
SOON_SECONDS = 0.05
#: After the flusher's write failed, how long its looks leave the waiting events alone (one
#: attempt and one warning a second while the store is down, not one per look).
SOON_RETRY_SECONDS = 1.0
#: The clock of the waiting events' ages (a module global so that tests can move it).
_monotonic = time.monotonic
#: Events waiting beyond which :meth:`AuditLedger.append_soon` writes at once.
SOON_MAX_PENDING = 1_000

#: An event as :meth:`AuditLedger.append_many` stores it: event, actor, subject, data's JSON.
_Checked = tuple[str, str | None, str | None, str]
#: An event of :meth:`AuditLedger.append_soon` waiting, with when it began to wait
#: (:data:`_monotonic`; 0.0 for one put back after a rollback, which is due at once).
_Waiting = tuple[float, _Checked]

_MAX_TAIL = 10_000
_ENTRY_COLUMNS = (
    AuditEntryRow.seq,
    AuditEntryRow.at,
    AuditEntryRow.event,
    AuditEntryRow.actor,
    AuditEntryRow.subject,
    AuditEntryRow.data,
    AuditEntryRow.prev_hash,
    AuditEntryRow.entry_hash,
)
_CHECKPOINT_COLUMNS = (
    AuditCheckpointRow.seq,
    AuditCheckpointRow.entry_hash,
    AuditCheckpointRow.at,
    AuditCheckpointRow.key_label,
    AuditCheckpointRow.algorithm,
    AuditCheckpointRow.signature,
    AuditCheckpointRow.public_key,
)
_HEAD = Base.metadata.tables[AuditHeadRow.__tablename__]


def _checked(e: AuditEvent) -> _Checked:
    return (
        check_event(e.event),
        check_identifier(e.actor, "actor"),
        check_identifier(e.subject, "subject"),
        canonical_data(e.data),
    )


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One event to record with :meth:`AuditLedger.append_many` (the arguments of ``append``)."""

    event: str
    actor: str | None = None
    subject: str | None = None
    data: Mapping[str, Any] | None = None


@contextmanager
def _storage_errors() -> Iterator[None]:
    # The database failing is our infrastructure's fault; say so with a stable code.
    try:
        yield
    except SQLAlchemyError as exc:
        raise AuditUnavailable(
            f"the audit ledger's database failed ({type(exc).__name__}); is it migrated?"
        ) from exc


def _error_kind(exc: Exception) -> str:
    """What failed, without the error's message: its class, a NatID error's code, a database
    error's driver class (``OperationalError (sqlite3.OperationalError)``)."""
    kind = type(exc).__name__
    if isinstance(exc, NatIDError):
        return f"{kind} [{exc.code}]"
    orig = getattr(exc, "orig", None)
    if isinstance(exc, SQLAlchemyError) and isinstance(orig, BaseException):
        return f"{kind} ({type(orig).__module__}.{type(orig).__name__})"
    return kind


class AuditLedger:
    """Appends to, checkpoints, reads and verifies the audit ledger."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Clock,
        signing_key: PrivateKey | None = None,
        key_label: str | None = None,
        checkpoint_interval: int = 100,
    ) -> None:
        if checkpoint_interval < 1:
            raise InvalidAuditEntry("checkpoint_interval must be at least 1")
        if signing_key is not None and check_identifier(key_label, "key label") is None:
            raise InvalidAuditEntry("a signing key needs its key label")
        self._sessions = sessions
        self._clock = clock
        self._key = signing_key
        self._label = key_label
        self._interval = checkpoint_interval
        self._listeners: dict[str, Callable[[AuditEntry], None]] = {}
        self._soon: deque[_Waiting] = deque()
        self._soon_watched = False
        self._soon_failing = False
        self._soon_retry_at = 0.0
        self._algorithm: CheckpointAlgorithm | None = None
        self._spki = b""
        if signing_key is not None:
            self._algorithm = algorithm_for(signing_key)
            self._spki = signing_key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )

    @property
    def key_label(self) -> str | None:
        return self._label

    # --- writing ---------------------------------------------------------------------------

    def append(
        self,
        event: str,
        *,
        actor: str | None = None,
        subject: str | None = None,
        data: Mapping[str, Any] | None = None,
        session: Session | None = None,
        tx: CursorTx | None = None,
    ) -> AuditEntry:
        """Record ``event`` and return the stored entry.

        ``event`` is a dotted lowercase name (``registry.person.added``); ``actor`` and
        ``subject`` are identifiers; ``data`` a JSON object without floats, at most 16 KiB.
        With ``session`` (or ``tx``, a :func:`core.write_tx.write_transaction`), the entry is
        part of the caller's transaction (and exists only if it commits); otherwise it is
        committed before this returns. Joining a transaction holds the ledger's lock until
        that transaction ends and every other append waits for it, so append last, just
        before the commit, and keep such transactions short.
        """
        (entry,) = self.append_many(
            [AuditEvent(event, actor, subject, data)], session=session, tx=tx
        )
        return entry

    def append_many(
        self,
        events: Sequence[AuditEvent],
        *,
        session: Session | None = None,
        tx: CursorTx | None = None,
    ) -> list[AuditEntry]:
        """Record ``events`` in order under one lock; return the stored entries.

        The same entries, hashes and checkpoints as one :meth:`append` per event (see the
        module docstring, "Batches"), but one head read, one multi-row insert and one head
        update. Every event is checked first: if one is refused (:class:`InvalidAuditEntry`),
        none is recorded. ``session`` and ``tx`` work as for :meth:`append`.
        """
        if session is not None and tx is not None:
            raise TypeError("append in a session or in a write transaction, not both")
        checked = [_checked(e) for e in events]
        if not checked:
            return []
        with _storage_errors():
            if session is not None:
                with joined(session.connection()) as joined_tx:
                    entries = self._append_on(joined_tx, checked)
                if self._listeners:
                    tell_after_commit(session, entries, self._tell)
                return entries
            if tx is not None:
                # The events waiting (append_soon) go first, in this commit; back in the
                # queue if it rolls back. Not into a joined transaction: no hook tells of its
                # end.
                soon: list[_Checked] | None = None
                if tx.owns_transaction:
                    taken: list[_Checked] = []
                    tx.after_rollback(lambda: self._requeue(taken))
                    soon = taken
                entries = self._append_on(tx, checked, soon=soon)
                if self._listeners:
                    tell_after_tx_commit(tx, entries, self._tell)
                return entries[len(soon or ()) :]
            soon = []
            try:
                with self._own_transaction() as own:
                    entries = self._append_on(own, checked, soon=soon)
            except BaseException:
                self._requeue(soon)
                raise
        self._tell(entries)
        return entries[len(soon) :]

    def append_soon(
        self,
        event: str,
        *,
        actor: str | None = None,
        subject: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Record ``event`` with this process's next audited write, or within
        :data:`SOON_SECONDS` (module docstring, "Soon"); only for an event whose effect needs
        such a write before anyone can use it. Refuses a bad event at once."""
        checked = _checked(AuditEvent(event, actor, subject, data))
        if self._soon_failing or len(self._soon) >= SOON_MAX_PENDING:
            # Nothing may wait on a store that is failing: write now, raising what append does.
            self.append_many([AuditEvent(event, actor, subject, data)])
            # The store is back: what waits from now on waits SOON_SECONDS again, not a second.
            self._soon_failing = False
            self._soon_retry_at = 0.0
            return
        self._soon.append((_monotonic(), checked))
        if not self._soon_watched:
            self._soon_watched = True
            _FLUSHER.watch(self)

    def flush_soon(self) -> None:
        """Write the events of :meth:`append_soon` still waiting, in a transaction of their own.

        Never raises: a failure is logged (its kind only), the events go back to the front of
        the queue for the next try, and until a write succeeds ``append_soon`` writes at once.
        """
        if not self._soon:
            return
        soon: list[_Checked] = []
        try:
            with _storage_errors(), self._own_transaction() as own:
                entries = self._append_on(own, (), soon=soon)
        except Exception as exc:  # noqa: BLE001 - the flusher thread must go on
            self._requeue(soon)
            self._soon_failing = True
            self._soon_retry_at = _monotonic() + SOON_RETRY_SECONDS
            log.warning(
                "audit entries not yet written (%d waiting): %s; retrying",
                len(self._soon), _error_kind(exc),
                extra={"waiting": len(self._soon), "error": _error_kind(exc)},
            )  # fmt: skip
            return
        self._soon_failing = False
        self._tell(entries)

    def flush_due(self) -> None:
        """:meth:`flush_soon` once the oldest waiting event has waited ``SOON_SECONDS / 2``
        (the flusher's look; module docstring, "Soon"); nothing before, so a write of the
        process that comes sooner takes the events instead. After a failed write, nothing for
        :data:`SOON_RETRY_SECONDS`."""
        try:
            since = self._soon[0][0]
        except IndexError:  # nothing waiting, or another thread just took it
            return
        now = _monotonic()
        if now - since >= SOON_SECONDS / 2 and now >= self._soon_retry_at:
            self.flush_soon()

    def _take_soon(self) -> list[_Checked]:
        queue, taken = self._soon, []
        while queue:
            try:
                taken.append(queue.popleft()[1])
            except IndexError:  # another thread took the last one
                break
        return taken

    def _requeue(self, soon: Sequence[_Checked]) -> None:
        # Due at once: their write did not commit.
        self._soon.extendleft((0.0, checked) for checked in reversed(soon))

    @contextmanager
    def _own_transaction(self) -> Iterator[CursorTx]:
        """A transaction of the append's own, committed on success, rolled back on error.

        On a pooled DBAPI connection of the engine when the factory is bound to one
        (:func:`core.write_tx.write_transaction`): the same transaction (``BEGIN IMMEDIATE``
        on SQLite) without a Session's or a ``Connection``'s CPU per append.
        """
        bind = self._sessions.kw.get("bind")
        if isinstance(bind, Engine):
            with write_transaction(bind) as tx:
                yield tx
        else:
            with transaction(self._sessions) as session, joined(session.connection()) as tx:
                yield tx

    # --- listeners ---------------------------------------------------------------------------

    def add_listener(self, name: str, listener: Callable[[AuditEntry], None]) -> None:
        """Call ``listener`` with every entry once it is committed (``name`` replaces an
        earlier listener of the same name, so wiring twice is harmless)."""
        self._listeners[name] = listener

    def _tell(self, entries: Sequence[AuditEntry]) -> None:
        for listener_name, listener in list(self._listeners.items()):
            for entry in entries:
                try:
                    listener(entry)
                except Exception as exc:  # noqa: BLE001 - a listener never fails the ledger
                    # Named in the line itself, so the CLI's plain stderr shows it too; the
                    # error's kind only, never its message or traceback, which may carry the
                    # SQL parameters or the subject's data.
                    error = _error_kind(exc)
                    log.warning(
                        "audit listener failed: %s on %s (entry %d): %s",
                        listener_name, entry.event, entry.seq, error,
                        extra={"listener": listener_name, "event": entry.event,
                               "seq": entry.seq, "error": error},
                    )  # fmt: skip

    def _append_on(
        self, tx: CursorTx, checked: Sequence[_Checked], *, soon: list[_Checked] | None = None
    ) -> list[AuditEntry]:
        """Append ``checked`` under the head's lock; with ``soon``, the events of
        :meth:`append_soon` waiting first, moved into that list (for the caller to put back if
        the transaction does not commit). Taken only once the lock is held, so no entry of a
        write that commits after another can miss the events that were waiting before it."""
        sql = append_sql(tx.dialect)
        seq, entry_hash, checkpoint_seq = self._lock_head(tx, sql)
        if soon is not None:
            soon.extend(self._take_soon())
            checked = [*soon, *checked]
        if not checked:
            return []
        entries: list[AuditEntry] = []
        rows: list[tuple[Any, ...]] = []
        for event, actor, subject, data_json in checked:
            prev_hash, seq = entry_hash, seq + 1
            # The time is taken under the lock, so times never run backwards along the chain.
            at = require_aware(self._clock.now(), "the clock's time")
            entry_hash = compute_entry_hash(
                seq=seq,
                at=at,
                event=event,
                actor=actor,
                subject=subject,
                data_json=data_json,
                prev_hash=prev_hash,
            )
            entries.append(
                AuditEntry(seq, at, event, actor, subject, data_json, prev_hash, entry_hash)
            )
            rows.append((seq, at, event, actor, subject, data_json, prev_hash, entry_hash))
            if self._key is not None and seq - checkpoint_seq >= self._interval:
                # A checkpoint is signed as soon as its entry exists, as a single append does;
                # a failed one is retried on the next entry, in this batch or a later one.
                sql.insert(tx, rows)
                rows = []
                if self._try_checkpoint(tx, sql, LedgerHead(seq, entry_hash)):
                    checkpoint_seq = seq
        sql.finish(tx, rows, (seq, entry_hash, checkpoint_seq))
        return entries

    def _try_checkpoint(self, tx: CursorTx, sql: AppendSQL, head: LedgerHead) -> bool:
        try:
            self._write_checkpoint(tx, sql, head)
        except NatIDError as exc:
            log.warning(
                "audit checkpoint not signed; the next append retries",
                extra={"seq": head.seq, "error_code": exc.code},
            )
            return False
        return True

    def _lock_head(self, tx: CursorTx, sql: AppendSQL) -> tuple[int, str, int]:
        row = sql.lock_head(tx)
        if row is None:
            # The migration inserts the head row. It can only be missing from an emptied
            # database (TRUNCATE in tests, a restored empty schema); re-seed it then, but never
            # over existing entries: that would let anyone restart the chain. Concurrent
            # writers may race here: the insert is a no-op for all but one, and the entry
            # check runs only once the (possibly someone else's) row is locked, so a writer
            # that committed in between is not mistaken for tampering.
            sql.seed_head(tx)
            row = sql.lock_head(tx)
            if row is None:
                raise NoResultFound("No row was found when one was required")
            if row[0] == 0 and sql.any_entry(tx):
                raise AuditLedgerBroken(
                    "the audit head row is missing but entries exist; run `natid audit verify`"
                )
        return int(row[0]), str(row[1]), int(row[2])

    def _write_checkpoint(self, tx: CursorTx, sql: AppendSQL, head: LedgerHead) -> Checkpoint:
        assert self._key is not None
        assert self._label is not None
        assert self._algorithm is not None
        at = require_aware(self._clock.now(), "the clock's time")
        message = checkpoint_message(
            seq=head.seq,
            entry_hash=head.entry_hash,
            at=at,
            key_label=self._label,
            algorithm=self._algorithm,
        )
        checkpoint = Checkpoint(
            seq=head.seq,
            entry_hash=head.entry_hash,
            at=at,
            key_label=self._label,
            algorithm=self._algorithm,
            signature=sign_checkpoint(self._key, message),
            public_key=self._spki,
        )
        sql.insert_checkpoint(
            tx,
            {
                "seq": checkpoint.seq,
                "entry_hash": checkpoint.entry_hash,
                "at": checkpoint.at,
                "key_label": checkpoint.key_label,
                "algorithm": str(checkpoint.algorithm),
                "signature": checkpoint.signature,
                "public_key": checkpoint.public_key,
            },
        )
        return checkpoint

    def checkpoint(self) -> Checkpoint:
        """Sign a checkpoint over the newest entry now (``natid audit checkpoint``).

        Returns the existing checkpoint if the newest entry already has one.
        """
        if self._key is None:
            raise NoCheckpointPossible("the audit ledger has no signing key configured")
        self.flush_soon()
        with _storage_errors(), transaction(self._sessions) as session:
            conn = session.connection()
            sql = append_sql(conn.dialect)
            with joined(conn) as tx:
                last_seq, last_hash, _ = self._lock_head(tx, sql)
                if last_seq == 0:
                    raise NoCheckpointPossible(
                        "the audit ledger is empty; there is nothing to sign"
                    )
                existing = conn.execute(
                    select(*_CHECKPOINT_COLUMNS).where(AuditCheckpointRow.seq == last_seq)
                ).one_or_none()
                if existing is not None:
                    return Checkpoint(*existing)
                checkpoint = self._write_checkpoint(tx, sql, LedgerHead(last_seq, last_hash))
            conn.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(checkpoint_seq=last_seq))
            return checkpoint

    # --- reading ---------------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        """A read-only snapshot that does not block writers.

        SQLite: a deferred ``BEGIN`` (no write lock; WAL gives a snapshot at the first read).
        PostgreSQL: ``REPEATABLE READ``, so the head, checkpoints and entries come from one
        snapshot even while appends continue. The events of :meth:`append_soon` still waiting
        are written first, so this process reads what it recorded.
        """
        self.flush_soon()
        with _storage_errors(), self._sessions() as session:
            options: dict[str, Any] = {"sqlite_deferred": True}
            if session.get_bind().dialect.name == "postgresql":
                options["isolation_level"] = "REPEATABLE READ"
            session.connection(execution_options=options)
            yield session

    def head(self) -> LedgerHead:
        """The newest entry's seq and hash, for export as a trusted head (``SEQ:HASH``)."""
        with self._reading() as session:
            return self._read_head(session) or LedgerHead(0, GENESIS_HASH)

    @staticmethod
    def _read_head(session: Session) -> LedgerHead | None:
        row = session.execute(
            select(AuditHeadRow.last_seq, AuditHeadRow.last_hash).where(AuditHeadRow.id == HEAD_ID)
        ).one_or_none()
        return None if row is None else LedgerHead(int(row[0]), str(row[1]))

    def tail(self, n: int = 20) -> list[AuditEntry]:
        """The newest ``n`` entries, oldest first."""
        if not 1 <= n <= _MAX_TAIL:
            raise InvalidAuditEntry(f"n must be between 1 and {_MAX_TAIL}, got {n}")
        with self._reading() as session:
            rows = session.execute(
                select(*_ENTRY_COLUMNS).order_by(AuditEntryRow.seq.desc()).limit(n)
            ).all()
        return [AuditEntry(*row) for row in reversed(rows)]

    def checkpoints(self) -> list[Checkpoint]:
        """Every stored checkpoint, oldest first."""
        with self._reading() as session:
            rows = session.execute(
                select(*_CHECKPOINT_COLUMNS).order_by(AuditCheckpointRow.seq)
            ).all()
        return [Checkpoint(*row) for row in rows]

    def trusted_keys(self) -> dict[str, PublicKey]:
        """This ledger's own key as the only trusted key (empty without a signing key).

        An offline verifier should not use this: it should trust a key exported earlier.
        """
        if self._key is None or self._label is None:
            return {}
        return {self._label: self._key.public_key()}

    def verify(
        self,
        trusted_keys: Mapping[str, PublicKey] | None = None,
        *,
        expect_head: LedgerHead | None = None,
        batch_size: int = 1000,
    ) -> LedgerReport:
        """Load the ledger from one snapshot and verify it with :func:`verify_chain`.

        Entries are streamed ``batch_size`` rows at a time, so memory stays flat however long
        the ledger is. ``trusted_keys`` defaults to :meth:`trusted_keys`. A missing head row
        counts as an empty ledger's head, recording no checkpoint (that is how :meth:`append`
        treats it too).
        """
        keys = self.trusted_keys() if trusted_keys is None else trusted_keys
        with self._reading() as session:
            # The head row's checkpoint_seq too: a checkpoint it names must still exist.
            head, head_checkpoint = LedgerHead(0, GENESIS_HASH), 0
            found = session.execute(
                select(
                    AuditHeadRow.last_seq, AuditHeadRow.last_hash, AuditHeadRow.checkpoint_seq
                ).where(AuditHeadRow.id == HEAD_ID)
            ).one_or_none()
            if found is not None:
                head, head_checkpoint = LedgerHead(int(found[0]), str(found[1])), found[2]
            checkpoints = [
                Checkpoint(*row)
                for row in session.execute(
                    select(*_CHECKPOINT_COLUMNS).order_by(AuditCheckpointRow.seq)
                )
            ]
            rows = session.execute(
                select(*_ENTRY_COLUMNS)
                .order_by(AuditEntryRow.seq)
                .execution_options(yield_per=batch_size)
            )
            entries = (AuditEntry(*row) for row in rows)
            return verify_chain(
                entries,
                checkpoints,
                keys,
                head=head,
                head_checkpoint=head_checkpoint,
                expect_head=expect_head,
            )


class _SoonFlusher:
    """The process's one thread that writes what :meth:`AuditLedger.append_soon` left waiting.

    Every ``SOON_SECONDS / 2`` it calls :meth:`AuditLedger.flush_due` on each ledger that has
    used ``append_soon``, held weakly (a ledger nobody uses any more is dropped); at the
    process's exit it writes what is still waiting.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ledgers: weakref.WeakSet[AuditLedger] = weakref.WeakSet()
        self._thread: threading.Thread | None = None

    def watch(self, ledger: AuditLedger) -> None:
        with self._lock:
            self._ledgers.add(ledger)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="natid-audit-soon", daemon=True
                )
                self._thread.start()

    def flush_all(self, *, due_only: bool = False) -> None:
        with self._lock:
            ledgers = list(self._ledgers)
        for ledger in ledgers:
            if due_only:
                ledger.flush_due()
            else:
                ledger.flush_soon()

    def _run(self) -> None:
        while True:
            time.sleep(SOON_SECONDS / 2)
            self.flush_all(due_only=True)


_FLUSHER = _SoonFlusher()
atexit.register(_FLUSHER.flush_all)
