"""RFC 6962 / RFC 9162 Merkle tree: hashing, incremental accumulator, proofs (pure, no I/O).

Hashing (RFC 9162 §2.1.1, identical to RFC 6962 §2.1), with SHA-256 and 32-byte hashes:

* ``leaf_hash(d) = SHA-256(0x00 || d)``; ``node_hash(l, r) = SHA-256(0x01 || l || r)``. The two
  prefixes keep a leaf from ever being passed off as an interior node (second-preimage defence).
* ``MTH({}) = SHA-256(b"")`` (``EMPTY_ROOT``); ``MTH({d0}) = leaf_hash(d0)``; for ``n > 1`` with
  ``k`` the largest power of two ``< n``:
  ``MTH(D[n]) = node_hash(MTH(D[0:k]), MTH(D[k:n]))``.

Everything in this module works on *leaf hashes*, never on leaf data: callers hash their entries
with ``leaf_hash`` first. A subtree is named ``(level, index)``: it covers leaves
``[index * 2**level, (index + 1) * 2**level)``; level 0 is a leaf hash. Because the log is
append-only, a perfect (full, aligned) subtree never changes once complete, so its hash can be
cached forever and reused for proofs at any later tree size.

Complexity (``n`` = tree size, hashes counted as SHA-256 calls):

* ``CompactRange.append``: amortised O(1) hashes (worst O(log n)); ``root()``: O(log n);
  state is the frontier of at most ``log2(n) + 1`` perfect-subtree roots.
* ``verify_inclusion`` / ``verify_consistency``: O(log n) hashes, O(1) extra memory.
* ``inclusion_proof`` / ``consistency_proof`` / ``tree_root``: without a cache, O(n) leaf hashes are
  fetched and hashed (the siblings together span the whole tree). With a complete
  ``SubtreeCache`` holding every perfect subtree of level ``>= L`` (see ``cache_recorder``): at
  most O(log n) cache look-ups, fewer than ``3 * 2**L`` leaf hashes fetched (in O(log n) batched
  ``get_leaf_hashes`` calls) and O(2**L + log n) hashes per proof. With ``L = 8`` a
  1,000,000-leaf tree needs about 7,800 cached nodes and under a millisecond per proof.

Verification never returns a bool: it returns ``None`` or raises ``InvalidProof`` whose
``reason`` (a ``ProofFailure``, also a ``str``) says why, so a forgotten check cannot pass silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from enum import StrEnum
from typing import NamedTuple, Protocol, TypeAlias

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "FrontierState",
    "InvalidProof",
    "InvalidRange",
    "InvalidState",
    "MemoryNodeStore",
    "MerkleError",
    "NodeStore",
    "ProofFailure",
    "SubtreeCache",
    "SubtreeCallback",
    "build_subtree_cache",
    "cache_recorder",
    "consistency_proof",
    "consistency_proof_size",
    "inclusion_proof",
    "inclusion_proof_size",
    "leaf_hash",
    "node_hash",
    "root_of",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


# --------------------------------------------------------------------------- errors


class MerkleError(Exception):
    """Base class of every error raised by this module."""


class ProofFailure(StrEnum):
    """Machine-readable reasons carried by ``InvalidProof.reason``."""

    BAD_SIZE = "bad_size"  # a negative tree size
    INDEX_OUT_OF_RANGE = "index_out_of_range"  # leaf index < 0 or >= tree size
    SIZE_ORDER = "size_order"  # size1 > size2
    EMPTY_FIRST_TREE = "empty_first_tree"  # size1 == 0 < size2: nothing to prove
    BAD_HASH_LENGTH = "bad_hash_length"  # a leaf/proof/root hash is not 32 bytes
    WRONG_PROOF_LENGTH = "wrong_proof_length"  # too many / too few proof hashes
    ROOT_MISMATCH = "root_mismatch"  # inclusion: recomputed root differs
    ROOT1_MISMATCH = "root1_mismatch"  # consistency: old root not reproduced
    ROOT2_MISMATCH = "root2_mismatch"  # consistency: new root not reproduced


class InvalidProof(MerkleError):
    """A proof failed verification; ``reason`` says why (stable, for logs and API errors)."""

    def __init__(self, reason: ProofFailure, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


class InvalidRange(MerkleError, ValueError):
    """Proof generation was asked for an index or sizes that do not make sense."""


class InvalidState(MerkleError, ValueError):
    """A persisted ``FrontierState`` or a ``NodeStore`` answer is malformed."""


# --------------------------------------------------------------------------- hashing


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (``EMPTY_ROOT`` for an empty list); O(n) hashes.

    Pairing bottom-up and carrying an odd last node up unchanged builds exactly the RFC tree
    (its left subtrees are always perfect), without recursion.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# --------------------------------------------------------------------------- accumulator

SubtreeCallback: TypeAlias = Callable[[int, int, bytes], None]
"""Called as ``callback(level, index, hash)`` for each perfect subtree an append completes."""


class FrontierState(NamedTuple):
    """Persistable ``CompactRange`` state: tree size and its frontier, largest subtree first."""

    size: int
    hashes: tuple[bytes, ...]


class CompactRange:
    """Append-only Merkle accumulator over ``[0, size)`` keeping only the right-edge frontier.

    The frontier holds one perfect-subtree root per set bit of ``size`` (largest first), e.g.
    size 13 = 8 + 4 + 1 keeps the roots of leaves [0, 8), [8, 12) and [12, 13). Appending merges
    equal-sized neighbours like a binary counter's carries; the root folds the frontier from the
    right, which is the RFC's MTH because every left subtree in the RFC tree is perfect.
    """

    __slots__ = ("_frontier", "_on_subtree", "_size")

    def __init__(self, on_subtree: SubtreeCallback | None = None) -> None:
        self._size = 0
        self._frontier: list[bytes] = []
        self._on_subtree = on_subtree

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def __len__(self) -> int:
        return self._size

    @property
    def frontier(self) -> tuple[bytes, ...]:
        """Roots of the perfect subtrees covering ``[0, size)``, largest (leftmost) first."""
        return tuple(self._frontier)

    def append(self, leaf: bytes) -> None:
        """Append one leaf *hash* (not leaf data); amortised O(1), worst O(log n) hashes."""
        if len(leaf) != HASH_SIZE:
            raise InvalidState(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        index, node, level = self._size, leaf, 0
        emit = self._on_subtree
        if emit is not None:
            emit(0, index, node)
        # Each trailing 1-bit of the old size is a same-sized left neighbour to merge with.
        carry = self._size
        while carry & 1:
            node = node_hash(self._frontier.pop(), node)
            level += 1
            index >>= 1
            carry >>= 1
            if emit is not None:
                emit(level, index, node)
        self._frontier.append(node)
        self._size += 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append several leaf hashes in order."""
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """Current tree head MTH(D[0:size]); O(log n) hashes."""
        if not self._frontier:
            return EMPTY_ROOT
        node = self._frontier[-1]
        for left in reversed(self._frontier[:-1]):
            node = node_hash(left, node)
        return node

    def to_state(self) -> FrontierState:
        """Snapshot for persistence (``size`` plus at most log2(size) + 1 hashes)."""
        return FrontierState(self._size, tuple(self._frontier))

    @classmethod
    def from_state(
        cls,
        state: FrontierState | tuple[int, Sequence[bytes]],
        on_subtree: SubtreeCallback | None = None,
    ) -> CompactRange:
        """Restore from ``to_state()`` output (or any ``(size, hashes)`` pair); validates shape."""
        size, hashes = state
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidState(f"size must be a non-negative int, got {size!r}")
        hashes = list(hashes)
        # One frontier hash per set bit of size: anything else cannot be a real tree's frontier.
        if len(hashes) != size.bit_count():
            raise InvalidState(f"size {size} needs {size.bit_count()} hashes, got {len(hashes)}")
        for h in hashes:
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise InvalidState(f"frontier hashes must be {HASH_SIZE} bytes")
        restored = cls(on_subtree)
        restored._size = size
        restored._frontier = hashes
        return restored


# --------------------------------------------------------------------------- stores and caches


class NodeStore(Protocol):
    """Source of stored leaf hashes for proof generation (e.g. a database table)."""

    def get_leaf_hashes(self, start: int, end: int) -> Sequence[bytes]:
        """Leaf hashes of indices ``[start, end)``, in order; must return exactly end-start."""
        ...


class MemoryNodeStore:
    """``NodeStore`` over an in-memory list of leaf hashes (tests, small trees)."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.leaves: list[bytes] = list(leaf_hashes)

    def get_leaf_hashes(self, start: int, end: int) -> Sequence[bytes]:
        return self.leaves[start:end]


SubtreeCache: TypeAlias = Mapping[tuple[int, int], bytes]
"""Dict-like ``(level, index) -> hash`` of complete, aligned (perfect) subtrees.

Any mapping works (a ``dict``, a DB-backed ``Mapping``). Entries must be correct: they are trusted
as if computed from the store. Missing entries are computed from leaves, so a partial cache is only
slower, never wrong. Fill it with ``cache_recorder`` as leaves are appended.
"""


def cache_recorder(
    cache: MutableMapping[tuple[int, int], bytes], min_level: int = 1
) -> SubtreeCallback:
    """A ``CompactRange`` callback storing each completed subtree of level >= ``min_level``.

    Level ``L`` trades memory (about ``n / 2**(L-1)`` entries) for proof cost (< ``3 * 2**L`` leaves
    re-hashed per proof). Level 0 is off by default because the ``NodeStore`` has the leaves.
    """
    if min_level < 0:
        raise ValueError("min_level must be >= 0")

    def record(level: int, index: int, node: bytes) -> None:
        if level >= min_level:
            cache[(level, index)] = node

    return record


def build_subtree_cache(
    leaf_hashes: Iterable[bytes], min_level: int = 1
) -> dict[tuple[int, int], bytes]:
    """Build a complete in-memory ``SubtreeCache`` for the given leaves (O(n) hashes)."""
    cache: dict[tuple[int, int], bytes] = {}
    CompactRange(cache_recorder(cache, min_level)).extend(leaf_hashes)
    return cache


class _Hasher:
    """Subtree hashes over ``[start, end)`` from a store, using the cache for perfect subtrees."""

    __slots__ = ("_cache", "_store")

    def __init__(self, store: NodeStore, cache: SubtreeCache | None) -> None:
        self._store = store
        self._cache = cache

    def _leaves(self, start: int, end: int) -> Sequence[bytes]:
        leaves = self._store.get_leaf_hashes(start, end)
        if len(leaves) != end - start:
            raise InvalidState(f"store returned {len(leaves)} leaves for [{start}, {end})")
        return leaves

    def _perfect(self, start: int, width: int) -> bytes:
        if self._cache is not None:
            level = width.bit_length() - 1
            cached = self._cache.get((level, start >> level))
            if cached is not None:
                return cached
        # One batched fetch for the whole subtree: a miss costs O(width), never O(width) calls.
        return root_of(self._leaves(start, start + width))

    def range_hash(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]); O(log n) perfect pieces when ``start`` is subtree-aligned."""
        if end <= start:
            return EMPTY_ROOT
        pieces: list[bytes] = []
        while start < end:
            n = end - start
            if n & (n - 1) == 0 and start % n == 0:
                pieces.append(self._perfect(start, n))
                break
            k = _split(n)
            # Inside an RFC tree the left part is aligned, hence perfect; recurse only if not.
            if start % k == 0:
                pieces.append(self._perfect(start, k))
            else:
                pieces.append(self.range_hash(start, start + k))
            start += k
        node = pieces[-1]
        for left in reversed(pieces[:-1]):
            node = node_hash(left, node)
        return node


# --------------------------------------------------------------------------- proof generation


def tree_root(size: int, leaves: NodeStore, cache: SubtreeCache | None = None) -> bytes:
    """MTH of the first ``size`` stored leaves (``EMPTY_ROOT`` for 0)."""
    if size < 0:
        raise InvalidRange(f"size must be >= 0, got {size}")
    return _Hasher(leaves, cache).range_hash(0, size)


def inclusion_proof(
    index: int, size: int, leaves: NodeStore, cache: SubtreeCache | None = None
) -> list[bytes]:
    """Audit path PATH(index, D[size]) of RFC 9162 §2.1.3.1, bottom-up (leaf sibling first)."""
    if not 0 <= index < size:
        raise InvalidRange(f"need 0 <= index < size, got index={index} size={size}")
    hasher = _Hasher(leaves, cache)
    path: list[bytes] = []
    start, end = 0, size
    # Walk root -> leaf recording the sibling of each node on the path, then reverse.
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            path.append(hasher.range_hash(mid, end))
            end = mid
        else:
            path.append(hasher.range_hash(start, mid))
            start = mid
    path.reverse()
    return path


def consistency_proof(
    size1: int, size2: int, leaves: NodeStore, cache: SubtreeCache | None = None
) -> list[bytes]:
    """PROOF(size1, D[size2]) of RFC 9162 §2.1.4.1 (empty when size1 == size2).

    ``size1 == 0 < size2`` raises ``InvalidRange``: the RFC defines no such proof and
    ``verify_consistency`` refuses it (an empty tree is trivially a prefix; callers that start
    from nothing should skip the check rather than verify a meaningless proof).
    """
    if not 0 <= size1 <= size2:
        raise InvalidRange(f"need 0 <= size1 <= size2, got size1={size1} size2={size2}")
    if size1 == size2:
        return []
    if size1 == 0:
        raise InvalidRange("no consistency proof from an empty tree")
    hasher = _Hasher(leaves, cache)
    proof: list[bytes] = []
    start, end = 0, size2
    # ``whole`` is SUBPROOF's flag b: true while the current node is a subtree of the old tree's
    # left spine, whose hash the verifier already knows (root1) and so must not be sent.
    whole = True
    while end != size1:
        mid = start + _split(end - start)
        if size1 <= mid:
            proof.append(hasher.range_hash(mid, end))
            end = mid
        else:
            proof.append(hasher.range_hash(start, mid))
            start = mid
            whole = False
    if not whole:
        proof.append(hasher.range_hash(start, end))
    proof.reverse()
    return proof


# --------------------------------------------------------------------------- verification


def inclusion_proof_size(index: int, size: int) -> int:
    """Number of hashes in a valid inclusion proof (requires 0 <= index < size)."""
    if not 0 <= index < size:
        raise InvalidRange(f"need 0 <= index < size, got index={index} size={size}")
    # Below the level where the paths to ``index`` and ``size - 1`` meet, every level has a
    # sibling; above it, only levels where the path turns right have one (a left sibling).
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def consistency_proof_size(size1: int, size2: int) -> int:
    """Number of hashes in a valid consistency proof (requires 0 < size1 <= size2)."""
    if not 0 < size1 <= size2:
        raise InvalidRange(f"need 0 < size1 <= size2, got size1={size1} size2={size2}")
    if size1 == size2:
        return 0
    # The proof is the inclusion path of leaf size1-1 in tree size2 from level ``shift`` up,
    # plus the seed node (omitted when size1 is a power of two: the seed is root1 itself).
    shift = ((size1 & -size1).bit_length()) - 1
    total = inclusion_proof_size(size1 - 1, size2) - shift
    return total if size1 == 1 << shift else total + 1


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise InvalidProof(
            ProofFailure.BAD_HASH_LENGTH, f"{what} is {len(value)} bytes, want {HASH_SIZE}"
        )


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with head ``root``.

    RFC 9162 §2.1.3.2. Returns None on success, raises ``InvalidProof`` otherwise. Note that the
    proof binds the leaf to ``root``; ``size`` is only as trustworthy as the signed tree head it
    came with (a proof for one size can verify for another size with the same tree shape).
    """
    if size < 0:
        raise InvalidProof(ProofFailure.BAD_SIZE, f"size {size}")
    if not 0 <= index < size:
        raise InvalidProof(ProofFailure.INDEX_OUT_OF_RANGE, f"index {index}, size {size}")
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root")
    want = inclusion_proof_size(index, size)
    if len(proof) != want:
        raise InvalidProof(ProofFailure.WRONG_PROOF_LENGTH, f"got {len(proof)}, want {want}")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]")

    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:  # unreachable after the length check; kept as the RFC's guard
            raise InvalidProof(ProofFailure.WRONG_PROOF_LENGTH, "proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                # On the right border a missing right sibling lifts the node up unchanged.
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof(ProofFailure.WRONG_PROOF_LENGTH, "proof too short")
    if r != root:
        raise InvalidProof(ProofFailure.ROOT_MISMATCH)


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree (``size2``, ``root2``) extends the tree (``size1``, ``root1``).

    RFC 9162 §2.1.4.2. Returns None on success, raises ``InvalidProof`` otherwise. Edge cases:
    ``size1 > size2`` fails; ``size1 == size2`` needs an empty proof and equal roots (and, for
    size 0, both roots equal to ``EMPTY_ROOT``); ``size1 == 0 < size2`` fails, because the RFC
    defines no such proof (skip the check instead when starting from an empty tree).
    """
    if size1 < 0 or size2 < 0:
        raise InvalidProof(ProofFailure.BAD_SIZE, f"size1 {size1}, size2 {size2}")
    if size1 > size2:
        raise InvalidProof(ProofFailure.SIZE_ORDER, f"size1 {size1} > size2 {size2}")
    if size1 == size2:
        if proof:
            raise InvalidProof(ProofFailure.WRONG_PROOF_LENGTH, "sizes equal, proof must be empty")
        # The empty tree's head is fixed; anything else claimed for size 0 is false.
        if size1 == 0 and root1 != EMPTY_ROOT:
            raise InvalidProof(ProofFailure.ROOT1_MISMATCH, "size 0 needs the empty root")
        if root1 != root2:
            raise InvalidProof(ProofFailure.ROOT2_MISMATCH, "sizes equal, roots differ")
        return
    if size1 == 0:
        raise InvalidProof(ProofFailure.EMPTY_FIRST_TREE, "no proof exists from size 0")
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    want = consistency_proof_size(size1, size2)
    if len(proof) != want:
        raise InvalidProof(ProofFailure.WRONG_PROOF_LENGTH, f"got {len(proof)}, want {want}")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]")

    path = list(proof)
    if size1 & (size1 - 1) == 0:
        # The old tree is one perfect subtree of the new one: its root is the seed node.
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:  # unreachable after the length check; kept as the RFC's guard
            raise InvalidProof(ProofFailure.WRONG_PROOF_LENGTH, "proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof(ProofFailure.WRONG_PROOF_LENGTH, "proof too short")
    if fr != root1:
        raise InvalidProof(ProofFailure.ROOT1_MISMATCH)
    if sr != root2:
        raise InvalidProof(ProofFailure.ROOT2_MISMATCH)
