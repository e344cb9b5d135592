"""Every way a relayed step leaves the window's queue, and what each leaves behind (the third
review of issue 20): the applicant of a settled ``received`` step at neither node but where
its case is, an authentication refusal told from an outage, every window step queued from
the CLI while the home node is down, ``--ledger`` mistakes said as they are, ``--port 0``
refused where peers name the node, and the monitor run periodically with a kept state.

Two live nodes on loopback (``tests.support.relay_nodes``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.applicants import NodeApplicants, open_node_applicants
from adapters.relay_peers import PeerNode, load_peers, save_peer
from adapters.relay_store import open_relay_store
from adapters.settings import Settings
from adapters.vault import ApplicantErased
from api.client import Conflict, Queued, Refused, Unavailable
from ledger.application import now_micros
from ledger.envelope import ZERO_HASH, build_event
from tests.e2e.test_relay import CHECKED, REPO, home_case, monitor, relay_rows, tongban
from tests.e2e.test_relay_setup import new_clerk, register_new_window
from tests.support.relay_nodes import (
    APPLICANT,
    CLERK,
    JS_LEDGER,
    SC_LEDGER,
    WINDOW,
    Provinces,
    admin_token,
    two_provinces,
)
from tests.support.world import JIANGSU, seeded


def applicants_of(data_dir: Path) -> NodeApplicants:
    return open_node_applicants(Settings(data_dir=data_dir).resolved_database_url(), data_dir)


def holds_clear_copy(data_dir: Path, ref: str) -> bool:
    """Whether the node at ``data_dir`` can still decrypt the applicant ``ref``."""
    applicants = applicants_of(data_dir)
    try:
        applicants.vault.read(ref)
        return True
    except ApplicantErased:
        return False
    finally:
        applicants.access.close()


def applicant_ref(p: Provinces, event_hash: str) -> str:
    """The applicant ref of a relayed ``received`` step (its row at Jiangsu's node)."""
    store = open_relay_store(Settings(data_dir=p.js_dir).resolved_database_url(), p.js_dir)
    try:
        row = store.get(bytes.fromhex(event_hash))
        assert row is not None and row.applicant_ref is not None
        return row.applicant_ref
    finally:
        store.close()


def case_cli(p: Provinces, *args: str) -> subprocess.CompletedProcess[str]:
    """``tongban case ...`` as the Jiangsu clerk, against Jiangsu's node only."""
    return tongban(
        "case", *args, "--server", p.jiangsu.url, "--token", p.clerk_token,
        "--key", str(p.clerk_key_file()), "--signer-body", WINDOW, "--officer", CLERK,
    )  # fmt: skip


def receive_args(*extra: str) -> list[str]:
    form = REPO / "README.md"
    args = [
        "receive", "--item", "510000/2/23", "--channel", "proxy", "--home-body", "510104-RS",
        "--jurisdiction", "510104", "--applicant-name", APPLICANT["name"],
        "--applicant-id", APPLICANT["id_number"], "--material", f"申请表={form}", *extra,
    ]  # fmt: skip
    return args


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + 60  # a bound on waiting, not a timed assertion
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not within 60 s: {what}")


# -- 1. PIPL: a settled received step leaves no clear copy where no case holds it --------------


def test_a_refused_or_conflicting_relayed_receive_leaves_no_applicant_where_no_case_is(
    tmp_path: Path,
) -> None:
    with two_provinces(tmp_path) as p, p.clerk(retries=0) as client:
        # Refused by Sichuan's node before it takes the record: an unknown window body.
        officer = register_new_window(p.js_dir, JIANGSU)
        with new_clerk(p, officer) as stranger, pytest.raises(Refused) as refused:
            p.receive(stranger)
        assert refused.value.reason == "unknown_body"
        assert "erased at this node" in refused.value.problem["detail"]
        row = refused.value.problem["relay"]
        assert (row["state"], row["applicant_here"]) == ("refused", "erased")
        assert not holds_clear_copy(p.js_dir, applicant_ref(p, row["event_hash"]))

        # Refused by Sichuan's ledger after its node took the record in (a jurisdiction
        # outside Sichuan): neither node keeps it.
        with pytest.raises(Refused) as refused:
            client.receive(
                "510000/2/23", "proxy", APPLICANT, home_body="510104-RS", jurisdiction="320105",
                materials=[("申请表", bytes(32))],
            )  # fmt: skip
        assert refused.value.reason == "wrong_jurisdiction"
        ref = applicant_ref(p, refused.value.problem["relay"]["event_hash"])
        assert not holds_clear_copy(p.js_dir, ref)
        assert not holds_clear_copy(p.sc_dir, ref)

        # A conflict: another received step of a case Sichuan already holds.
        opened = p.receive(client)
        with pytest.raises(Conflict) as conflict:
            p.receive(client, case_id=opened.case_id)
        assert "erased at this node" in conflict.value.problem["detail"]
        ref = applicant_ref(p, conflict.value.problem["relay"]["event_hash"])
        assert not holds_clear_copy(p.js_dir, ref)
        assert not holds_clear_copy(p.sc_dir, ref)
        # The case that was opened keeps its applicant, at Sichuan's node alone.
        kept = client.case(opened.case_id, personal=True, purpose="核验申请人身份")
        assert kept["applicant"]["name"] == APPLICANT["name"]


def test_a_queued_receive_keeps_its_applicant_only_while_it_waits(tmp_path: Path) -> None:
    with two_provinces(tmp_path) as p, p.clerk(retries=0) as client:
        p.sichuan.stop()
        with pytest.raises(Queued) as queued:
            p.receive(client)
        row = queued.value.relay
        assert (row["state"], row["applicant_here"]) == ("queued", "kept")
        ref = applicant_ref(p, row["event_hash"])
        assert holds_clear_copy(p.js_dir, ref)  # kept (encrypted) while it waits

        # An operator gives it up (the home node is gone for good): dropped and erased.
        dropped = tongban(
            "relay", "drop", "--data-dir", str(p.js_dir), "--event", row["event_hash"],
            "--reason", "四川节点已停用",
        )  # fmt: skip
        assert dropped.returncode == 0, dropped.stderr
        shown = json.loads(dropped.stdout)
        assert (shown["state"], shown["applicant_here"]) == ("dropped", "erased")
        assert not holds_clear_copy(p.js_dir, ref)
        again = tongban(
            "relay", "drop", "--data-dir", str(p.js_dir), "--event", row["event_hash"],
            "--reason", "again",
        )  # fmt: skip
        assert again.returncode == 64 and "dropped, not waiting" in again.stderr
        # Never delivered: Sichuan back, the operator's delivery leaves it alone.
        p.sichuan.start()
        delivered = tongban("relay", "deliver", "--data-dir", str(p.js_dir))
        assert json.loads(delivered.stdout)["delivered"] == []
        assert [r["state"] for r in relay_rows(p)] == ["dropped"]


# -- 2. every step a window clerk signs is queued from the CLI while the home node is down -----


def test_the_window_steps_are_queued_from_the_cli_while_the_home_node_is_down(
    tmp_path: Path,
) -> None:
    with two_provinces(tmp_path) as p, p.clerk(retries=0) as client:
        opened = p.receive(client)
        case = str(opened.case_id)
        p.sichuan.stop()
        for args in (
            ["check", case],
            ["mail", case, "--leg", "window_to_home", "--tracking", "EMS001"],
            [
                "step",
                case,
                "--type",
                "mail_problem",
                "--body-json",
                '{"problem": "lost", "detail": "邮件丢失"}',
            ],
            ["mail", case, "--leg", "window_to_home", "--tracking", "EMS002"],
        ):
            answer = case_cli(p, *args)
            assert answer.returncode == 2, (args, answer.stdout, answer.stderr)
            shown = json.loads(answer.stdout)
            assert shown["state"] == "queued" and shown["home_ledger"] == SC_LEDGER
            assert "the newest step this node relayed" in shown["signed_on"]
        assert [(r["seq"], r["state"]) for r in relay_rows(p)] == [
            (1, "accepted"), (2, "queued"), (3, "queued"), (4, "queued"), (5, "queued"),
        ]  # fmt: skip

        p.sichuan.start()
        delivered = tongban("relay", "deliver", "--data-dir", str(p.js_dir))
        assert delivered.returncode == 0, delivered.stderr
        done = json.loads(delivered.stdout)["delivered"]
        assert [(d["seq"], d["state"]) for d in done] == [(n, "accepted") for n in (2, 3, 4, 5)], (
            done
        )
        home = home_case(p, opened.case_id)
        assert home["state"] == "to_home"
        assert [s["seq"] for s in home["timeline"]] == [1, 2, 3, 4, 5]


# -- 3. --ledger mistakes ---------------------------------------------------------------------


def test_ledger_mistakes_are_said_as_they_are(tmp_path: Path) -> None:
    with two_provinces(tmp_path) as p:
        for ledger, said in (
            (JS_LEDGER, f"{JS_LEDGER} is this node's own ledger"),
            ("510000", "'510000' is not a ledger name"),
            ("tongban/440000", "tongban/440000 is region 440000's"),
        ):
            answer = case_cli(p, *receive_args("--ledger", ledger))
            assert answer.returncode == 64, (ledger, answer.stdout, answer.stderr)
            assert said in answer.stderr and "its cases live in tongban/510000" in answer.stderr

        # Over HTTP, a step signed for a ledger this node neither is nor relays to.
        signer = p.world.officers[CLERK].signer
        for ledger, said in (
            ("tongban/440000", "this node relays to no ledger tongban/440000"),
            ("tongban/51000", "'tongban/51000' is not a ledger name"),
        ):
            raw = build_event(
                signer, ledger=ledger, case_id=uuid.uuid4(), seq=1, event_type="received",
                time=now_micros(), body_id=WINDOW, officer_id=CLERK, prev=ZERO_HASH, body={},
            )  # fmt: skip
            posted = httpx.post(
                f"{p.jiangsu.url}/cases",
                content=raw,
                headers={
                    "Content-Type": "application/msgpack",
                    "Authorization": f"Bearer {p.clerk_token}",
                },
            )
            problem = posted.json()
            assert posted.status_code == 422 and problem["field"] == "ledger", problem
            assert said in problem["detail"]
            assert f"this node's own ledger is {JS_LEDGER}" in problem["detail"]
            assert f"the ledgers it relays to: {SC_LEDGER}" in problem["detail"]


# -- 4. authentication refused is not an outage ------------------------------------------------


def test_an_authentication_refusal_is_held_and_said_not_queued_as_unreachable(
    tmp_path: Path,
) -> None:
    with two_provinces(tmp_path) as p, p.clerk(retries=0) as client:
        opened = p.receive(client)
        admin = {"Authorization": f"Bearer {admin_token(p.sc_dir)}"}
        assert httpx.post(f"{p.sichuan.url}/audit/checkpoint", headers=admin).status_code == 200
        # Sichuan's peers.json names another key for Jiangsu (a root key pasted, say).
        right = load_peers(p.sc_dir)[JS_LEDGER]
        save_peer(p.sc_dir, PeerNode(JS_LEDGER, right.url, seeded("root/320000").public_key))

        # A read: 502 peer_unauthenticated, with what to fix, not 503 unreachable.
        with pytest.raises(Unavailable) as read:
            client.case(opened.case_id)
        problem = read.value.problem
        assert problem["reason"] == "peer_unauthenticated", problem
        assert "authentication refused by tongban/510000" in problem["detail"]
        assert "tongban relay add-peer --ledger tongban/320000" in problem["detail"]

        # A step from the CLI: held (exit 3), not queued for the loop to retry for ever.
        answer = case_cli(p, "check", str(opened.case_id))
        assert answer.returncode == 3, (answer.stdout, answer.stderr)
        assert json.loads(answer.stdout)["state"] == "held"
        assert "authentication refused" in answer.stderr and "unreachable" not in answer.stderr
        (held,) = [r for r in relay_rows(p) if r["seq"] == 2]
        assert held["state"] == "held" and held["attempts"] == 1

        # The monitor says so too, apart from unreachable (exit 1).
        code, (peer,) = monitor(p)
        assert code == 1 and peer["unreachable"] == ""
        assert "authentication refused" in peer["unauthenticated"]
        assert (
            peer["receipts"]
            == peer["proven"] + peer["pending"] + peer["failed"] + peer["unchecked"]
        )

        # Fixed at Sichuan; the operator's delivery takes the held step.
        save_peer(p.sc_dir, right)
        delivered = tongban("relay", "deliver", "--data-dir", str(p.js_dir))
        assert delivered.returncode == 0, delivered.stderr
        (done,) = json.loads(delivered.stdout)["delivered"]
        assert (done["seq"], done["state"]) == (2, "accepted")
        assert home_case(p, opened.case_id)["state"] == "checked"


def test_a_refused_read_of_an_unknown_body_is_still_the_home_nodes_answer(
    tmp_path: Path,
) -> None:
    # A 403 with the home node's reason is its refusal of the read, not an authentication
    # failure of the node: said as such.
    with two_provinces(tmp_path) as p, p.clerk(retries=0) as client:
        opened = p.receive(client)
        officer = register_new_window(p.js_dir, JIANGSU)
        with new_clerk(p, officer) as stranger, pytest.raises(Refused) as refused:
            stranger.case(opened.case_id)
        assert refused.value.status == 403 and refused.value.reason == "unknown_body"
        assert client.case(opened.case_id)["head"]["seq"] == 1


# -- 5. --port 0 where peers name the node ----------------------------------------------------


def test_port_0_is_refused_where_peers_name_the_node_by_its_url(tmp_path: Path) -> None:
    root_key, node = tmp_path / "root.key", tmp_path / "sc"
    assert tongban("keys", "generate", str(root_key)).returncode == 0
    made = tongban(
        "init", "--data-dir", str(node), "--region", "510000", "--root-key", str(root_key)
    )
    assert made.returncode == 0, made.stderr
    key = "ab" * 32
    zero = tongban(
        "relay", "add-peer", "--data-dir", str(node), "--ledger", JS_LEDGER,
        "--url", "http://127.0.0.1:0", "--key", key,
    )  # fmt: skip
    assert zero.returncode == 64 and "port 0 is no address" in zero.stderr
    added = tongban(
        "relay", "add-peer", "--data-dir", str(node), "--ledger", JS_LEDGER,
        "--url", "http://127.0.0.1:8001", "--key", key,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    served = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--data-dir", str(node), "--port", "0"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert served.returncode == 64, served.stderr
    assert "--port 0 picks another port at each start" in served.stderr
    assert JS_LEDGER in served.stderr and "--port 8002" in served.stderr


# -- 6. the monitor, periodic, with a state others read ----------------------------------------


def test_the_monitor_runs_periodically_and_keeps_its_last_run(tmp_path: Path) -> None:
    with two_provinces(tmp_path) as p, p.clerk(retries=0) as client:
        empty = tongban("monitor", "status", "--data-dir", str(p.js_dir))
        assert empty.returncode == 1 and "has not run yet" in empty.stderr
        p.receive(client)
        runs = tongban(
            "monitor", "--data-dir", str(p.js_dir), "--json", "--every", "0.1", "--runs", "2"
        )
        assert runs.returncode == 0, runs.stderr
        lines = [json.loads(line) for line in runs.stdout.splitlines()]
        assert [(r["alert"], r["peers"][0]["pending"]) for r in lines] == [(False, 1)] * 2
        status = tongban("monitor", "status", "--json", "--data-dir", str(p.js_dir))
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["checked_at"] == lines[-1]["checked_at"]

        p.sichuan.stop()
        runs = tongban("monitor", "--data-dir", str(p.js_dir), "--every", "0.1", "--runs", "1")
        assert runs.returncode == 1 and "ALERT" in runs.stdout and "unreachable" in runs.stdout
        status = tongban("monitor", "status", "--data-dir", str(p.js_dir))
        assert status.returncode == 1 and "ALERT" in status.stdout


def test_the_servers_monitor_thread_keeps_runs_and_logs_no_personal_data(
    tmp_path: Path,
) -> None:
    env = {"TONGBAN_MONITOR_SECONDS": "0.3"}
    with two_provinces(tmp_path, env) as p, p.clerk(retries=0) as client:
        opened = p.receive(client)
        client.step(opened.case_id, "form_checked", CHECKED)
        admin = {"Authorization": f"Bearer {admin_token(p.sc_dir)}"}
        assert httpx.post(f"{p.sichuan.url}/audit/checkpoint", headers=admin).status_code == 200

        def proven() -> dict[str, Any] | None:
            answer = tongban("monitor", "status", "--json", "--data-dir", str(p.js_dir))
            run = json.loads(answer.stdout) if answer.stdout else None
            peers = run["peers"] if run else []
            return run if peers and peers[0]["proven"] == 2 else None

        run = wait_for(proven, "a run of the server's monitor proving both receipts")
        assert run["alert"] is False

        p.sichuan.stop()

        def alerted() -> dict[str, Any] | None:
            answer = tongban("monitor", "status", "--json", "--data-dir", str(p.js_dir))
            run = json.loads(answer.stdout)
            return run if answer.returncode == 1 and run["peers"][0]["unreachable"] else None

        wait_for(alerted, "a run of the server's monitor finding Sichuan unreachable")
        p.jiangsu.stop()
        log = p.jiangsu.log.read_text()
        assert "monitor: tongban/510000 unreachable" in log
        for personal in APPLICANT.values():
            assert personal not in log
