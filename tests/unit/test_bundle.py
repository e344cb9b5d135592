"""Offline case bundles: a valid bundle verifies from the roots alone; each fault has its reason."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from adapters.keyfiles import write_trusted_roots
from ledger.bundle import BundleInvalid, build_bundle, verify_bundle
from ledger.notes import Witness, parse_checkpoint, parse_note, signed_checkpoint
from ledger.witness import CheckpointWitness, MemoryWitnessStore, add_checkpoint_body
from ledger.workflow import SignedCoreOnly
from tests.support.world import JIANGSU, World, make_memory_world, seeded

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
        pinned={app.ledger_name: ""},
        clock=lambda: 1_767_225_600,
    )
    signatures = witness.add_checkpoint(add_checkpoint_body(0, [], note))
    app.add_cosignatures(parse_checkpoint(note.text).size, signatures)


@pytest.fixture
def world() -> World:
    # In memory (adapters.memory): bundles need the tree and checkpoints, not a database file.
    return make_memory_world(with_jiangsu=True, workflow=SignedCoreOnly())


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
    if "witnesses" not in kwargs:
        kwargs.setdefault("min_witnesses", 0)  # these tests are about the rest of the bundle
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
        verify_bundle(
            bundle,
            trusted_roots={world.region: seeded("impostor root").public_key},
            min_witnesses=0,
        )
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
    assert verify_bundle(bundle, trusted_roots=both, min_witnesses=0).events == 2


def parse_region(item: dict[str, Any]) -> str:
    from ledger.keys import parse_key_record

    return parse_key_record(base64.b64decode(item["object"])).region


def test_an_unknown_case_has_no_bundle(world: World) -> None:
    with pytest.raises(BundleInvalid) as raised:
        build_bundle(world.app, uuid.uuid4())
    assert raised.value.reason == "unknown_case"


# -- a bundle forged by another region's node (issue 14, item 1) ----------------------------

JS_NODE = seeded(f"node/{JIANGSU}")
JS_WITNESS = "tongban/320000/witness"


def _forge(world: World, *, region: str) -> dict[str, Any]:
    """Sichuan's case, its public registries and a step Sichuan refused, all re-received by
    Jiangsu's node key under Sichuan's ledger name: Jiangsu's own receipts, its own tree, a
    checkpoint with Sichuan's origin and a "witness" cosignature by the same key."""
    from ledger.admin import RegistryClerk
    from ledger.envelope import parse_event
    from ledger.errors import LedgerError
    from ledger.keys import parse_key_record, registry_stream_id
    from ledger.merkle import MemoryNodeStore, inclusion_proof, leaf_hash, root_of
    from ledger.notes import Checkpoint, cosign
    from ledger.receipts import make_receipt, parse_receipt
    from tests.support.world import START

    app = world.app
    # Public data: Jiangsu certifies its node key in its own registry, as it may.
    RegistryClerk(app, JIANGSU).certify_node(
        seeded(f"root/{JIANGSU}"), JS_NODE.public_key, "js-node-1", valid_from=START
    )
    officer = world.officers["rs-001"]
    case_id, done = world.append_case(officer, 2)
    world.clock.advance(1)
    compromised_since = world.clock.now  # after step 2, before the step Sichuan refuses
    world.clerk.revoke(
        world.body_keys[officer.body_id],
        officer.signer.key_id,
        compromised_since=compromised_since,
    )
    step = world.event(officer, case_id, 3, done[-1].head.event_hash, "noted")
    with pytest.raises(LedgerError) as refused_step:
        app.append_event(step)
    assert refused_step.value.reason == "key_revoked"

    ledger = "tongban/510000"
    entries = sorted(
        (e for r in (world.region, JIANGSU) for e in app.stream_entries(registry_stream_id(r))),
        key=lambda e: e.index,
    )
    objects: list[tuple[bytes, bytes, uuid.UUID, int, int]] = []  # raw, hash, stream, seq, time
    for entry in entries:
        record = parse_key_record(entry.envelope)
        time = parse_receipt(entry.receipt).time
        objects.append(
            (entry.envelope, record.hash, registry_stream_id(record.region), record.seq, time)
        )
    n_registry = len(objects)
    for entry in app.stream_entries(case_id):
        envelope = parse_event(entry.envelope)
        time = parse_receipt(entry.receipt).time
        objects.append((entry.envelope, envelope.hash, case_id, envelope.seq, time))
    objects.append((step, parse_event(step).hash, case_id, 3, compromised_since - 1))
    leaves = [leaf_hash(h) for _, h, _, _, _ in objects]
    size = len(leaves)
    store = MemoryNodeStore(leaves)
    items = []
    for i, (raw, object_hash, stream, seq, time) in enumerate(objects, start=1):
        receipt = make_receipt(
            JS_NODE,
            ledger=ledger,
            index=i,
            event_hash=object_hash,
            stream_id=stream,
            seq=seq,
            time=time,
        )
        items.append(
            {
                "index": i,
                "object": base64.b64encode(raw).decode(),
                "receipt": base64.b64encode(receipt).decode(),
                "proof": [
                    base64.b64encode(h).decode() for h in inclusion_proof(i - 1, size, store)
                ],
            }
        )
    checkpoint = Checkpoint(ledger, size, root_of(leaves))
    note = signed_checkpoint(checkpoint, ledger, JS_NODE)
    note = note.with_signatures([cosign(note.text, JS_WITNESS, JS_NODE, 1_767_225_600)])
    return {
        "format": "tongban/case-bundle/v1",
        "ledger": ledger,
        "region": region,
        "case": str(case_id),
        "checkpoint": note.render(),
        "registry": items[:n_registry],
        "events": items[n_registry:],
    }


def _both_roots(world: World) -> dict[str, bytes]:
    return {**roots(world), JIANGSU: seeded(f"root/{JIANGSU}").public_key}


def test_a_bundle_forged_with_another_regions_node_key_is_refused(world: World) -> None:
    bundle = _forge(world, region=JIANGSU)
    with pytest.raises(BundleInvalid) as raised:
        verify_bundle(
            bundle,
            trusted_roots=_both_roots(world),
            witnesses=[Witness(JS_WITNESS, JS_NODE.public_key)],
            min_witnesses=1,
        )
    # The ledger's name says whose region it is; the bundle's own word does not count.
    assert (raised.value.reason, raised.value.where) == ("wrong_region", "region")


def test_a_forged_bundle_naming_the_right_region_fails_on_the_receipts(world: World) -> None:
    bundle = _forge(world, region=world.region)
    with pytest.raises(BundleInvalid) as raised:
        verify_bundle(
            bundle,
            trusted_roots=_both_roots(world),
            witnesses=[Witness(JS_WITNESS, JS_NODE.public_key)],
            min_witnesses=1,
        )
    assert (raised.value.reason, raised.value.where) == ("bad_receipt", "registry[0]")
    assert "not a node ledger key of this region" in raised.value.detail


def test_a_ledger_name_that_names_no_region_is_refused(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    _, bundle = case_and_bundle
    bundle["ledger"] = "elsewhere"
    error = refused(world, bundle)
    assert (error.reason, error.where) == ("unknown_ledger", "ledger")


def test_a_cosignature_by_the_log_key_itself_does_not_count(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    from ledger.notes import cosign

    _, bundle = case_and_bundle
    node = world.app.node_signer
    assert node is not None
    note = parse_note(bundle["checkpoint"])
    self_name = "tongban/510000/witness"
    bundle["checkpoint"] = note.with_signatures(
        [cosign(note.text, self_name, node, 1_767_225_600)]
    ).render()
    witnesses = [*WITNESSES, Witness(self_name, node.public_key)]
    error = refused(world, bundle, witnesses=witnesses, min_witnesses=2)
    assert (error.reason, error.detail) == (
        "too_few_cosignatures",
        "checkpoint: 1 of the configured witnesses cosigned; 2 required",
    )


def test_one_key_under_two_witness_names_counts_once(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    from ledger.notes import cosign

    _, bundle = case_and_bundle
    note = parse_note(bundle["checkpoint"])
    bundle["checkpoint"] = note.with_signatures(
        [cosign(note.text, "tongban/330000/witness", WITNESS_KEY, 1_767_225_600)]
    ).render()
    witnesses = [*WITNESSES, Witness("tongban/330000/witness", WITNESS_KEY.public_key)]
    assert refused(world, bundle, witnesses=witnesses, min_witnesses=2).reason == (
        "too_few_cosignatures"
    )


def test_a_pinned_log_key_must_have_signed_the_checkpoint(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    _, bundle = case_and_bundle
    node = world.app.node_signer
    assert node is not None
    ledger = world.app.ledger_name
    assert verify(world, bundle, log_keys={ledger: node.public_key}).events == 4
    error = refused(world, bundle, log_keys={ledger: seeded("another node").public_key})
    assert (error.reason, error.where) == ("bad_checkpoint_signature", "checkpoint")


def test_the_default_policy_is_a_majority_of_the_witnesses(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    _, bundle = case_and_bundle
    one = verify_bundle(bundle, trusted_roots=roots(world), witnesses=WITNESSES)
    assert (one.cosigners, one.required_cosigners) == ((WITNESS_NAME,), 1)
    # 1 of 2 is not a majority: with two, both must have cosigned.
    two = [*WITNESSES, Witness("tongban/330000/witness", seeded("witness/330000").public_key)]
    with pytest.raises(BundleInvalid) as raised:
        verify_bundle(bundle, trusted_roots=roots(world), witnesses=two)
    assert raised.value.detail == "checkpoint: 1 of the configured witnesses cosigned; 2 required"


def test_no_witness_is_accepted_only_when_asked_for(
    world: World, case_and_bundle: tuple[uuid.UUID, dict[str, Any]]
) -> None:
    _, bundle = case_and_bundle
    with pytest.raises(BundleInvalid) as raised:
        verify_bundle(bundle, trusted_roots=roots(world))
    assert raised.value.reason == "no_witness_policy"
    report = verify_bundle(bundle, trusted_roots=roots(world), min_witnesses=0)
    assert report.required_cosigners == 0


def test_verify_bundle_refuses_the_forgery_with_sichuans_own_configuration(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from api.cli import main

    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(_forge(world, region=JIANGSU)))
    write_trusted_roots(tmp_path / "trust.json", _both_roots(world))  # as make_world writes it
    witness = f"{JS_WITNESS}={JS_NODE.public_key.hex()}"
    for extra in (
        ["--data-dir", str(tmp_path)],  # Sichuan's own data directory: trust.json, both roots
        [f"--root={r}={k.hex()}" for r, k in _both_roots(world).items()],
    ):
        code = main(["audit", "verify-bundle", str(forged), "--witness", witness, *extra])
        out = capsys.readouterr().out
        assert code == 1, out
        assert out.startswith("invalid: wrong_region: region: region '320000' is not the region")


def test_a_cosignature_by_another_node_key_of_the_region_does_not_count(world: World) -> None:
    from ledger.notes import cosign
    from tests.support.world import START

    second = seeded("node/510000/2")
    world.clerk.certify_node(world.root, second.public_key, "node-2", valid_from=START)
    case_id, _ = world.append_case(world.officers["rs-001"], 2)
    bundle = build_bundle(world.app, case_id)
    note = parse_note(bundle["checkpoint"])
    name = "tongban/510000/witness-2"
    bundle["checkpoint"] = note.with_signatures([cosign(note.text, name, second, 1)]).render()
    error = refused(world, bundle, witnesses=[Witness(name, second.public_key)])
    assert error.reason == "too_few_cosignatures"
