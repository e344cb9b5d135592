"""``GET /health``: the node answers, its database answers, and it says which node it is."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from adapters.bootstrap import NODE_KEY_FILE
from adapters.keyfiles import read_key
from adapters.settings import Settings
from api.app import create_app
from tests.support.api_node import api_node
from tests.support.pgcluster import PrivateCluster, pg_cluster  # noqa: F401  (a fixture)


def test_health_names_the_node(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings(data_dir=tmp_path, region="320000")))
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "ledger": "tongban/320000",
        "region": "320000",
        "node_key_id": read_key(tmp_path / NODE_KEY_FILE).key_id,
    }


def _assert_database_unavailable(response: object) -> None:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == "database_unavailable"
    assert int(response.headers["retry-after"]) > 0


def test_health_with_the_sqlite_file_gone_is_503(tmp_path: Path) -> None:
    client = TestClient(create_app(Settings(data_dir=tmp_path)), raise_server_exceptions=False)
    assert client.get("/health").status_code == 200
    moved = tmp_path / "elsewhere.sqlite3"
    (tmp_path / "ledger.sqlite3").rename(moved)
    _assert_database_unavailable(client.get("/health"))
    moved.rename(tmp_path / "ledger.sqlite3")
    assert client.get("/health").status_code == 200


def test_health_with_postgresql_stopped_is_503_then_ok_again(
    tmp_path: Path,
    pg_cluster: PrivateCluster,  # noqa: F811
) -> None:
    with api_node(tmp_path, database_url=pg_cluster.url) as node:
        assert node.get("/health").status_code == 200
        pg_cluster.stop("immediate")
        try:
            _assert_database_unavailable(node.get("/health"))
        finally:
            pg_cluster.start()
        # The pool reconnects by itself (with backoff): the same process answers ok again.
        deadline = time.monotonic() + 60
        while (answer := node.get("/health")).status_code != 200:
            _assert_database_unavailable(answer)
            assert time.monotonic() < deadline, "the node never recovered"
        assert answer.json()["status"] == "ok"
