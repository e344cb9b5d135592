"""What only the whole ledger can show: the dense index, the stored checkpoints and their tree
(``docs/transparency.md``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ledger import merkle
from ledger.audit.findings import MAX_LISTED, AuditorFindings
from ledger.errors import LedgerError
from ledger.keys import NODE
from ledger.notes import parse_checkpoint, parse_note, verify_note
from ledger.transparency import StoredCheckpoint, TreeStore, iter_checkpoints, iter_object_hashes

# Rows read per query by every pass: what bounds the audit's memory, whatever the ledger's size.
AUDIT_BATCH = 1000


class LedgerChecks(AuditorFindings):
    """The whole-ledger checks (part of ``Auditor``)."""

    ledger_name: str

    # -- the dense index -------------------------------------------------------------------

    def check_indexes(self, indexes: Iterator[int]) -> None:
        expected = 1
        for index in indexes:
            if index != expected:
                span = str(expected) if index == expected + 1 else f"{expected}..{index - 1}"
                self._find("", 0, "index_gap", f"ledger index {span} missing")
            expected = index + 1

    # -- the stored checkpoints ------------------------------------------------------------

    def check_checkpoint(self, store: TreeStore) -> None:
        """The ledger against every stored checkpoint (``docs/transparency.md``).

        One streaming pass: the ledger rows' event hashes, in index order, go through a
        ``CompactRange`` (flat memory), never the tree tables (whoever could edit the rows could
        edit those too); the checkpoints are read alongside, in size order and in batches, and
        the recomputed root is compared at each one's size. So a cut followed by regrowth is
        caught at the checkpoints it contradicts, however large the later ones are.
        """
        rows = iter_object_hashes(store, batch=AUDIT_BATCH)
        pending: tuple[int, bytes] | None = None  # the next row, read ahead
        started = False  # no row is read before a checkpoint needs one
        tree = merkle.CompactRange()
        expected = 1  # the next ledger index the tree needs
        missing = _Spans()  # ledger index ranges missing
        largest = 0  # the largest size of a well-signed checkpoint
        first_affected: int | None = None  # the smallest such size a missing index falls under
        mismatched: list[int] = []  # the first MAX_LISTED sizes whose root differs
        more_mismatched, last_mismatched = 0, 0  # how many others, the largest of them
        for stored in iter_checkpoints(store):
            if not self._checkpoint_signed(stored):
                continue
            size = largest = stored.size
            if not started and size > 0:
                pending, started = next(rows, None), True
            while expected <= size:
                if pending is None or pending[0] > size:
                    missing.add(expected, size)
                    expected = size + 1
                    break
                index, object_hash = pending
                pending = next(rows, None)
                if index != expected:
                    missing.add(expected, index - 1)
                if not missing:
                    tree.append(merkle.leaf_hash(object_hash))
                expected = index + 1
            if missing:
                # Past a missing index no root can be recomputed: reported as missing instead.
                first_affected = size if first_affected is None else first_affected
                continue
            root = parse_checkpoint(parse_note(stored.note).text).root
            if tree.root() != root:
                if len(mismatched) < MAX_LISTED:
                    mismatched.append(size)
                else:
                    more_mismatched, last_mismatched = more_mismatched + 1, size
        for size in mismatched:
            self._find(
                "",
                0,
                "root_mismatch",
                f"the stored rows do not reproduce the root of the checkpoint of size {size}",
            )
        if more_mismatched:
            self._find(
                "",
                0,
                "root_mismatch",
                f"nor the roots of {more_mismatched} more stored checkpoints, the largest of "
                f"size {last_mismatched}",
            )
        if missing:
            spans = [_span(first, last) for first, last in missing.listed]
            if missing.more:
                spans.append(f"and {missing.more} more ranges")
            self._find(
                "",
                0,
                "missing_from_tree",
                f"ledger index {', '.join(spans)} missing, checkpointed at size {largest} "
                f"(first covered by the checkpoint of size {first_affected})",
            )

    def _checkpoint_signed(self, stored: StoredCheckpoint) -> bool:
        """True when the checkpoint is well formed and signed by a node key valid at its time."""
        try:
            note = parse_note(stored.note)
            checkpoint = parse_checkpoint(note.text)
        except LedgerError as error:
            self._find("", 0, "bad_checkpoint", f"checkpoint of size {stored.size}: {error.detail}")
            return False
        if checkpoint.origin != self.ledger_name or checkpoint.size != stored.size:
            self._find(
                "",
                0,
                "bad_checkpoint",
                f"checkpoint stored as size {stored.size} is for "
                f"{checkpoint.origin!r} size {checkpoint.size}",
            )
            return False
        for key in list(self.registry.keys.values()):
            if key.role != NODE:
                continue
            try:
                self.registry.node_key_at(key.kid, stored.issued_at)
                verify_note(note, self.ledger_name, key.public_key)
            except LedgerError:
                continue
            return True
        self._find(
            "",
            0,
            "bad_checkpoint",
            f"checkpoint of size {stored.size} is not signed by a node key of this region "
            f"valid at {stored.issued_at}",
        )
        return False


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}..{last}"


class _Spans:
    """Index ranges in ascending order, adjacent ones merged; the first ``MAX_LISTED`` kept,
    the others only counted (flat memory however many there are)."""

    def __init__(self) -> None:
        self.listed: list[list[int]] = []
        self.more = 0
        self.end = -1  # the last index of the newest range

    def __bool__(self) -> bool:
        return bool(self.listed)

    def add(self, first: int, last: int) -> None:
        if self.listed and self.end == first - 1:
            if not self.more:
                self.listed[-1][1] = last
        elif len(self.listed) < MAX_LISTED:
            self.listed.append([first, last])
        else:
            self.more += 1
        self.end = last


def check_whole_ledger(auditor: LedgerChecks, store: Any) -> None:
    """What only the whole ledger can show: the dense index, the checkpoints and their tree."""
    auditor.check_indexes(store.iter_indexes(AUDIT_BATCH))
    auditor.check_checkpoint(store)
