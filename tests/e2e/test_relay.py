"""A Jiangsu clerk handles a Sichuan case through Jiangsu's node only (docs/relay.md).

Two live nodes on loopback (``tests.support.relay_nodes``). The clerk holds a token of
Jiangsu's node and nothing of Sichuan's; every step goes to Jiangsu's node, which relays it to
Sichuan's over the peer API and answers with Sichuan's receipt, or queues it with its own
relay receipt while Sichuan's node is down.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.applicants import open_node_applicants
from adapters.bootstrap import open_ledger
from adapters.relay_store import open_relay_store
from adapters.settings import Settings
from adapters.vault import ApplicantErased
from api.client import Conflict, Queued, StepResult, TongbanClient
from ledger.application import now_micros
from ledger.envelope import build_event
from ledger.monitor import verified_checkpoint
from ledger.notes import parse_checkpoint, parse_note
from ledger.receipts import parse_receipt
from ledger.relay import parse_relay_receipt
from ledger.relay_mirror import RelayMirror, mirror_stream_id, parse_mirror
from tests.support.api_node import api_node
from tests.support.relay_nodes import (
    CLERK,
    JS_LEDGER,
    SC_LEDGER,
    WINDOW,
    Provinces,
    admin_token,
    body_token,
    node_public_key,
    two_provinces,
)
from tools.cut_newest_event import cut_newest_event

REPO = Path(__file__).resolve().parents[2]
CHECKED = {"result": "pass", "reasons": [], "identity_verified": True}


def tongban(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def home_case(p: Provinces, case_id: uuid.UUID) -> dict[str, Any]:
    """The case as Sichuan's own administrator reads it at Sichuan's node."""
    token = admin_token(p.sc_dir)
    answer = httpx.get(
        f"{p.sichuan.url}/cases/{case_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def relay_rows(p: Provinces) -> list[dict[str, Any]]:
    answer = tongban("relay", "status", "--json", "--data-dir", str(p.js_dir))
    assert answer.returncode == 0, answer.stderr
    rows: list[dict[str, Any]] = json.loads(answer.stdout)["steps"]
    return rows


def queue(client: TongbanClient, case_id: uuid.UUID, after: StepResult, body: Any) -> Queued:
    """Sign ``form_checked`` on ``after`` and post it while the home node is down."""
    raw = client.sign(
        case_id, after.seq + 1, after.head.event_hash, "form_checked", body, ledger=SC_LEDGER
    )
    with pytest.raises(Queued) as queued:
        client.post_envelope(case_id, after.seq + 1, raw)
    return queued.value


def test_a_jiangsu_clerk_handles_a_sichuan_case_through_jiangsus_node_only(
    tmp_path: Path,
) -> None:
    with two_provinces(tmp_path) as p, p.clerk() as client:
        opened = p.receive(client)
        case_id = opened.case_id
        # Sichuan's receipt, signed by Sichuan's node key, for Sichuan's ledger.
        assert opened.receipt.ledger == SC_LEDGER
        opened.receipt.signed.verify(node_public_key(p.sc_dir))
        checked = client.step(case_id, "form_checked", CHECKED)
        assert checked.seq == 2 and checked.receipt.ledger == SC_LEDGER

        # The CLI, with Jiangsu's node as its server and Jiangsu's token.
        mailed = tongban(
            "case", "mail", str(case_id), "--leg", "window_to_home", "--tracking", "EMS001",
            "--server", p.jiangsu.url, "--token", p.clerk_token, "--key",
            str(p.clerk_key_file()), "--signer-body", WINDOW, "--officer", CLERK,
        )  # fmt: skip
        assert mailed.returncode == 0, mailed.stderr
        assert json.loads(mailed.stdout)["state"] == "accepted"

        # Read through Jiangsu's node: the home node's case, Sichuan's ledger.
        case = client.case(case_id)
        assert case["ledger"] == SC_LEDGER and case["state"] == "to_home"
        assert [s["step"].split(":")[0] for s in case["timeline"]] == [
            "received",
            "form_checked",
            "mailed",
        ]
        assert home_case(p, case_id)["head"] == case["head"]

        # The applicant is in Sichuan's vault alone; the read through Jiangsu is logged there.
        shown = client.case(case_id, personal=True, purpose="核验申请人身份")
        assert shown["applicant"]["name"] == "欧阳明远"
        admin = {"Authorization": f"Bearer {admin_token(p.sc_dir)}"}
        log = httpx.get(f"{p.sichuan.url}/cases/{case_id}/access", headers=admin).json()
        assert [(r["subject"], r["purpose"]) for r in log] == [(WINDOW, "核验申请人身份")]
        ref = shown["applicant"]["ref"]
        js = Settings(data_dir=p.js_dir)
        window_applicants = open_node_applicants(js.resolved_database_url(), p.js_dir)
        with pytest.raises(ApplicantErased):
            window_applicants.vault.read(ref)
        window_applicants.access.close()

        # Jiangsu's node holds no case of Sichuan's ledger; its relay rows hold the receipts.
        rows = relay_rows(p)
        assert [(r["seq"], r["state"]) for r in rows] == [(n, "accepted") for n in (1, 2, 3)]
        for row in rows:
            relay = parse_relay_receipt(base64.b64decode(row["relay_receipt"]))
            relay.signed.verify(node_public_key(p.js_dir))
            assert relay.relay == JS_LEDGER and relay.ledger == SC_LEDGER

        # Jiangsu's own ledger mirrors the three steps with Sichuan's receipts, and its own
        # audit checks them.
        p.jiangsu.stop()
        mirrored = own_mirror(p)
        assert [m.step.seq for m in mirrored] == [1, 2, 3]
        assert [m.home_receipt.raw for m in mirrored] == [
            base64.b64decode(r["home_receipt"]) for r in rows
        ]
        audit = tongban("audit", "verify", "--data-dir", str(p.js_dir))
        assert audit.returncode == 0, audit.stdout + audit.stderr


def own_mirror(p: Provinces) -> list[RelayMirror]:
    app = open_ledger(Settings(data_dir=p.js_dir))
    try:
        entries = app.stream_entries(mirror_stream_id(SC_LEDGER))
    finally:
        app.close()
    return [parse_mirror(entry.envelope) for entry in entries]


def test_the_home_node_stopped_mid_case_loses_and_doubles_no_step(tmp_path: Path) -> None:
    with two_provinces(tmp_path) as p, p.clerk(retries=0) as client:
        opened = p.receive(client)
        case_id = opened.case_id
        p.sichuan.stop()
        queued = queue(client, case_id, opened, CHECKED)
        assert queued.relay["state"] == "queued" and queued.relay["seq"] == 2
        relay = parse_relay_receipt(queued.relay_receipt)
        relay.signed.verify(node_public_key(p.js_dir))
        # The clerk sees it queued, not accepted.
        assert [r["state"] for r in client.relayed()] == ["accepted", "queued"]

        p.sichuan.start()
        delivered = tongban("relay", "deliver", "--data-dir", str(p.js_dir))
        assert delivered.returncode == 0, delivered.stderr
        report = json.loads(delivered.stdout)
        assert [d["seq"] for d in report["delivered"]] == [2] and report["still_queued"] == 0
        # A repost of the same bytes after delivery: the home receipt again, nothing doubled.
        again = client.post_envelope(case_id, 2, parse_relay_bytes(p, case_id, 2))
        assert again.created is False and again.receipt.ledger == SC_LEDGER
        case = home_case(p, case_id)
        assert [s["seq"] for s in case["timeline"]] == [1, 2]
        assert case["state"] == "checked"


def parse_relay_bytes(p: Provinces, case_id: uuid.UUID, seq: int) -> bytes:
    """The exact bytes Jiangsu's node queued for ``seq`` (from its relay queue)."""
    js = Settings(data_dir=p.js_dir)
    store = open_relay_store(js.resolved_database_url(), p.js_dir)
    try:
        (row,) = [s for s in store.steps() if s.case_id == str(case_id) and s.seq == seq]
        return row.envelope
    finally:
        store.close()


def test_a_step_queued_longer_than_the_tolerance_is_accepted_by_the_relay_receipt_rule(
    tmp_path: Path,
) -> None:
    env = {"TONGBAN_CLAIM_TOLERANCE_SECONDS": "2"}
    with two_provinces(tmp_path, env) as p, p.clerk(retries=0) as client:
        opened = p.receive(client)
        case_id = opened.case_id
        p.sichuan.stop()
        queued = queue(client, case_id, opened, CHECKED)
        relayed_at = parse_relay_receipt(queued.relay_receipt).time
        time.sleep(3)  # longer than the claim tolerance: the step is now "too old" for Sichuan
        p.sichuan.start()
        raw = parse_relay_bytes(p, case_id, 2)
        # Posted straight to Sichuan's node, the same bytes are out of tolerance...
        direct = httpx.post(
            f"{p.sichuan.url}/cases/{case_id}/events",
            content=raw,
            headers={
                "Content-Type": "application/msgpack",
                "Authorization": f"Bearer {body_token(p.sc_dir, WINDOW)}",
            },
        )
        assert direct.status_code == 422 and direct.json()["reason"] == "time_out_of_tolerance"
        # ...relayed with the relay receipt, they are held against its time and accepted.
        delivered = tongban("relay", "deliver", "--data-dir", str(p.js_dir))
        assert delivered.returncode == 0, delivered.stderr
        (row,) = json.loads(delivered.stdout)["delivered"]
        assert row["state"] == "accepted"
        receipt = parse_receipt(base64.b64decode(row["home_receipt"]))
        assert receipt.time - relayed_at > 2_000_000  # accepted after the tolerance had passed
        assert [s["seq"] for s in home_case(p, case_id)["timeline"]] == [1, 2]


def test_a_queued_step_meeting_a_conflict_is_shown_with_the_home_head(tmp_path: Path) -> None:
    with two_provinces(tmp_path) as p, p.clerk(retries=0) as client:
        opened = p.receive(client)
        case_id = opened.case_id
        p.sichuan.stop()
        queue(client, case_id, opened, CHECKED)
        queue(client, case_id, opened, {**CHECKED, "reasons": ["复核"]})  # also seq 2
        p.sichuan.start()
        assert tongban("relay", "deliver", "--data-dir", str(p.js_dir)).returncode == 0
        rows = [r for r in client.relayed() if r["seq"] == 2]
        assert sorted(r["state"] for r in rows) == ["accepted", "conflict"]
        won = next(r for r in rows if r["state"] == "accepted")
        lost = next(r for r in rows if r["state"] == "conflict")
        assert lost["home_head"] == {"seq": 2, "hash": won["event_hash"]}
        # Posting the conflicting bytes again shows the conflict, never a new signature.
        with pytest.raises(Conflict) as conflict:
            client.post_envelope(case_id, 2, parse_conflicting(p, lost["event_hash"]))
        assert conflict.value.head.seq == 2
        assert [s["seq"] for s in home_case(p, case_id)["timeline"]] == [1, 2]


def parse_conflicting(p: Provinces, event_hash: str) -> bytes:
    js = Settings(data_dir=p.js_dir)
    store = open_relay_store(js.resolved_database_url(), p.js_dir)
    try:
        found = store.get(bytes.fromhex(event_hash))
        assert found is not None
        return found.envelope
    finally:
        store.close()


def monitor(p: Provinces) -> tuple[int, list[dict[str, Any]]]:
    answer = tongban("monitor", "--json", "--data-dir", str(p.js_dir))
    assert answer.returncode in (0, 1), answer.stderr
    peers: list[dict[str, Any]] = json.loads(answer.stdout)["peers"]
    return answer.returncode, peers


def test_a_cut_receipted_step_and_a_rolled_back_checkpoint_are_caught_by_the_monitor(
    tmp_path: Path,
) -> None:
    with two_provinces(tmp_path) as p, p.clerk() as client:
        opened = p.receive(client)
        checked = client.step(opened.case_id, "form_checked", CHECKED)
        admin = {"Authorization": f"Bearer {admin_token(p.sc_dir)}"}
        issued = httpx.post(f"{p.sichuan.url}/audit/checkpoint", headers=admin)
        assert issued.status_code == 200, issued.text
        code, (peer,) = monitor(p)
        assert code == 0 and peer["peer"] == SC_LEDGER
        assert (peer["receipts"], peer["proven"], peer["findings"]) == (2, 2, [])
        signed_before = issued.text

        # The insider cuts the receipted newest step from Sichuan's database.
        p.sichuan.stop()
        assert cut_newest_event(p.sc_dir) == checked.index
        p.sichuan.start()
        code, (peer,) = monitor(p)
        assert code == 1
        # The cut index leaves a gap: the home node can prove neither step in its checkpoint.
        kinds = {f["kind"] for f in peer["findings"]}
        assert kinds <= {"missing_from_tree", "missing_from_ledger"}
        (finding,) = [f for f in peer["findings"] if f["seq"] == 2]
        assert finding["case_id"] == str(opened.case_id)
        # The evidence convicts with Sichuan's key alone: its receipt of the step, and its
        # checkpoint covering that ledger index.
        evidence = finding["evidence"]
        receipt = parse_receipt(base64.b64decode(evidence["home_receipt"]))
        receipt.signed.verify(node_public_key(p.sc_dir))
        assert receipt.event_hash.hex() == evidence["event_hash"] == checked.head.event_hash.hex()
        covering = verified_checkpoint(evidence["checkpoint"], SC_LEDGER, node_public_key(p.sc_dir))
        assert covering.size >= receipt.index

        # The insider then has Sichuan sign a smaller tree (the operator's rollback override):
        # two signed checkpoints that do not extend each other.
        p.sichuan.stop()
        size = parse_checkpoint(parse_note(signed_before).text).size
        rolled = tongban(
            "audit", "checkpoint", "--data-dir", str(p.sc_dir), "--accept-rollback", str(size)
        )
        assert rolled.returncode == 0, rolled.stderr
        p.sichuan.start()
        code, (peer,) = monitor(p)
        assert code == 1
        (finding,) = peer["findings"]
        assert finding["kind"] == "not_an_extension"
        old = verified_checkpoint(
            finding["evidence"]["old_checkpoint"], SC_LEDGER, node_public_key(p.sc_dir)
        )
        new = verified_checkpoint(
            finding["evidence"]["new_checkpoint"], SC_LEDGER, node_public_key(p.sc_dir)
        )
        assert new.size < old.size


def test_the_servers_delivery_loop_delivers_what_was_queued(tmp_path: Path) -> None:
    env = {"TONGBAN_RELAY_DELIVER_SECONDS": "0.2"}
    with two_provinces(tmp_path, env) as p, p.clerk(retries=0) as client:
        opened = p.receive(client)
        p.sichuan.stop()
        queue(client, opened.case_id, opened, CHECKED)
        p.sichuan.start()
        deadline = time.monotonic() + 60  # a bound on waiting, not a timed assertion
        states: list[str] = []
        while time.monotonic() < deadline:
            states = [r["state"] for r in client.relayed()]
            if "queued" not in states:
                break
            time.sleep(0.2)
        assert states == ["accepted", "accepted"]
        assert [s["seq"] for s in home_case(p, opened.case_id)["timeline"]] == [1, 2]


def test_an_unreadable_peers_file_is_said_not_a_traceback(tmp_path: Path) -> None:
    with api_node(tmp_path) as node:
        (tmp_path / "peers.json").write_text('{"peers": [{"ledger": "tongban/320000"}]}')
        officer = node.world.officers[CLERK]
        raw = build_event(
            officer.signer,
            ledger=JS_LEDGER,  # a step for another ledger: the node looks for a peer
            case_id=uuid.uuid4(),
            seq=1,
            event_type="received",
            time=now_micros(),
            body_id=WINDOW,
            officer_id=CLERK,
            prev=bytes(32),
            body={},
        )
        answer = node.post("/cases", "window", raw)
        assert answer.status_code == 503
        assert answer.json()["reason"] == "peer_config"
        assert "peers.json" in answer.json()["detail"]
