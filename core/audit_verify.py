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
5. The head row names the last entry, and the newest checkpoint it records (``checkpoint_seq``,
   which every append that signs one and ``natid audit checkpoint`` move in the same
   transaction) is the newest checkpoint found: a checkpoint the head row names but that is
   missing was deleted, and is named. A trusted head (``--expect-head SEQ:HASH``) must match
   the entry at its ``seq``.
6. With a trusted key, a ledger that has entries must be anchored to that key: at least one
   signed checkpoint, or else a trusted head among its entries. NatID signs a checkpoint at the
   end of ``natid init`` (and of the first-run initialisation of ``natid serve``), then once
   ``NATID_AUDIT_CHECKPOINT_INTERVAL`` entries (default 100) follow the last one, and never
   deletes one. A ledger with entries and no checkpoint is therefore one whose checkpoints were
   deleted, or one written before its initialisation finished (``natid init`` died before its
   checkpoint; running it again signs one, over whatever is stored by then). The two look the
   same in the database, and passing the second would pass the first, so both fail. Without a
   trusted key (an in-process ledger that has no signing key) nothing can be authenticated,
   and the report only warns.

What it cannot see, and how to close the gap:

* Someone who can write to the database may rewrite entries *and* recompute every hash after
  them. Checkpoints stop that: the first signed checkpoint at or after the rewrite no longer
  matches, and is named. Deleting the checkpoints as well fails step 5 (the head row names the
  newest) or step 6 (none left). Entries after the newest remaining checkpoint are protected
  by the chain only: an attacker who rewrites them, deletes the checkpoints after them and
  sets the head row's ``checkpoint_seq`` back to match leaves a consistent ledger, and only a
  trusted head (``expect_head``) catches that.
* Deleting entries at the tail and rewinding the head row leaves a shorter, consistent chain.
  A checkpoint beyond the new end reveals it ("truncated"); so does a trusted head exported
  earlier (``natid audit head``) and passed as ``expect_head``. A truncation after the last
  checkpoint that also deletes that checkpoint is detectable only against such a trusted head,
  so operators should export the head (or the checkpoints) to write-once storage regularly.
* The verifier is not told ``checkpoint_interval``: entries after the last checkpoint are
  reported as a warning however many there are (an HSM outage legitimately delays
  checkpoints; NatID keeps recording and signs one at the next append that can).

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
    last_checkpoint: int,
    leftover: dict[int, list[Checkpoint]],
    trusted: Mapping[str, PublicKey],
    head: LedgerHead | None,
    head_checkpoint: int | None,
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
    if head_checkpoint is not None:
        _check_head_checkpoint(head_checkpoint, last_checkpoint, count)
    if expect_head is not None:
        if expect_head.seq > count:
            raise _Failure(
                count + 1,
                f"entry {count + 1}: missing (the trusted head names entry {expect_head.seq} "
                f"but the ledger ends at entry {count}: truncated)",
            )
        if expect_head.seq == 0 and expect_head.entry_hash != GENESIS_HASH:
            raise _Failure(0, "the trusted head for entry 0 must carry the genesis hash")


def _check_head_checkpoint(recorded: int, newest: int, count: int) -> None:
    # Step 5: the head row's record of the newest checkpoint. NatID moves it in the transaction
    # that stores the checkpoint and never deletes a checkpoint, so any difference is tampering.
    if isinstance(recorded, bool) or not isinstance(recorded, int) or recorded < 0:
        raise _Failure(count, f"entry {count}: the head row's checkpoint seq is malformed")
    if recorded > newest:
        seen = f"the newest one left covers entry {newest}" if newest else "none is left"
        raise _Failure(
            recorded,
            f"checkpoint at entry {recorded}: missing (the head row records it as the newest "
            f"signed checkpoint, but {seen}): checkpoints were deleted",
        )
    if recorded < newest:
        named = f"entry {recorded}" if recorded else "none"
        raise _Failure(
            newest,
            f"checkpoint at entry {newest}: not recorded by the head row (it names {named} "
            "as the newest checkpoint): the head row was rewritten",
        )


def _entries(first: int, last: int) -> str:
    return f"entry {first}" if first == last else f"entries {first}..{last}"


def _trusted_head_seq(expect_head: LedgerHead | None, count: int) -> int:
    """The last entry a trusted head vouches for (0: none); it matched, or verification failed."""
    if expect_head is None or isinstance(expect_head.seq, bool):
        return 0
    seq = expect_head.seq
    return seq if isinstance(seq, int) and 1 <= seq <= count else 0


def _check_anchored(
    *, count: int, checked: int, trusted: Mapping[str, PublicKey], anchor: int
) -> None:
    # Step 6: with a trusted key, entries must be tied to it by a checkpoint (or a trusted
    # head). `natid init` signs one, so a ledger with entries and none lost its checkpoints
    # or was never initialised; the two cannot be told apart (module docstring).
    if not trusted or not count or checked or anchor:
        return
    # The reason does not suggest signing one now: that would vouch for whatever is stored.
    raise _Failure(
        count,
        f"entry {count}: no signed checkpoint covers it or any entry before it, so "
        f"{_entries(1, count)} cannot be authenticated against the trusted key (NatID signs "
        "a checkpoint at `natid init`): the checkpoints were deleted, or `natid init` never "
        "finished",
    )


def verify_chain(
    entries: Iterable[AuditEntry],
    checkpoints: Iterable[Checkpoint],
    trusted_keys: Mapping[str, PublicKey],
    *,
    head: LedgerHead | None = None,
    head_checkpoint: int | None = None,
    expect_head: LedgerHead | None = None,
) -> LedgerReport:
    """Verify a whole ledger; see the module docstring for every check.

    ``entries`` is consumed once, in order, so a streaming iterator keeps memory flat; the
    checkpoints are indexed by ``seq`` (one per ``checkpoint_interval`` entries). ``head`` is
    the stored head row (``None``: not checked) and ``head_checkpoint`` its ``checkpoint_seq``,
    the newest checkpoint it records (0: none; ``None``: not checked); ``expect_head`` a head
    trusted from elsewhere. A non-empty ``trusted_keys`` makes a ledger with entries but no
    checkpoint a failure (step 6); an empty one only warns.
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
            last_checkpoint=last_checkpoint,
            leftover=by_seq,
            trusted=trusted,
            head=head,
            head_checkpoint=head_checkpoint,
            expect_head=expect_head,
        )
        # Step 6: what ties the entries to the trusted key, once everything else verified.
        trusted_head = _trusted_head_seq(expect_head, count)
        _check_anchored(count=count, checked=checked, trusted=trusted, anchor=trusted_head)
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
    if count and not checked and trusted_head:
        # Step 6 let it through: the trusted head vouches for entries 1..trusted_head.
        unsigned = f" and {_entries(trusted_head + 1, count)} only by the hash chain"
        warnings.append(
            f"no signed checkpoints: {_entries(1, trusted_head)} authenticated only by the "
            f"trusted head{unsigned if trusted_head < count else ''}"
        )
    elif count and not checked:
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
            f"{span} the last checkpoint: a rewrite or truncation there is detectable only "
            "against a trusted head (--expect-head)"
        )
    return LedgerReport(
        ok=True,
        entries_checked=count,
        checkpoints_checked=checked,
        verified_head=LedgerHead(count, last_hash),
        warnings=tuple(warnings),
    )
