"""Tests for ledger.merkle: RFC 6962 vectors, generated proofs, properties, accumulator state."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    FrontierState,
    InvalidProof,
    InvalidRange,
    InvalidState,
    MemoryNodeStore,
    ProofFailure,
    build_subtree_cache,
    consistency_proof,
    consistency_proof_size,
    inclusion_proof,
    inclusion_proof_size,
    leaf_hash,
    node_hash,
    root_of,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "rfc6962"

RFC_LEAVES = [
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
RFC_LEAF_HASHES = [leaf_hash(d) for d in RFC_LEAVES]
# MTH of the first 1..8 RFC leaves, as published with the RFC 6962 reference tests.
RFC_ROOTS = [
    bytes.fromhex(h)
    for h in [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]

MAX_SIZE = 300
LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(MAX_SIZE + 1)]
STORE = MemoryNodeStore(LEAVES)


def reference_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH straight from RFC 9162 §2.1.1 (recursive, independent of the module's code)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


@functools.cache
def ref_root(size: int) -> bytes:
    return reference_mth(LEAVES[:size])


def flip_bit(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --------------------------------------------------------------------------- vectors


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _load(kind: str) -> list[Any]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(VECTORS))) for f in files]


INCLUSION_VECTORS = _load("inclusion")
CONSISTENCY_VECTORS = _load("consistency")


def test_all_vector_files_are_loaded() -> None:
    assert len(INCLUSION_VECTORS) == 98
    assert len(CONSISTENCY_VECTORS) == 98


@pytest.mark.parametrize("case", INCLUSION_VECTORS)
def test_inclusion_vector(case: dict[str, Any]) -> None:
    args = (
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        [_b64(p) for p in case["proof"] or []],
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(InvalidProof) as info:
            verify_inclusion(*args)
        assert isinstance(info.value.reason, ProofFailure)
    else:
        verify_inclusion(*args)  # returns None; failure would raise


@pytest.mark.parametrize("case", CONSISTENCY_VECTORS)
def test_consistency_vector(case: dict[str, Any]) -> None:
    args = (
        case["size1"],
        case["size2"],
        [_b64(p) for p in case["proof"] or []],
        _b64(case["root1"]),
        _b64(case["root2"]),
    )
    if case["wantErr"]:
        with pytest.raises(InvalidProof) as info:
            verify_consistency(*args)
        assert isinstance(info.value.reason, ProofFailure)
    else:
        verify_consistency(*args)  # returns None; failure would raise


def _happy(vectors: list[Any]) -> list[Any]:
    # Numbered directories are built over the eight RFC leaves; "additional" etc. are not.
    return [
        v for v in vectors if v.values[0]["desc"] == "happy path" and v.id.split("/")[1].isdigit()
    ]


@pytest.mark.parametrize("case", _happy(INCLUSION_VECTORS))
def test_generated_inclusion_proof_matches_vector(case: dict[str, Any]) -> None:
    store = MemoryNodeStore(RFC_LEAF_HASHES)
    index, size = case["leafIdx"], case["treeSize"]
    assert RFC_LEAF_HASHES[index] == _b64(case["leafHash"])
    assert tree_root(size, store) == _b64(case["root"])
    assert inclusion_proof(index, size, store) == [_b64(p) for p in case["proof"] or []]


@pytest.mark.parametrize("case", _happy(CONSISTENCY_VECTORS))
def test_generated_consistency_proof_matches_vector(case: dict[str, Any]) -> None:
    store = MemoryNodeStore(RFC_LEAF_HASHES)
    size1, size2 = case["size1"], case["size2"]
    assert tree_root(size1, store) == _b64(case["root1"])
    assert tree_root(size2, store) == _b64(case["root2"])
    assert consistency_proof(size1, size2, store) == [_b64(p) for p in case["proof"] or []]


def test_happy_vectors_were_selected() -> None:
    assert len(_happy(INCLUSION_VECTORS)) == 5
    assert len(_happy(CONSISTENCY_VECTORS)) == 5


# --------------------------------------------------------------------------- known values


def test_hash_primitives() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"") == RFC_ROOTS[0]
    assert root_of([]) == EMPTY_ROOT
    assert node_hash(RFC_LEAF_HASHES[0], RFC_LEAF_HASHES[1]) == RFC_ROOTS[1]


def test_rfc_roots_every_prefix() -> None:
    acc = CompactRange()
    store = MemoryNodeStore(RFC_LEAF_HASHES)
    for size in range(1, 9):
        acc.append(RFC_LEAF_HASHES[size - 1])
        want = RFC_ROOTS[size - 1]
        assert acc.root() == want
        assert root_of(RFC_LEAF_HASHES[:size]) == want
        assert reference_mth(RFC_LEAF_HASHES[:size]) == want
        assert tree_root(size, store) == want


def test_rfc_all_proofs_verify() -> None:
    store = MemoryNodeStore(RFC_LEAF_HASHES)
    for size in range(1, 9):
        for index in range(size):
            proof = inclusion_proof(index, size, store)
            verify_inclusion(RFC_LEAF_HASHES[index], index, size, proof, RFC_ROOTS[size - 1])
        for size1 in range(1, size + 1):
            proof = consistency_proof(size1, size, store)
            verify_consistency(size1, size, proof, RFC_ROOTS[size1 - 1], RFC_ROOTS[size - 1])


# --------------------------------------------------------------------------- edge cases


def _reason(call: Any, *args: Any) -> ProofFailure:
    with pytest.raises(InvalidProof) as info:
        call(*args)
    return info.value.reason


def test_inclusion_edge_cases() -> None:
    root = ref_root(5)
    proof = inclusion_proof(2, 5, STORE)
    leaf = LEAVES[2]
    assert _reason(verify_inclusion, leaf, 5, 5, proof, root) == "index_out_of_range"
    assert _reason(verify_inclusion, leaf, -1, 5, proof, root) == "index_out_of_range"
    assert _reason(verify_inclusion, leaf, 0, 0, [], EMPTY_ROOT) == "index_out_of_range"
    assert _reason(verify_inclusion, leaf, 2, -3, proof, root) == "bad_size"
    assert _reason(verify_inclusion, leaf, 2, 5, [*proof, root], root) == "wrong_proof_length"
    assert _reason(verify_inclusion, leaf, 2, 5, proof[:-1], root) == "wrong_proof_length"
    assert _reason(verify_inclusion, leaf[:31], 2, 5, proof, root) == "bad_hash_length"
    assert _reason(verify_inclusion, leaf, 2, 5, proof, root + b"\0") == "bad_hash_length"
    bad = [proof[0] + b"\0", *proof[1:]]
    assert _reason(verify_inclusion, leaf, 2, 5, bad, root) == "bad_hash_length"
    assert _reason(verify_inclusion, LEAVES[3], 2, 5, proof, root) == "root_mismatch"
    # A single-leaf tree's root is the leaf hash; the proof is empty.
    verify_inclusion(leaf, 0, 1, [], leaf)


def test_consistency_edge_cases() -> None:
    r3, r7 = ref_root(3), ref_root(7)
    proof = consistency_proof(3, 7, STORE)
    assert _reason(verify_consistency, 7, 3, proof, r7, r3) == "size_order"
    assert _reason(verify_consistency, -1, 3, [], r3, r3) == "bad_size"
    assert _reason(verify_consistency, 3, 3, proof, r3, r3) == "wrong_proof_length"
    assert _reason(verify_consistency, 3, 3, [], r3, r7) == "root2_mismatch"
    assert _reason(verify_consistency, 0, 7, [], EMPTY_ROOT, r7) == "empty_first_tree"
    assert _reason(verify_consistency, 0, 0, [], r3, r3) == "root1_mismatch"
    assert _reason(verify_consistency, 0, 0, [r3], EMPTY_ROOT, EMPTY_ROOT) == "wrong_proof_length"
    assert _reason(verify_consistency, 3, 7, [], r3, r7) == "wrong_proof_length"
    assert _reason(verify_consistency, 3, 7, proof[:-1], r3, r7) == "wrong_proof_length"
    assert _reason(verify_consistency, 3, 7, [*proof, r3], r3, r7) == "wrong_proof_length"
    assert _reason(verify_consistency, 3, 7, proof, r7, r3) == "root1_mismatch"
    assert _reason(verify_consistency, 3, 7, proof, r3, r3) == "root2_mismatch"
    assert _reason(verify_consistency, 3, 7, proof, r3[:8], r7) == "bad_hash_length"
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(3, 3, [], r3, r3)
    verify_consistency(3, 7, proof, r3, r7)


def test_generation_rejects_bad_ranges() -> None:
    for index, size in [(0, 0), (5, 5), (-1, 3)]:
        with pytest.raises(InvalidRange):
            inclusion_proof(index, size, STORE)
    for size1, size2 in [(4, 3), (-1, 2), (0, 1)]:
        with pytest.raises(InvalidRange):
            consistency_proof(size1, size2, STORE)
    assert consistency_proof(0, 0, STORE) == []
    assert consistency_proof(5, 5, STORE) == []
    with pytest.raises(InvalidState):  # the store holds fewer leaves than claimed
        inclusion_proof(0, MAX_SIZE + 5, STORE)
    with pytest.raises(ValueError):  # InvalidRange is also a ValueError
        inclusion_proof(3, 2, STORE)


# --------------------------------------------------------------------------- properties

sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def size_pair(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(sizes)
    return draw(st.integers(min_value=1, max_value=size2)), size2


@given(size_and_index())
def test_generated_inclusion_proofs_verify(case: tuple[int, int]) -> None:
    size, index = case
    proof = inclusion_proof(index, size, STORE)
    assert len(proof) == inclusion_proof_size(index, size)
    verify_inclusion(LEAVES[index], index, size, proof, ref_root(size))


@given(size_pair())
def test_generated_consistency_proofs_verify(case: tuple[int, int]) -> None:
    size1, size2 = case
    proof = consistency_proof(size1, size2, STORE)
    assert len(proof) == consistency_proof_size(size1, size2)
    verify_consistency(size1, size2, proof, ref_root(size1), ref_root(size2))


@given(size_and_index(), st.data())
def test_inclusion_bit_flip_fails(case: tuple[int, int], data: st.DataObject) -> None:
    size, index = case
    proof = inclusion_proof(index, size, STORE)
    leaf, root = LEAVES[index], ref_root(size)
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    # Flip one bit in the leaf, the root, or one proof hash: every one must be caught.
    target = data.draw(st.integers(min_value=-2, max_value=len(proof) - 1), label="target")
    if target == -2:
        leaf = flip_bit(leaf, bit)
    elif target == -1:
        root = flip_bit(root, bit)
    else:
        proof[target] = flip_bit(proof[target], bit)
    with pytest.raises(InvalidProof):
        verify_inclusion(leaf, index, size, proof, root)


@given(size_pair(), st.data())
def test_consistency_bit_flip_fails(case: tuple[int, int], data: st.DataObject) -> None:
    size1, size2 = case
    proof = consistency_proof(size1, size2, STORE)
    roots = [ref_root(size1), ref_root(size2)]
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    target = data.draw(st.integers(min_value=-2, max_value=len(proof) - 1), label="target")
    if target < 0:
        roots[target] = flip_bit(roots[target], bit)
    else:
        proof[target] = flip_bit(proof[target], bit)
    with pytest.raises(InvalidProof):
        verify_consistency(size1, size2, proof, roots[0], roots[1])


@given(size_and_index(), st.integers(min_value=-3, max_value=MAX_SIZE + 3))
def test_inclusion_wrong_index_fails(case: tuple[int, int], other: int) -> None:
    size, index = case
    if other == index:
        other += 1
    proof = inclusion_proof(index, size, STORE)
    with pytest.raises(InvalidProof):
        verify_inclusion(LEAVES[index], other, size, proof, ref_root(size))


@given(size_and_index(), st.integers(min_value=-3, max_value=MAX_SIZE))
def test_inclusion_wrong_size_fails(case: tuple[int, int], other: int) -> None:
    size, index = case
    if other == size:
        other += 1
    proof = inclusion_proof(index, size, STORE)
    if not index < other:
        with pytest.raises(InvalidProof):
            verify_inclusion(LEAVES[index], index, other, proof, ref_root(size))
        return
    # Against the real head of that other size, only that size's own proof may pass. (Keeping
    # the old root can pass when both trees have the same shape: proofs don't bind the size,
    # the signed tree head does.)
    if inclusion_proof(index, other, STORE) == proof:
        verify_inclusion(LEAVES[index], index, other, proof, ref_root(other))
    else:
        with pytest.raises(InvalidProof):
            verify_inclusion(LEAVES[index], index, other, proof, ref_root(other))


@given(size_pair(), size_pair())
def test_consistency_wrong_sizes_fail(case: tuple[int, int], other: tuple[int, int]) -> None:
    proof = consistency_proof(*case, STORE)
    size1, size2 = other
    args = (size1, size2, proof, ref_root(size1), ref_root(size2))
    if consistency_proof(size1, size2, STORE) == proof:
        verify_consistency(*args)
    else:
        with pytest.raises(InvalidProof):
            verify_consistency(*args)


@given(size_pair())
def test_consistency_swapped_roots_fail(case: tuple[int, int]) -> None:
    size1, size2 = case
    if ref_root(size1) == ref_root(size2):
        return  # equal sizes: swapping changes nothing
    proof = consistency_proof(size1, size2, STORE)
    with pytest.raises(InvalidProof):
        verify_consistency(size1, size2, proof, ref_root(size2), ref_root(size1))


# --------------------------------------------------------------------------- accumulator


@settings(max_examples=50)
@given(st.lists(st.binary(max_size=8), max_size=MAX_SIZE))
def test_accumulator_matches_mth_for_every_prefix(data: list[bytes]) -> None:
    leaves = [leaf_hash(d) for d in data]
    memo: dict[tuple[int, int], bytes] = {}

    def mth(start: int, end: int) -> bytes:  # memoised reference_mth over leaves[start:end]
        if (start, end) not in memo:
            n = end - start
            if n == 1:
                memo[(start, end)] = leaves[start]
            else:
                k = 1
                while k * 2 < n:
                    k *= 2
                memo[(start, end)] = node_hash(mth(start, start + k), mth(start + k, end))
        return memo[(start, end)]

    acc = CompactRange()
    assert acc.root() == EMPTY_ROOT
    for i, leaf in enumerate(leaves):
        acc.append(leaf)
        assert acc.size == len(acc) == i + 1
        assert len(acc.frontier) == (i + 1).bit_count()
        assert acc.root() == mth(0, i + 1)
    assert root_of(leaves) == acc.root()


@given(st.integers(min_value=0, max_value=MAX_SIZE), st.integers(min_value=0, max_value=20))
def test_state_round_trip(size: int, more: int) -> None:
    acc = CompactRange()
    acc.extend(LEAVES[:size])
    state = acc.to_state()
    assert state == FrontierState(size, acc.frontier)
    restored = CompactRange.from_state(state)
    assert restored.size == size and restored.root() == acc.root() == ref_root(size)
    assert CompactRange.from_state((state.size, list(state.hashes))).root() == acc.root()
    # The restored accumulator continues exactly like the original.
    for leaf in LEAVES[size : size + more]:
        acc.append(leaf)
        restored.append(leaf)
        assert restored.root() == acc.root()
    assert restored.to_state() == acc.to_state()


def test_from_state_rejects_malformed_state() -> None:
    good = CompactRange()
    good.extend(LEAVES[:6])
    size, hashes = good.to_state()
    for bad in [
        (-1, ()),
        (size, hashes[:1]),  # 6 = 4 + 2 needs two hashes
        (size + 1, hashes),  # 7 needs three
        (size, (hashes[0], hashes[1][:31])),
        (True, (LEAVES[0],)),
    ]:
        with pytest.raises(InvalidState):
            CompactRange.from_state(bad)
    with pytest.raises(InvalidState):
        good.append(b"short")


# --------------------------------------------------------------------------- subtree cache


class CountingStore(MemoryNodeStore):
    def __init__(self, leaves: Sequence[bytes]) -> None:
        super().__init__(leaves)
        self.fetched = 0
        self.calls = 0

    def get_leaf_hashes(self, start: int, end: int) -> Sequence[bytes]:
        self.fetched += end - start
        self.calls += 1
        return super().get_leaf_hashes(start, end)


@settings(max_examples=50)
@given(size_pair(), st.integers(min_value=0, max_value=5), st.data())
def test_cache_gives_same_proofs(
    case: tuple[int, int], min_level: int, data: st.DataObject
) -> None:
    size1, size2 = case
    # The cache may cover more leaves than the tree: complete subtrees never change.
    cache = build_subtree_cache(LEAVES, min_level)
    index = data.draw(st.integers(min_value=0, max_value=size2 - 1), label="index")
    assert inclusion_proof(index, size2, STORE, cache) == inclusion_proof(index, size2, STORE)
    assert consistency_proof(size1, size2, STORE, cache) == consistency_proof(size1, size2, STORE)
    assert tree_root(size2, STORE, cache) == ref_root(size2)


def test_cache_bounds_leaf_work_on_large_tree() -> None:
    n, min_level = (1 << 16) + 12345, 4
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    store = CountingStore(leaves)
    acc = CompactRange()
    acc.extend(leaves)
    cache = build_subtree_cache(leaves, min_level)
    assert len(cache) < n >> (min_level - 1)
    for index in [0, 1, 4097, n // 2, n - 2, n - 1]:
        store.fetched = store.calls = 0
        proof = inclusion_proof(index, n, store, cache)
        verify_inclusion(leaves[index], index, n, proof, acc.root())
        assert store.fetched < 3 << min_level and store.calls <= 2 * n.bit_length()
    for size1 in [1, 2, 3, 1000, 40000, 65536, n - 1]:
        store.fetched = store.calls = 0
        proof = consistency_proof(size1, n, store, cache)
        verify_consistency(size1, n, proof, root_of(leaves[:size1]), acc.root())
        assert store.fetched < 3 << min_level and store.calls <= 2 * n.bit_length()
    store.fetched = 0
    assert tree_root(n, store, cache) == acc.root()
    assert store.fetched < 1 << min_level
