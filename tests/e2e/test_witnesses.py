"""Two live nodes witness each other (C2SP tlog-witness); a tampered log is caught; bundles.

Sichuan (510000) and Jiangsu (320000) each run on their own data directory; each trusts the
other's node key as a witnessed log. Jiangsu cosigns Sichuan's checkpoints while they grow.
Then copies of Sichuan's database are tampered with as an insider holding every key would:
(a) the newest events deleted, (b) an event rewritten under the same tree size, (c) an older
event rewritten and the log grown. Jiangsu refuses each and keeps evidence that anyone can
re-check with Sichuan's node key alone. Finally a case's offline bundle verifies in a fresh
process with no database and no network.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest

from adapters.bootstrap import open_ledger
from adapters.keyfiles import read_key, write_trusted_roots
from adapters.settings import Settings
from api.cli import main
from ledger.admin import RegistryClerk
from ledger.envelope import parse_event
from ledger.notes import Witness, parse_checkpoint, parse_note, verified_cosigners
from ledger.receipts import make_receipt, parse_receipt
from ledger.witness import check_evidence
from ledger.workflow import SignedCoreOnly
from tests.support.live import live_node
from tests.support.world import JIANGSU, START, Clock, World, make_world, seeded

ROOT = Path(__file__).resolve().parents[2]
SC_LOG, JS_LOG = "tongban/510000", "tongban/320000"
SC_WITNESS, JS_WITNESS = "tongban/510000/witness", "tongban/320000/witness"


def jiangsu_node(data_dir: Path) -> None:
    """Jiangsu's node: its root and node key (``make_world`` registers Sichuan's bodies)."""
    root = seeded(f"root/{JIANGSU}")
    write_trusted_roots(data_dir / "trust.json", {JIANGSU: root.public_key})
    app = open_ledger(Settings(data_dir=data_dir, region=JIANGSU), clock=Clock())
    clerk = RegistryClerk(app, JIANGSU)
    clerk.establish_root(root, valid_from=START)
    assert app.node_signer is not None
    clerk.certify_node(root, app.node_signer.public_key, "node-1", valid_from=START)
    app.close()


def node_key(data_dir: Path) -> bytes:
    return read_key(data_dir / "node.key").public_key


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def push(capsys: pytest.CaptureFixture[str], data_dir: Path, *extra: str) -> tuple[int, Any]:
    code, out = cli(capsys, "witness", "push", "--data-dir", str(data_dir), *extra)
    return code, json.loads(out)


def copy_node(source: Path, target: Path) -> Path:
    """A consistent copy of a node's data directory (SQLite's backup API: safe while served)."""
    target.mkdir()
    for name in ("trust.json", "node.key", "transparency.json"):
        (target / name).write_bytes((source / name).read_bytes())
    src = sqlite3.connect(source / "ledger.sqlite3")
    dst = sqlite3.connect(target / "ledger.sqlite3")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    return target


def forget_tree(db: sqlite3.Connection) -> None:
    """What an insider does to get a fresh checkpoint over rewritten rows: drop the tree."""
    db.execute("UPDATE stored_tree SET size = 0, frontier = x'' WHERE id = 1")
    db.execute("DELETE FROM stored_subtrees")
    db.execute("DELETE FROM stored_checkpoints")


def rewrite_newest_step(data_dir: Path, world: World, case_id: uuid.UUID) -> None:
    """Rewrite a case's newest step: re-signed by its officer, new hash, re-signed receipt."""
    node = read_key(data_dir / "node.key")
    with sqlite3.connect(data_dir / "ledger.sqlite3") as db:
        seq, state_bytes = db.execute(
            "SELECT originator_version, state FROM stored_events WHERE originator_id = ? "
            "ORDER BY originator_version DESC LIMIT 1",
            (case_id.hex,),
        ).fetchone()
        state = msgpack.unpackb(state_bytes, raw=False)
        old = parse_event(state["envelope"])
        officer = world.officers[old.officer_id]
        forged = world.event(officer, case_id, seq, old.prev, "noted", {"rewritten": True})
        state["envelope"] = forged
        db.execute(
            "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
            (msgpack.packb(state, use_bin_type=True), case_id.hex, seq),
        )
        (receipt_bytes,) = db.execute(
            "SELECT receipt FROM stored_ledger WHERE originator_id = ? AND originator_version = ?",
            (case_id.hex, seq),
        ).fetchone()
        receipt = parse_receipt(receipt_bytes)
        forged_hash = parse_event(forged).hash
        reissued = make_receipt(
            node,
            ledger=receipt.ledger,
            index=receipt.index,
            event_hash=forged_hash,
            stream_id=receipt.stream_id,
            seq=receipt.seq,
            time=receipt.time,
        )
        db.execute(
            "UPDATE stored_ledger SET event_hash = ?, receipt = ? "
            "WHERE originator_id = ? AND originator_version = ?",
            (forged_hash, reissued, case_id.hex, seq),
        )
        forget_tree(db)


def test_jiangsu_witnesses_sichuan_and_catches_a_tampered_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sc_dir, js_dir = tmp_path / "sichuan", tmp_path / "jiangsu"
    sichuan = make_world(sc_dir, workflow=SignedCoreOnly())
    case_id, _ = sichuan.append_case(sichuan.officers["rs-001"], 4)
    other_case, _ = sichuan.append_case(sichuan.officers["zw-001"], 3)
    jiangsu_node(js_dir)
    sc_key, js_key = node_key(sc_dir), node_key(js_dir)

    # Each witnesses the other's log under that node's key, from its current checkpoint
    # (pinned: no trust on first use).
    pins = {}
    for name, data_dir, region in (("sc", sc_dir, "510000"), ("js", js_dir, JIANGSU)):
        code, note = cli(
            capsys, "audit", "checkpoint", "--data-dir", str(data_dir), "--region", region
        )
        assert code == 0
        pins[name] = tmp_path / f"{name}.checkpoint"
        pins[name].write_text(note)
    assert (
        cli(
            capsys,
            "witness",
            "add-log",
            "--data-dir",
            str(js_dir),
            "--region",
            JIANGSU,
            "--origin",
            SC_LOG,
            "--public-key",
            sc_key.hex(),
            "--checkpoint",
            str(pins["sc"]),
        )[0]
        == 0
    )
    assert (
        cli(
            capsys,
            "witness",
            "add-log",
            "--data-dir",
            str(sc_dir),
            "--origin",
            JS_LOG,
            "--public-key",
            js_key.hex(),
            "--checkpoint",
            str(pins["js"]),
        )[0]
        == 0
    )

    with (
        live_node(sc_dir) as sc_url,
        live_node(js_dir, {"TONGBAN_REGION": JIANGSU}) as js_url,
    ):
        assert (
            cli(
                capsys,
                "witness",
                "add-witness",
                "--data-dir",
                str(sc_dir),
                "--name",
                JS_WITNESS,
                "--url",
                f"{js_url}/witness",
                "--public-key",
                js_key.hex(),
            )[0]
            == 0
        )
        assert (
            cli(
                capsys,
                "witness",
                "add-witness",
                "--data-dir",
                str(js_dir),
                "--region",
                JIANGSU,
                "--name",
                SC_WITNESS,
                "--url",
                f"{sc_url}/witness",
                "--public-key",
                sc_key.hex(),
            )[0]
            == 0
        )

        # -- honest pushes: cosigned, and the cosignatures verify ---------------------------
        code, first = push(capsys, sc_dir)
        assert code == 0, first
        assert first["witnesses"] == [{"witness": JS_WITNESS, "outcome": "cosigned", "status": 200}]
        sichuan.append_case(sichuan.officers["rs-001"], 2)
        code, second = push(capsys, sc_dir)  # learns size from a 409, then proves consistency
        assert code == 0, second
        honest_size = second["checkpoint_size"]
        assert honest_size == sichuan.app.store.max_index() > first["checkpoint_size"]
        published = parse_note(httpx.get(f"{sc_url}/audit/checkpoint").text)
        assert parse_checkpoint(published.text).size == honest_size
        assert verified_cosigners(published, [Witness(JS_WITNESS, js_key)])[0][0] == JS_WITNESS
        # ...and the other way round: Sichuan witnesses Jiangsu.
        code, mutual = push(capsys, js_dir, "--region", JIANGSU)
        assert code == 0 and mutual["witnesses"][0]["outcome"] == "cosigned", mutual

        # -- an offline bundle, verified in a fresh process --------------------------------
        bundle_file = tmp_path / "case.bundle.json"
        code, _ = cli(
            capsys,
            "audit",
            "bundle",
            "--case",
            str(case_id),
            "--out",
            str(bundle_file),
            "--data-dir",
            str(sc_dir),
        )
        assert code == 0
        verify_args = [
            "--root",
            f"510000={sichuan.root.public_key.hex()}",
            "--min-witnesses",
            "1",
            "--witness",
            f"{JS_WITNESS}={js_key.hex()}",
        ]
        fresh = verify_bundle_in_fresh_process(bundle_file, verify_args)
        assert fresh.returncode == 0, fresh.stdout + fresh.stderr
        assert fresh.stdout.startswith(f"valid: case {case_id}")
        assert f"cosigned by {JS_WITNESS}; 1 of 1 witnesses required" in fresh.stdout
        # By default a majority of the witnesses given (here 1 of 1); none only if asked.
        default = verify_bundle_in_fresh_process(bundle_file, [*verify_args[:2], *verify_args[4:]])
        assert default.returncode == 0 and "1 of 1 witnesses required" in default.stdout
        unwitnessed = verify_bundle_in_fresh_process(bundle_file, verify_args[:2])
        assert unwitnessed.returncode == 64 and "--min-witnesses 0" in unwitnessed.stderr
        asked = verify_bundle_in_fresh_process(
            bundle_file, [*verify_args[:2], "--min-witnesses", "0"]
        )
        assert asked.returncode == 0 and "NO witness required" in asked.stdout
        stranger = [*verify_args[:-1], f"{JS_WITNESS}={seeded('stranger').public_key.hex()}"]
        refused = verify_bundle_in_fresh_process(bundle_file, stranger)
        assert refused.returncode == 1 and "too_few_cosignatures" in refused.stdout
        bundle = json.loads(bundle_file.read_text())
        bundle["events"][0]["proof"] = bundle["events"][1]["proof"]
        (tmp_path / "broken.json").write_text(json.dumps(bundle))
        broken = verify_bundle_in_fresh_process(tmp_path / "broken.json", verify_args)
        assert broken.returncode == 1 and "bad_inclusion_proof" in broken.stdout

        # -- (a) truncation: the newest events deleted, a new (smaller) checkpoint ----------
        truncated = copy_node(sc_dir, tmp_path / "truncated")
        with sqlite3.connect(truncated / "ledger.sqlite3") as db:
            doomed = db.execute(
                "SELECT originator_id, originator_version FROM stored_ledger "
                "WHERE ledger_index > ?",
                (honest_size - 2,),
            ).fetchall()
            for stream, seq in doomed:
                db.execute(
                    "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?",
                    (stream, seq),
                )
            db.execute("DELETE FROM stored_ledger WHERE ledger_index > ?", (honest_size - 2,))
            forget_tree(db)
        code, answer = push(capsys, truncated)
        assert code == 1
        assert answer["checkpoint_size"] == honest_size - 2
        assert answer["witnesses"][0]["outcome"] == "refused"
        # 409 text/x.tlog.size: the witness cosigned a larger tree; the log cannot go on from it.
        assert answer["witnesses"][0]["status"] == 409
        assert answer["witnesses"][0]["detail"] == str(honest_size)

        # -- (b) a fork of the same size: one step rewritten, the checkpoint re-issued ------
        forked = copy_node(sc_dir, tmp_path / "forked")
        rewrite_newest_step(forked, sichuan, other_case)
        code, answer = push(capsys, forked)
        assert code == 1 and answer["checkpoint_size"] == honest_size
        assert answer["witnesses"][0]["status"] == 409
        assert "fork_same_size" in answer["witnesses"][0]["detail"]

        # -- (c) an older step rewritten, then the log grows ------------------------------
        rewritten = copy_node(sc_dir, tmp_path / "rewritten")
        rewrite_newest_step(rewritten, sichuan, other_case)
        grown = open_ledger(
            Settings(data_dir=rewritten), clock=sichuan.clock, workflow=SignedCoreOnly()
        )
        impostor = World(
            grown, sichuan.clock, sichuan.region, sichuan.root, RegistryClerk(grown, "510000")
        )
        impostor.officers = sichuan.officers
        impostor.append_case(sichuan.officers["rs-001"], 3)
        grown.close()
        code, answer = push(capsys, rewritten)
        assert code == 1 and answer["checkpoint_size"] == honest_size + 3
        # Refused; the failed proof is not kept (anyone could send junk hashes).
        assert answer["witnesses"][0]["status"] == 422
        assert "evidence" not in answer["witnesses"][0]["detail"]

        # -- Jiangsu kept the evidence; anyone re-checks it with Sichuan's key alone --------
        token_code, token_out = cli(
            capsys, "token", "create", "--data-dir", str(js_dir), "--auditor", "auditor-1"
        )
        assert token_code == 0
        headers = {"Authorization": f"Bearer {json.loads(token_out)['token']}"}
        listed = httpx.get(f"{js_url}/witness/evidence", headers=headers).json()["evidence"]
        # A smaller checkpoint (a) is refused but proves nothing by itself: an old signed
        # checkpoint can be replayed by anyone, and a failed proof (c) shows nothing about the
        # log either. Two roots of one size (b) are evidence.
        assert [e["kind"] for e in listed] == ["fork_same_size"]
        verdicts = {}
        for found in listed:
            document = httpx.get(
                f"{js_url}/witness/evidence/{found['evidence_id']}", headers=headers
            ).json()
            assert document["origin"] == SC_LOG and document["witness"] == JS_WITNESS
            verdicts[found["kind"]] = check_evidence(document, sc_key)
        assert verdicts["fork_same_size"].startswith("fork:")

        # The honest log is still what Jiangsu vouches for.
        code, again = push(capsys, sc_dir)
        assert code == 0 and again["checkpoint_size"] == honest_size
    sichuan.app.close()


def verify_bundle_in_fresh_process(path: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "audit", "verify-bundle", str(path), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
