"""The private-cluster fixture cleans up after runs that died, and only after those."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.pgcluster import OWNER_FILE, PREFIX, remove_leftovers


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def leftover(root: Path, name: str, owner: int) -> Path:
    path = root / f"{PREFIX}{name}"
    (path / "data").mkdir(parents=True)
    (path / OWNER_FILE).write_text(str(owner))
    (path / "data" / "postmaster.pid").write_text(f"{dead_pid()}\n/some/dir\n")
    return path


def test_clusters_of_dead_runs_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dead = leftover(tmp_path, "dead", dead_pid())
    live = leftover(tmp_path, "live", os.getppid())  # a process that outlives this test
    unowned = tmp_path / f"{PREFIX}unowned"
    unowned.mkdir()  # initdb never ran: no owner file, no data
    removed = remove_leftovers(tmp_path)
    assert sorted(removed) == sorted([dead, unowned])
    assert not dead.exists() and not unowned.exists()
    assert live.exists()
