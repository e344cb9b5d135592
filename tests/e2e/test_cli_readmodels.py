"""``tongban readmodels status|rebuild`` and ``tongban case list`` over the read models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.calendar_seed import seed_year
from adapters.readmodels import READ_MODEL_FILE, memory_read_models
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
            "case_summaries": {"position": 0, "head": head, "behind": head},
            "case_deadlines": {"position": 0, "head": head, "behind": head},
            "case_ratings": {"position": 0, "head": head, "behind": head},
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
            "rebuilt": ["case_summaries", "case_deadlines", "case_ratings"],
            "position": head,
        }
        assert _listed(tmp_path, capsys) == listed
        assert main(["readmodels", "status", "--data-dir", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert f"case_summaries   at index {head} of {head} (0 behind)" in out
        assert f"case_deadlines   at index {head} of {head} (0 behind)" in out
        assert f"case_ratings     at index {head} of {head} (0 behind)" in out
    finally:
        world.app.close()


def test_the_cli_follower_stores_the_calendar_engines_legs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reader (a read-only ledger: the registry rebuilt as the audit does) counts with the
    published calendar. 2026: 01-01 and 01-02 are holidays, Sunday 01-04 a make-up workday;
    every step of the online case is received on Thu 2026-01-01 (China)."""
    world = make_world(tmp_path, workflow=CaseWorkflow())
    try:
        world.clerk.append(world.root, "calendar_published", seed_year("510000", 2026).to_body())
        (case_id,) = iter_online_cases(world, 1)
        assert main(["readmodels", "rebuild", "--data-dir", str(tmp_path), "--json"]) == 0
        store = memory_read_models(tmp_path / READ_MODEL_FILE)
        try:
            with store._tx() as cur:
                cur.execute(
                    "SELECT name, started, deadline, allowed, paused, closed, provisional "
                    "FROM readmodel_case_dated WHERE case_id = ? ORDER BY name",
                    (case_id.hex,),
                )
                rows = {row[0]: tuple(row[1:]) for row in cur.fetchall()}
        finally:
            store.close()
        assert rows == {
            # 1 day after 01-01: 01-02 a holiday, 01-03 Saturday, Sunday 01-04 a workday.
            "check": ("2026-01-01", "2026-01-04", 1, 0, 1, 0),
            # 01-04 (1), 01-05 (2), 01-06 (3), 01-07 (4), 01-08 (5).
            "acceptance": ("2026-01-01", "2026-01-08", 5, 0, 1, 0),
            # 15 days: 01-04 (1), 01-05–01-09 (2–6), 01-12–01-16 (7–11), 01-19–01-22 (12–15);
            # suspended and resumed the same day: no working day paused.
            "decision": ("2026-01-01", "2026-01-22", 15, 0, 1, 0),
            "delivery": ("2026-01-01", "2026-01-08", 5, 0, 1, 0),
        }
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
