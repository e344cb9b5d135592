"""The log side of transparency: a Merkle tree over every ledger index, signed checkpoints, proofs.

Normative text: ``docs/transparency.md``, "Log: tree, checkpoints, proofs". In short:

* leaf ``i`` (0-based) is ledger index ``i + 1``; its input is the stored object's 32-byte hash
  (the ``event_hash`` of the ledger row and the receipt), its hash ``merkle.leaf_hash(input)``;
* the tree grows incrementally: the store keeps its size, ``CompactRange`` frontier and the object
  hash of its last leaf, plus every perfect subtree of level >= ``SUBTREE_MIN_LEVEL``, so extending
  reads only the new leaves and a proof reads at most a few hundred leaves however large the tree;
* the tree follows the rows: before every extension (and so before every checkpoint) the stored
  last leaf is checked against its ledger row; if that row is gone or holds another hash, the
  tree is rebuilt from the rows, so every checkpoint the node signs is provable from its rows;
* proofs and roots are answered only for sizes up to the persisted tree size: reading never
  extends (or writes) the tree;
* a checkpoint is the C2SP tlog-checkpoint ``<ledger name>\\n<size>\\n<base64 root>\\n`` signed by
  the node key under the key name = the ledger name;
* the node signs only trees that extend every tree it signed before, whatever its database
  says now: the last signed checkpoint is kept apart from the database
  (:class:`SignedCheckpointState`, shared by every process of the node and durable before a
  checkpoint is stored), and a tree that is smaller, of the same size with another root, or
  not provably an extension is refused (:class:`NotAnExtension`, with the evidence).

No SQL here: the recorders in ``adapters/`` implement :class:`TreeStore` (``ledger/tree_store.py``,
with the stored shapes); the signed-checkpoint state is ``ledger/checkpoint_state.py``. Errors::

    LedgerError
    └── TreeError       reason: out_of_range (field names the bad size/index), index_gap
                        (a ledger index is missing, the tree cannot grow past it),
                        fork (a checkpoint of this size with another root is stored: the
                        node never signs two different trees of one size),
                        no_checkpoint, too_many_signatures, bad_state (the kept last
                        signed checkpoint does not parse or names another log)
        └── NotAnExtension  the tree is not an extension of the last signed checkpoint:
                            rollback (smaller), fork (same size, another root),
                            not_an_extension (larger, but the consistency proof fails)
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from ledger import merkle
from ledger.checkpoint_state import MemoryCheckpointState, SignedCheckpointState
from ledger.errors import LedgerError
from ledger.merkle import CompactRange
from ledger.notes import (
    MAX_SIGNATURES,
    Checkpoint,
    Note,
    NoteSignature,
    parse_checkpoint,
    parse_note,
    signed_checkpoint,
    verify_note,
)
from ledger.suites import Signer
from ledger.tree_store import (
    EMPTY_TREE,
    READ_BATCH,
    StoredCheckpoint,
    TreeState,
    TreeStore,
    iter_checkpoints,
    iter_object_hashes,
    pack_frontier,
    unpack_frontier,
)

__all__ = [
    "EMPTY_TREE",
    "READ_BATCH",
    "SUBTREE_MIN_LEVEL",
    "CheckpointPolicy",
    "MemoryCheckpointState",
    "NotAnExtension",
    "SignedCheckpointState",
    "StoredCheckpoint",
    "TreeError",
    "TreeKeeper",
    "TreeState",
    "TreeStore",
    "iter_checkpoints",
    "iter_object_hashes",
    "pack_frontier",
    "unpack_frontier",
]

log = logging.getLogger("tongban.transparency")

SUBTREE_MIN_LEVEL = 8  # cached subtrees span >= 256 leaves: ~n/128 rows, < 768 leaves per proof


class TreeError(LedgerError):
    """A tree operation that cannot be done; ``reason`` and ``field`` say why and where."""

    reason = "tree_error"


class NotAnExtension(TreeError):
    """The tree now is not an extension of the last checkpoint the node signed: it refuses to
    sign it. ``signed`` is that checkpoint's note; ``size`` and ``root`` are the tree's now."""

    reason = "not_an_extension"

    def __init__(self, detail: str, *, reason: str, signed: str, size: int, root: bytes):
        super().__init__(detail, reason=reason, field="size")
        self.signed = signed
        self.size = size
        self.root = root


class _Leaves:
    """``merkle.NodeStore`` over the ledger rows: leaf ``i`` is ledger index ``i + 1``."""

    def __init__(self, store: TreeStore):
        self.store = store

    def get_leaf_hashes(self, start: int, end: int) -> Sequence[bytes]:
        return [merkle.leaf_hash(h) for h in _dense(self.store, start, end)]


class _Subtrees(Mapping[tuple[int, int], bytes]):
    """``merkle.SubtreeCache`` backed by the subtree table: look-ups only (``get``)."""

    def __init__(self, store: TreeStore):
        self.store = store

    def __getitem__(self, key: tuple[int, int]) -> bytes:
        found = self.store.subtree(*key)
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[tuple[int, int]]:
        raise TypeError("the subtree cache is not enumerable")

    def __len__(self) -> int:
        raise TypeError("the subtree cache is not enumerable")


def _dense(store: TreeStore, start: int, end: int) -> list[bytes]:
    """Object hashes of leaves ``[start, end)`` (ledger indexes ``start+1..end``), all present."""
    rows = store.ledger_hashes(start, end - start)
    for offset in range(end - start):
        expected = start + 1 + offset
        if offset >= len(rows) or rows[offset][0] != expected:
            raise TreeError(
                f"ledger index {expected} is missing; the tree cannot cover it",
                reason="index_gap",
            )
    return [h for _, h in rows]


# -- the keeper -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointPolicy:
    """Issue a checkpoint after an append once ``events`` objects or ``seconds`` have passed."""

    seconds: int = 60
    events: int = 1000


class TreeKeeper:
    """Grows the tree, answers proofs and roots, issues and stores checkpoints."""

    def __init__(
        self,
        store: TreeStore,
        origin: str,
        *,
        policy: CheckpointPolicy | None = None,
        min_level: int = SUBTREE_MIN_LEVEL,
        batch: int = READ_BATCH,
        signed: SignedCheckpointState | None = None,
    ):
        self.store = store
        self.signed: SignedCheckpointState = signed or MemoryCheckpointState()
        self.origin = origin
        self.policy = policy or CheckpointPolicy()
        self.min_level = min_level
        self.batch = batch
        self._leaves = _Leaves(store)
        self._cache = _Subtrees(store)
        # (size, issue time) of the newest checkpoint this process knows: the cheap due-check.
        self._last: tuple[int, int] | None = None
        self._started_at: int | None = None

    # -- the tree ------------------------------------------------------------------------------

    def size(self) -> int:
        """The persisted tree size (it may lag the newest ledger index)."""
        return self.store.load_tree_state().size

    def extend(self, target: int | None = None) -> int:
        """Grow the tree to ledger index ``target`` (default: the newest); return its size.

        First the stored tree is checked against the rows (:meth:`_in_step_with_rows`). Then
        only the leaves after the stored size are read, ``batch`` at a time, and each step is
        saved by compare-and-set, so two workers extending at once never store a wrong state:
        the loser reloads the winner's state and goes on from there.
        """
        state = self._in_step_with_rows()
        # Read after the state: rows only grow meanwhile, so they cover what the state holds.
        target = self.store.max_index() if target is None else target
        while state.size < target:
            found: dict[tuple[int, int], bytes] = {}
            tree = CompactRange.from_state(
                state.frontier, merkle.cache_recorder(found, self.min_level)
            )
            hashes = _dense(self.store, state.size, min(target, state.size + self.batch))
            for object_hash in hashes:
                tree.append(merkle.leaf_hash(object_hash))
            grown = TreeState(tree.to_state(), hashes[-1])
            if self.store.save_tree_state(state, grown, found):
                state = grown
            else:
                state = self.store.load_tree_state()
        return state.size

    def _in_step_with_rows(self) -> TreeState:
        """The persisted tree, rebuilt from the rows first if they no longer hold its last leaf.

        The tree is derived from the rows, so it follows them: when the row of its last leaf
        is gone (rows were cut) or holds another hash (rows were cut and the indexes reused, or
        rewritten), the tree is forgotten and rebuilt, and the next checkpoint shows the rows as
        they are (to every witness); the audit reports them against the checkpoints signed
        before. The state is loaded before the rows are read and re-checked by
        compare-and-set before the reset, so a worker extending meanwhile is not mistaken for
        a loss.
        """
        while True:
            state = self.store.load_tree_state()
            if state.size == 0:
                return state
            rows = self.store.ledger_hashes(state.size - 1, 1)
            if rows and rows[0] == (state.size, state.last_hash):
                return state
            if self.store.load_tree_state() != state:
                continue  # another worker moved the tree meanwhile: judge its state instead
            log.warning(
                "ledger index %d, the tree's last leaf, %s: rebuilding the tree from the rows",
                state.size,
                "was rewritten" if rows and rows[0][0] == state.size else "is gone",
            )
            self.store.reset_tree(state)

    def _covered(self, size: int, field: str) -> None:
        """Raise unless ``0 <= size <=`` the persisted tree size (never grows the tree: a
        read, such as a public proof request, writes nothing)."""
        if size < 0:
            raise TreeError(f"{field} must be >= 0", reason="out_of_range", field=field)
        current = self.size()
        if size > current:
            raise TreeError(
                f"{field} {size} is beyond the tree size {current}",
                reason="out_of_range",
                field=field,
            )

    def root(self, size: int) -> bytes:
        """MTH of the first ``size`` leaves (any size up to the tree size)."""
        self._covered(size, "size")
        state = self.store.load_tree_state()
        if state.size == size:
            return CompactRange.from_state(state.frontier).root()
        return merkle.tree_root(size, self._leaves, self._cache)

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash of ledger index ``index`` (1-based)."""
        if index < 1:
            raise TreeError("index must be >= 1", reason="out_of_range", field="index")
        self._covered(index, "index")
        return merkle.leaf_hash(_dense(self.store, index - 1, index)[0])

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Audit path of ledger index ``index`` (1-based) in the tree of ``size`` leaves."""
        if not 1 <= index <= size:
            raise TreeError(
                f"need 1 <= index <= size, got index {index}, size {size}",
                reason="out_of_range",
                field="index",
            )
        self._covered(size, "size")
        return merkle.inclusion_proof(index - 1, size, self._leaves, self._cache)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 proof that the tree of ``size2`` extends the tree of ``size1``."""
        if not 0 <= size1 <= size2:
            raise TreeError(
                f"need 0 <= size1 <= size2, got {size1}, {size2}",
                reason="out_of_range",
                field="size1",
            )
        if size1 == 0 < size2:
            # RFC 9162 defines no proof from the empty tree; verifiers refuse one.
            raise TreeError("no proof exists from size 0", reason="out_of_range", field="size1")
        self._covered(size2, "size2")
        return merkle.consistency_proof(size1, size2, self._leaves, self._cache)

    # -- checkpoints -----------------------------------------------------------------------------

    def issue(self, signer: Signer, now: int, *, accept_rollback: int | None = None) -> Note:
        """Extend to the newest index, sign a checkpoint of the whole tree, store, return it.

        The node signs only a tree that extends the last checkpoint it signed (kept in
        ``signed``, not in the database; before the first one is kept there, the largest
        stored checkpoint stands in for it): a smaller tree, another root of the same size or
        a failing consistency proof raises :class:`NotAnExtension` with the evidence, and
        nothing is signed. The new note is recorded there (durably) before it is stored, all
        under the node-wide lock, so no two processes sign two different trees.

        One checkpoint per size: if one of this size is stored, it is returned (re-issued) when
        its root is this tree's; otherwise ``TreeError`` ``fork``. The note returned always has
        the current tree's root.

        ``accept_rollback`` is the operator's explicit, logged override after a database was
        restored from a backup older than the last signed checkpoint: it must name that
        checkpoint's size; the kept note is set aside (never deleted) and the tree now is signed.
        """
        self.extend()  # the long part outside the lock: extending is safe by compare-and-set
        with self.signed.exclusive():
            self.extend()  # what other workers appended meanwhile
            # Size and root from one read of the state, so they always belong together.
            state = self.store.load_tree_state()
            # Its rows may include one committed but never acknowledged (its wait for the
            # synchronous standby cancelled): signed only once replicated (docs/ha.md).
            self.store.confirm_durable()
            root = CompactRange.from_state(state.frontier).root()
            existing = self.store.checkpoint(state.size)
            if existing is not None:
                self._same_root(existing, root)  # before writing: a fork re-issues nothing
            kept = self._newest_signed(self.signed.last(), signer)
            last = kept
            if last is None:
                largest = self.store.largest_checkpoint()
                last = None if largest is None else largest.note
            same = False
            if last is not None:
                try:
                    same = self._check_extends(last, state.size, root, kept is not None)
                except NotAnExtension as refused:
                    if accept_rollback is None:
                        raise
                    self._accept_rollback(accept_rollback, refused)
            note = signed_checkpoint(Checkpoint(self.origin, state.size, root), self.origin, signer)
            if not same or kept is None:
                self.signed.record(note.render())  # durable before anyone can see it
            stored = self.store.save_checkpoint(state.size, note.render(), now)
            self._same_root(stored, root)  # another worker may have stored one meanwhile
        self._last = (stored.size, stored.issued_at)
        return parse_note(stored.note)

    def _newest_signed(self, kept: str | None, signer: Signer) -> str | None:
        """The kept note, or a larger checkpoint stored in the database. Every checkpoint is
        kept before it is stored, so a larger stored one means the kept note is missing or was
        put back from an older copy (a restored data directory), or another data directory
        signs for this ledger (docs/operations.md, "Several node processes").

        A larger stored checkpoint signed by another key raises ``TreeError`` ``split_state``:
        nothing is signed while two keys sign one ledger. One signed by this node's key whose
        root is this tree's at its size is adopted: kept (durably, with a warning) and the
        checks go on from it. One of this key that the tree no longer matches is returned
        unkept, for the extension check to refuse (rollback, fork) as before."""
        kept_size = 0
        if kept is not None:
            try:
                kept_size = parse_checkpoint(parse_note(kept).text).size
            except LedgerError:
                return kept  # an unparsable note is reported by the check that follows
        largest = self.store.largest_checkpoint()
        if largest is None or largest.size <= kept_size:
            return kept
        where = (
            f"the database holds a checkpoint of size {largest.size}, larger than the last one "
            f"this data directory kept (size {kept_size})"
        )
        try:
            note = parse_note(largest.note)
            verify_note(note, self.origin, signer.public_key)
        except LedgerError as error:
            raise TreeError(
                f"{where}, and it is not signed by this node's key ({error}): another data "
                "directory signs for this ledger; every process of a node must share one data "
                "directory (docs/operations.md)",
                reason="split_state",
                field="state",
            ) from error
        checkpoint = parse_checkpoint(note.text)
        if largest.size > self.size() or checkpoint.root != self.root(largest.size):
            return largest.note  # the rows changed under it: the extension check refuses
        if kept is not None:
            log.warning(
                "%s, signed by this node and matching the tree: kept now (a data directory "
                "restored from a copy, or a second data directory serving this ledger)",
                where,
            )
        self.signed.record(largest.note)
        return largest.note

    def _check_extends(self, signed_note: str, size: int, root: bytes, kept: bool) -> bool:
        """Raise :class:`NotAnExtension` unless the tree (``size``, ``root``) extends the signed
        checkpoint ``signed_note``; True when it is that very tree."""
        where = "kept by the node" if kept else "the largest stored in the database"
        try:
            signed = parse_checkpoint(parse_note(signed_note).text)
        except LedgerError as error:
            raise TreeError(
                f"the last signed checkpoint ({where}) does not parse: {error}",
                reason="bad_state",
                field="state",
            ) from error
        if signed.origin != self.origin:
            raise TreeError(
                f"the last signed checkpoint ({where}) is of log {signed.origin!r}, "
                f"not {self.origin!r}",
                reason="bad_state",
                field="state",
            )
        evidence = (
            f"the last checkpoint the node signed ({where}) has size {signed.size}, root "
            f"{base64.b64encode(signed.root).decode()}; the tree now has size {size}, root "
            f"{base64.b64encode(root).decode()}"
        )
        refused: tuple[str, str] | None = None
        if signed.size > size:
            refused = ("rollback", "the tree is smaller than")
        elif signed.size == size:
            if signed.root != root:
                refused = ("fork", "the tree has another root than")
        elif signed.size > 0:
            proof = merkle.consistency_proof(signed.size, size, self._leaves, self._cache)
            try:
                merkle.verify_consistency(signed.size, size, proof, signed.root, root)
            except merkle.InvalidProof:
                refused = ("not_an_extension", "the tree does not extend")
        if refused is not None:
            reason, what = refused
            raise NotAnExtension(
                f"{what} the last checkpoint the node signed, so the node signs nothing "
                f"(docs/transparency.md, 'A database older than the last checkpoint'): "
                f"{evidence}",
                reason=reason,
                signed=signed_note,
                size=size,
                root=root,
            )
        return signed.size == size

    def _accept_rollback(self, size: int, refused: NotAnExtension) -> None:
        signed = parse_checkpoint(parse_note(refused.signed).text)
        if size != signed.size:
            raise TreeError(
                f"accept rollback names size {size}, but the last checkpoint the node signed "
                f"has size {signed.size}: name that size to accept abandoning it",
                reason="out_of_range",
                field="accept_rollback",
            ) from refused
        where = self.signed.set_aside(f"rollback to size {refused.size}")
        log.warning(
            "ROLLBACK ACCEPTED by the operator: the node signs size %d although it signed size "
            "%d before (%s); the abandoned checkpoint is kept at %s",
            refused.size,
            signed.size,
            refused.detail,
            where,
        )

    @staticmethod
    def _same_root(stored: StoredCheckpoint, root: bytes) -> None:
        if parse_checkpoint(parse_note(stored.note).text).root != root:
            raise TreeError(
                f"a checkpoint of size {stored.size} with another root is stored: the ledger "
                "rows changed after it was signed, and the node does not sign two different "
                "trees of one size (the audit reports the divergence)",
                reason="fork",
                field="size",
            )

    def latest(self) -> Note | None:
        stored = self.store.latest_checkpoint()
        return None if stored is None else parse_note(stored.note)

    def at(self, size: int) -> Note | None:
        stored = self.store.checkpoint(size)
        return None if stored is None else parse_note(stored.note)

    def add_cosignatures(self, size: int, signatures: Sequence[NoteSignature]) -> Note:
        """Merge signatures into the stored checkpoint of ``size``; duplicates are ignored.

        A signature whose (name, key ID) the note already carries counts as a duplicate, so a
        witness that cosigns the same checkpoint again (with a new timestamp) adds nothing.
        """
        while True:
            stored = self.store.checkpoint(size)
            if stored is None:
                raise TreeError(
                    f"no checkpoint of size {size}", reason="no_checkpoint", field="size"
                )
            note = parse_note(stored.note)
            have = {(s.name, s.key_id) for s in note.signatures}
            fresh: list[NoteSignature] = []
            for signature in signatures:
                if (signature.name, signature.key_id) not in have:
                    have.add((signature.name, signature.key_id))
                    fresh.append(signature)
            if not fresh:
                return note
            merged = note.with_signatures(fresh)
            if len(merged.signatures) > MAX_SIGNATURES:
                raise TreeError(
                    f"a note carries at most {MAX_SIGNATURES} signatures",
                    reason="too_many_signatures",
                    field="signatures",
                )
            # Compare-and-set: a concurrent merge makes us re-read and merge again.
            if self.store.replace_checkpoint(size, stored.note, merged.render()):
                return merged

    def _load_last(self, now: int) -> tuple[int, int]:
        if self._started_at is None:
            self._started_at = now
        stored = self.store.latest_checkpoint()
        # With no checkpoint yet, time counts from when this process first looked.
        self._last = (stored.size, stored.issued_at) if stored else (0, self._started_at)
        return self._last

    def _due(self, last: tuple[int, int], index: int, now: int) -> bool:
        size, issued_at = last
        return index > size and (
            index - size >= self.policy.events or now - issued_at >= self.policy.seconds * 1_000_000
        )

    def maybe_issue(self, index: int, now: int, signer: Signer) -> Note | None:
        """After an append at ``index``: issue a checkpoint if the policy says one is due.

        Cheap: an in-memory comparison; the database is read only when one looks due (another
        worker may have issued it meanwhile).
        """
        last = self._last if self._last is not None else self._load_last(now)
        if not self._due(last, index, now) or not self._due(self._load_last(now), index, now):
            return None
        try:
            return self.issue(signer, now)
        except NotAnExtension:
            # Refused (and never signed): try again only when the policy says the next one is
            # due, not after every append.
            self._last = (index, now)
            raise
