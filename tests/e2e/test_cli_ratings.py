"""``tongban case rate`` (the applicant's code, posted to a node) and ``tongban supervise
ratings | bulletin`` on the node's data directory."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.cli import main
from ledger.envelope import ZERO_HASH
from ledger.ratings.code import code_commitment
from tests.support.api_node import ApiNode, api_node

CODE = "7K3M-9QXW-2RTB-H4ZD"
MONTH = datetime.now(UTC).astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m")


def delivered(node: ApiNode) -> uuid.UUID:
    case_id = uuid.uuid4()
    body = node.world.received_body("510000/1/5", "online")
    body["applicant"] = node.stored_applicant("home")
    body["rating_code"] = code_commitment(case_id, CODE)
    raw = node.envelope("510104-RS", case_id, 1, ZERO_HASH, "received", body)
    assert node.post("/cases", "home", raw).status_code == 201
    for step, content in (
        ("form_checked", {"result": "pass", "reasons": [], "identity_verified": True}),
        ("accepted", {"note": ""}),
        ("decided", {"result": "approved", "reasons": [], "basis": "失业保险条例"}),
        ("delivered", {"method": "online", "results": []}),
    ):
        assert node.step(case_id, "510104-RS", step, content).status_code == 201
    return case_id


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    with api_node(tmp_path_factory.mktemp("ratings")) as node:
        yield node


@pytest.fixture
def through_node(node: ApiNode, monkeypatch: pytest.MonkeyPatch) -> None:
    """``case rate --code`` posts with httpx: answer it from the node served in process."""

    def post(url: str, json: Any) -> httpx.Response:
        answer: httpx.Response = node.client.post(httpx.URL(url).path, json=json)
        return answer

    monkeypatch.setattr(httpx, "post", post)


def rate(case_id: uuid.UUID, code: str, level: str, *more: str) -> int:
    args = ["case", "rate", str(case_id), "--code", code, "--level", level]
    return main([*args, "--server", "http://n", *more])


@pytest.mark.usefixtures("through_node")
def test_rate_with_the_code_then_supervise(
    node: ApiNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, poor = delivered(node), delivered(node)
    assert rate(good, CODE.lower(), "very_satisfied") == 0
    assert json.loads(capsys.readouterr().out)["seq"] == 6
    assert rate(poor, "AAAA-AAAA-AAAA-AAAA", "dissatisfied") == 1
    assert "refused 403 bad_rating_code (field code)" in capsys.readouterr().err
    assert (
        rate(poor, CODE, "very_dissatisfied", "--comment", "等候时间长", "--channel", "code") == 0
    )
    assert rate(poor, CODE, "satisfied") == 1
    assert "already rated" in capsys.readouterr().err
    verified = {"result": "upheld", "finding": "窗口人手不足"}
    assert node.step(poor, "510104-RS", "rectification_verified", verified).status_code == 201

    data_dir = str(node.world.settings.data_dir) if node.world.settings else ""
    assert main(["supervise", "ratings", "--data-dir", data_dir, "--json"]) == 0
    [body] = json.loads(capsys.readouterr().out)["bodies"]
    assert body["body"] == "510104-RS" and body["ratings"] == 2
    assert body["distribution"]["very_dissatisfied"] == 1
    assert (body["rectifications_open"], body["rectifications_late"]) == (1, 0)

    page = tmp_path / "bulletin.html"
    args = ["supervise", "bulletin", "--month", MONTH, "--data-dir", data_dir]
    assert main([*args, "--csv", "--html", str(page)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    [row] = [r for r in rows if r["item"] == "510000/1/5"]
    assert (row["ratings"], row["very_satisfied"], row["very_dissatisfied"]) == ("2", "1", "1")
    assert (row["rectifications_opened"], row["rectifications_open"]) == ("1", "1")
    # Both cases ran every leg (check, acceptance, decision, delivery) within the day.
    assert (row["legs_closed"], row["on_time_rate"], row["overdue"]) == ("8", "1.0000", "0")
    assert row["median_handling_days"] == "0"
    html = page.read_text(encoding="utf-8")
    assert "定期通报" in html and "510104-RS" in html and "按时办结率" in html
    assert "<td>1.0000</td>" in html
    # Fits a 1280-px screen (looked at in Chromium): the column names wrap after underscores,
    # and a narrower screen scrolls the table in its own box, not the page.
    assert "cases_<wbr>received" in html and '<div class="table"><table>' in html
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"bulletin {MONTH}" in out and "note: time limits: legs as the ledger stood" in out


@pytest.mark.parametrize(
    "args",
    [
        ["supervise", "bulletin", "--month", "2026-13"],
        ["supervise", "bulletin", "--month", "november"],
        ["supervise", "ratings", "--as-of", "yesterday"],
    ],
)
def test_bad_values_exit_64(node: ApiNode, args: list[str]) -> None:
    data_dir = str(node.world.settings.data_dir) if node.world.settings else ""
    assert main([*args, "--data-dir", data_dir]) == 64


def test_rate_usage_errors_exit_64(capsys: pytest.CaptureFixture[str]) -> None:
    case = str(uuid.uuid4())
    assert main(["case", "rate", case, "--level", "good"]) == 64
    assert (
        main(["case", "rate", case, "--level", "satisfied", "--code", CODE, "--channel", "window"])
        == 64
    )
    assert "with --code the channel is online or code" in capsys.readouterr().err
    assert main(["case", "rate", "not-a-case", "--level", "satisfied", "--code", CODE]) == 64
