"""The certificate transparency log: every issued certificate in an RFC 9162 Merkle tree.

Issuance appends each certificate (:meth:`TransparencyLog.append`, inside the issuing
transaction); the log signs tree heads, serves inclusion and consistency proofs, lets a subject
list every certificate ever issued under their identity, and re-verifies itself against the
certificate table (``natid ca log verify``). Hashing, proofs and tree-head signatures are the
pure functions of :mod:`ca.merkle`; the tables are described in :mod:`ca.models`.

* Leaves - the Merkle leaf of a certificate is its DER: ``leaf_hash = SHA-256(0x00 || der)``
  (RFC 9162 §2.1.1), so anyone holding the certificate can check a proof for it. Appending the
  same certificate again returns its existing index.
* Concurrency - an append locks the one-row ``ct_log_head`` (``SELECT ... FOR UPDATE`` on
  PostgreSQL; SQLite serialises writers with ``BEGIN IMMEDIATE``, see :mod:`core.db`), writes
  entry ``tree_size``, the complete subtrees it closes, and the new head, in one transaction.
  The primary key on ``leaf_index`` is the last line of defence: two writers can never both
  store leaf N, so indexes stay contiguous. With ``session=`` the append joins the caller's
  transaction: the certificate and its log entry commit or roll back together.
* Batches - :meth:`TransparencyLog.append_many` logs several certificates under ONE head lock:
  one look-up of the already logged ones, one multi-row insert of entries and of the subtrees
  they close, one head update. Leaves, indexes, stored subtrees and therefore every root and
  proof are exactly those of one ``append`` per certificate in the same order.
* Proofs - O(log n) rows per proof from ``ct_log_nodes`` and ``ct_log_entries``.
* Verification - :func:`verify_log` is pure (no I/O): it takes the stored rows and the trusted
  public key; :meth:`TransparencyLog.verify_against` only streams the rows into it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import bindparam, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ca.errors import (
    InvalidLogRequest,
    TransparencyLogBroken,
    TransparencyLogUnavailable,
    TreeHeadInvalid,
)
from ca.merkle import (
    HASH_SIZE,
    MerkleTree,
    SignedTreeHead,
    Subtree,
    SubtreeSource,
    TreeHeadAlgorithm,
    TreeHeadKey,
    TreeHeadPublicKey,
    build_consistency_proof,
    build_inclusion_proof,
    build_root,
    leaf_hash,
    node_hash,
    root_from_subtrees,
    sign_tree_head,
    tree_head_algorithm,
    verify_consistency,
    verify_inclusion,
    verify_tree_head,
)
from ca.models import CTLogEntryRow, CTLogHeadRow, CTLogNodeRow, CTTreeHeadRow
from core.clock import Clock, require_aware
from core.db import Base, transaction

__all__ = [
    "MAX_ENTRIES_PAGE",
    "ConsistencyProof",
    "InclusionProof",
    "LogEntry",
    "LogVerification",
    "TransparencyLog",
    "verify_log",
]

_HEAD_ID = 1

# The append path runs prebuilt Core statements on the session's connection: building an
# ORM-routed statement per call cost more than the database work (bench/bench_issuance.py).
_ENTRIES = Base.metadata.tables[CTLogEntryRow.__tablename__]
_NODES = Base.metadata.tables[CTLogNodeRow.__tablename__]
_HEADS = Base.metadata.tables[CTLogHeadRow.__tablename__]
_LOCK_HEAD = (
    select(_HEADS.c.tree_size, _HEADS.c.frontier).where(_HEADS.c.id == _HEAD_ID).with_for_update()
)
_FIND_BY_HASHES = select(
    _ENTRIES.c.cert_sha256, _ENTRIES.c.leaf_index, _ENTRIES.c.subject_id
).where(_ENTRIES.c.cert_sha256.in_(bindparam("b_cert_sha256s", expanding=True)))
_INSERT_ENTRY = insert(_ENTRIES)
_INSERT_NODE = insert(_NODES)
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.id == _HEAD_ID)
    .values(tree_size=bindparam("b_tree_size"), frontier=bindparam("b_frontier"))
)
_ID_RE = re.compile(r"[\x21-\x7e]{1,200}")
_MAX_SERIAL_HEX = 64
_MISSING_SHOWN = 5
#: Certificate hashes looked up per query (well under every database's parameter limit).
_LOOKUP_CHUNK = 500
#: Most entries one :meth:`TransparencyLog.entries` call returns.
MAX_ENTRIES_PAGE = 100


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One logged certificate."""

    leaf_index: int
    leaf_hash: bytes
    serial_hex: str
    issuer: str
    subject_id: str | None
    logged_at: dt.datetime
    certificate_der: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.certificate_der)


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """``PATH(leaf_index, D[tree_size])`` for the leaf ``leaf_hash`` (RFC 9162 §2.1.3)."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    path: tuple[bytes, ...]

    def verify(self, root_hash: bytes) -> None:
        """Raise :class:`~ca.errors.MerkleProofInvalid` unless it leads to ``root_hash``."""
        verify_inclusion(
            leaf=self.leaf_hash,
            index=self.leaf_index,
            tree_size=self.tree_size,
            proof=self.path,
            root=root_hash,
        )


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """``PROOF(old_size, D[new_size])`` (RFC 9162 §2.1.4)."""

    old_size: int
    new_size: int
    path: tuple[bytes, ...]

    def verify(self, old_root: bytes, new_root: bytes) -> None:
        """Raise :class:`~ca.errors.MerkleProofInvalid` unless the old tree is a prefix."""
        verify_consistency(
            old_size=self.old_size,
            new_size=self.new_size,
            old_root=old_root,
            new_root=new_root,
            proof=self.path,
        )


@dataclass(frozen=True, slots=True)
class LogVerification:
    """What :func:`verify_log` checked, when everything passed."""

    tree_size: int
    root_hash: bytes
    certificates_checked: int
    tree_heads_checked: int


@contextmanager
def _storage_errors() -> Iterator[None]:
    # The database failing is our infrastructure's fault; say so with a stable code.
    try:
        yield
    except SQLAlchemyError as exc:
        raise TransparencyLogUnavailable(
            f"the transparency log's database failed ({type(exc).__name__}); is it migrated?"
        ) from exc


def _check_id(value: str | None, what: str) -> None:
    if value is not None and (not isinstance(value, str) or not _ID_RE.fullmatch(value)):
        raise InvalidLogRequest(
            f"the {what} must be 1-200 printable ASCII characters without spaces (an id)"
        )


def _serial_hex(serial: int) -> str:
    # As `openssl x509 -serial` prints it: upper-case hex, an even number of digits.
    text = f"{serial:X}"
    return text if len(text) % 2 == 0 else "0" + text


def _entry_values(cert: x509.Certificate, subject_id: str | None) -> dict[str, Any]:
    """The columns of a log entry for ``cert`` that do not depend on its position."""
    _check_id(subject_id, "subject id")
    der = cert.public_bytes(serialization.Encoding.DER)
    serial = _serial_hex(cert.serial_number)
    if len(serial) > _MAX_SERIAL_HEX:
        raise InvalidLogRequest("the certificate's serial number is longer than 32 bytes")
    return {
        "leaf_hash": leaf_hash(der),
        "cert_sha256": hashlib.sha256(der).digest(),
        "serial_hex": serial,
        "issuer": cert.issuer.rfc4514_string(),
        "subject_id": subject_id,
        "certificate": der,
    }


def _split_frontier(tree_size: int, frontier: bytes) -> list[bytes]:
    parts = [frontier[i : i + HASH_SIZE] for i in range(0, len(frontier), HASH_SIZE)]
    if len(frontier) % HASH_SIZE or len(parts) != tree_size.bit_count():
        raise TransparencyLogBroken(f"the log head does not fit a tree of size {tree_size}")
    return parts


class TransparencyLog:
    """Appends certificates to the Merkle log, signs tree heads, and serves proofs."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Clock,
        signing_key: TreeHeadKey,
        key_label: str,
    ) -> None:
        tree_head_algorithm(signing_key)
        _check_id(key_label, "key label")
        self._sessions = sessions
        self._clock = clock
        self._key = signing_key
        self._label = key_label

    @property
    def public_key(self) -> TreeHeadPublicKey:
        return self._key.public_key()

    # --- writing ---------------------------------------------------------------------------

    def append(
        self, cert: x509.Certificate, *, subject_id: str | None, session: Session | None = None
    ) -> int:
        """Log ``cert`` and return its leaf index (its existing index if already logged).

        ``subject_id`` is the register's internal id (never a national ID number). With
        ``session`` the entry is part of the caller's transaction.
        """
        (index,) = self.append_many([(cert, subject_id)], session=session)
        return index

    def append_many(
        self,
        items: Sequence[tuple[x509.Certificate, str | None]],
        *,
        session: Session | None = None,
    ) -> list[int]:
        """Log each ``(certificate, subject_id)`` in order under one lock; return the indexes.

        The same as one :meth:`append` per item (see the module docstring, "Batches"): a
        certificate logged before, or earlier in ``items``, keeps its index. If one item is
        refused (:class:`~ca.errors.InvalidLogRequest`), none is logged.
        """
        values = [_entry_values(cert, subject_id) for cert, subject_id in items]
        if not values:
            return []
        with _storage_errors():
            if session is not None:
                return self._append(session, values)
            with transaction(self._sessions) as own:
                return self._append(own, values)

    def _append(self, session: Session, batch: Sequence[dict[str, Any]]) -> list[int]:
        tree_size, frontier = self._lock_head(session)
        conn = session.connection()
        wanted = list({v["cert_sha256"] for v in batch})
        known: dict[bytes, tuple[int, str | None]] = {}
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = wanted[start : start + _LOOKUP_CHUNK]
            for row in conn.execute(_FIND_BY_HASHES, {"b_cert_sha256s": chunk}):
                known[bytes(row.cert_sha256)] = (int(row.leaf_index), row.subject_id)
        indexes: list[int] = []
        entries: list[dict[str, Any]] = []
        nodes: list[dict[str, Any]] = []
        for values in batch:
            existing = known.get(values["cert_sha256"])
            if existing is not None:
                if existing[1] != values["subject_id"]:
                    raise InvalidLogRequest(
                        f"certificate {values['serial_hex']} is already logged for another subject"
                    )
                indexes.append(existing[0])
                continue
            # The time is taken under the lock, so logged_at never runs backwards along the log.
            logged_at = require_aware(self._clock.now(), "the clock's time")
            entries.append({"leaf_index": tree_size, "logged_at": logged_at, **values})
            # Binary increment on the right edge: each complete subtree the new leaf closes is
            # merged with its left sibling (the frontier's last hash) and stored.
            current, level, position = values["leaf_hash"], 0, tree_size
            while position & 1:
                current = node_hash(frontier.pop(), current)
                level, position = level + 1, position >> 1
                nodes.append({"level": level, "node_index": position, "subtree_hash": current})
            frontier.append(current)
            known[values["cert_sha256"]] = (tree_size, values["subject_id"])
            indexes.append(tree_size)
            tree_size += 1
        if entries:
            conn.execute(_INSERT_ENTRY, entries)
            if nodes:
                conn.execute(_INSERT_NODE, nodes)
            conn.execute(_MOVE_HEAD, {"b_tree_size": tree_size, "b_frontier": b"".join(frontier)})
        return indexes

    def _lock_head(self, session: Session) -> tuple[int, list[bytes]]:
        row = session.connection().execute(_LOCK_HEAD).one_or_none()
        if row is None:
            # The migration inserts the head row; it can only be missing from an emptied
            # database (TRUNCATE in tests, a restored empty schema). Re-seed it then, but never
            # over existing entries: that would let anyone restart the log.
            if session.execute(select(CTLogEntryRow.leaf_index).limit(1)).first() is not None:
                raise TransparencyLogBroken("the log head row is missing but entries exist")
            session.execute(_seed_head(session))
            row = session.connection().execute(_LOCK_HEAD).one()
        size = int(row.tree_size)
        return size, _split_frontier(size, bytes(row.frontier))

    def sign_tree_head(self) -> SignedTreeHead:
        """Sign the current tree head (or return the one already signed for this size)."""
        with _storage_errors(), transaction(self._sessions) as session:
            tree_size, frontier = self._lock_head(session)
            stored = session.get(CTTreeHeadRow, tree_size)
            if stored is not None:
                return _tree_head(stored)
            head = sign_tree_head(
                self._key,
                key_label=self._label,
                tree_size=tree_size,
                timestamp=require_aware(self._clock.now(), "the clock's time"),
                root_hash=root_from_subtrees(frontier),
            )
            session.execute(
                insert(CTTreeHeadRow).values(
                    tree_size=head.tree_size,
                    root_hash=head.root_hash,
                    timestamp=head.timestamp,
                    key_label=head.key_label,
                    algorithm=str(head.algorithm),
                    signature=head.signature,
                )
            )
            return head

    # --- reading ---------------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        """A read-only snapshot that does not block appenders.

        SQLite: a deferred ``BEGIN`` (no write lock; WAL gives a snapshot at the first read).
        PostgreSQL: ``REPEATABLE READ``, so the head, nodes and entries come from one snapshot.
        """
        with _storage_errors(), self._sessions() as session:
            options: dict[str, Any] = {"sqlite_deferred": True}
            if session.get_bind().dialect.name == "postgresql":
                options["isolation_level"] = "REPEATABLE READ"
            # The first connection() begins the transaction with these options; closing the
            # session at the end rolls the read-only transaction back.
            session.connection(execution_options=options)
            yield session

    def _size(self, session: Session) -> int:
        size = session.execute(
            select(CTLogHeadRow.tree_size).where(CTLogHeadRow.id == _HEAD_ID)
        ).scalar_one_or_none()
        return 0 if size is None else int(size)

    def tree_size(self) -> int:
        with self._reading() as session:
            return self._size(session)

    def latest_tree_head(self) -> SignedTreeHead | None:
        with self._reading() as session:
            stored = session.scalars(
                select(CTTreeHeadRow).order_by(CTTreeHeadRow.tree_size.desc()).limit(1)
            ).first()
            return None if stored is None else _tree_head(stored)

    def root_hash(self, tree_size: int) -> bytes:
        with self._reading() as session:
            self._check_sizes(session, tree_size)
            return build_root(tree_size, self._source(session))

    def inclusion_proof(self, index: int, tree_size: int) -> InclusionProof:
        """The proof that leaf ``index`` is in the tree of ``tree_size`` leaves."""
        with self._reading() as session:
            self._check_sizes(session, tree_size)
            source = self._source(session)
            path = build_inclusion_proof(index, tree_size, source)
            (leaf,) = source([(0, index)])
            return InclusionProof(index, tree_size, leaf, tuple(path))

    def consistency_proof(self, old_size: int, new_size: int) -> ConsistencyProof:
        """The proof that the tree of ``old_size`` leaves is a prefix of ``new_size``."""
        with self._reading() as session:
            self._check_sizes(session, new_size)
            path = build_consistency_proof(old_size, new_size, self._source(session))
            return ConsistencyProof(old_size, new_size, tuple(path))

    def entry_for_certificate(self, cert: x509.Certificate) -> LogEntry | None:
        digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
        with self._reading() as session:
            row = session.scalars(
                select(CTLogEntryRow).where(CTLogEntryRow.cert_sha256 == digest)
            ).first()
            return None if row is None else _entry(row)

    def entries_for_subject(self, subject_id: str) -> list[LogEntry]:
        """Every certificate ever logged for ``subject_id``, oldest first."""
        _check_id(subject_id, "subject id")
        with self._reading() as session:
            rows = session.scalars(
                select(CTLogEntryRow)
                .where(CTLogEntryRow.subject_id == subject_id)
                .order_by(CTLogEntryRow.leaf_index)
            )
            return [_entry(row) for row in rows]

    def entry_for_leaf_hash(self, value: bytes) -> LogEntry | None:
        """The entry whose Merkle leaf hash is ``value`` (RFC 9162 §4.5 looks proofs up by it).

        ``ct_log_entries.leaf_hash`` has no index yet, so this scans; prefer looking up by
        certificate (``cert_sha256`` is unique and indexed) where the caller has it.
        """
        if not isinstance(value, bytes) or len(value) != HASH_SIZE:
            raise InvalidLogRequest(f"a leaf hash is {HASH_SIZE} bytes")
        with self._reading() as session:
            row = session.scalars(
                select(CTLogEntryRow)
                .where(CTLogEntryRow.leaf_hash == value)
                .order_by(CTLogEntryRow.leaf_index)
                .limit(1)
            ).first()
            return None if row is None else _entry(row)

    def entries(self, start: int, end: int, *, limit: int = MAX_ENTRIES_PAGE) -> list[LogEntry]:
        """Entries ``start`` to ``end - 1`` (clipped to the tree), at most ``limit`` (1-10000;
        HTTP pages use :data:`MAX_ENTRIES_PAGE`), in index order (RFC 6962 §4.6 get-entries)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidLogRequest(f"a page of entries holds 1-10000, not {limit!r}")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise InvalidLogRequest(f"the first entry index must be >= 0, got {start!r}")
        if isinstance(end, bool) or not isinstance(end, int) or end <= start:
            raise InvalidLogRequest(f"the end index must be above the start {start}, got {end!r}")
        with self._reading() as session:
            size = self._size(session)
            if start >= size:
                raise InvalidLogRequest(
                    f"entry {start} is beyond the log, which has {size} entries"
                )
            last = min(end, size, start + limit)
            rows = session.scalars(
                select(CTLogEntryRow)
                .where(CTLogEntryRow.leaf_index >= start, CTLogEntryRow.leaf_index < last)
                .order_by(CTLogEntryRow.leaf_index)
            )
            return [_entry(row) for row in rows]

    def _check_sizes(self, session: Session, tree_size: int) -> None:
        current = self._size(session)
        if isinstance(tree_size, bool) or not isinstance(tree_size, int) or tree_size < 0:
            raise InvalidLogRequest(f"a tree size is an integer >= 0, got {tree_size!r}")
        if tree_size > current:
            raise InvalidLogRequest(
                f"tree size {tree_size} is beyond the log, which has {current} entries"
            )

    @staticmethod
    def _source(session: Session) -> SubtreeSource:
        def fetch(keys: Sequence[Subtree]) -> list[bytes]:
            leaves = [index for level, index in keys if level == 0]
            inner = [key for key in keys if key[0] > 0]
            found: dict[Subtree, bytes] = {}
            if leaves:
                leaf_rows = session.execute(
                    select(CTLogEntryRow.leaf_index, CTLogEntryRow.leaf_hash).where(
                        CTLogEntryRow.leaf_index.in_(leaves)
                    )
                )
                found.update({(0, int(i)): bytes(h) for i, h in leaf_rows})
            if inner:
                node_rows = session.execute(
                    select(
                        CTLogNodeRow.level, CTLogNodeRow.node_index, CTLogNodeRow.subtree_hash
                    ).where(tuple_(CTLogNodeRow.level, CTLogNodeRow.node_index).in_(inner))
                )
                found.update({(int(lv), int(i)): bytes(h) for lv, i, h in node_rows})
            missing = [key for key in keys if key not in found]
            if missing:
                raise TransparencyLogBroken(f"the log is missing subtree hashes {missing[:3]}")
            return [found[key] for key in keys]

        return fetch

    # --- verification ------------------------------------------------------------------------

    def verify_against(self, certs: Iterable[x509.Certificate]) -> LogVerification:
        """Check that every certificate in ``certs`` is logged and that the log is intact.

        Raises :class:`~ca.errors.TransparencyLogBroken` on the first failure.
        """
        expected = list(certs)
        with self._reading() as session:
            head = session.get(CTLogHeadRow, _HEAD_ID)
            size, frontier = (0, b"") if head is None else (head.tree_size, head.frontier)
            entries = session.execute(
                select(
                    CTLogEntryRow.leaf_index,
                    CTLogEntryRow.leaf_hash,
                    CTLogEntryRow.cert_sha256,
                    CTLogEntryRow.certificate,
                )
                .order_by(CTLogEntryRow.leaf_index)
                .execution_options(yield_per=1000)
            )
            nodes = session.execute(
                select(CTLogNodeRow.level, CTLogNodeRow.node_index, CTLogNodeRow.subtree_hash)
            )
            heads = [_tree_head(row) for row in session.scalars(select(CTTreeHeadRow))]
            return verify_log(
                tree_size=int(size),
                frontier=bytes(frontier),
                entries=((int(i), bytes(h), bytes(d), bytes(c)) for i, h, d, c in entries),
                nodes=((int(lv), int(i), bytes(h)) for lv, i, h in nodes),
                tree_heads=heads,
                public_key=self.public_key,
                certificates=expected,
            )


def verify_log(
    *,
    tree_size: int,
    frontier: bytes,
    entries: Iterable[tuple[int, bytes, bytes, bytes]],
    nodes: Iterable[tuple[int, int, bytes]],
    tree_heads: Iterable[SignedTreeHead],
    public_key: TreeHeadPublicKey,
    certificates: Iterable[x509.Certificate],
) -> LogVerification:
    """Verify a stored log; no I/O. Raises :class:`~ca.errors.TransparencyLogBroken`.

    ``entries`` are ``(leaf_index, leaf_hash, cert_sha256, certificate DER)`` in index order,
    ``nodes`` ``(level, node_index, hash)``. Checks, in order: indexes run 0, 1, 2, ... without
    gaps; each leaf hash and certificate hash recompute from the stored DER; the head's size and
    root match the entries; every stored subtree hash recomputes and none is missing; every
    signed tree head verifies with ``public_key`` and matches the recomputed root of its size;
    every certificate in ``certificates`` is in the log.
    """
    tree, logged = _replay_entries(entries)
    if tree.size != tree_size:
        raise TransparencyLogBroken(f"the head says {tree_size} entries; {tree.size} are stored")
    root = tree.root()
    if root_from_subtrees(_split_frontier(tree_size, frontier)) != root:
        raise TransparencyLogBroken("the head's root does not recompute from the entries")
    _check_nodes(tree, nodes)
    checked_heads = 0
    for head in tree_heads:
        if not 0 <= head.tree_size <= tree_size or head.root_hash != tree.root(head.tree_size):
            raise TransparencyLogBroken(f"signed tree head {head.tree_size} does not match the log")
        try:
            verify_tree_head(head, public_key)
        except TreeHeadInvalid as exc:
            raise TransparencyLogBroken(
                f"signed tree head {head.tree_size} does not verify with the log key"
            ) from exc
        checked_heads += 1
    checked = _check_certificates(logged, certificates)
    return LogVerification(tree_size, root, checked, checked_heads)


def _replay_entries(
    entries: Iterable[tuple[int, bytes, bytes, bytes]],
) -> tuple[MerkleTree, set[bytes]]:
    tree = MerkleTree()
    logged: set[bytes] = set()
    for index, stored_leaf, cert_sha256, der in entries:
        if index != tree.size:
            raise TransparencyLogBroken(f"the log skips from entry {tree.size - 1} to {index}")
        if stored_leaf != leaf_hash(der) or cert_sha256 != hashlib.sha256(der).digest():
            raise TransparencyLogBroken(f"entry {index} does not match its stored certificate")
        tree.append(stored_leaf)
        logged.add(cert_sha256)
    return tree, logged


def _check_nodes(tree: MerkleTree, nodes: Iterable[tuple[int, int, bytes]]) -> None:
    size, seen = tree.size, 0
    for level, node_index, value in nodes:
        if level < 1 or node_index < 0 or (node_index + 1) << level > size:
            raise TransparencyLogBroken(f"subtree ({level}, {node_index}) lies outside the tree")
        if tree.subtree_hashes([(level, node_index)])[0] != value:
            raise TransparencyLogBroken(f"subtree ({level}, {node_index}) does not recompute")
        seen += 1
    # A tree of n leaves has n >> h complete subtrees of height h.
    if seen != sum(size >> level for level in range(1, size.bit_length())):
        raise TransparencyLogBroken("the log is missing stored subtree hashes")


def _check_certificates(logged: set[bytes], certificates: Iterable[x509.Certificate]) -> int:
    missing: list[str] = []
    checked = 0
    for cert in certificates:
        checked += 1
        if hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest() not in logged:
            missing.append(_serial_hex(cert.serial_number))
    if missing:
        shown = ", ".join(missing[:_MISSING_SHOWN])
        more = f" and {len(missing) - _MISSING_SHOWN} more" if len(missing) > _MISSING_SHOWN else ""
        raise TransparencyLogBroken(
            f"{len(missing)} certificate(s) are not in the transparency log: {shown}{more}"
        )
    return checked


def _seed_head(session: Session) -> Any:
    values = {"id": _HEAD_ID, "tree_size": 0, "frontier": b""}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(CTLogHeadRow).values(values).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(CTLogHeadRow).values(values).on_conflict_do_nothing()
    return insert(CTLogHeadRow).values(values)


def _tree_head(row: CTTreeHeadRow) -> SignedTreeHead:
    try:
        algorithm = TreeHeadAlgorithm(row.algorithm)
    except ValueError as exc:
        raise TransparencyLogBroken(f"tree head {row.tree_size} has an unknown algorithm") from exc
    return SignedTreeHead(
        tree_size=int(row.tree_size),
        timestamp=row.timestamp,
        root_hash=bytes(row.root_hash),
        key_label=row.key_label,
        algorithm=algorithm,
        signature=bytes(row.signature),
    )


def _entry(row: CTLogEntryRow) -> LogEntry:
    return LogEntry(
        leaf_index=int(row.leaf_index),
        leaf_hash=bytes(row.leaf_hash),
        serial_hex=row.serial_hex,
        issuer=row.issuer,
        subject_id=row.subject_id,
        logged_at=row.logged_at,
        certificate_der=bytes(row.certificate),
    )
