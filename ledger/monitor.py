"""Watching a home ledger one relays to (docs/relay.md, "The monitor"): pure checks, no I/O.

A window node holds the home node's receipt of every step it relayed. The monitor asks the
home node for its newest checkpoint and proofs, and checks here that:

- the checkpoint is signed by the home node's key under its ledger name (``bad_checkpoint``);
- it extends the last checkpoint this node accepted from that home node, by a consistency
  proof (``not_an_extension``: two checkpoints that do not extend each other);
- each receipted step within the checkpoint is its leaf, by an inclusion proof computed from
  the step's hash the receipt signs, never the leaf hash the home node offers
  (``missing_from_tree``);
- each receipted step is still in the home ledger's case (``missing_from_ledger``).

Every finding carries its evidence: the home node's signed receipt, the signed checkpoint(s),
the proof or the home node's answer, so anyone can re-check it with the home node's key alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger import merkle
from ledger.errors import LedgerError
from ledger.notes import (
    Checkpoint,
    Witness,
    majority,
    parse_checkpoint,
    parse_note,
    require_cosigners,
    verify_note,
)

FINDING_KINDS = ("bad_checkpoint", "not_an_extension", "missing_from_tree", "missing_from_ledger")


@dataclass(frozen=True)
class MonitorFinding:
    """One thing the home ledger shows that contradicts what it signed."""

    kind: str
    peer: str
    detail: str
    case_id: str = ""
    seq: int = 0
    index: int = 0
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "peer": self.peer,
            "case_id": self.case_id,
            "seq": self.seq,
            "index": self.index,
            "detail": self.detail,
            "evidence": dict(self.evidence),
        }


class CheckpointRefused(LedgerError):
    reason = "bad_checkpoint"


def verified_checkpoint(note_text: str, ledger: str, public_key: bytes) -> Checkpoint:
    """The checkpoint of a note the home node signed under its ledger name; else raise."""
    try:
        note = parse_note(note_text)
        verify_note(note, ledger, public_key)
        checkpoint = parse_checkpoint(note.text)
    except LedgerError as error:
        raise CheckpointRefused(f"the checkpoint does not verify: {error.detail}") from error
    if checkpoint.origin != ledger:
        raise CheckpointRefused(f"the checkpoint is of {checkpoint.origin!r}, not {ledger!r}")
    return checkpoint


def extends(old: Checkpoint, new: Checkpoint, proof: Sequence[bytes]) -> str | None:
    """None when ``new`` provably extends ``old``, else why not."""
    if new.size < old.size:
        return f"size {new.size} is smaller than the size {old.size} already signed"
    if old.size == 0:
        return None
    try:
        merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
    except merkle.MerkleError as error:
        return f"no consistency from size {old.size} to {new.size}: {error}"
    return None


def included(event_hash: bytes, index: int, checkpoint: Checkpoint, proof: Sequence[bytes]) -> str:
    """ "" when the object of ``event_hash`` is ledger index ``index`` in ``checkpoint``'s
    tree (leaf ``index - 1``), else why not."""
    try:
        merkle.verify_inclusion(
            merkle.leaf_hash(event_hash), index - 1, checkpoint.size, proof, checkpoint.root
        )
    except merkle.MerkleError as error:
        return (
            f"ledger index {index} is not this step in the tree of size {checkpoint.size}: {error}"
        )
    return ""


def missing_cosignatures(
    note_text: str, log_key: bytes, witnesses: Sequence[Witness], required: int | None
) -> str | None:
    """None when at least ``required`` of ``witnesses`` (default: a majority) cosigned the
    checkpoint note, else why not. Until they have, its proofs are not yet relied on."""
    k = majority(len(witnesses)) if required is None else required
    try:
        require_cosigners(parse_note(note_text), witnesses, k, log_keys=(log_key,))
    except LedgerError as error:
        return error.detail
    return None
