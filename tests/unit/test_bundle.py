"""Offline case bundles: a valid bundle verifies from the roots alone; each fault has its reason."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from ledger.bundle import BundleInvalid, build_bundle, verify_bundle
from ledger.notes import Witness, parse_checkpoint, parse_note, signed_checkpoint
from ledger.witness import CheckpointWitness, MemoryWitnessStore, add_checkpoint_body
from tests.support.world import JIANGSU, World, make_world, seeded

WITNESS_NAME = "tongban/320000/witness"
WITNESS_KEY = seeded("witness/320000")
WITNESSES = [Witness(WITNESS_NAME, WITNESS_KEY.public_key)]


def cosign_latest(world: World) -> None:
    """A witness cosigns the ledger's latest checkpoint (as a push would have it)."""
    app = world.app
    note = app.latest_checkpoint()
    assert note is not None
    witness = CheckpointWitness(
        WITNESS_NAME,
        WITNESS_KEY,
        {app.ledger_name: app.node_signer.public_key},  # type: ignore[union-attr]
        MemoryWitnessStore(),
        clock=lambda: 1_767_225_600,
    )
    signatures = witness.add_checkpoint(add_checkpoint_body(0, [], note))
    app.add_cosignatures(parse_checkpoint(note.text).size, signatures)


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = make_world(tmp_path, with_jiangsu=True)
    return world


@pytest.fixture
def case_and_bundle(world: World) -> tuple[uuid.UUID, dict[str, Any]]:
    case_id, _ = world.append_case(world.officers["rs-001"], 4)
    world.append_case(world.officers["zw-001"], 3)  # another case, in the same tree
    world.app.issue_checkpoint()
    cosign_latest(world)
    # Through JSON, as a file would carry it.
    return case_id, json.loads(json.dumps(build_bundle(world.app, case_id)))


def roots(world: World) -> dict[str, bytes]:
    return {world.region: world.root.public_key}


def verify(world: World, bundle: dict[str, Any], **kwargs: Any) -> Any:
    return verify_bundle(bundle, trusted_roots=roots(world), **kwargs)


def refused(world: World, bundle: dict[str, Any], **kwargs: Any) -> BundleInvalid:
    with pytest.raises(BundleInvalid) as raised:
        verify(world, bundle, **kwargs)
    return raised.value


def test_a_valid_bundle_verifies(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    case_id, bundle = case_and_bundle
    report = verify(world, bundle, witnesses=WITNESSES, min_witnesses=1)
    assert report.case_id == case_id and report.events == 4
    assert report.cosigners == (WITNESS_NAME,)
    # Only what the case needs: Sichuan's registry (its officers and the node key).
    assert len(bundle["registry"]) == 6
    assert report.checkpoint_size == world.app.store.max_index()


def test_a_flipped_byte_in_an_envelope_is_a_bad_signature(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    _, bundle = case_and_bundle
    raw = bytearray(base64.b64decode(bundle["events"][2]["object"]))
    raw[-1] ^= 0x01  # inside the officer's signature
    bundle["events"][2]["object"] = base64.b64encode(bytes(raw)).decode()
    error = refused(world, bundle)
    assert (error.reason, error.where) == ("bad_signature", "events[2] (seq 3)")


def test_a_flipped_byte_in_a_receipt_is_a_bad_receipt(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    _, bundle = case_and_bundle
    raw = bytearray(base64.b64decode(bundle["events"][0]["receipt"]))
    raw[-1] ^= 0x01
    bundle["events"][0]["receipt"] = base64.b64encode(bytes(raw)).decode()
    assert refused(world, bundle).reason == "bad_receipt"


def test_a_wrong_inclusion_proof(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    _, bundle = case_and_bundle
    bundle["events"][1]["proof"][0] = base64.b64encode(bytes(32)).decode()
    error = refused(world, bundle)
    assert (error.reason, error.where) == ("bad_inclusion_proof", "events[1] (seq 2)")
    assert "root_mismatch" in error.detail


def test_a_checkpoint_signed_by_another_key(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    _, bundle = case_and_bundle
    checkpoint = parse_checkpoint(parse_note(bundle["checkpoint"]).text)
    forged = signed_checkpoint(checkpoint, world.app.ledger_name, seeded("not the node"))
    bundle["checkpoint"] = forged.render()
    error = refused(world, bundle)
    assert (error.reason, error.where) == ("bad_checkpoint_signature", "checkpoint")


def test_a_missing_cosignature_when_one_is_required(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    _, bundle = case_and_bundle
    note = parse_note(bundle["checkpoint"])
    bundle["checkpoint"] = type(note)(note.text, note.signatures[:1]).render()
    assert verify(world, bundle).cosigners == ()  # fine when none is required
    error = refused(world, bundle, witnesses=WITNESSES, min_witnesses=1)
    assert error.reason == "too_few_cosignatures"
    assert "0 of the configured witnesses cosigned; 1 required" in error.detail


def test_a_cosignature_by_an_unknown_witness_key_does_not_count(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    _, bundle = case_and_bundle
    other = [Witness(WITNESS_NAME, seeded("another witness").public_key)]
    assert refused(world, bundle, witnesses=other, min_witnesses=1).reason == (
        "too_few_cosignatures"
    )


def test_another_root_rejects_the_registry(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    _, bundle = case_and_bundle
    with pytest.raises(BundleInvalid) as raised:
        verify_bundle(bundle, trusted_roots={world.region: seeded("impostor root").public_key})
    assert (raised.value.reason, raised.value.where) == ("untrusted_root", "registry[0]")


def test_a_dropped_event_is_a_gap(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    _, bundle = case_and_bundle
    shortened = copy.deepcopy(bundle)
    del shortened["events"][1]
    assert refused(world, shortened).reason == "seq_gap"


def test_a_dropped_registry_record_is_refused(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    _, bundle = case_and_bundle
    del bundle["registry"][1]  # the node key's certification
    assert refused(world, bundle).reason == "seq_gap"


def test_a_case_newer_than_the_checkpoint_gets_a_new_checkpoint(world: World) -> None:
    world.app.issue_checkpoint()
    case_id, _ = world.append_case(world.officers["rs-001"], 2)
    bundle = build_bundle(world.app, case_id)
    assert parse_checkpoint(parse_note(bundle["checkpoint"]).text).size == (
        world.app.store.max_index()
    )
    assert verify(world, bundle).events == 2


def test_a_case_of_two_regions_needs_both_roots(world: World) -> None:
    case_id = uuid.uuid4()
    world.run(
        case_id,
        [
            ("js-001", "received", {}),  # Jiangsu's window
            ("rs-001", "accepted", {}),  # Sichuan's county body
        ],
    )
    bundle = build_bundle(world.app, case_id)
    assert {parse_region(r) for r in bundle["registry"]} == {world.region, JIANGSU}
    error = refused(world, bundle)
    assert error.reason == "untrusted_region"
    both = {**roots(world), JIANGSU: seeded(f"root/{JIANGSU}").public_key}
    assert verify_bundle(bundle, trusted_roots=both).events == 2


def parse_region(item: dict[str, Any]) -> str:
    from ledger.keys import parse_key_record

    return parse_key_record(base64.b64decode(item["object"])).region


def test_an_unknown_case_has_no_bundle(world: World) -> None:
    with pytest.raises(BundleInvalid) as raised:
        build_bundle(world.app, uuid.uuid4())
    assert raised.value.reason == "unknown_case"
