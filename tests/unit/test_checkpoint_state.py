"""The node's last signed checkpoint on disk (``adapters/checkpoint_state.py``): durable,
shared by every process of the node through one lock file, never written through a link."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from adapters.atomic import UnsafeTarget
from adapters.checkpoint_state import LAST_CHECKPOINT_FILE, LOCK_FILE, FileCheckpointState

NOTE = "tongban/510000\n3\nAAAA\n\n— tongban/510000 AAAAAAAA\n"


def _held_elsewhere(lock: Path) -> bool:
    """Whether another open file description (as another process has) can take the lock."""
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_note_recorded_is_read_back_by_another_instance(tmp_path: Path) -> None:
    assert FileCheckpointState(tmp_path).last() is None
    with FileCheckpointState(tmp_path).exclusive():
        FileCheckpointState(tmp_path).record(NOTE)
    assert FileCheckpointState(tmp_path).last() == NOTE
    assert (tmp_path / LAST_CHECKPOINT_FILE).stat().st_mode & 0o777 == 0o600


def test_the_lock_excludes_other_processes_and_threads(tmp_path: Path) -> None:
    state = FileCheckpointState(tmp_path)
    with state.exclusive():
        assert _held_elsewhere(tmp_path / LOCK_FILE)
        probe = (
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDWR)\n"
            "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "except BlockingIOError:\n    sys.exit(3)\n"
        )
        other = subprocess.run([sys.executable, "-c", probe, str(tmp_path / LOCK_FILE)])
        assert other.returncode == 3  # another process of the node must wait
        with state.exclusive():  # the same thread re-enters (no deadlock)
            pass
        seen: list[bool] = []
        thread = threading.Thread(target=lambda: seen.append(_held_elsewhere(tmp_path / LOCK_FILE)))
        thread.start()
        thread.join()
        assert seen == [True]
    assert not _held_elsewhere(tmp_path / LOCK_FILE)


def test_a_planted_link_is_neither_read_nor_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / LAST_CHECKPOINT_FILE).symlink_to(victim)
    state = FileCheckpointState(tmp_path)
    with pytest.raises(UnsafeTarget):
        state.last()
    with pytest.raises(UnsafeTarget):
        state.record(NOTE)
    assert victim.read_text() == "precious\n"


def test_set_aside_keeps_the_exact_note_and_forgets_it(tmp_path: Path) -> None:
    state = FileCheckpointState(tmp_path)
    state.record(NOTE)
    where = state.set_aside("rollback to size 2")
    assert state.last() is None
    [aside] = tmp_path.glob("last-checkpoint.*.set-aside.note")
    assert aside.read_text() == NOTE and str(aside) in where
