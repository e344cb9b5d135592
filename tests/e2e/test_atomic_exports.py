"""Exports written by the CLI go through the atomic writer too (issue 14, item 5): a link at
the chosen output path is refused, never written through; a plain path gets a whole file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from ledger.workflow import CaseWorkflow
from tests.support.world import make_world


def test_a_bundle_is_never_written_through_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = tmp_path / "node"
    world = make_world(node, workflow=CaseWorkflow())
    case_id = world.online_case()
    world.app.issue_checkpoint()
    world.app.close()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    link = out / "case.json"
    link.symlink_to(victim)
    argv = ["audit", "bundle", "--case", str(case_id), "--data-dir", str(node), "--out"]
    assert main([*argv, str(link)]) == 64
    assert "symbolic link" in capsys.readouterr().err
    assert victim.read_text() == "precious\n"

    link.unlink()
    assert main([*argv, str(link)]) == 0
    assert json.loads(link.read_text())["checkpoint"]
    assert [p.name for p in out.iterdir()] == ["case.json"]  # no temporary left behind
