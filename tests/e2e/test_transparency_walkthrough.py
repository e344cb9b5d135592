r"""The transparency walkthrough (``docs/walkthroughs/witnesses.md``): two local nodes witness each
other, then the newest event of Sichuan's ledger is cut off and both the audit and Jiangsu's
witness report it. The commands (the test's nodes serve on ports of their own choosing; the doc
shows them as they are, checked below)::

    T=.venv/bin/tongban
    $T demo --cases 20 --seed 1 --data-dir var/witness-sc              # Sichuan (a demo node)
    $T keys generate var/keys/js-root.key
    $T init --data-dir var/witness-js --region 320000 \
        --root-key var/keys/js-root.key                            # Jiangsu (empty)
    SC=$($T witness show --data-dir var/witness-sc | jq -r .node_public_key)
    JS=$($T witness show --data-dir var/witness-js | jq -r .node_public_key)
    $T audit checkpoint --data-dir var/witness-sc > sc.checkpoint  # each log's checkpoint, to pin
    $T audit checkpoint --data-dir var/witness-js > js.checkpoint
    $T witness add-log --data-dir var/witness-js --origin tongban/510000 --public-key $SC \
        --checkpoint sc.checkpoint
    $T witness add-log --data-dir var/witness-sc --origin tongban/320000 --public-key $JS \
        --checkpoint js.checkpoint
    $T witness add-witness --data-dir var/witness-sc --name tongban/320000/witness \
        --url http://127.0.0.1:8001/witness --public-key $JS
    $T witness add-witness --data-dir var/witness-js --name tongban/510000/witness \
        --url http://127.0.0.1:8000/witness --public-key $SC
    $T serve --data-dir var/witness-sc --port 8000 &
    $T serve --data-dir var/witness-js --port 8001 &
    $T audit checkpoint --data-dir var/witness-sc && $T witness push --data-dir var/witness-sc
    $T audit checkpoint --data-dir var/witness-js && $T witness push --data-dir var/witness-js
    curl -s http://127.0.0.1:8000/audit/checkpoint        # signed by Sichuan, cosigned by Jiangsu
    ID=$($T case list --data-dir var/witness-sc --state delivered | head -1 | cut -d' ' -f1)
    $T audit bundle --case $ID --out case.json --data-dir var/witness-sc
    $T audit verify-bundle case.json --data-dir var/witness-sc  # a majority of witnesses: 1 of 1
    python3 tools/cut_newest_event.py var/witness-sc       # an insider deletes its rows
    $T audit verify --data-dir var/witness-sc              # exit 1: missing_from_tree
    $T audit checkpoint --data-dir var/witness-sc          # exit 1: refused, rollback
    $T audit checkpoint --data-dir var/witness-sc --accept-rollback N  # the operator's override
    $T witness push --data-dir var/witness-sc
        # exit 1: Jiangsu refuses, it cosigned a larger tree of this log
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from adapters.checkpoint_state import LAST_CHECKPOINT_FILE
from api.cli import main
from ledger.notes import Witness, parse_checkpoint, parse_note, verified_cosigners
from tests.support.live import live_node
from tests.support.walkthrough import assert_walkthrough_shows
from tools.cut_newest_event import cut_newest_event


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    out = capsys.readouterr().out
    value: dict[str, object] = json.loads(out[out.index("{") :])
    return value


def _json_size(node: Path) -> str:
    """The size of the checkpoint the node kept as its last signed one."""
    text = (node / LAST_CHECKPOINT_FILE).read_text()
    return str(parse_checkpoint(parse_note(text).text).size)


@dataclass
class Pair:
    sc: Path
    js: Path
    sc_key: str
    js_key: str


def _two_nodes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Pair:
    """Sichuan (a demo node) and Jiangsu (empty), each a witness of the other's log (their
    witness URLs are added once they serve, on ports of their own choosing)."""
    sc, js = tmp_path / "sc", tmp_path / "js"
    assert main(["demo", "--cases", "20", "--seed", "1", "--data-dir", str(sc)]) == 0
    root = tmp_path / "js-root.key"
    assert main(["keys", "generate", str(root)]) == 0
    assert main(["init", "--data-dir", str(js), "--region", "320000", "--root-key", str(root)]) == 0
    capsys.readouterr()
    assert main(["witness", "show", "--data-dir", str(sc)]) == 0
    sc_key = str(_json(capsys)["node_public_key"])
    assert main(["witness", "show", "--data-dir", str(js)]) == 0
    js_key = str(_json(capsys)["node_public_key"])
    pins = {}
    for node in (sc, js):
        assert main(["audit", "checkpoint", "--data-dir", str(node)]) == 0
        pins[node] = tmp_path / f"{node.name}.checkpoint"
        pins[node].write_text(capsys.readouterr().out)
    for node, origin, key, log in (
        (js, "tongban/510000", sc_key, sc),
        (sc, "tongban/320000", js_key, js),
    ):
        argv = ["witness", "add-log", "--data-dir", str(node), "--origin", origin]
        assert main([*argv, "--public-key", key, "--checkpoint", str(pins[log])]) == 0
    capsys.readouterr()
    return Pair(sc, js, sc_key, js_key)


def _add_witnesses(
    pair: Pair, sc_url: str, js_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each serving node pushes to the other (the config is read at each push)."""
    for node, name, url, key in (
        (pair.sc, "tongban/320000/witness", js_url, pair.js_key),
        (pair.js, "tongban/510000/witness", sc_url, pair.sc_key),
    ):
        argv = ["witness", "add-witness", "--data-dir", str(node), "--name", name]
        assert main([*argv, "--url", f"{url}/witness", "--public-key", key]) == 0
    capsys.readouterr()


def test_two_nodes_witness_each_other_and_catch_a_cut_off_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = _two_nodes(tmp_path, capsys)
    sc, js = pair.sc, pair.js
    # Background pushes stay off (live_node's default): this test asserts each push's outcome.
    with live_node(sc) as sc_url, live_node(js) as js_url:
        _add_witnesses(pair, sc_url, js_url, capsys)
        for node in (sc, js):
            assert main(["audit", "checkpoint", "--data-dir", str(node)]) == 0
            assert main(["witness", "push", "--data-dir", str(node)]) == 0
        capsys.readouterr()
        assert main(["audit", "verify", "--data-dir", str(sc), "--json"]) == 0
        capsys.readouterr()
        argv = ["case", "list", "--data-dir", str(sc), "--state", "delivered", "--json"]
        assert main(argv) == 0
        case_id = json.loads(capsys.readouterr().out)[0]["case_id"]
        bundle = str(tmp_path / "case.json")
        argv = ["audit", "bundle", "--case", case_id, "--out", bundle, "--data-dir", str(sc)]
        assert main(argv) == 0
        argv = ["audit", "verify-bundle", bundle, "--data-dir", str(sc)]
        assert main(argv) == 0
        capsys.readouterr()

        cut_newest_event(sc)

        assert main(["audit", "verify", "--data-dir", str(sc), "--json"]) == 1
        reasons = {f["reason"] for f in json.loads(capsys.readouterr().out)["findings"]}
        assert "missing_from_tree" in reasons

        # The node never signs a tree that does not extend what it signed (issue 13).
        answer_size = _json_size(sc)
        signed = int(answer_size)
        assert main(["audit", "checkpoint", "--data-dir", str(sc)]) == 1
        assert "refused: rollback" in capsys.readouterr().err
        assert main(["witness", "push", "--data-dir", str(sc)]) == 1
        assert "refused: rollback" in capsys.readouterr().err
        # Only the operator's explicit override signs it; Jiangsu still refuses.
        argv = ["audit", "checkpoint", "--data-dir", str(sc), "--accept-rollback", answer_size]
        assert main(argv) == 0
        assert "ROLLBACK ACCEPTED" in capsys.readouterr().err
        assert main(["witness", "push", "--data-dir", str(sc)]) == 1
        answer = _json(capsys)
        assert int(answer["checkpoint_size"]) == signed - 1  # type: ignore[call-overload]
        refusal = answer["witnesses"][0]  # type: ignore[index]
        # 409 text/x.tlog.size: "I cosigned a larger tree of this log" (and the pusher cannot
        # prove a smaller tree extends it).
        assert refusal["outcome"] == "refused" and refusal["status"] == 409
        assert int(refusal["detail"]) > int(answer["checkpoint_size"])  # type: ignore[call-overload]


def test_the_serving_node_pushes_new_checkpoints_to_its_witness_by_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = _two_nodes(tmp_path, capsys)
    fast = {"TONGBAN_WITNESS_PUSH_SECONDS": "0.5"}  # opted in: this test is about them
    with live_node(pair.sc, fast) as sc_url, live_node(pair.js) as js_url:
        _add_witnesses(pair, sc_url, js_url, capsys)
        deadline = time.monotonic() + 60
        while True:
            text = httpx.get(f"{sc_url}/audit/checkpoint").text
            note = parse_note(text)
            witness = Witness("tongban/320000/witness", bytes.fromhex(pair.js_key))
            if verified_cosigners(note, [witness]):
                break
            assert time.monotonic() < deadline, "no cosignature arrived"
            time.sleep(0.1)
        size = parse_checkpoint(note.text).size
        with sqlite3.connect(pair.sc / "ledger.sqlite3") as db:
            (stored,) = db.execute("SELECT MAX(ledger_index) FROM stored_ledger").fetchone()
        assert size == stored


def test_the_doc_shows_exactly_these_commands() -> None:
    assert_walkthrough_shows("witnesses.md", __doc__)
