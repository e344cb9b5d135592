"""``tongban serve`` refuses what is not a node, and a second server on one SQLite directory."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from api.cli import main
from tests.support.live import live_node, serve_command

REPO = Path(__file__).resolve().parents[2]


def _serve_once(
    data_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tongban serve`` that is expected to refuse (so it exits by itself)."""
    return subprocess.run(
        serve_command(data_dir, data_dir.parent / f"{data_dir.name}.port", 1),
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


@pytest.mark.parametrize(
    "argv",
    [
        ["token", "create", "--admin"],
        ["token", "create", "--body", "510104-RS"],
        ["token", "list"],
        ["keys", "list"],
        ["keys", "register-body", "--root-key", "root.key", "--body-id", "B", "--name", "N"],
        ["audit", "checkpoint"],
    ],
)
def test_node_commands_refuse_a_mistyped_directory(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "var" / "nod"
    typo.mkdir(parents=True)
    argv = [a if a != "root.key" else str(tmp_path / "root.key") for a in argv]
    assert main(["keys", "generate", str(tmp_path / "root.key")]) == 0
    capsys.readouterr()
    assert main([*argv, "--data-dir", str(typo)]) == 64
    out, err = capsys.readouterr()
    assert out == ""
    assert f"no node at {typo}" in err and "tongban init" in err
    assert list(typo.iterdir()) == []
