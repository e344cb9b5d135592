"""What a node keeps on disk is its user's alone: directories 0700, files 0600 (SQLite's -wal
and -shm included), and a data directory or key file that others may write is refused.

Found by review (issue 13 item 6): the ledger, vault and access databases and ``trust.json``
were created world-readable, and a group-writable data directory was used as it was.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.bootstrap import TRUST_FILE, open_services
from adapters.keyfiles import KeyFileError, read_key, write_trusted_roots
from adapters.settings import Settings
from adapters.transparency_config import TransparencyConfig, save_transparency_config
from ledger.suites import Ed25519Signer
from tests.support.serving import served, tongban

SQLITE_SIDE_FILES = ("-wal", "-shm")


def modes(root: Path) -> dict[str, int]:
    """The mode of ``root`` and of everything under it, by path relative to ``root``."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def not_private(root: Path) -> dict[str, str]:
    return {
        name: f"{mode:04o}"
        for name, mode in modes(root).items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual 022: files would be world-readable unless created with their mode."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_fresh_node_keeps_its_files_to_itself_while_serving(tmp_path: Path) -> None:
    data_dir = tmp_path / "var" / "sc"
    assert tongban("keys", "generate", str(tmp_path / "root.key")).returncode == 0
    init = tongban("init", "--data-dir", str(data_dir), "--root-key", str(tmp_path / "root.key"))
    assert init.returncode == 0, init.stderr
    with served(data_dir, tmp_path / "server.log") as node:
        assert httpx.get(f"{node.url}/health").status_code == 200
        names = {path.name for path in data_dir.iterdir()}
        seen = modes(data_dir)
        loose = not_private(data_dir)
    # The databases are open, in WAL mode: their side files exist, so the check covers them.
    for database in ("ledger.sqlite3", "vault.sqlite3", "access.sqlite3", TRUST_FILE):
        assert database in names
    assert {"ledger.sqlite3-wal", "ledger.sqlite3-shm"} <= names
    assert {"node.key", "vault.key", "node.json"} <= names
    assert loose == {}, seen
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700  # created by init too


def test_a_demo_directory_keeps_its_files_to_itself(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    built = tongban("demo", "--cases", "2", "--seed", "3", "--data-dir", str(data_dir))
    assert built.returncode == 0, built.stderr
    assert (data_dir / "demo-keys" / "tokens.json").exists()
    assert (data_dir / "demo-keys" / "index.json").exists()
    assert not_private(data_dir) == {}


def test_files_are_private_whatever_the_umask(tmp_path: Path, loose_umask: None) -> None:
    # The library, not only the command line (which also sets umask 077): each file is
    # created with its mode.
    data_dir = tmp_path / "node"
    settings = Settings(data_dir=data_dir, region="510000")
    write_trusted_roots(data_dir / TRUST_FILE, {"510000": bytes(32)})
    settings.record_region()
    services = open_services(settings)
    save_transparency_config(data_dir, TransparencyConfig("tongban/510000/witness"))
    databases = sorted(data_dir.glob("*.sqlite3"))
    assert {path.name for path in databases} >= {
        "ledger.sqlite3",
        "vault.sqlite3",
        "access.sqlite3",
        "licenses.sqlite3",
    }
    connections = []
    for database in databases:  # held open in WAL mode, so that -wal and -shm exist
        conn = sqlite3.connect(database)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS probe (x)")
        conn.commit()
        connections.append(conn)
    try:
        names = {path.name for path in data_dir.iterdir()}
        for database in databases:
            assert {database.name + suffix for suffix in SQLITE_SIDE_FILES} <= names
        assert not_private(data_dir) == {}
    finally:
        for conn in connections:
            conn.close()
        services.ledger.close()


def test_a_data_directory_others_can_write_is_refused_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    assert tongban("keys", "generate", str(tmp_path / "root.key")).returncode == 0
    init = tongban("init", "--data-dir", str(data_dir), "--root-key", str(tmp_path / "root.key"))
    assert init.returncode == 0, init.stderr
    data_dir.chmod(0o770)
    for command in (("serve", "--port", "0"), ("audit", "verify"), ("case", "list")):
        refused = tongban(*command, "--data-dir", str(data_dir))
        assert refused.returncode != 0, command
        assert f"{data_dir}: this data directory has mode 0770" in refused.stderr, command
        assert "Traceback" not in refused.stderr
    data_dir.chmod(0o700)
    assert tongban("case", "list", "--data-dir", str(data_dir)).returncode == 0


@pytest.mark.parametrize("name", ["node.key", "vault.key", "trust.json"])
def test_a_node_key_or_trust_file_others_can_write_is_refused_at_start(
    tmp_path: Path, name: str
) -> None:
    data_dir = tmp_path / "node"
    assert tongban("keys", "generate", str(tmp_path / "root.key")).returncode == 0
    init = tongban("init", "--data-dir", str(data_dir), "--root-key", str(tmp_path / "root.key"))
    assert init.returncode == 0, init.stderr
    with served(data_dir, tmp_path / "first.log"):  # creates vault.key
        pass
    (data_dir / name).chmod(0o620)
    refused = tongban("serve", "--port", "0", "--data-dir", str(data_dir))
    assert refused.returncode == 64
    assert f"{data_dir / name}: this" in refused.stderr
    assert "has mode 0620" in refused.stderr


def test_a_key_file_others_can_write_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "root.key"
    assert tongban("keys", "generate", str(key)).returncode == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    key.chmod(0o666)
    with pytest.raises(KeyFileError, match=r"root\.key: this key file has mode 0666"):
        read_key(key)
    refused = tongban("init", "--data-dir", str(tmp_path / "node"), "--root-key", str(key))
    assert refused.returncode == 64
    assert f"{key}: this key file has mode 0666" in refused.stderr
    assert not (tmp_path / "node").exists(), "refused before anything was written"
    key.chmod(0o644)  # readable by others is the holder's choice; writable is not
    assert (
        read_key(key).public_key
        == Ed25519Signer.from_seed(bytes.fromhex(key.read_text().strip())).public_key
    )
