"""The tree keeper on an in-memory store: incremental growth, proofs, checkpoints, policy."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest

from ledger import merkle
from ledger.audit import REASONS
from ledger.notes import (
    MAX_SIGNATURES,
    NoteSignature,
    cosign,
    parse_checkpoint,
    parse_note,
    verify_note,
)
from ledger.suites import Ed25519Signer
from ledger.transparency import (
    EMPTY_TREE,
    CheckpointPolicy,
    MemoryCheckpointState,
    NotAnExtension,
    StoredCheckpoint,
    TreeError,
    TreeKeeper,
    TreeState,
)
from tests.support.world import seeded

ORIGIN = "tongban/510000"


class MemoryTreeStore:
    """``TreeStore`` in memory, counting the ledger rows read (the spy of these tests)."""

    def __init__(self) -> None:
        self.hashes: dict[int, bytes] = {}
        self.state = EMPTY_TREE
        self.subtrees: dict[tuple[int, int], bytes] = {}
        self.checkpoints: dict[int, StoredCheckpoint] = {}
        self.rows_read = 0
        self.writes = 0  # tree states saved or reset
        self.resets = 0
        self.lock = threading.Lock()

    @property
    def size(self) -> int:
        return self.state.size

    def add(self, count: int) -> None:
        start = len(self.hashes)
        for n in range(start + 1, start + count + 1):
            self.hashes[n] = hashlib.sha256(n.to_bytes(8, "big")).digest()

    def leaves(self, size: int) -> list[bytes]:
        return [merkle.leaf_hash(self.hashes[n]) for n in range(1, size + 1)]

    def max_index(self) -> int:
        return max(self.hashes, default=0)

    def ledger_hashes(self, after_index: int, limit: int) -> list[tuple[int, bytes]]:
        found = sorted(i for i in self.hashes if i > after_index)[:limit]
        self.rows_read += len(found)
        return [(i, self.hashes[i]) for i in found]

    def confirm_durable(self) -> None:
        """Nothing to wait for in memory."""

    def load_tree_state(self) -> TreeState:
        with self.lock:
            return self.state

    def save_tree_state(
        self, expected: TreeState, state: TreeState, subtrees: Mapping[tuple[int, int], bytes]
    ) -> bool:
        with self.lock:
            if self.state != expected:
                return False
            self.state = state
            self.writes += 1
            for key, node in subtrees.items():
                self.subtrees.setdefault(key, node)
            return True

    def subtree(self, level: int, idx: int) -> bytes | None:
        return self.subtrees.get((level, idx))

    def save_checkpoint(self, size: int, note: str, issued_at: int) -> StoredCheckpoint:
        with self.lock:
            stored = self.checkpoints.setdefault(size, StoredCheckpoint(size, note, issued_at))
            latest = StoredCheckpoint(size, stored.note, max(stored.issued_at, issued_at))
            self.checkpoints[size] = latest
            return latest

    def replace_checkpoint(self, size: int, old_note: str, new_note: str) -> bool:
        with self.lock:
            stored = self.checkpoints[size]
            if stored.note != old_note:
                return False
            self.checkpoints[size] = StoredCheckpoint(size, new_note, stored.issued_at)
            return True

    def checkpoint(self, size: int) -> StoredCheckpoint | None:
        return self.checkpoints.get(size)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        if not self.checkpoints:
            return None
        return max(self.checkpoints.values(), key=lambda c: (c.issued_at, c.size))

    def largest_checkpoint(self) -> StoredCheckpoint | None:
        return self.checkpoints[max(self.checkpoints)] if self.checkpoints else None

    def checkpoints_after(self, after_size: int, limit: int) -> list[StoredCheckpoint]:
        return [self.checkpoints[s] for s in sorted(self.checkpoints) if s > after_size][:limit]

    def checkpoints_before(self, before_size: int, limit: int) -> list[StoredCheckpoint]:
        sizes = sorted((s for s in self.checkpoints if s < before_size), reverse=True)
        return [self.checkpoints[s] for s in sizes[:limit]]

    def reset_tree(self, expected: TreeState) -> bool:
        with self.lock:
            if self.state != expected:
                return False
            self.state = EMPTY_TREE
            self.writes += 1
            self.resets += 1
            self.subtrees.clear()
            return True


@pytest.fixture
def store() -> MemoryTreeStore:
    return MemoryTreeStore()


def keeper(store: MemoryTreeStore, **kwargs: object) -> TreeKeeper:
    return TreeKeeper(store, ORIGIN, batch=1000, **kwargs)  # type: ignore[arg-type]


def test_incremental_root_equals_the_full_recomputation(store: MemoryTreeStore) -> None:
    tree = keeper(store)
    rng = random.Random(7)
    for _ in range(40):
        store.add(rng.randint(0, 300))
        size = tree.extend()
        assert size == store.max_index()
        assert tree.root(size) == merkle.root_of(store.leaves(size))


def test_extending_reads_only_the_new_leaves(store: MemoryTreeStore) -> None:
    store.add(5000)
    keeper(store).extend()
    assert store.rows_read == 5000
    store.add(37)
    store.rows_read = 0
    restarted = keeper(store)  # a new process: the state is loaded, not rebuilt
    assert restarted.extend() == 5037
    assert store.rows_read == 1 + 37  # the stored last leaf, checked against its row; the new
    assert restarted.root(5037) == merkle.root_of(store.leaves(5037))


def test_every_subtree_of_level_8_is_cached(store: MemoryTreeStore) -> None:
    store.add(3000)
    keeper(store).extend()
    assert store.subtrees == {
        key: node
        for key, node in merkle.build_subtree_cache(store.leaves(3000), 8).items()
        if key[0] >= 8
    }


def test_proofs_read_few_leaves_on_a_large_tree(store: MemoryTreeStore) -> None:
    store.add(100_000)
    tree = keeper(store)
    tree.extend()
    root = tree.root(100_000)
    rng = random.Random(1)
    for _ in range(20):
        index = rng.randint(1, 100_000)
        store.rows_read = 0
        proof = tree.inclusion_proof(index, 100_000)
        assert store.rows_read < 3 * 256
        merkle.verify_inclusion(tree.leaf_hash(index), index - 1, 100_000, proof, root)
    old = rng.randint(1, 99_999)
    store.rows_read = 0
    proof = tree.consistency_proof(old, 100_000)
    assert store.rows_read < 3 * 256
    merkle.verify_consistency(old, 100_000, proof, tree.root(old), root)


def test_roots_and_proofs_at_any_smaller_size(store: MemoryTreeStore) -> None:
    store.add(700)
    tree = keeper(store)
    tree.extend()
    for size in (1, 2, 255, 256, 257, 513, 700):
        assert tree.root(size) == merkle.root_of(store.leaves(size))
        for index in {1, size // 2 or 1, size}:
            proof = tree.inclusion_proof(index, size)
            merkle.verify_inclusion(
                merkle.leaf_hash(store.hashes[index]), index - 1, size, proof, tree.root(size)
            )
    assert tree.root(0) == merkle.EMPTY_ROOT


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda t: t.inclusion_proof(0, 5), "index"),
        (lambda t: t.inclusion_proof(6, 5), "index"),
        (lambda t: t.inclusion_proof(1, 11), "size"),
        (lambda t: t.consistency_proof(5, 4), "size1"),
        (lambda t: t.consistency_proof(0, 4), "size1"),
        (lambda t: t.consistency_proof(4, 11), "size2"),
        (lambda t: t.root(11), "size"),
        (lambda t: t.leaf_hash(11), "index"),
    ],
)
def test_out_of_range_names_the_field(store: MemoryTreeStore, call: object, field: str) -> None:
    store.add(10)
    with pytest.raises(TreeError) as raised:
        call(keeper(store))  # type: ignore[operator]
    assert (raised.value.reason, raised.value.field) == ("out_of_range", field)


def test_a_missing_index_stops_the_tree(store: MemoryTreeStore) -> None:
    store.add(10)
    del store.hashes[4]
    with pytest.raises(TreeError) as raised:
        keeper(store).extend()
    assert raised.value.reason == "index_gap"
    assert "ledger index 4" in raised.value.detail


def test_concurrent_extension_stays_consistent(store: MemoryTreeStore) -> None:
    store.add(20_000)
    trees = [TreeKeeper(store, ORIGIN, batch=97) for _ in range(4)]
    threads = [threading.Thread(target=t.extend) for t in trees]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.size == 20_000
    assert trees[0].root(20_000) == merkle.root_of(store.leaves(20_000))


def test_checkpoints_are_signed_notes_of_the_tree(store: MemoryTreeStore) -> None:
    node = seeded("node")
    tree = keeper(store)
    empty = tree.issue(node, now=1)
    assert parse_checkpoint(empty.text).size == 0
    store.add(300)
    note = tree.issue(node, now=2)
    verify_note(note, ORIGIN, node.public_key)
    checkpoint = parse_checkpoint(note.text)
    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, 300)
    assert checkpoint.root == merkle.root_of(store.leaves(300))
    assert tree.latest() == note == tree.at(300)
    assert tree.at(299) is None
    assert tree.issue(node, now=3) == note  # nothing new: the stored one
    assert store.checkpoints[300].issued_at == 3  # re-issued: the same note, issued again


def test_cosignatures_merge_once(store: MemoryTreeStore) -> None:
    tree = keeper(store)
    store.add(3)
    note = tree.issue(seeded("node"), now=1)
    witness = seeded("witness")
    first = cosign(note.text, "witness/320000", witness, 100)
    again = cosign(note.text, "witness/320000", witness, 200)  # same witness, new time
    merged = tree.add_cosignatures(3, [first])
    assert merged.signatures[1] == first
    assert tree.add_cosignatures(3, [first, again]) == merged
    assert tree.latest() == merged
    with pytest.raises(TreeError) as raised:
        tree.add_cosignatures(4, [first])
    assert raised.value.reason == "no_checkpoint"


def test_too_many_signatures_are_refused(store: MemoryTreeStore) -> None:
    tree = keeper(store)
    note = tree.issue(seeded("node"), now=1)
    extra = [NoteSignature(f"w{n}", n.to_bytes(4, "big"), bytes(72)) for n in range(MAX_SIGNATURES)]
    with pytest.raises(TreeError) as raised:
        tree.add_cosignatures(0, extra)
    assert raised.value.reason == "too_many_signatures"
    assert tree.latest() == note


def test_policy_issues_by_events_or_time(store: MemoryTreeStore) -> None:
    node = seeded("node")
    tree = keeper(store, policy=CheckpointPolicy(seconds=60, events=10))
    store.add(9)
    assert tree.maybe_issue(9, now=0, signer=node) is None
    store.add(1)
    note = tree.maybe_issue(10, now=1, signer=node)
    assert note is not None and parse_checkpoint(note.text).size == 10
    store.add(1)
    assert tree.maybe_issue(11, now=59_000_000, signer=node) is None
    note = tree.maybe_issue(11, now=61_000_001, signer=node)
    assert note is not None and parse_checkpoint(note.text).size == 11


def test_policy_sees_another_workers_checkpoint(store: MemoryTreeStore) -> None:
    node = seeded("node")
    mine = keeper(store, policy=CheckpointPolicy(seconds=60, events=10))
    other = keeper(store)
    store.add(5)
    assert mine.maybe_issue(5, now=0, signer=node) is None  # remembers size 0
    store.add(5)
    other.issue(node, now=1)
    assert mine.maybe_issue(10, now=2, signer=node) is None  # re-read: size 10 is out
    assert len(store.checkpoints) == 1


def test_the_documented_vector() -> None:
    """The test vector of docs/transparency.md, value by value."""
    objects = [hashlib.sha256(f"object {n}".encode()).digest() for n in range(1, 6)]
    leaves = [merkle.leaf_hash(o) for o in objects]
    doc = (Path(__file__).resolve().parents[2] / "docs" / "transparency.md").read_text()
    for value in (*objects, *leaves):
        assert value.hex() in doc
    store = MemoryTreeStore()
    store.hashes = dict(enumerate(objects, 1))
    tree = keeper(store)
    tree.extend()
    assert tree.root(3).hex() == "efe7457125696e53a62b2fc1abf3240166bdfcec21fe56a2497155864112d47c"
    assert tree.root(5).hex() == "49b65984db9ee673c792467ba8f6e903e04f41f4451b232d3f0fec5f91344f48"
    assert [p.hex() for p in tree.inclusion_proof(2, 5)] == [
        leaves[0].hex(),
        "3fee64eaea5cfdf9f5941c1fa645ab35525e4cce0474dfe7f362e37345ec488a",
        leaves[4].hex(),
    ]
    assert [p.hex() for p in tree.consistency_proof(3, 5)] == [
        leaves[2].hex(),
        leaves[3].hex(),
        "9d137dfd112cbdf56d55425ad256682781934b75d64629b5acb421b5d1927303",
        leaves[4].hex(),
    ]
    signer = Ed25519Signer.from_seed(hashlib.sha256(b"node/vector").digest())
    assert signer.public_key.hex() in doc
    note = tree.issue(signer, now=0)
    assert f"```\n{note.render()}```" in doc


def test_the_log_reasons_are_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    for reason in ("bad_checkpoint", "missing_from_tree", "root_mismatch"):
        assert reason in REASONS
        assert f"| `{reason}` |" in doc


def test_a_tree_longer_than_the_rows_is_rebuilt_from_the_rows(store: MemoryTreeStore) -> None:
    """Rows lost after checkpointing: the tree is derived data, so it follows the rows and the
    next checkpoint shows the loss (to witnesses); the largest checkpoint keeps the old size."""
    store.add(40)
    tree = keeper(store)
    tree.extend()
    del store.hashes[40]
    assert tree.extend() == 39
    assert tree.root(39) == merkle.root_of(store.leaves(39))


def _other(n: int) -> bytes:
    return hashlib.sha256(b"other object %d" % n).digest()


def test_a_reused_last_index_rebuilds_the_tree_before_the_next_checkpoint(
    store: MemoryTreeStore,
) -> None:
    """Index 9 cut and re-used by a new object: the saved tree still holds the old leaf 9, so
    it is rebuilt from the rows; the node refuses to sign it (it does not extend what it
    signed), and the checkpoint signed on the operator's override is provable from the rows."""
    node = seeded("node")
    tree = keeper(store)
    store.add(9)
    first = tree.issue(node, now=1)
    store.hashes[9] = _other(9)
    store.add(2)
    with pytest.raises(NotAnExtension) as refused:
        tree.issue(node, now=2)
    assert (refused.value.reason, refused.value.signed) == ("not_an_extension", first.render())
    assert sorted(store.checkpoints) == [9]
    note = tree.issue(node, now=2, accept_rollback=9)
    checkpoint = parse_checkpoint(note.text)
    assert (checkpoint.size, checkpoint.root) == (11, merkle.root_of(store.leaves(11)))
    assert store.resets == 1
    for index in (1, 8, 9, 10, 11):
        proof = tree.inclusion_proof(index, 11)
        merkle.verify_inclusion(tree.leaf_hash(index), index - 1, 11, proof, checkpoint.root)


def test_the_same_size_with_another_root_is_a_fork_not_a_stale_note(
    store: MemoryTreeStore,
) -> None:
    node = seeded("node")
    tree = keeper(store)
    store.add(9)
    first = tree.issue(node, now=1)
    store.hashes[9] = _other(9)  # the rows changed under the signed tree, same size
    with pytest.raises(TreeError) as raised:
        tree.issue(node, now=2)
    assert (raised.value.reason, raised.value.field) == ("fork", "size")
    assert store.checkpoints[9] == StoredCheckpoint(9, first.render(), 1)  # not re-issued
    assert tree.root(9) == merkle.root_of(store.leaves(9))  # the tree follows the rows


def test_a_worker_extending_meanwhile_is_not_taken_for_lost_rows(store: MemoryTreeStore) -> None:
    """Worker B appends and extends between worker A's reads: A must not reset the tree."""
    store.add(15)
    keeper(store).extend()

    class Racing:
        def __init__(self) -> None:
            self.fired = False

        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        def _race(self) -> None:
            if not self.fired:
                self.fired = True
                store.add(1)
                keeper(store).extend()

        def max_index(self) -> int:
            found = store.max_index()
            self._race()
            return found

        def load_tree_state(self) -> TreeState:
            found = store.load_tree_state()
            self._race()
            return found

    assert TreeKeeper(Racing(), ORIGIN).extend() == 16  # type: ignore[arg-type]
    assert store.resets == 0
    assert store.size == 16


def test_reads_never_grow_the_tree(store: MemoryTreeStore) -> None:
    store.add(10)
    tree = keeper(store)
    tree.extend(5)
    store.add(5)
    del store.hashes[12]  # a gap past the tree: a read must not go looking for it
    store.rows_read = store.writes = 0
    for call, field in (
        (lambda: tree.root(6), "size"),
        (lambda: tree.leaf_hash(6), "index"),
        (lambda: tree.inclusion_proof(1, 15), "size"),
        (lambda: tree.consistency_proof(1, 15), "size2"),
    ):
        with pytest.raises(TreeError) as raised:
            call()
        assert (raised.value.reason, raised.value.field) == ("out_of_range", field)
    assert (store.rows_read, store.writes, store.size) == (0, 0, 5)


# -- the node never signs a tree that does not extend what it signed (issue 13, item 2) ------


def test_a_smaller_tree_is_refused_whatever_the_database_says(store: MemoryTreeStore) -> None:
    """The rows and the stored checkpoints both rolled back (a restored database): the kept
    state still refuses, with the evidence, and nothing is signed or stored."""
    node, kept = seeded("node"), MemoryCheckpointState()
    tree = keeper(store, signed=kept)
    store.add(10)
    signed = tree.issue(node, now=1)
    assert kept.last() == signed.render()
    del store.hashes[10]
    store.checkpoints.clear()  # the database knows nothing of size 10 any more
    with pytest.raises(NotAnExtension) as refused:
        tree.issue(node, now=2)
    error = refused.value
    assert (error.reason, error.field, error.signed, error.size) == (
        "rollback",
        "size",
        signed.render(),
        9,
    )
    assert error.root == merkle.root_of(store.leaves(9))
    assert "size 10" in error.detail and "size 9" in error.detail
    assert store.checkpoints == {} and kept.last() == signed.render()


def test_without_kept_state_the_largest_stored_checkpoint_stands_in(
    store: MemoryTreeStore,
) -> None:
    """A node upgraded from before the kept state: its database's largest checkpoint counts."""
    node = seeded("node")
    store.add(10)
    keeper(store).issue(node, now=1)
    del store.hashes[10]
    with pytest.raises(NotAnExtension) as refused:
        keeper(store).issue(node, now=2)  # another process, nothing kept in memory
    assert refused.value.reason == "rollback"


def test_same_size_another_root_is_refused_as_a_fork(store: MemoryTreeStore) -> None:
    node, kept = seeded("node"), MemoryCheckpointState()
    store.add(10)
    keeper(store, signed=kept).issue(node, now=1)
    store.hashes[10] = _other(10)
    store.checkpoints.clear()
    with pytest.raises(NotAnExtension) as refused:
        keeper(store, signed=kept).issue(node, now=2)
    assert refused.value.reason == "fork"


def test_extensions_are_signed_and_kept(store: MemoryTreeStore) -> None:
    node, kept = seeded("node"), MemoryCheckpointState()
    tree = keeper(store, signed=kept)
    for size in (1, 2, 7, 300):
        store.add(size - store.max_index())
        note = tree.issue(node, now=size)
        assert parse_checkpoint(note.text).size == size
        assert kept.last() == note.render()
    assert tree.issue(node, now=400) == note  # the same tree again: re-issued, not refused


def test_an_unreadable_kept_state_is_refused(store: MemoryTreeStore) -> None:
    kept = MemoryCheckpointState()
    kept.record("not a note\n")
    store.add(3)
    with pytest.raises(TreeError) as refused:
        keeper(store, signed=kept).issue(seeded("node"), now=1)
    assert (refused.value.reason, refused.value.field) == ("bad_state", "state")
    assert store.checkpoints == {}


def test_accept_rollback_must_name_the_size_abandoned(store: MemoryTreeStore) -> None:
    node, kept = seeded("node"), MemoryCheckpointState()
    store.add(10)
    signed = keeper(store, signed=kept).issue(node, now=1)
    del store.hashes[10]
    with pytest.raises(TreeError) as refused:
        keeper(store, signed=kept).issue(node, now=2, accept_rollback=9)
    assert (refused.value.reason, refused.value.field) == ("out_of_range", "accept_rollback")
    assert kept.last() == signed.render() and kept.aside == []
    note = keeper(store, signed=kept).issue(node, now=3, accept_rollback=10)
    assert parse_checkpoint(note.text).size == 9
    assert kept.aside == [("rollback to size 9", signed.render())]
    assert kept.last() == note.render()


def test_the_automatic_checkpoint_refuses_too_and_waits_for_the_policy(
    store: MemoryTreeStore,
) -> None:
    node, kept = seeded("node"), MemoryCheckpointState()
    tree = keeper(store, signed=kept, policy=CheckpointPolicy(seconds=60, events=10))
    store.add(10)
    assert tree.maybe_issue(10, now=1, signer=node) is not None
    del store.checkpoints[10]
    for index in range(10, 21):  # index 10 rewritten, 11..20 new: a tree that does not extend
        store.hashes[index] = _other(index)
    with pytest.raises(NotAnExtension):
        tree.maybe_issue(20, now=2, signer=node)
    assert store.checkpoints == {}
    assert parse_checkpoint(parse_note(kept.last() or "").text).size == 10
    # Not retried on every append: the next try is when the policy says one is due.
    assert tree.maybe_issue(21, now=3, signer=node) is None


def test_concurrent_issuers_never_sign_two_different_trees_of_one_size(
    store: MemoryTreeStore,
) -> None:
    """Issuer A has checked its tree and is about to record it when B, with more rows, issues:
    B must wait for A (the lock spans check-record-store), so the kept note never goes back
    to a smaller tree and no two notes of one size differ. Without the lock B records first and
    A then overwrites it with its smaller tree."""
    node, kept = seeded("node"), MemoryCheckpointState()
    recorded: list[str] = []
    record = kept.record
    a_recording, b_done = threading.Event(), threading.Event()

    def spy(note: str) -> None:
        if threading.current_thread().name == "A" and not a_recording.is_set():
            a_recording.set()
            b_done.wait(timeout=2)  # bounded: with the lock B cannot finish meanwhile
        recorded.append(note)
        record(note)

    kept.record = spy  # type: ignore[method-assign]
    store.add(50)

    def b() -> None:
        a_recording.wait()
        store.add(5)
        keeper(store, signed=kept).issue(node, now=2)
        b_done.set()

    threads = [
        threading.Thread(target=keeper(store, signed=kept).issue, args=(node, 1), name="A"),
        threading.Thread(target=b, name="B"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    trees = [parse_checkpoint(parse_note(note).text) for note in recorded]
    assert [t.size for t in trees] == [50, 55]
    assert parse_checkpoint(parse_note(kept.last() or "").text).size == 55
    for tree in trees:
        assert tree.root == merkle.root_of(store.leaves(tree.size))
