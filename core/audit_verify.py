"""Offline verification of the audit ledger: a pure function of what it checks and trusts.

Like python-tuf's ``trusted_metadata_set`` (STYLE.md), :func:`verify_chain` does no I/O: it is
handed the entries (any iterable, streamed once, in ``seq`` order), the checkpoints, the trusted
public keys by label, and optionally the head row and a trusted head exported earlier. The
loader that reads them from the database is :meth:`core.audit.AuditLedger.verify`. The
encodings it recomputes are defined in :mod:`core.audit_format`.

What it checks, in ``seq`` order, stopping at the first failure:

1. ``seq`` runs 1, 2, 3, ... without gaps (a deleted entry leaves a gap and is named).
2. Each entry's stored ``data`` is Canonical JSON and its ``entry_hash`` recomputes from its
   fields (a changed field is named).
3. Each ``prev_hash`` equals the previous entry's hash (genesis for entry 1), so entries cannot
   be reordered, inserted or removed without breaking the chain.
4. Each checkpoint names a trusted key by label, its signature verifies under that key with the
   algorithm the key's type implies, and its hash equals the entry's hash at that ``seq``.
5. The head row names the last entry; a trusted head (``--expect-head SEQ:HASH``) must match
   the entry at its ``seq``.

What it cannot see, and how to close the gap:

* Someone who can write to the database may rewrite entries *and* recompute every hash after
  them. Checkpoints stop that: the first signed checkpoint at or after the rewrite no longer
  matches, and is named. Entries after the newest checkpoint are protected by the chain only.
* Deleting entries at the tail and rewinding the head row leaves a shorter, consistent chain.
  A checkpoint beyond the new end reveals it ("truncated"); so does a trusted head exported
  earlier (``natid audit head``) and passed as ``expect_head``. A truncation after the last
  checkpoint that also deletes that checkpoint is detectable only against such a trusted head,
  so operators should export the head (or the checkpoints) to write-once storage regularly.

The function never raises on malformed input: any garbage yields ``ok=False`` with a reason.
Callers that act on the result call :meth:`LedgerReport.raise_for_failure`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.audit_format import (
    GENESIS_HASH,
    AuditEntry,
    AuditLedgerBroken,
    Checkpoint,
    LedgerHead,
    PublicKey,
    checkpoint_message,
    compute_entry_hash,
    parse_canonical_data,
    signature_valid,
)
from core.errors import NatIDError

__all__ = ["LedgerReport", "verify_chain"]

# Malformed values (a garbage row, a wrong type) surface as one of these while re-encoding.
_ENCODING_ERRORS = (NatIDError, ValueError, TypeError, OverflowError, UnicodeError)


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """The outcome of verifying a ledger."""

    ok: bool
    entries_checked: int
    checkpoints_checked: int
    #: The first ``seq`` where the evidence breaks (the change lies at or before it).
    first_bad_seq: int | None = None
    #: Plain text, e.g. ``"entry 42: hash does not match its contents"``.
    reason: str | None = None
    #: The last entry that verified (``seq`` 0 and the genesis hash for an empty ledger).
    verified_head: LedgerHead = field(default_factory=lambda: LedgerHead(0, GENESIS_HASH))
    #: What the verification could not vouch for (no checkpoints, unsigned tail, ...).
    warnings: tuple[str, ...] = ()

    def raise_for_failure(self) -> None:
        """Raise :class:`AuditLedgerBroken` unless the ledger verified."""
        if not self.ok:
            raise AuditLedgerBroken(self.reason or "the audit ledger failed verification")

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries_checked": self.entries_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "verified_head": str(self.verified_head),
            "warnings": list(self.warnings),
        }


class _Failure(Exception):
    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(reason)
        self.seq = seq
        self.reason = reason


def _check_entry(entry: AuditEntry, expected: int, prev_hash: str) -> None:
    seq = entry.seq
    # Step 1: contiguous seq.
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise _Failure(expected, f"entry {expected}: its seq is malformed")
    if seq > expected:
        where = (
            f"the ledger starts at entry {seq}"
            if expected == 1
            else f"the ledger jumps from entry {expected - 1} to entry {seq}"
        )
        raise _Failure(expected, f"entry {expected}: missing ({where})")
    if seq < expected:
        raise _Failure(
            expected, f"entry {expected}: out of order (entry {seq} found after {expected - 1})"
        )
    # Step 2: the stored fields produce the stored hash.
    try:
        parse_canonical_data(entry.data_json)
    except _ENCODING_ERRORS as exc:
        raise _Failure(seq, f"entry {seq}: stored data is not Canonical JSON") from exc
    if not isinstance(entry.at, dt.datetime) or entry.at.utcoffset() is None:
        raise _Failure(seq, f"entry {seq}: its time is missing or has no timezone")
    try:
        recomputed = compute_entry_hash(
            seq=seq,
            at=entry.at,
            event=entry.event,
            actor=entry.actor,
            subject=entry.subject,
            data_json=entry.data_json,
            prev_hash=entry.prev_hash,
        )
    except _ENCODING_ERRORS as exc:
        raise _Failure(seq, f"entry {seq}: its fields cannot be encoded") from exc
    if recomputed != entry.entry_hash:
        raise _Failure(seq, f"entry {seq}: hash does not match its contents")
    # Step 3: the chain links.
    if entry.prev_hash != prev_hash:
        previous = "the genesis hash" if seq == 1 else f"the hash of entry {seq - 1}"
        raise _Failure(seq, f"entry {seq}: prev_hash does not match {previous}")


def _check_checkpoint(
    cp: Checkpoint, entry_hash: str | None, trusted: Mapping[str, PublicKey]
) -> None:
    # Step 4: trusted key, valid signature, matching hash.
    where = f"checkpoint at entry {cp.seq}"
    key = trusted.get(cp.key_label) if isinstance(cp.key_label, str) else None
    if key is None:
        raise _Failure(cp.seq, f"{where}: signed by an unknown key {cp.key_label!r}")
    try:
        message = checkpoint_message(
            seq=cp.seq,
            entry_hash=cp.entry_hash,
            at=cp.at,
            key_label=cp.key_label,
            algorithm=cp.algorithm,
        )
    except _ENCODING_ERRORS as exc:
        raise _Failure(cp.seq, f"{where}: malformed") from exc
    if not isinstance(cp.signature, bytes) or not signature_valid(
        key, cp.algorithm, message, cp.signature
    ):
        raise _Failure(cp.seq, f"{where}: signature does not verify under key {cp.key_label!r}")
    if entry_hash is not None and cp.entry_hash != entry_hash:
        raise _Failure(
            cp.seq,
            f"entry {cp.seq}: differs from its signed checkpoint (the chain was rewritten)",
        )


def _check_expected(entry: AuditEntry, expect_head: LedgerHead | None) -> None:
    if (
        expect_head is not None
        and expect_head.seq == entry.seq
        and expect_head.entry_hash != entry.entry_hash
    ):
        raise _Failure(entry.seq, f"entry {entry.seq}: hash differs from the trusted head")


def _index_checkpoints(checkpoints: Iterable[Checkpoint]) -> dict[int, list[Checkpoint]]:
    by_seq: dict[int, list[Checkpoint]] = {}
    for cp in checkpoints:
        if isinstance(cp.seq, bool) or not isinstance(cp.seq, int) or cp.seq < 1:
            raise _Failure(0, f"checkpoint at entry {cp.seq!r}: covers no entry")
        by_seq.setdefault(cp.seq, []).append(cp)
    return by_seq


def _check_ends(
    *,
    count: int,
    last_hash: str,
    leftover: dict[int, list[Checkpoint]],
    trusted: Mapping[str, PublicKey],
    head: LedgerHead | None,
    expect_head: LedgerHead | None,
) -> None:
    # Checkpoints beyond the last entry: valid ones prove the ledger was longer (truncation).
    for seq in sorted(leftover):
        for cp in leftover[seq]:
            _check_checkpoint(cp, None, trusted)
        raise _Failure(
            count + 1,
            f"entry {count + 1}: missing (a signed checkpoint covers entry {seq} but the "
            f"ledger ends at entry {count}: truncated)",
        )
    # Step 5: the head row and a trusted head.
    if head is not None:
        if head.seq > count:
            raise _Failure(
                count + 1,
                f"entry {count + 1}: missing (the head row names entry {head.seq} but the "
                f"ledger ends at entry {count}: truncated)",
            )
        if head.seq < count:
            raise _Failure(
                head.seq + 1,
                f"entry {head.seq + 1}: not covered by the head row (it names entry "
                f"{head.seq}); entries were added behind the ledger's back",
            )
        if head.entry_hash != last_hash:
            raise _Failure(count, f"entry {count}: the head row's hash does not match it")
    if expect_head is not None:
        if expect_head.seq > count:
            raise _Failure(
                count + 1,
                f"entry {count + 1}: missing (the trusted head names entry {expect_head.seq} "
                f"but the ledger ends at entry {count}: truncated)",
            )
        if expect_head.seq == 0 and expect_head.entry_hash != GENESIS_HASH:
            raise _Failure(0, "the trusted head for entry 0 must carry the genesis hash")


def verify_chain(
    entries: Iterable[AuditEntry],
    checkpoints: Iterable[Checkpoint],
    trusted_keys: Mapping[str, PublicKey],
    *,
    head: LedgerHead | None = None,
    expect_head: LedgerHead | None = None,
) -> LedgerReport:
    """Verify a whole ledger; see the module docstring for every check.

    ``entries`` is consumed once, in order, so a streaming iterator keeps memory flat; the
    checkpoints are indexed by ``seq`` (one per ``checkpoint_interval`` entries). ``head`` is
    the stored head row (``None``: not checked); ``expect_head`` a head trusted from elsewhere.
    """
    trusted = dict(trusted_keys)
    count = 0
    checked = 0
    last_hash = GENESIS_HASH
    last_checkpoint = 0
    try:
        by_seq = _index_checkpoints(checkpoints)
        for entry in entries:
            _check_entry(entry, count + 1, last_hash)
            count, last_hash = entry.seq, entry.entry_hash
            for cp in by_seq.pop(count, ()):
                _check_checkpoint(cp, last_hash, trusted)
                checked += 1
                last_checkpoint = count
            _check_expected(entry, expect_head)
        _check_ends(
            count=count,
            last_hash=last_hash,
            leftover=by_seq,
            trusted=trusted,
            head=head,
            expect_head=expect_head,
        )
    except _Failure as failure:
        return LedgerReport(
            ok=False,
            entries_checked=count,
            checkpoints_checked=checked,
            first_bad_seq=failure.seq,
            reason=failure.reason,
            verified_head=LedgerHead(count, last_hash),
        )
    warnings: list[str] = []
    if count and not checked:
        warnings.append(
            "no signed checkpoints: only the hash chain protects these entries, and anyone "
            "who can write to the database could rewrite it undetected"
        )
    elif last_checkpoint < count and not (expect_head is not None and expect_head.seq == count):
        span = (
            f"entry {count} follows"
            if last_checkpoint + 1 == count
            else f"entries {last_checkpoint + 1}..{count} follow"
        )
        warnings.append(
            f"{span} the last checkpoint: a truncation there is detectable only against a "
            "trusted head (--expect-head)"
        )
    return LedgerReport(
        ok=True,
        entries_checked=count,
        checkpoints_checked=checked,
        verified_head=LedgerHead(count, last_hash),
        warnings=tuple(warnings),
    )
