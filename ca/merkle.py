"""Merkle tree hashing, proofs and signed tree heads of the transparency log (RFC 9162 §2.1).

Pure functions and values, no I/O; :mod:`ca.transparency` stores the log.

* Hashing (§2.1.1) - ``MTH({}) = SHA-256()``, leaf ``SHA-256(0x00 || d)``, node
  ``SHA-256(0x01 || left || right)``; a tree of n > 1 leaves splits at k, the largest power of
  two smaller than n.
* Proofs - inclusion (``PATH``, §2.1.3.1) and consistency (``PROOF``/``SUBPROOF``, §2.1.4.1)
  are generated in two steps: index arithmetic names the subtrees whose hashes the proof needs
  (:func:`inclusion_path_ranges`, :func:`consistency_proof_ranges`), then a
  :data:`SubtreeSource` supplies the hashes of the *complete* subtrees (aligned, power-of-two
  size) they decompose into. Every subtree the RFC recursion visits starts at a multiple of its
  size rounded up to a power of two, so it splits into at most log2(n) complete subtrees and a
  proof costs O(log n) stored hashes, however large the log. :class:`MerkleTree` keeps every
  complete subtree in memory; the database keeps them in a table.
* Verification - :func:`verify_inclusion` (§2.1.3.2) and :func:`verify_consistency`
  (§2.1.4.2) follow the RFC's numbered steps and raise :class:`~ca.errors.MerkleProofInvalid`
  for a proof that fails or is not a proof at all (wrong types, wrong lengths, too long).
* Signed tree heads - ``b"natid.ct.sth.v1\\x00" || uint64(tree_size) || uint64(timestamp in
  microseconds since 1970-01-01T00:00:00Z) || root_hash`` (big-endian), signed with ECDSA
  SHA-256 (DER signature) or Ed25519. The NUL-terminated prefix keeps these signatures apart
  from every other message a NatID key signs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ca.errors import InvalidLogRequest, MerkleProofInvalid, TransparencyLogBroken, TreeHeadInvalid
from core.clock import require_aware

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "TREE_HEAD_DOMAIN",
    "MerkleTree",
    "SignedTreeHead",
    "Subtree",
    "SubtreeSource",
    "TreeHeadAlgorithm",
    "TreeHeadKey",
    "TreeHeadPublicKey",
    "build_consistency_proof",
    "build_inclusion_proof",
    "build_root",
    "complete_subtrees",
    "consistency_proof_ranges",
    "inclusion_path_ranges",
    "leaf_hash",
    "node_hash",
    "root_from_subtrees",
    "sign_tree_head",
    "tree_head_algorithm",
    "tree_head_message",
    "verify_consistency",
    "verify_inclusion",
    "verify_tree_head",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
TREE_HEAD_DOMAIN = b"natid.ct.sth.v1\x00"
#: No tree NatID can hold has a proof longer than this (2**64 leaves).
MAX_PROOF_LENGTH = 64
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

#: A complete subtree ``(level, index)``: leaves ``[index * 2**level, (index + 1) * 2**level)``.
Subtree = tuple[int, int]
#: Returns the hashes of the given complete subtrees, in order.
SubtreeSource = Callable[[Sequence[Subtree]], Sequence[bytes]]


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)`` (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)`` (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- which subtrees a proof needs ------------------------------------------------------------


def complete_subtrees(start: int, end: int) -> list[Subtree]:
    """The complete subtrees whose hashes, folded from the right, give ``MTH(D[start:end])``.

    ``[start, end)`` must be a subtree the RFC recursion visits (``start`` a multiple of the
    size rounded up to a power of two); then the left part of every split is complete.
    """
    out: list[Subtree] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start % (1 << level):
            raise InvalidLogRequest(f"[{start}, {end}) is not a subtree of a Merkle tree")
        out.append((level, start >> level))
        start += 1 << level
    return out


def inclusion_path_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form ``PATH(index, D[tree_size])``, in proof order.

    RFC 9162 §2.1.3.1: ``PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])`` for m < k and
    ``PATH(m - k, D[k:n]) : MTH(D[0:k])`` for m >= k; ``PATH(0, {d(0)}) = {}``. The loop walks
    from the root down, so the ranges come out last-first and are reversed at the end.
    """
    _check_size(tree_size)
    if not 0 <= index < tree_size:
        raise InvalidLogRequest(f"leaf index {index} is not in a tree of size {tree_size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, tree_size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_proof_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form ``PROOF(old_size, D[new_size])``, in proof order.

    RFC 9162 §2.1.4.1: ``PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`` with
    ``SUBPROOF(m, D[m], true) = {}``, ``SUBPROOF(m, D[m], false) = {MTH(D[m])}``,
    ``SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])`` for m <= k and
    ``SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])`` for m > k. A proof from the empty tree
    or to the same size is empty.
    """
    _check_size(new_size)
    if not 0 <= old_size <= new_size:
        raise InvalidLogRequest(
            f"a consistency proof needs 0 <= old size <= new size, got {old_size} and {new_size}"
        )
    if old_size in (0, new_size):
        return []
    ranges: list[tuple[int, int]] = []
    start, end, whole = 0, new_size, True
    while end != old_size:
        k = _split(end - start)
        if old_size - start <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            whole = False
    if not whole:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def _check_size(tree_size: int) -> None:
    if not isinstance(tree_size, int) or tree_size < 0 or tree_size >= 2**63:
        raise InvalidLogRequest(f"a tree size must be an integer in [0, 2**63), got {tree_size!r}")


# --- building proofs from a subtree source ---------------------------------------------------


def root_from_subtrees(hashes_: Sequence[bytes]) -> bytes:
    """Fold the hashes of a tree's complete subtrees (largest first) into its root.

    ``MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`` unrolled: the left part of every
    split is a complete subtree, so the root is the right-to-left fold of the decomposition.
    """
    if not hashes_:
        return EMPTY_ROOT
    result = hashes_[-1]
    for left in reversed(hashes_[:-1]):
        result = node_hash(left, result)
    return result


def _hash_ranges(ranges: Sequence[tuple[int, int]], source: SubtreeSource) -> list[bytes]:
    parts = [complete_subtrees(start, end) for start, end in ranges]
    keys = list(dict.fromkeys(key for part in parts for key in part))
    if not keys:
        return []
    values = list(source(keys))
    if len(values) != len(keys) or any(
        not isinstance(v, bytes) or len(v) != HASH_SIZE for v in values
    ):
        raise TransparencyLogBroken(
            f"the subtree store returned {len(values)} hashes for {len(keys)} subtrees"
        )
    found = dict(zip(keys, values, strict=True))
    return [root_from_subtrees([found[key] for key in part]) for part in parts]


def build_root(tree_size: int, source: SubtreeSource) -> bytes:
    """``MTH(D[tree_size])`` from at most log2(tree_size) complete subtrees."""
    _check_size(tree_size)
    if tree_size == 0:
        return EMPTY_ROOT
    return _hash_ranges([(0, tree_size)], source)[0]


def build_inclusion_proof(index: int, tree_size: int, source: SubtreeSource) -> list[bytes]:
    """``PATH(index, D[tree_size])`` (RFC 9162 §2.1.3.1)."""
    return _hash_ranges(inclusion_path_ranges(index, tree_size), source)


def build_consistency_proof(old_size: int, new_size: int, source: SubtreeSource) -> list[bytes]:
    """``PROOF(old_size, D[new_size])`` (RFC 9162 §2.1.4.1)."""
    return _hash_ranges(consistency_proof_ranges(old_size, new_size), source)


class MerkleTree:
    """An append-only Merkle tree in memory with every complete subtree hash kept.

    ``_levels[h][i]`` is the hash of leaves ``[i * 2**h, (i + 1) * 2**h)``: about 2n hashes
    for n leaves, so any root or proof, for the current or an earlier size, costs O(log n).
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for value in leaf_hashes:
            self.append(value)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> int:
        """Add a leaf hash (not an entry; see :func:`leaf_hash`) and return its index."""
        if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
            raise InvalidLogRequest(f"a leaf hash must be {HASH_SIZE} bytes")
        index = self.size
        self._levels[0].append(leaf)
        level, position, current = 0, index, leaf
        while position % 2 == 1:
            current = node_hash(self._levels[level][position - 1], current)
            level, position = level + 1, position // 2
            if level == len(self._levels):
                self._levels.append([])
            self._levels[level].append(current)
        return index

    def subtree_hashes(self, keys: Sequence[Subtree]) -> list[bytes]:
        """A :data:`SubtreeSource` over this tree."""
        try:
            return [self._levels[level][index] for level, index in keys]
        except IndexError as exc:
            raise InvalidLogRequest("a subtree beyond the tree was asked for") from exc

    def _size_or_current(self, tree_size: int | None) -> int:
        size = self.size if tree_size is None else tree_size
        _check_size(size)
        if size > self.size:
            raise InvalidLogRequest(f"the tree has {self.size} leaves, not {size}")
        return size

    def root(self, tree_size: int | None = None) -> bytes:
        return build_root(self._size_or_current(tree_size), self.subtree_hashes)

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> list[bytes]:
        size = self._size_or_current(tree_size)
        return build_inclusion_proof(index, size, self.subtree_hashes)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        size = self._size_or_current(new_size)
        return build_consistency_proof(old_size, size, self.subtree_hashes)


# --- verification ----------------------------------------------------------------------------


def _proof_hashes(proof: object, what: str) -> list[bytes]:
    if not isinstance(proof, list | tuple):
        raise MerkleProofInvalid(f"the {what} must be a list of hashes")
    if len(proof) > MAX_PROOF_LENGTH:
        raise MerkleProofInvalid(f"the {what} has {len(proof)} hashes; at most 64 are possible")
    if any(not isinstance(p, bytes) or len(p) != HASH_SIZE for p in proof):
        raise MerkleProofInvalid(f"every hash of the {what} must be {HASH_SIZE} bytes")
    return list(proof)


def _hash_arg(value: object, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise MerkleProofInvalid(f"the {what} must be {HASH_SIZE} bytes")
    return value


def _size_arg(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise MerkleProofInvalid(f"the {what} must be an integer in [0, 2**64)")
    return value


def verify_inclusion(
    *, leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise :class:`MerkleProofInvalid` unless ``proof`` puts ``leaf`` at ``index``.

    ``leaf`` is the leaf hash; ``root`` the (trusted, signed) root of the tree of
    ``tree_size`` leaves. RFC 9162 §2.1.3.2.
    """
    leaf = _hash_arg(leaf, "leaf hash")
    root = _hash_arg(root, "root hash")
    index = _size_arg(index, "leaf index")
    tree_size = _size_arg(tree_size, "tree size")
    path = _proof_hashes(proof, "inclusion proof")
    # 1. Compare leaf_index from the inclusion_proof_v2 structure against tree_size. If
    #    leaf_index is greater than or equal to tree_size, then fail the proof verification.
    if index >= tree_size:
        raise MerkleProofInvalid(f"leaf index {index} is not in a tree of size {tree_size}")
    # 2. Set fn to leaf_index and sn to tree_size - 1.
    fn, sn = index, tree_size - 1
    # 3. Set r to hash.
    r = leaf
    # 4. For each value p in the inclusion_path array:
    for p in path:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            raise MerkleProofInvalid("the inclusion proof is longer than the tree is deep")
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set r to HASH(0x01 || p || r).
            r = node_hash(p, r)
            # ii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            #     either LSB(fn) is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            # Otherwise: i. Set r to HASH(0x01 || r || p).
            r = node_hash(r, p)
        # c. Finally, right-shift both fn and sn one time.
        fn, sn = fn >> 1, sn >> 1
    # 5. Compare sn to 0. Compare r against the root_hash. If sn is equal to 0 and r and the
    #    root_hash are equal, then the log has proven the inclusion of hash. Otherwise, fail.
    if sn != 0:
        raise MerkleProofInvalid("the inclusion proof is shorter than the tree is deep")
    if r != root:
        raise MerkleProofInvalid(
            f"the inclusion proof for leaf {index} does not lead to the root of tree {tree_size}"
        )


def verify_consistency(  # noqa: PLR0912 - the RFC's numbered steps read best in one piece
    *,
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Raise :class:`MerkleProofInvalid` unless ``proof`` shows tree ``old_size`` is a prefix.

    RFC 9162 §2.1.4.2 for 0 < old_size < new_size. Equal sizes need an empty proof and equal
    roots; the empty tree (old_size 0, root ``EMPTY_ROOT``) is a prefix of every tree.
    """
    first = _size_arg(old_size, "old tree size")
    second = _size_arg(new_size, "new tree size")
    first_hash = _hash_arg(old_root, "old root hash")
    second_hash = _hash_arg(new_root, "new root hash")
    path = _proof_hashes(proof, "consistency proof")
    if first > second:
        raise MerkleProofInvalid(f"tree size {first} cannot be a prefix of size {second}")
    if first in (0, second):
        if path:
            raise MerkleProofInvalid("a consistency proof to the same or the empty tree is empty")
        expected = EMPTY_ROOT if first == 0 else second_hash
        if first_hash != expected:
            raise MerkleProofInvalid(f"the roots do not match for tree size {first}")
        return
    # 1. If consistency_path is an empty array, stop and fail the proof verification.
    if not path:
        raise MerkleProofInvalid("the consistency proof is empty")
    # 2. If first is an exact power of 2, then prepend first_hash to the consistency_path.
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    # 3. Set fn to first - 1 and sn to second - 1.
    fn, sn = first - 1, second - 1
    # 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # 5. Set both fr and sr to the first value in the consistency_path array.
    fr = sr = path[0]
    # 6. For each subsequent value c in the consistency_path array:
    for c in path[1:]:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            raise MerkleProofInvalid("the consistency proof is longer than the tree is deep")
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set fr to HASH(0x01 || c || fr).  ii. Set sr to HASH(0x01 || c || sr).
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            # iii. If LSB(fn) is not set, then right-shift both fn and sn equally until
            #      either LSB(fn) is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            # Otherwise: i. Set sr to HASH(0x01 || sr || c).
            sr = node_hash(sr, c)
        # c. Finally, right-shift both fn and sn one time.
        fn, sn = fn >> 1, sn >> 1
    # 7. Verify that the fr calculated is equal to the first_hash supplied, that the sr
    #    calculated is equal to the second_hash supplied, and that sn is 0.
    if sn != 0:
        raise MerkleProofInvalid("the consistency proof is shorter than the tree is deep")
    if fr != first_hash or sr != second_hash:
        raise MerkleProofInvalid(
            f"the consistency proof does not link tree {first} to tree {second}"
        )


# --- signed tree heads -----------------------------------------------------------------------


class TreeHeadAlgorithm(StrEnum):
    ECDSA_SHA256 = "ecdsa-sha256"
    ED25519 = "ed25519"


TreeHeadKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
TreeHeadPublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """The log's signed statement "the tree of ``tree_size`` leaves has root ``root_hash``"."""

    tree_size: int
    timestamp: dt.datetime
    root_hash: bytes
    key_label: str
    algorithm: TreeHeadAlgorithm
    signature: bytes


def tree_head_message(*, tree_size: int, timestamp: dt.datetime, root_hash: bytes) -> bytes:
    """The bytes a tree head signature covers (see the module docstring)."""
    _check_size(tree_size)
    at = require_aware(timestamp, "timestamp")
    micros = (at - _EPOCH) // dt.timedelta(microseconds=1)
    if not 0 <= micros < 2**64:
        raise InvalidLogRequest("a tree head timestamp must lie after 1970")
    if not isinstance(root_hash, bytes) or len(root_hash) != HASH_SIZE:
        raise InvalidLogRequest(f"a root hash must be {HASH_SIZE} bytes")
    return TREE_HEAD_DOMAIN + struct.pack(">QQ", tree_size, micros) + root_hash


def tree_head_algorithm(key: object) -> TreeHeadAlgorithm:
    """The algorithm a tree head key signs with; other key types are refused."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return TreeHeadAlgorithm.ECDSA_SHA256
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return TreeHeadAlgorithm.ED25519
    raise InvalidLogRequest(f"a tree head key must be ECDSA or Ed25519, got {type(key).__name__}")


def sign_tree_head(
    key: TreeHeadKey,
    *,
    key_label: str,
    tree_size: int,
    timestamp: dt.datetime,
    root_hash: bytes,
) -> SignedTreeHead:
    """Sign ``(tree_size, timestamp, root_hash)`` with ``key`` (its ``sign()`` may be an HSM)."""
    algorithm = tree_head_algorithm(key)
    message = tree_head_message(tree_size=tree_size, timestamp=timestamp, root_hash=root_hash)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    else:
        signature = key.sign(message)
    return SignedTreeHead(
        tree_size=tree_size,
        timestamp=require_aware(timestamp, "timestamp"),
        root_hash=root_hash,
        key_label=key_label,
        algorithm=algorithm,
        signature=signature,
    )


def verify_tree_head(head: SignedTreeHead, public_key: TreeHeadPublicKey) -> None:
    """Raise :class:`TreeHeadInvalid` unless ``public_key`` signed ``head``.

    The key is the one the verifier trusts; the label and algorithm stored with the head are
    only checked against it, never trusted on their own.
    """
    try:
        message = tree_head_message(
            tree_size=head.tree_size, timestamp=head.timestamp, root_hash=head.root_hash
        )
        expected = tree_head_algorithm(public_key)
    except Exception as exc:  # a malformed head of any shape is just invalid
        raise TreeHeadInvalid("the tree head is malformed") from exc
    if head.algorithm != expected or not isinstance(head.signature, bytes):
        raise TreeHeadInvalid(
            f"the tree head is signed with {head.algorithm!s}; the trusted key uses {expected}"
        )
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(head.signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            public_key.verify(head.signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise TreeHeadInvalid(
            f"the signature over tree head {head.tree_size} does not verify with the trusted key"
        ) from exc
