"""The tree's storage port: what the transparency log needs of a recorder (:class:`TreeStore`,
implemented on SQLite and PostgreSQL in ``adapters/``), the stored shapes it exchanges
(:class:`TreeState`, :class:`StoredCheckpoint`) and helpers reading through it in batches.

No SQL here. The log itself: ``ledger/transparency.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from ledger import merkle
from ledger.merkle import FrontierState

READ_BATCH = 10_000  # leaves read (and tree state saved) per step: memory stays flat


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint as stored: its tree size, the rendered signed note, its issue time (µs)."""

    size: int
    note: str
    issued_at: int


@dataclass(frozen=True)
class TreeState:
    """The persisted tree: its ``CompactRange`` frontier and the object hash of its last leaf
    (ledger index ``size``; empty for the empty tree), checked against the rows before use."""

    frontier: FrontierState
    last_hash: bytes = b""

    @property
    def size(self) -> int:
        return self.frontier.size


EMPTY_TREE = TreeState(FrontierState(0, ()))


class TreeStore(Protocol):
    """What the tree needs of a recorder (implemented on SQLite and PostgreSQL)."""

    def max_index(self) -> int:
        """The newest ledger index (0 when empty)."""
        ...

    def ledger_hashes(self, after_index: int, limit: int) -> list[tuple[int, bytes]]:
        """``(ledger index, event hash)`` of up to ``limit`` rows after ``after_index``, in
        index order, read from the ledger rows themselves (never from the tree tables)."""
        ...

    def load_tree_state(self) -> TreeState:
        """The persisted tree (``EMPTY_TREE`` for a new ledger)."""
        ...

    def confirm_durable(self) -> None:
        """Return once every row committed before is as durable as an acknowledged append
        (``LedgerStore.confirm_durable``): a checkpoint signs only rows a failover keeps."""
        ...

    def save_tree_state(
        self, expected: TreeState, state: TreeState, subtrees: Mapping[tuple[int, int], bytes]
    ) -> bool:
        """Compare-and-set: store ``state`` and ``subtrees`` in one transaction if the stored
        tree is still ``expected`` (size, frontier and last hash alike, so a tree rebuilt to the
        same size meanwhile is not overwritten); False (nothing written) otherwise."""
        ...

    def reset_tree(self, expected: TreeState) -> bool:
        """Forget the derived tree (state and subtrees) if it is still ``expected`` (CAS)."""
        ...

    def subtree(self, level: int, idx: int) -> bytes | None:
        """The cached hash of perfect subtree ``(level, idx)``, or None."""
        ...

    def save_checkpoint(self, size: int, note: str, issued_at: int) -> StoredCheckpoint:
        """Store a checkpoint unless one of that size exists; return the stored one."""
        ...

    def replace_checkpoint(self, size: int, old_note: str, new_note: str) -> bool:
        """Compare-and-set a checkpoint's note (to add cosignatures); False if it changed."""
        ...

    def checkpoint(self, size: int) -> StoredCheckpoint | None: ...

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint issued most recently, or None."""
        ...

    def largest_checkpoint(self) -> StoredCheckpoint | None:
        """The stored checkpoint of the largest size (what the ledger once committed to)."""
        ...

    def checkpoints_after(self, after_size: int, limit: int) -> list[StoredCheckpoint]:
        """Up to ``limit`` stored checkpoints of size > ``after_size``, in size order."""
        ...

    def checkpoints_before(self, before_size: int, limit: int) -> list[StoredCheckpoint]:
        """Up to ``limit`` stored checkpoints of size < ``before_size``, largest first (the
        newest a reader pages back from)."""
        ...


def pack_frontier(state: FrontierState | TreeState) -> bytes:
    """The frontier as stored: its hashes concatenated, largest subtree first."""
    frontier = state.frontier if isinstance(state, TreeState) else state
    return b"".join(frontier.hashes)


def unpack_frontier(size: int, packed: bytes) -> FrontierState:
    """Inverse of :func:`pack_frontier`; validated by ``CompactRange.from_state`` on use."""
    width = merkle.HASH_SIZE
    return FrontierState(size, tuple(packed[i : i + width] for i in range(0, len(packed), width)))


def iter_object_hashes(
    store: TreeStore, after_index: int = 0, batch: int = READ_BATCH
) -> Iterator[tuple[int, bytes]]:
    """Every ``(ledger index, event hash)`` after ``after_index`` in index order, in batches."""
    while rows := store.ledger_hashes(after_index, batch):
        yield from rows
        after_index = rows[-1][0]


def iter_checkpoints(store: TreeStore, batch: int = 1000) -> Iterator[StoredCheckpoint]:
    """Every stored checkpoint in size order (size 0 first), read in batches."""
    after = -1
    while found := store.checkpoints_after(after, batch):
        yield from found
        after = found[-1].size
