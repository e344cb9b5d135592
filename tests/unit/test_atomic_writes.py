"""Every whole-file write goes through ``adapters.atomic.write_atomically`` (issue 14, item 5):
a fresh temporary file created exclusively in the target's directory, never following a link
planted at a well-known name, and a target that is itself a link refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from adapters.atomic import UnsafeTarget, write_atomically
from adapters.keyfiles import load_or_create_key, write_key, write_trusted_roots
from adapters.settings import Settings
from adapters.vault import load_or_create_master_key
from api.cli import main
from ledger.suites import Ed25519Signer

PRECIOUS = "precious: must stay as it is\n"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "victim.txt"
    path.parent.mkdir()
    path.write_text(PRECIOUS)
    return path


def _regular(path: Path) -> bool:
    return stat.S_ISREG(os.lstat(path).st_mode)


def test_witness_configure_ignores_a_link_planted_at_the_old_partial_name(
    tmp_path: Path, victim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = tmp_path / "node"
    node.mkdir()
    (node / "transparency.json.partial").symlink_to(victim)
    argv = ["witness", "configure", "--data-dir", str(node), "--region", "510000"]
    assert main([*argv, "--min-cosignatures", "1"]) == 0
    assert victim.read_text() == PRECIOUS  # before the fix: overwritten with the config
    config = node / "transparency.json"
    assert _regular(config)  # before the fix: a link to the victim
    assert '"min_cosignatures": 1' in config.read_text()
    assert [p.name for p in node.iterdir() if p.name.startswith(".")] == []  # no leftovers


def test_witness_configure_refuses_a_config_that_is_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other, node = tmp_path / "other", tmp_path / "node"
    argv = ["witness", "configure", "--region", "510000"]
    assert main([*argv, "--data-dir", str(other)]) == 0  # a valid config to point at
    config = (other / "transparency.json").read_text()
    node.mkdir()
    (node / "transparency.json").symlink_to(other / "transparency.json")
    assert main([*argv, "--data-dir", str(node), "--min-cosignatures", "1"]) == 64
    assert "symbolic link" in capsys.readouterr().err
    assert (other / "transparency.json").read_text() == config


def test_write_atomically_replaces_whole_and_sets_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "file"
    write_atomically(target, "one\n", mode=0o644)
    write_atomically(target, b"two\n")
    assert target.read_text() == "two\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_write_atomically_refuses_links_and_non_files(tmp_path: Path, victim: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(victim)
    with pytest.raises(UnsafeTarget):
        write_atomically(link, "x")
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(UnsafeTarget):
        write_atomically(dangling, "x")
    assert not (tmp_path / "nowhere").exists()
    (tmp_path / "dir").mkdir()
    with pytest.raises(UnsafeTarget):
        write_atomically(tmp_path / "dir", "x")
    assert victim.read_text() == PRECIOUS


def test_create_only_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "key"
    write_atomically(target, "first", overwrite=False)
    with pytest.raises(FileExistsError):
        write_atomically(target, "second", overwrite=False)
    assert target.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["key"]


def _write(node: Path, name: str) -> None:
    if name == "node.key":
        load_or_create_key(node / name)
    elif name == "trust.json":
        write_trusted_roots(node / name, {"510000": bytes(32)})
    elif name == "node.json":
        Settings(data_dir=node, region="510000").record_region()
    else:
        load_or_create_master_key(node)


@pytest.mark.parametrize("name", ["node.key", "trust.json", "node.json", "vault.key"])
def test_node_files_are_never_written_through_a_link(
    tmp_path: Path, victim: Path, name: str
) -> None:
    """Keys, trust roots and the recorded region: links at predictable temporary names are
    ignored, and a (dangling) link at the target itself is refused, nothing created there."""
    node = tmp_path / "node"
    node.mkdir()
    for planted in (f"{name}.partial", f".{name}.tmp", f".{name}.{os.getpid()}.tmp"):
        (node / planted).symlink_to(victim)
    _write(node, name)
    assert victim.read_text() == PRECIOUS
    assert _regular(node / name)

    (node / name).unlink()
    nowhere = tmp_path / "elsewhere" / "nowhere"
    (node / name).symlink_to(nowhere)
    with pytest.raises(UnsafeTarget):
        _write(node, name)
    assert not nowhere.exists() and victim.read_text() == PRECIOUS


def test_a_key_is_created_once_and_whole(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    first = Ed25519Signer.generate()
    write_key(path, first)
    with pytest.raises(FileExistsError):
        write_key(path, Ed25519Signer.generate())
    assert load_or_create_key(path).public_key == first.public_key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
