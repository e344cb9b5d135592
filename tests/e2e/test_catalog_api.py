"""HTTP: /catalog, /catalog/{region}, /catalog/{region}/{batch}/{seq}."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.settings import Settings
from api.app import create_app
from ledger.catalog import load_catalog


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_app(Settings(data_dir=tmp_path)))


def test_regions_with_counts_and_versions(client: TestClient) -> None:
    response = client.get("/catalog")
    assert response.status_code == 200
    body = response.json()
    assert [entry["region"] for entry in body] == ["320000", "510000"]
    for entry in body:
        assert entry["count"] == 140
        assert entry["batch_counts"] == {"1": 58, "2": 74, "3": 8}
        assert entry["version"] == load_catalog(entry["region"]).version
    assert body[1]["region_name"] == "四川省"


def test_sichuan_catalog_has_140_items(client: TestClient) -> None:
    response = client.get("/catalog/510000")
    assert response.status_code == 200
    items = response.json()
    assert len(items) == 140
    assert response.headers["Catalog-Version"] == load_catalog("510000").version
    assert items[0]["item_key"] == "510000/1/1"
    assert items[7]["channels"] == ["proxy"] and items[7]["coordination"] == "joint"


def test_filters(client: TestClient) -> None:
    batch_3 = client.get("/catalog/320000", params={"batch": 3}).json()
    assert [item["seq"] for item in batch_3] == list(range(1, 9))
    verify = client.get("/catalog/510000", params={"status": "verify"}).json()
    assert len(verify) == 5
    direct_pending = client.get(
        "/catalog/510000", params={"channel": "direct", "status": "pending", "batch": 2}
    ).json()
    assert [item["seq"] for item in direct_pending] == [3, 4, 5, 6, 7]
    civil_aviation = client.get("/catalog/320000", params={"unit": "民航"}).json()
    assert [item["item_key"] for item in civil_aviation] == ["320000/1/49"]


def test_one_item(client: TestClient) -> None:
    response = client.get("/catalog/320000/2/22")
    assert response.status_code == 200
    item = response.json()
    assert item["national_name"] == "社会保障卡补卡"
    assert item["twin_item_key"] == "510000/2/22"
    assert item["twin_match"] == "slot"
    assert item["mode_source"] == "scenario"
    assert response.headers["Catalog-Version"] == load_catalog("320000").version


def test_unknown_region_is_404(client: TestClient) -> None:
    for path in ("/catalog/999999", "/catalog/999999/1/1"):
        response = client.get(path)
        assert response.status_code == 404
        assert "no service catalog for region '999999'" in response.json()["detail"]


def test_unknown_item_is_404(client: TestClient) -> None:
    response = client.get("/catalog/510000/3/9")
    assert response.status_code == 404
    assert response.json()["detail"] == "region 510000 has no catalog item in batch 3 with seq 9"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"channel": "foo"}, "channel"),
        ({"status": "done"}, "status"),
        ({"batch": 4}, "batch"),
        ({"batch": "one"}, "batch"),
    ],
)
def test_invalid_filter_is_422_naming_the_field(
    client: TestClient, params: dict[str, object], field: str
) -> None:
    response = client.get("/catalog/510000", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert problem["field"] == field
    assert field in problem["detail"]
