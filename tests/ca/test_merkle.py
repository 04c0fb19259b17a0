"""RFC 9162 Merkle hashing, proofs and signed tree heads (ca/merkle.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ca.errors import CAError, InvalidLogRequest, MerkleProofInvalid, TreeHeadInvalid
from ca.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    Subtree,
    build_inclusion_proof,
    leaf_hash,
    node_hash,
    sign_tree_head,
    verify_consistency,
    verify_inclusion,
    verify_tree_head,
)

# The eight inputs of the RFC 6962 reference tests (certificate-transparency's
# merkle_tree_test), whose hashing RFC 9162 §2.1 keeps unchanged for SHA-256.
REFERENCE_INPUTS = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
REFERENCE_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
REFERENCE_PATHS = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
}
REFERENCE_CONSISTENCY = {
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
AT = dt.datetime(2026, 11, 1, 9, 0, 0, 123456, tzinfo=dt.UTC)


# --- an independent, naive implementation straight from RFC 9162 §2.1 --------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(entries: list[bytes]) -> bytes:
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + naive_mth(entries[:k]) + naive_mth(entries[k:])).digest()


def naive_path(m: int, entries: list[bytes]) -> list[bytes]:
    n = len(entries)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*naive_path(m, entries[:k]), naive_mth(entries[k:])]
    return [*naive_path(m - k, entries[k:]), naive_mth(entries[:k])]


def naive_subproof(m: int, entries: list[bytes], whole: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if whole else [naive_mth(entries)]
    k = _k(n)
    if m <= k:
        return [*naive_subproof(m, entries[:k], whole), naive_mth(entries[k:])]
    return [*naive_subproof(m - k, entries[k:], False), naive_mth(entries[:k])]


def entries_of(n: int) -> list[bytes]:
    return [i.to_bytes(4, "big") for i in range(n)]


def tree_of(entries: list[bytes]) -> MerkleTree:
    return MerkleTree(leaf_hash(e) for e in entries)


# --- known answers ---------------------------------------------------------------------------


def test_empty_tree_hash_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert MerkleTree().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_use_the_rfc_domain_bytes() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )


def test_small_trees_match_the_definition_computed_by_hand() -> None:
    a, b, c = b"a", b"b", b"c"
    la, lb, lc = (hashlib.sha256(b"\x00" + x).digest() for x in (a, b, c))
    tree = tree_of([a, b, c])
    assert tree.root(1) == la
    assert tree.root(2) == hashlib.sha256(b"\x01" + la + lb).digest()
    # Three leaves split at k = 2: MTH = H(1 || H(1 || la || lb) || lc).
    assert tree.root(3) == hashlib.sha256(b"\x01" + tree.root(2) + lc).digest()


def test_reference_roots_of_every_prefix() -> None:
    tree = tree_of(REFERENCE_INPUTS)
    assert [tree.root(n).hex() for n in range(1, 9)] == REFERENCE_ROOTS


def test_reference_inclusion_and_consistency_proofs() -> None:
    tree = tree_of(REFERENCE_INPUTS)
    for (index, size), path in REFERENCE_PATHS.items():
        assert [p.hex() for p in tree.inclusion_proof(index, size)] == path
    for (old, new), proof in REFERENCE_CONSISTENCY.items():
        assert [p.hex() for p in tree.consistency_proof(old, new)] == proof


def test_every_proof_matches_the_naive_definition_up_to_40_leaves() -> None:
    entries = entries_of(40)
    tree = tree_of(entries)
    for n in range(1, 41):
        assert tree.root(n) == naive_mth(entries[:n])
        for m in range(n):
            assert tree.inclusion_proof(m, n) == naive_path(m, entries[:n])
        for m in range(1, n):
            assert tree.consistency_proof(m, n) == naive_subproof(m, entries[:n], True)


# --- properties ------------------------------------------------------------------------------

_TREE = tree_of(entries_of(300))


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(min_value=1, max_value=300))
    return n, draw(st.integers(min_value=0, max_value=n - 1))


@given(size_and_index())
def test_inclusion_proof_verifies_for_its_leaf_only(case: tuple[int, int]) -> None:
    n, i = case
    leaf, root, proof = (
        _TREE.subtree_hashes([(0, i)])[0],
        _TREE.root(n),
        _TREE.inclusion_proof(i, n),
    )
    verify_inclusion(leaf=leaf, index=i, tree_size=n, proof=proof, root=root)
    other = leaf_hash(b"forged")
    with pytest.raises(MerkleProofInvalid):
        verify_inclusion(leaf=other, index=i, tree_size=n, proof=proof, root=root)
    with pytest.raises(MerkleProofInvalid):
        verify_inclusion(leaf=leaf, index=i, tree_size=n, proof=proof, root=bytes(32))
    if n > 1:
        with pytest.raises(MerkleProofInvalid):
            verify_inclusion(leaf=leaf, index=(i + 1) % n, tree_size=n, proof=proof, root=root)
        tampered = [bytes(32), *proof[1:]]
        with pytest.raises(MerkleProofInvalid):
            verify_inclusion(leaf=leaf, index=i, tree_size=n, proof=tampered, root=root)


@given(
    st.integers(min_value=1, max_value=300).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    )
)
def test_consistency_proof_verifies_and_rejects_a_rewritten_history(case: tuple[int, int]) -> None:
    m, n = case
    old_root, new_root, proof = _TREE.root(m), _TREE.root(n), _TREE.consistency_proof(m, n)
    verify_consistency(old_size=m, new_size=n, old_root=old_root, new_root=new_root, proof=proof)
    forged = hashlib.sha256(b"rewritten").digest()
    with pytest.raises(MerkleProofInvalid):
        verify_consistency(old_size=m, new_size=n, old_root=forged, new_root=new_root, proof=proof)
    if 0 < m < n:  # the empty tree is a prefix of every tree, whatever its root
        with pytest.raises(MerkleProofInvalid):
            verify_consistency(
                old_size=m, new_size=n, old_root=old_root, new_root=forged, proof=proof
            )


_garbage_hash = st.one_of(st.binary(max_size=40), st.integers(), st.none(), st.text(max_size=3))
_garbage_proof = st.one_of(
    st.lists(_garbage_hash, max_size=70),
    st.lists(st.binary(min_size=32, max_size=32), max_size=70),
    st.binary(max_size=64),
    st.none(),
    st.integers(),
)
_garbage_int = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.none(), st.booleans())


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_garbage_proof, _garbage_int, _garbage_int, _garbage_hash, _garbage_hash)
def test_garbage_inclusion_proofs_fail_cleanly(
    proof: object, index: object, size: object, leaf: object, root: object
) -> None:
    try:
        verify_inclusion(leaf=leaf, index=index, tree_size=size, proof=proof, root=root)  # type: ignore[arg-type]
    except CAError as exc:
        assert isinstance(exc, MerkleProofInvalid)
    else:  # only a one-leaf tree whose root is the leaf may pass with an empty proof
        assert (index, size, leaf) == (0, 1, root) and proof in ([], ())


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_garbage_proof, _garbage_int, _garbage_int, _garbage_hash)
def test_garbage_consistency_proofs_fail_cleanly(
    proof: object, old: object, new: object, root: object
) -> None:
    # A real new root, so only the proof or sizes can be at fault.
    try:
        verify_consistency(
            old_size=old,
            new_size=new,
            old_root=root,
            new_root=_TREE.root(300),
            proof=proof,  # type: ignore[arg-type]
        )
    except CAError as exc:
        assert isinstance(exc, MerkleProofInvalid)
    else:  # only the trivial empty-tree case may pass
        assert old == 0 and proof in ([], ()) and root == EMPTY_ROOT


def test_proof_requests_outside_the_tree_are_refused() -> None:
    tree = tree_of(entries_of(5))
    for bad in [
        lambda: tree.inclusion_proof(5, 5),
        lambda: tree.inclusion_proof(0, 6),
        lambda: tree.consistency_proof(4, 3),
        lambda: tree.root(9),
        lambda: tree.inclusion_proof(-1, 5),
    ]:
        with pytest.raises(InvalidLogRequest):
            bad()


# --- efficiency ------------------------------------------------------------------------------


def test_100k_leaves_proofs_touch_only_log_n_stored_subtrees() -> None:
    n = 100_000
    started = time.perf_counter()
    tree = MerkleTree(leaf_hash(i.to_bytes(4, "big")) for i in range(n))
    asked: list[int] = []

    def counting_source(keys: list[Subtree]) -> list[bytes]:
        asked.append(len(keys))
        return tree.subtree_hashes(keys)

    root = tree.root()
    for i in range(0, n, 997):
        proof = build_inclusion_proof(i, n, counting_source)
        verify_inclusion(
            leaf=tree.subtree_hashes([(0, i)])[0], index=i, tree_size=n, proof=proof, root=root
        )
    elapsed = time.perf_counter() - started
    # log2(100k) ~ 17: a proof is at most 17 hashes, each at most 17 complete subtrees, but
    # only the right edge is partial, so the stored reads stay near 2 * 17.
    assert max(asked) <= 2 * n.bit_length()
    assert elapsed < 10  # building 100k leaves plus 100 proofs; about a second in practice


# --- signed tree heads -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", [ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()]
)
def test_signed_tree_head_verifies_and_any_change_is_detected(
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
) -> None:
    root = tree_of(REFERENCE_INPUTS).root()
    head = sign_tree_head(key, key_label="ct-log", tree_size=8, timestamp=AT, root_hash=root)
    verify_tree_head(head, key.public_key())
    for forged in [
        replace(head, tree_size=7),
        replace(head, root_hash=bytes(32)),
        replace(head, timestamp=AT + dt.timedelta(microseconds=1)),
        replace(head, signature=b"\x30\x00"),
        replace(head, signature=b""),
    ]:
        with pytest.raises(TreeHeadInvalid):
            verify_tree_head(forged, key.public_key())


def test_tree_head_from_another_key_is_rejected() -> None:
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    head = sign_tree_head(key, key_label="ct-log", tree_size=0, timestamp=AT, root_hash=EMPTY_ROOT)
    with pytest.raises(TreeHeadInvalid):
        verify_tree_head(head, other.public_key())
    with pytest.raises(TreeHeadInvalid):
        verify_tree_head(head, ed25519.Ed25519PrivateKey.generate().public_key())
