r"""The HTTP walkthrough (``docs/walkthroughs/http-case.md``) as a newcomer runs it: a proxy case
on the demo node, CLI only.

The command lines below are the ones this test runs (on a demo node of its own: ``--server`` is
its URL here, ``--demo`` its data directory); the doc shows them as they are (checked below)::

    T=.venv/bin/tongban
    echo "申请表" > form.txt
    W="--server http://127.0.0.1:8000 --demo var/demo --as 320105-zwfw-01"   # 南京建邺 window
    H="--server http://127.0.0.1:8000 --demo var/demo --as 510104-rs-01"     # 成都锦江 人社局
    P="--server http://127.0.0.1:8000 --demo var/demo --as 320105-zwfw-02"   # the window again
    CASE=$($T case receive $W --item 510000/2/23 --channel proxy \
        --home-body 510104-RS --jurisdiction 510104 \
        --applicant-name 张三 --applicant-id 11010519491231002X \
        --material 申请表=form.txt | jq -r .case_id)
    $T case check   $CASE $W                          # 形式审查 + 身份核验
    $T case mail    $CASE $W --leg window_to_home --tracking EMS1000000001CN
    $T case arrive  $CASE $H                          # Sichuan's county body
    $T case accept  $CASE $H                          # 受理
    $T case decide  $CASE $H --result approved --basis 社会保障卡管理办法
    $T case mail    $CASE $H --leg home_to_window --tracking EMS1000000002CN
    $T case arrive  $CASE $P
    $T case deliver $CASE $P --method at_window
    curl -s -H "Authorization: Bearer $(jq -r .auditor var/demo/demo-keys/tokens.json)" \
        http://127.0.0.1:8000/audit/cases/$CASE       # {"ok":true,"events":9,...}
    $T case show $CASE --data-dir var/demo           # state    delivered (closed)
    $T case accept  $CASE $H                          # exit 1: refused 422 illegal_step

Each signing command prints one JSON line (``case_id``, ``seq``, ``index``, ``created``, ``head``,
``receipt_time``); a refused one prints ``tongban: refused STATUS REASON`` on stderr, exit 1.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from api.cli import main
from tests.support.live import live_node
from tests.support.walkthrough import (
    HOME,
    PICKUP,
    STEPS_TO_PICKUP,
    WINDOW,
    assert_walkthrough_shows,
    receive_options,
)


def _tongban(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_readme_walkthrough_runs_a_proxy_case_to_delivery(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = tmp_path / "demo"
    code, _, err = _tongban(capsys, "demo", "--cases", "20", "--seed", "1", "--data-dir", str(demo))
    assert code == 0, err
    form = tmp_path / "form.txt"
    form.write_text("申请表\n", encoding="utf-8")

    # The demo builder honours TONGBAN_DATABASE_URL; the walkthrough's node is SQLite.
    with live_node(demo, {"TONGBAN_DATABASE_URL": ""}) as url:

        def as_officer(officer: str) -> list[str]:
            return ["--server", url, "--demo", str(demo), "--as", officer]

        code, out, err = _tongban(
            capsys,
            "case",
            "receive",
            *as_officer(WINDOW),
            *receive_options(form),
        )
        assert code == 0, err
        received = json.loads(out)
        case = received["case_id"]
        uuid.UUID(case)
        assert received["seq"] == 1 and received["created"] is True

        steps = [*STEPS_TO_PICKUP, ("deliver", PICKUP, ["--method", "at_window"])]
        indexes = [received["index"]]
        for seq, (command, officer, options) in enumerate(steps, start=2):
            code, out, err = _tongban(capsys, "case", command, case, *as_officer(officer), *options)
            assert code == 0, f"{command}: {err}"
            answer = json.loads(out)
            assert (answer["case_id"], answer["seq"], answer["created"]) == (case, seq, True)
            indexes.append(answer["index"])
        assert indexes == sorted(indexes)

        tokens = json.loads((demo / "demo-keys" / "tokens.json").read_text(encoding="utf-8"))
        report = httpx.get(
            f"{url}/audit/cases/{case}",
            headers={"Authorization": f"Bearer {tokens['auditor']}"},
            timeout=30,
        )
        assert report.status_code == 200, report.text
        assert report.json() == {"ok": True, "events": 9, "cases": 1, "findings": []}

        code, out, err = _tongban(capsys, "case", "show", case, "--data-dir", str(demo))
        assert code == 0, err
        assert "state    delivered" in out
        assert "9 steps; every step verifies" in out

        # A step the workflow does not allow now: refused by the node, nothing appended.
        code, out, err = _tongban(capsys, "case", "accept", case, *as_officer(HOME))
        assert code == 1
        assert out == ""
        assert err.startswith("tongban: refused 422 illegal_step"), err
        again = httpx.get(
            f"{url}/audit/cases/{case}",
            headers={"Authorization": f"Bearer {tokens['auditor']}"},
            timeout=30,
        )
        assert again.json()["events"] == 9


def test_the_doc_shows_exactly_these_commands() -> None:
    assert_walkthrough_shows("http-case.md", __doc__)
