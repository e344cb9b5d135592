"""The rating routes over HTTP: refusals with their reason and field, the attempt limit, the
follow-up call's logged contact read, and the bulletin in its three forms."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.test_cli_ratings import CODE, MONTH, delivered
from tests.support.api_node import ApiNode, api_node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    with api_node(tmp_path_factory.mktemp("http-ratings")) as node:
        yield node


def rate(node: ApiNode, case_id: uuid.UUID, **rating: object) -> dict[str, object]:
    answer = node.client.post(f"/cases/{case_id}/ratings", json={"code": CODE, **rating})
    body: dict[str, object] = answer.json()
    body["_status"] = answer.status_code
    return body


def test_refusals_name_the_field(node: ApiNode) -> None:
    case_id = delivered(node)
    phone = rate(node, case_id, level="satisfied", comment="请回电13812345678")
    assert (phone["_status"], phone["reason"], phone["field"]) == (422, "malformed", "body.comment")
    bad = rate(node, case_id, level="satisfied", code="7K3M")
    assert (bad["_status"], bad["field"]) == (422, "code")
    level = rate(node, case_id, level="good")
    assert (level["_status"], level["field"]) == (422, "level")
    unknown = rate(node, uuid.uuid4(), level="satisfied")
    assert unknown["_status"] == 404
    assert rate(node, case_id, level="satisfied")["_status"] == 201
    again = rate(node, case_id, level="satisfied")
    assert (again["_status"], again["reason"]) == (422, "illegal_step")


def test_wrong_codes_are_limited(node: ApiNode) -> None:
    case_id = delivered(node)
    for _ in range(5):
        wrong = rate(node, case_id, level="satisfied", code="AAAA-AAAA-AAAA-AAAA")
        assert (wrong["_status"], wrong["reason"]) == (403, "bad_rating_code")
    answer = node.client.post(
        f"/cases/{case_id}/ratings", json={"code": CODE, "level": "satisfied"}
    )
    assert answer.status_code == 429 and answer.json()["reason"] == "too_many_attempts"
    assert int(answer.headers["retry-after"]) > 0


def test_follow_up_reads_contact_data_and_logs_it(node: ApiNode) -> None:
    case_id = delivered(node)
    assert rate(node, case_id, level="very_dissatisfied")["_status"] == 201
    url = f"/cases/{case_id}/rectification/contact"
    early = node.get(url, "home", purpose="回访")
    assert (early.status_code, early.json()["reason"]) == (403, "forbidden")
    verified = {"result": "upheld", "finding": "属实"}
    assert node.step(case_id, "510104-RS", "rectification_verified", verified).status_code == 201
    assert node.step(case_id, "510104-RS", "rectified", {"measures": "整改"}).status_code == 201
    before = node.get(f"/cases/{case_id}/access", "home").json()
    for unsaid in ({}, {"purpose": " "}):  # no read without saying why
        refused = node.get(url, "home", **unsaid)
        assert (refused.status_code, refused.json()["field"]) == (422, "purpose"), refused.text
    assert node.get(f"/cases/{case_id}/access", "home").json() == before
    contact = node.get(url, "home", purpose="回访")
    assert contact.status_code == 200, contact.text
    assert contact.json()["name"]
    after = node.get(f"/cases/{case_id}/access", "home").json()
    assert len(after) == len(before) + 1
    assert after[-1]["purpose"].startswith("差评整改回访")
    followed = {"outcome": "satisfied", "note": ""}
    assert node.step(case_id, "510104-RS", "followed_up", followed).status_code == 201
    assert node.get(url, "home", purpose="回访").status_code == 403  # the call is done

    ratings = node.get("/bodies/510104-RS/ratings", "home").json()
    assert ratings["rectifications_open"] >= 1
    assert ratings["calendar"].startswith("published 510000 years")
    [open_one] = [r for r in ratings["open_rectifications"] if r["case_id"] == str(case_id)]
    assert [s["name"] for s in open_one["stages"]] == ["verify", "rectify", "follow_up", "close"]


def test_bulletin_as_json_csv_and_page(node: ApiNode) -> None:
    as_json = node.get(f"/bulletins/{MONTH}", "auditor")
    assert as_json.status_code == 200 and as_json.json()["month"] == MONTH
    as_csv = node.get(f"/bulletins/{MONTH}", "auditor", format="csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0].startswith("month,body,item,cases_received")
    page = node.get(f"/bulletins/{MONTH}", "admin", format="html")
    assert page.headers["content-type"].startswith("text/html") and "定期通报" in page.text
    policy = page.headers["content-security-policy"]  # as /docs: nothing but the node
    assert policy.startswith("default-src 'self'") and "http" not in policy
    bad = node.get("/bulletins/2026-1x", "auditor")
    assert (bad.status_code, bad.json()["field"]) == (422, "month")
