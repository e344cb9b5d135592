from __future__ import annotations

from fastapi.testclient import TestClient

from adapters.settings import Settings
from api.app import create_app


def test_health_answers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(create_app(Settings(data_dir=tmp_path)))
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["ledger"] == "tongban/510000"
