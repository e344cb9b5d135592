"""A node never signs a tree that does not extend what it signed before (issue 13, item 2).

An insider cuts the newest event (``tools/cut_newest_event.py``); ``tongban audit checkpoint``
then must refuse (exit 1, the evidence printed) instead of signing size N-1. The last signed
checkpoint is kept in the data directory, so a database rolled back under it (a restored
backup) is refused too, and an operator's ``--accept-rollback`` is explicit and logged.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.checkpoint_state import LAST_CHECKPOINT_FILE
from api.cli import main
from ledger.notes import parse_checkpoint, parse_note
from ledger.workflow import CaseWorkflow
from tests.support.world import iter_online_cases, make_world
from tools.cut_newest_event import cut_newest_event

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def node(tmp_path: Path) -> Path:
    data_dir = tmp_path / "node"
    world = make_world(data_dir, workflow=CaseWorkflow())
    list(iter_online_cases(world, 3))
    world.app.close()
    return data_dir


def _checkpoint(node: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    """Exit code and everything printed: the note on stdout first, then stderr."""
    code = main(["audit", "checkpoint", "--data-dir", str(node), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _max_index(node: Path) -> int:
    with sqlite3.connect(node / "ledger.sqlite3") as db:
        return int(db.execute("SELECT MAX(ledger_index) FROM stored_ledger").fetchone()[0])


def _stored_sizes(node: Path) -> list[int]:
    with sqlite3.connect(node / "ledger.sqlite3") as db:
        tables = [
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name.endswith("checkpoints")
        ]
        return sorted(size for (size,) in db.execute(f"SELECT size FROM {tables[0]}"))


def test_a_cut_newest_event_is_refused_not_signed(
    node: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, signed = _checkpoint(node, capsys)
    assert code == 0
    size = parse_checkpoint(parse_note(signed).text).size

    assert cut_newest_event(node) == size

    code, out = _checkpoint(node, capsys)
    assert code == 1, out  # before the fix: exit 0, size N-1 signed
    kept = (node / LAST_CHECKPOINT_FILE).read_text()
    assert kept == signed  # the note signed is kept in the data directory
    assert "refused: rollback (field size)" in out
    assert f"size {size}" in out and f"size {size - 1}" in out  # the evidence: both trees
    assert kept in out  # the last signed checkpoint, in full
    assert _stored_sizes(node) == [size]  # nothing signed or stored
    assert (node / LAST_CHECKPOINT_FILE).read_text() == kept


def test_a_database_restored_from_an_older_backup_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The state survives the database being replaced: the backup holds no checkpoint at all,
    and the node still knows what it signed."""
    node = tmp_path / "node"
    world = make_world(node, workflow=CaseWorkflow())
    list(iter_online_cases(world, 2))
    backup = tmp_path / "backup.sqlite3"
    with sqlite3.connect(node / "ledger.sqlite3") as live, sqlite3.connect(backup) as copy:
        live.backup(copy)  # before any checkpoint
    old = _max_index(node)
    list(iter_online_cases(world, 1))
    world.app.close()
    code, out = _checkpoint(node, capsys)
    size = parse_checkpoint(parse_note(out).text).size
    assert code == 0 and size == _max_index(node) > old
    kept = (node / LAST_CHECKPOINT_FILE).read_text()

    with sqlite3.connect(backup) as copy, sqlite3.connect(node / "ledger.sqlite3") as live:
        copy.backup(live)  # the restore

    code, out = _checkpoint(node, capsys)
    assert code == 1 and "refused: rollback" in out and kept in out
    assert _stored_sizes(node) == []

    # The operator accepts it explicitly, naming the size abandoned; it is logged and kept.
    code, out = _checkpoint(node, capsys, "--accept-rollback", str(size - 1))
    assert code == 1 and "accept_rollback" in out
    assert not list(node.glob("last-checkpoint.*.set-aside.note"))
    code, out = _checkpoint(node, capsys, "--accept-rollback", str(size))
    assert code == 0
    assert parse_checkpoint(parse_note(out[: out.index("tongban:")]).text).size == old
    assert "ROLLBACK ACCEPTED" in out
    [aside] = node.glob("last-checkpoint.*.set-aside.note")
    assert aside.read_text() == kept
    assert (node / LAST_CHECKPOINT_FILE).read_text() in out


def test_the_automatic_checkpoint_after_appends_refuses_and_appends_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TONGBAN_CHECKPOINT_EVENTS", "1")  # one due after every append
    node = tmp_path / "node"
    world = make_world(node, workflow=CaseWorkflow())
    world.online_case()
    signed = (node / LAST_CHECKPOINT_FILE).read_text()
    size = parse_checkpoint(parse_note(signed).text).size
    assert size == _max_index(node) and _stored_sizes(node)[-1] == size

    assert cut_newest_event(node) == size
    with caplog.at_level("ERROR", logger="tongban.ledger"):
        world.online_case()  # re-uses index `size` with another object: appended all the same
    assert _max_index(node) == size + 9
    assert "refused to issue a checkpoint" in caplog.text
    assert _stored_sizes(node)[-1] == size  # nothing larger signed or stored
    assert (node / LAST_CHECKPOINT_FILE).read_text() == signed
    world.app.close()


_ISSUER = """
import sys
from pathlib import Path
from adapters.bootstrap import open_ledger
from adapters.settings import Settings
app = open_ledger(Settings(data_dir=Path(sys.argv[1]), region="510000"))
for _ in range(int(sys.argv[2])):
    app.issue_checkpoint()
app.close()
"""


def test_processes_issuing_while_the_ledger_grows_keep_one_history(tmp_path: Path) -> None:
    """Three processes of one node issue checkpoints while a fourth appends: none is refused
    (honest issuers never trip over each other), every stored checkpoint is a prefix of the
    rows, and the note kept is the largest signed."""
    node = tmp_path / "node"
    world = make_world(node, workflow=CaseWorkflow())
    list(iter_online_cases(world, 1))
    issuers = [
        subprocess.Popen([sys.executable, "-c", _ISSUER, str(node), "15"], cwd=ROOT)
        for _ in range(3)
    ]
    list(iter_online_cases(world, 5))
    assert [issuer.wait(timeout=120) for issuer in issuers] == [0, 0, 0]
    kept = parse_checkpoint(parse_note((node / LAST_CHECKPOINT_FILE).read_text()).text)
    app = world.app
    sizes = _stored_sizes(node)
    assert kept.size == max(sizes)
    for size in sizes:
        stored = app.checkpoint_at(size)
        assert stored is not None
        assert parse_checkpoint(stored.text).root == app.tree_root(size)
    app.close()
