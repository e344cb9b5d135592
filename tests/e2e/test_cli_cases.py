"""``tongban case show`` and ``tongban report bodies`` on a data directory built by make_world."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from api.cli import main
from ledger.workflow import SignedCoreOnly
from tests.unit.test_reports import HOME, PROXY_TABLE_STEPS, WINDOW, make_report_world, proxy_case


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, uuid.UUID, uuid.UUID]:
    """A node with a finished proxy case across regions and an online case."""
    data_dir = tmp_path_factory.mktemp("node")
    world = make_report_world(data_dir)
    proxy = proxy_case(world)
    online = world.online_case()
    world.app.close()
    return data_dir, proxy, online


def test_case_show_prints_a_readable_timeline(
    node: tuple[Path, uuid.UUID, uuid.UUID], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, proxy, _ = node
    assert main(["case", "show", str(proxy), "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "510000/2/23 社会保障卡补领、换领、换发" in out
    assert "channel  proxy, single" in out
    assert "state    delivered (closed)" in out
    assert "window   南京市建邺区政务服务中心 (320105-ZWFW)" in out
    step_lines = [line for line in out.splitlines() if re.match(r"\d+ +\d{4}-", line)]
    assert len(step_lines) == 9
    assert step_lines[0].split()[:3] == ["1", "2026-01-01", "01:00:00"]
    assert "01-01 09:00" in step_lines[0]  # Beijing time beside UTC
    assert "+2d00h" in step_lines[3] and "arrived" in step_lines[3]
    assert "成都市锦江区人力资源和社会保障局 (510104-RS)" in step_lines[3]
    assert all(line.split()[-1] == "valid" for line in step_lines)
    assert "9 steps; every step verifies" in out


def test_case_show_json(
    node: tuple[Path, uuid.UUID, uuid.UUID], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, proxy, _ = node
    assert main(["case", "show", str(proxy), "--data-dir", str(data_dir), "--json"]) == 0
    timeline = json.loads(capsys.readouterr().out)
    assert timeline["case_id"] == str(proxy)
    assert timeline["window_body"] == {"id": WINDOW, "name": "南京市建邺区政务服务中心"}
    assert [s["step"] for s in timeline["steps"]] == PROXY_TABLE_STEPS
    assert timeline["steps"][1]["since_previous"] == 1_200.0
    assert timeline["valid"] is True


def test_an_unknown_case_exits_1_and_a_malformed_id_64(
    node: tuple[Path, uuid.UUID, uuid.UUID], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, _, _ = node
    missing = uuid.uuid4()
    assert main(["case", "show", str(missing), "--data-dir", str(data_dir)]) == 1
    assert f"no case {missing} in this ledger" in capsys.readouterr().err
    assert main(["case", "show", "not-a-case", "--data-dir", str(data_dir)]) == 64
    assert "not a case id" in capsys.readouterr().err


def test_reading_a_missing_node_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = tmp_path / "nowhere"
    assert main(["case", "show", str(uuid.uuid4()), "--data-dir", str(nowhere)]) == 64
    assert main(["report", "bodies", "--data-dir", str(nowhere)]) == 64
    assert "no ledger at" in capsys.readouterr().err
    assert not nowhere.exists()


def test_reading_never_creates_the_node_key(
    node: tuple[Path, uuid.UUID, uuid.UUID], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, proxy, _ = node
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("ledger.sqlite3", "trust.json"):
        (copy / name).write_bytes((data_dir / name).read_bytes())
    assert main(["case", "show", str(proxy), "--data-dir", str(copy)]) == 0
    assert main(["report", "bodies", "--data-dir", str(copy)]) == 0
    capsys.readouterr()
    assert not (copy / "node.key").exists()


def test_report_bodies(
    node: tuple[Path, uuid.UUID, uuid.UUID], capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, _, _ = node
    assert main(["report", "bodies", "--data-dir", str(data_dir), "--json"]) == 0
    report = {a["body"]["id"]: a for a in json.loads(capsys.readouterr().out)}
    assert list(report) == [WINDOW, HOME]
    assert report[WINDOW]["steps_total"] == 5
    assert report[WINDOW]["holding_seconds"] == 1_200 + 1_800 + 86_400
    assert report[HOME]["steps_total"] == 4 + 10
    assert report[HOME]["cases_held"] == 2
    assert report[HOME]["open_cases"] == []

    assert main(["report", "bodies", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    window_line = next(line for line in out.splitlines() if line.startswith(WINDOW + " "))
    assert window_line.split()[2:] == ["5", "1", "1d00h", "0"]
    assert f"{WINDOW}: arrived 1, delivered:at_window 1" in out


def test_tokens_name_principals_the_node_knows(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from tests.support.world import make_world

    world = make_world(tmp_path, workflow=SignedCoreOnly())
    world.app.close()
    assert main(["token", "create", "--data-dir", str(tmp_path), "--body", "999999-NOPE"]) == 64
    assert "no body '999999-NOPE'" in capsys.readouterr().err
    assert main(["token", "create", "--data-dir", str(tmp_path), "--peer", "440000"]) == 64
    assert main(["token", "create", "--data-dir", str(tmp_path), "--body", "510104-RS"]) == 0
    assert '"kind": "body"' in capsys.readouterr().out
