"""What a new user setting two nodes up meets (review-relay.md): registry records imported
while a node serves, a wrong peer key, an unreachable peer, a mistyped data directory and a
mistyped ``add-peer``. Two live nodes on loopback (``tests.support.relay_nodes``).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from adapters.bootstrap import open_ledger
from adapters.relay_peers import PeerNode, load_peers, save_peer
from adapters.settings import Settings
from api.client import Queued, Refused, TongbanClient
from ledger.admin import RegistryClerk
from ledger.receipts import parse_receipt
from tests.e2e.test_relay import CHECKED, monitor, relay_rows, tongban
from tests.support.relay_nodes import (
    SC_LEDGER,
    Provinces,
    admin_token,
    body_token,
    node_public_key,
    two_provinces,
)
from tests.support.world import JIANGSU, START, Clock, Officer, seeded

NEW_WINDOW, NEW_CLERK = "320106-ZWFW", "js-009"
WINDOW_ORG = {
    "division": "320106",
    "level": "county",
    "sector": "政务服务",
    "roles": ["cross_province_window"],
}


def register_new_window(data_dir: Path, region: str) -> Officer:
    """Jiangsu's window ``320106-ZWFW`` and its officer, in the registry of the node at
    ``data_dir`` (its region ``region``), by another process than the one serving it."""
    js_root = seeded(f"root/{JIANGSU}")
    body_key = seeded(f"body/{NEW_WINDOW}")
    officer = seeded(f"officer/{NEW_WINDOW}/{NEW_CLERK}")
    app = open_ledger(Settings(data_dir=data_dir, region=region), clock=Clock())
    try:
        clerk = RegistryClerk(app, JIANGSU)
        clerk.register_body(
            js_root, NEW_WINDOW, "南京市鼓楼区政务服务中心", body_key.public_key,
            org=WINDOW_ORG, valid_from=START,
        )  # fmt: skip
        clerk.certify_officer(body_key, NEW_WINDOW, NEW_CLERK, officer.public_key, valid_from=START)
    finally:
        app.close()
    return Officer(NEW_WINDOW, NEW_CLERK, officer)


def new_clerk(p: Provinces, officer: Officer) -> TongbanClient:
    token = body_token(p.js_dir, NEW_WINDOW)
    return TongbanClient(
        p.jiangsu.url, token, officer.signer, body_id=NEW_WINDOW, officer_id=NEW_CLERK, retries=0
    )


def test_a_window_body_imported_while_the_home_node_serves_is_seen_without_a_restart(
    tmp_path: Path,
) -> None:
    with two_provinces(tmp_path) as p:
        officer = register_new_window(p.js_dir, JIANGSU)
        with new_clerk(p, officer) as client:
            # Sichuan does not know the body yet: the refusal names the real cause and field.
            with pytest.raises(Refused) as refused:
                p.receive(client)
            assert refused.value.status == 422
            assert refused.value.reason == "unknown_body"
            assert refused.value.field == "actor.body"
            assert "not in this node's registry" in refused.value.problem["detail"]
            (row,) = [r for r in relay_rows(p) if r["body"] == NEW_WINDOW]
            assert row["state"] == "refused" and "(field actor.body)" in row["detail"]

            # Imported into Sichuan's registry while it serves: the next step is accepted.
            register_new_window(p.sc_dir, "510000")
            opened = p.receive(client)
            assert opened.receipt.ledger == SC_LEDGER
            assert client.case(opened.case_id)["head"]["seq"] == 1


def test_a_home_receipt_that_does_not_verify_under_the_peers_key_is_not_taken(
    tmp_path: Path,
) -> None:
    with two_provinces(tmp_path) as p, p.clerk(retries=0) as client:
        opened = p.receive(client)
        admin = {"Authorization": f"Bearer {admin_token(p.sc_dir)}"}
        issued = httpx.post(f"{p.sichuan.url}/audit/checkpoint", headers=admin)
        assert issued.status_code == 200, issued.text
        # The plausible mistake: Sichuan's root key configured instead of its node key.
        right = load_peers(p.js_dir)[SC_LEDGER]
        save_peer(p.js_dir, PeerNode(SC_LEDGER, right.url, seeded("root/510000").public_key))

        raw = client.sign(
            opened.case_id, 2, opened.head.event_hash, "form_checked", CHECKED, ledger=SC_LEDGER
        )
        with pytest.raises(Queued) as queued:
            client.post_envelope(opened.case_id, 2, raw)
        assert "does not verify under the node key peers.json" in queued.value.document["detail"]
        (row,) = [r for r in relay_rows(p) if r["seq"] == 2]
        assert row["state"] == "queued" and "home_receipt" not in row  # neither stored nor mirrored

        # The monitor says the configured key does not match the checkpoints' signer.
        code, (peer,) = monitor(p)
        assert code == 1
        (finding,) = peer["findings"]
        assert finding["kind"] == "bad_checkpoint"
        assert "does not match the checkpoint's signer" in finding["detail"]
        assert (peer["receipts"], peer["unchecked"]) == (1, 1)

        # Once the right key is configured, the next delivery takes the home receipt.
        save_peer(p.js_dir, right)
        delivered = tongban("relay", "deliver", "--data-dir", str(p.js_dir))
        assert delivered.returncode == 0, delivered.stderr
        (done,) = json.loads(delivered.stdout)["delivered"]
        assert (done["seq"], done["state"]) == (2, "accepted")
        parse_receipt(base64.b64decode(done["home_receipt"])).signed.verify(right.public_key)


def test_the_monitor_fails_when_a_home_node_cannot_be_reached(tmp_path: Path) -> None:
    with two_provinces(tmp_path) as p, p.clerk(retries=0) as client:
        opened = p.receive(client)
        client.step(opened.case_id, "form_checked", CHECKED)
        code, (peer,) = monitor(p)  # no checkpoint yet: both pending
        assert code == 0
        assert (peer["receipts"], peer["pending"], peer["unchecked"]) == (2, 2, 0)
        p.sichuan.stop()
        code, (peer,) = monitor(p)
        assert code == 1 and peer["unreachable"]
        counted = peer["proven"] + peer["pending"] + peer["failed"] + peer["unchecked"]
        assert (peer["receipts"], peer["unchecked"], counted) == (2, 2, 2)
        human = tongban("monitor", "--data-dir", str(p.js_dir))
        assert human.returncode == 1 and "unreachable" in human.stdout


def test_relay_commands_refuse_a_directory_init_did_not_make(tmp_path: Path) -> None:
    missing, empty = tmp_path / "var" / "data", tmp_path / "empty"
    empty.mkdir()
    key = "00" * 32
    for data_dir in (missing, empty):
        for command in (
            ["relay", "status"],
            ["relay", "deliver"],
            ["relay", "add-peer", "--ledger", SC_LEDGER, "--url", "http://x", "--key", key],
            ["monitor"],
        ):
            answer = tongban(*command, "--data-dir", str(data_dir))
            assert answer.returncode == 64, (command, answer.stdout, answer.stderr)
            assert "no node at" in answer.stderr and "tongban init" in answer.stderr
    assert not missing.exists() and list(empty.iterdir()) == []


def test_add_peer_names_the_flag_it_refuses(tmp_path: Path) -> None:
    root_key, node = tmp_path / "root.key", tmp_path / "js"
    assert tongban("keys", "generate", str(root_key)).returncode == 0
    made = tongban(
        "init", "--data-dir", str(node), "--region", JIANGSU, "--root-key", str(root_key)
    )
    assert made.returncode == 0, made.stderr
    # init prints the node public key the other node's add-peer --key takes.
    assert json.loads(made.stdout)["node_public_key"] == node_public_key(node).hex()
    good = ["--ledger", SC_LEDGER, "--url", "http://127.0.0.1:8001", "--key", "ab" * 32]
    for flag, value, said in (
        ("--ledger", "510000", "--ledger is the peer's ledger, tongban/<region>"),
        ("--ledger", "tongban/5100", "--ledger is the peer's ledger, tongban/<region>"),
        ("--ledger", "tongban/320000", "this node's own ledger"),
        ("--url", "127.0.0.1:8001", "--url is the peer's base URL"),
        ("--key", "abc", "--key is the peer's node public key in hex"),
        ("--key", "ab" * 16, "--key is 64 hex digits"),
    ):
        args = list(good)
        args[args.index(flag) + 1] = value
        answer = tongban("relay", "add-peer", "--data-dir", str(node), *args)
        assert answer.returncode == 64, (flag, value, answer.stdout)
        assert said in answer.stderr, answer.stderr
    assert not (node / "peers.json").exists()
    added = tongban("relay", "add-peer", "--data-dir", str(node), *good)
    assert added.returncode == 0, added.stderr
    assert list(load_peers(node)) == [SC_LEDGER]
