"""``tongban serve`` refuses what is not a node, and a second server on one SQLite directory."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from api.cli import main
from tests.support.live import free_port, live_node, serve_command

REPO = Path(__file__).resolve().parents[2]


def _serve_once(
    data_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tongban serve`` that is expected to refuse (so it exits by itself)."""
    return subprocess.run(
        serve_command(data_dir, free_port(), 1),
        env={**os.environ, "TONGBAN_DATABASE_URL": "", **(env or {})},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("serve") / "demo"
    assert main(["demo", "--cases", "3", "--seed", "2", "--data-dir", str(data_dir)]) == 0
    return data_dir


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_a_mistyped_data_directory_is_refused_and_left_alone(tmp_path: Path, make: str) -> None:
    typo = tmp_path / "var" / "sc-typo"
    if make == "empty":
        typo.mkdir(parents=True)
    served = _serve_once(typo)
    assert served.returncode == 64, served.stderr
    assert f"no node at {typo}" in served.stderr
    assert "tongban init" in served.stderr
    assert typo.exists() == (make == "empty")
    if typo.exists():
        assert list(typo.iterdir()) == []  # no ledger, key or vault was made


def test_a_second_server_on_one_sqlite_directory_is_refused(demo: Path) -> None:
    with live_node(demo, {"TONGBAN_DATABASE_URL": ""}):
        second = _serve_once(demo)
        assert second.returncode == 1, second.stderr
        assert "already served by pid" in second.stderr
        assert "serve.lock" in second.stderr
    # Once the first has stopped the directory can be served again.
    with live_node(demo, {"TONGBAN_DATABASE_URL": ""}):
        pass
