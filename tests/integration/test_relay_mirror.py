"""The window's mirror (``ledger.relay_mirror``): appended only when every part is the window's
own word, and checked by the window's own audit.

The window here is Sichuan's test ledger (its officer ``rs-001`` signs a step for Jiangsu's
ledger); what is mirrored is the step, the relay receipt its node signed, and the home
node's receipt.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import msgpack
import pytest

from adapters.bootstrap import open_ledger
from adapters.relay import NodeRelay
from adapters.relay_store import open_relay_store
from adapters.settings import Settings
from ledger.audit import verify_ledger
from ledger.envelope import ZERO_HASH, build_event, parse_event
from ledger.errors import LedgerError
from ledger.receipts import make_receipt
from ledger.relay import make_relay_receipt
from ledger.relay_mirror import build_mirror, mirror_stream_id, parse_mirror
from ledger.suites import Ed25519Signer
from ledger.workflow import SignedCoreOnly
from tests.support.world import World, make_world, seeded, world_applicants

HOME = "tongban/320000"


def mirror_of(
    world: World, *, seq: int = 1, prev: bytes = ZERO_HASH, signer: Ed25519Signer | None = None
) -> bytes:
    step, relay, home = relayed_parts(world, signer)
    assert world.app.node_signer is not None
    return build_mirror(
        world.app.node_signer,
        ledger=world.app.ledger_name,
        home=HOME,
        seq=seq,
        prev=prev,
        time=world.clock.now,
        step=step,
        relay_receipt=relay,
        home_receipt=home,
    )


def relayed_parts(world: World, signer: Ed25519Signer | None = None) -> tuple[bytes, bytes, bytes]:
    """A step ``rs-001`` signed for Jiangsu's ledger, this node's relay receipt of it and the
    home node's receipt."""
    officer = world.officers["rs-001"]
    case_id = uuid.uuid4()
    step = build_event(
        signer or officer.signer,
        ledger=HOME,
        case_id=case_id,
        seq=1,
        event_type="received",
        time=world.clock.now,
        body_id=officer.body_id,
        officer_id=officer.officer_id,
        prev=ZERO_HASH,
        body={},
    )
    step_hash = parse_event(step).hash
    assert world.app.node_signer is not None
    relay = make_relay_receipt(
        world.app.node_signer,
        relay=world.app.ledger_name,
        ledger=HOME,
        event_hash=step_hash,
        stream_id=case_id,
        seq=1,
        time=world.clock.now,
    )
    home = make_receipt(
        seeded("node/320000"),
        ledger=HOME,
        index=7,
        event_hash=step_hash,
        stream_id=case_id,
        seq=1,
        time=world.clock.now,
    )
    return step, relay, home


def test_mirrors_chain_in_the_windows_ledger_and_its_audit_checks_them(tmp_path: Path) -> None:
    world = make_world(tmp_path, workflow=SignedCoreOnly())
    first = world.app.append_mirror(mirror_of(world))
    second = world.app.append_mirror(mirror_of(world, seq=2, prev=first.head.event_hash))
    assert (first.seq, second.seq) == (1, 2)
    assert second.stream_id == mirror_stream_id(HOME)
    report = verify_ledger(world.app)
    assert report.ok, report.findings
    assert report.cases == 0 and report.events >= 2

    # A step signed by a key the window's registry never certified is not the window's word.
    forged = mirror_of(world, seq=3, prev=second.head.event_hash, signer=seeded("stranger"))
    with pytest.raises(LedgerError) as refused:
        world.app.append_mirror(forged)
    assert refused.value.reason in {"unknown_key", "uncertified_officer"}
    world.app.close()

    # Rewriting a stored mirror (here: its step swapped for another) is found by the audit.
    stream = mirror_stream_id(HOME).hex
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        (state_bytes,) = db.execute(
            "SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = 2",
            (stream,),
        ).fetchone()
        state = msgpack.unpackb(state_bytes, raw=False)
        state["envelope"] = mirror_of(world, seq=2, prev=first.head.event_hash)
        db.execute(
            "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = 2",
            (msgpack.packb(state, use_bin_type=True), stream),
        )
    reopened = open_ledger(Settings(data_dir=tmp_path))
    report = verify_ledger(reopened)
    reopened.close()
    assert {f.reason for f in report.findings} >= {"bad_hash"}
    assert parse_mirror(state["envelope"]).seq == 2


def test_relay_deliver_mirrors_an_accepted_step_its_mirror_lacks(tmp_path: Path) -> None:
    world = make_world(tmp_path, workflow=SignedCoreOnly())
    assert world.settings is not None
    step, relay_receipt, home = relayed_parts(world)
    envelope = parse_event(step)
    store = open_relay_store(world.settings.resolved_database_url(), tmp_path)
    store.enqueue(
        event_hash=envelope.hash,
        home_ledger=HOME,
        case_id=str(envelope.case_id),
        seq=1,
        body=envelope.body_id,
        step="received",
        envelope=step,
        relay_receipt=relay_receipt,
        relayed_at=world.clock.now,
        applicant_ref=None,
    )
    # Accepted, but not mirrored (as after a crash between settling and mirroring).
    assert store.settle(envelope.hash, "accepted", home_receipt=home, home_index=7)
    relay = NodeRelay(world.app, world_applicants(world), store, tmp_path)
    assert [s.event_hash for s in relay.remirror()] == [envelope.hash]
    (entry,) = world.app.stream_entries(mirror_stream_id(HOME))
    assert parse_mirror(entry.envelope).home_receipt.raw == home
    assert relay.remirror() == []  # mirrored once
    assert verify_ledger(world.app).ok
    store.close()
    relay.applicants.access.close()
    world.app.close()
