"""``tongban readmodels status|rebuild`` and ``tongban case list`` over the read models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from ledger.workflow import CaseWorkflow
from tests.support.world import iter_online_cases, make_world


def _listed(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    assert main(["case", "list", "--data-dir", str(data_dir), "--json"]) == 0
    listed: list[dict[str, str]] = json.loads(capsys.readouterr().out)
    return listed


def _status(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, int]]:
    assert main(["readmodels", "status", "--data-dir", str(data_dir), "--json"]) == 0
    return {row.pop("projection"): row for row in json.loads(capsys.readouterr().out)}


def test_case_list_catches_up_and_status_and_rebuild_say_where_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world = make_world(tmp_path, workflow=CaseWorkflow())
    try:
        first = list(iter_online_cases(world, 3))
        head = world.app.store.max_index()
        capsys.readouterr()
        assert _status(tmp_path, capsys) == {
            "case_summaries": {"position": 0, "head": head, "behind": head}
        }
        listed = _listed(tmp_path, capsys)
        assert [c["case_id"] for c in listed] == [str(c) for c in first]
        assert {c["state"] for c in listed} == {"delivered"}
        assert _status(tmp_path, capsys)["case_summaries"]["behind"] == 0
        # Cases appended since (by the node): the next reader catches up before answering.
        more = list(iter_online_cases(world, 2))
        head = world.app.store.max_index()
        assert _status(tmp_path, capsys)["case_summaries"]["behind"] == 20
        listed = _listed(tmp_path, capsys)
        assert [c["case_id"] for c in listed] == [str(c) for c in first + more]
        assert main(["readmodels", "rebuild", "--data-dir", str(tmp_path), "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == {
            "rebuilt": ["case_summaries"],
            "position": head,
        }
        assert _listed(tmp_path, capsys) == listed
        assert main(["readmodels", "status", "--data-dir", str(tmp_path)]) == 0
        assert f"case_summaries   at index {head} of {head} (0 behind)" in capsys.readouterr().out
    finally:
        world.app.close()


def test_readmodels_usage_errors_exit_64(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["readmodels"]) == 64
    assert main(["readmodels", "shuffle", "--data-dir", str(tmp_path)]) == 64
    capsys.readouterr()
    assert main(["readmodels", "status", "--data-dir", str(tmp_path / "none")]) == 64
    assert f"no ledger at {tmp_path / 'none' / 'ledger.sqlite3'}" in capsys.readouterr().err
