"""The monitor's checks (``ledger.monitor``) on checkpoints signed here, and ``peers.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.relay_peers import PeerConfigError, load_peers
from ledger import merkle
from ledger.errors import LedgerError
from ledger.monitor import extends, included, missing_cosignatures, verified_checkpoint
from ledger.notes import Checkpoint, Note, Witness, cosign, signed_checkpoint
from tests.support.world import seeded

LEDGER = "tongban/510000"
NODE = seeded("node/510000/monitor")
WITNESS = seeded("witness/320000/monitor")
HASHES = [bytes([n]) * 32 for n in range(1, 8)]  # the objects' hashes of ledger indexes 1..7


def checkpoint(size: int, hashes: list[bytes] = HASHES) -> tuple[Checkpoint, str]:
    leaves = [merkle.leaf_hash(h) for h in hashes[:size]]
    cp = Checkpoint(LEDGER, size, merkle.root_of(leaves))
    return cp, signed_checkpoint(cp, LEDGER, NODE).render()


def proofs(size: int, hashes: list[bytes] = HASHES) -> merkle.MemoryNodeStore:
    return merkle.MemoryNodeStore(merkle.leaf_hash(h) for h in hashes[:size])


def test_a_checkpoint_verifies_under_the_home_key_only() -> None:
    cp, note = checkpoint(5)
    assert verified_checkpoint(note, LEDGER, NODE.public_key) == cp
    with pytest.raises(LedgerError) as refused:
        verified_checkpoint(note, LEDGER, WITNESS.public_key)
    assert refused.value.reason == "bad_checkpoint"
    with pytest.raises(LedgerError):
        verified_checkpoint(note, "tongban/320000", NODE.public_key)


def test_a_step_is_proven_only_as_its_own_leaf() -> None:
    cp, _ = checkpoint(7)
    leaves = proofs(7)
    proof = merkle.inclusion_proof(2, 7, leaves)  # ledger index 3 is leaf 2
    assert included(HASHES[2], 3, cp, proof) == ""
    assert "not this step" in included(HASHES[3], 3, cp, proof)
    assert "not this step" in included(HASHES[2], 3, cp, [])


def test_checkpoints_that_do_not_extend_each_other_are_told_apart() -> None:
    old, _ = checkpoint(4)
    new, _ = checkpoint(7)
    proof = merkle.consistency_proof(4, 7, proofs(7))
    assert extends(old, new, proof) is None
    assert extends(new, old, []) is not None  # smaller
    forked_hashes = [*HASHES[:2], bytes(32), *HASHES[3:]]
    forked, _ = checkpoint(7, forked_hashes)
    assert extends(old, forked, merkle.consistency_proof(4, 7, proofs(7, forked_hashes)))


def test_the_witnesses_required_must_have_cosigned() -> None:
    cp, note = checkpoint(5)
    witnesses = [Witness("tongban/320000/witness", WITNESS.public_key)]
    assert missing_cosignatures(note, NODE.public_key, witnesses, None) is not None
    base = signed_checkpoint(cp, LEDGER, NODE)
    cosigned = Note(
        base.text, (*base.signatures, cosign(base.text, witnesses[0].name, WITNESS, 1_767_225_600))
    )
    assert missing_cosignatures(cosigned.render(), NODE.public_key, witnesses, None) is None
    # The home node's own key under a witness's name is no witness.
    self_named = [Witness("tongban/320000/witness", NODE.public_key)]
    assert missing_cosignatures(cosigned.render(), NODE.public_key, self_named, 1) is not None


def test_peers_json_names_witnesses_and_refuses_a_bad_one(tmp_path: Path) -> None:
    peer = {
        "ledger": LEDGER,
        "url": "http://127.0.0.1:1",
        "public_key": NODE.public_key.hex(),
        "witnesses": [{"name": "tongban/320000/witness", "public_key": WITNESS.public_key.hex()}],
    }
    (tmp_path / "peers.json").write_text(json.dumps({"peers": [peer]}))
    loaded = load_peers(tmp_path)[LEDGER]
    assert loaded.witnesses == (Witness("tongban/320000/witness", WITNESS.public_key),)
    assert loaded.min_cosignatures is None
    peer["witnesses"] = [{"name": "w", "public_key": "zz"}]
    (tmp_path / "peers.json").write_text(json.dumps({"peers": [peer]}))
    with pytest.raises(PeerConfigError, match="witnesses"):
        load_peers(tmp_path)
