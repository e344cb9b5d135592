"""``tongban serve --port 0 --port-file``, and the harness that relies on it
(tests/support/live.py): the server binds a free port itself and reports it, so no port is
picked, released and raced for; ``wait_healthy`` accepts only the node it started."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from adapters.bootstrap import NODE_KEY_FILE
from adapters.keyfiles import load_or_create_key, read_key
from api.cli import main
from ledger.workflow import SignedCoreOnly
from tests.support.live import (
    NodeIdentity,
    NodeNotHealthy,
    ServerProcess,
    running_servers,
    started_workers,
    stop_servers_except,
    wait_healthy,
)
from tests.support.world import make_world


def node_dir(data_dir: Path, database_url: str = "", schema: str | None = None) -> Path:
    """An initialised node (trust roots, ledger), as ``tongban serve`` requires."""
    make_world(
        data_dir, database_url=database_url, schema=schema, workflow=SignedCoreOnly()
    ).app.close()
    return data_dir


def test_serve_on_port_0_writes_the_port_it_listens_on(tmp_path: Path) -> None:
    server = ServerProcess(node_dir(tmp_path))
    try:
        url = server.start()
        port = int((tmp_path / "server.port").read_text())
        assert port > 0 and url == f"http://127.0.0.1:{port}"
        answer = httpx.get(f"{url}/health").json()
        assert answer["node_key_id"] == read_key(tmp_path / NODE_KEY_FILE).key_id
    finally:
        server.stop()
    assert server.process is not None and server.process.poll() is not None


@pytest.mark.postgres
def test_two_workers_share_the_socket_bound_on_port_0(
    tmp_path: Path, postgres_url: str, postgres_schema: str
) -> None:
    env = {"TONGBAN_DATABASE_URL": postgres_url, "TONGBAN_DATABASE_SCHEMA": postgres_schema}
    server = ServerProcess(node_dir(tmp_path, postgres_url, postgres_schema), env, workers=2)
    try:
        url = server.start()
        assert started_workers(server.log) == 2
        assert int((tmp_path / "server.port").read_text()) == server.port
        with httpx.Client(base_url=url) as client:  # new connections, spread over both
            for _ in range(8):
                assert client.get("/health", headers={"Connection": "close"}).status_code == 200
    finally:
        server.stop()


def test_a_restart_serves_the_same_port_again(tmp_path: Path) -> None:
    server = ServerProcess(node_dir(tmp_path))
    try:
        first = server.start()
        server.stop()
        assert server.start() == first
    finally:
        server.stop()


def test_wait_healthy_refuses_a_server_that_names_another_node(tmp_path: Path) -> None:
    other = tmp_path / "other"
    load_or_create_key(other / NODE_KEY_FILE)  # same region and ledger name, another node key
    server = ServerProcess(node_dir(tmp_path / "mine"))
    try:
        url = server.start()
        assert server.process is not None
        with pytest.raises(NodeNotHealthy, match="another node answers here"):
            wait_healthy(url, server.process, server.log, 30, NodeIdentity.of(other))
        js = NodeIdentity.of(tmp_path / "mine", {"TONGBAN_REGION": "320000"})
        with pytest.raises(NodeNotHealthy, match="another node answers here"):
            wait_healthy(url, server.process, server.log, 30, js)
    finally:
        server.stop()


def test_serve_on_a_taken_port_fails_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATA_DIR", "HOST", "PORT"):  # serve sets them for its workers
        monkeypatch.delenv(f"TONGBAN_{name}", raising=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        port_file = tmp_path / "port"
        argv = ["serve", "--port", str(port), "--port-file", str(port_file)]
        assert main([*argv, "--data-dir", str(node_dir(tmp_path))]) == 69
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert not port_file.exists()


def test_a_server_a_test_leaves_running_is_stopped_after_it(tmp_path: Path) -> None:
    before = running_servers()
    server = ServerProcess(node_dir(tmp_path))
    server.start()
    assert server in running_servers()
    assert stop_servers_except(before) == 1
    assert server.process is not None and server.process.poll() is not None
    assert server not in running_servers()
