"""``GET /cases`` read from the case-summary projection: ``as_of``, ``min_index``, ``after``.

A client that appended sees its own append by asking for its receipt's index; an index the
listing cannot reach in time is a 503 ``not_caught_up`` naming ``min_index``, never a stale
page; ``after`` continues from a case and tells where the next page starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.read_models import SUMMARIES
from tests.support.api_node import ApiNode, api_node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ApiNode]:
    with api_node(tmp_path) as node:
        yield node


def test_a_client_sees_its_own_append_by_its_index(node: ApiNode) -> None:
    case_id, raw = node.received()
    opened = node.post("/cases", "window", raw)
    assert opened.status_code == 201, opened.text
    index = opened.json()["index"]
    page = node.get("/cases", "window", min_index=index)
    assert page.status_code == 200, page.text
    listed = page.json()
    assert listed["as_of"] >= index
    assert [c["case_id"] for c in listed["cases"]] == [str(case_id)]
    follower = node.services.follower
    assert follower is not None and node.services.read_models is not None
    assert node.services.read_models.position(SUMMARIES) >= index


def test_an_index_not_reached_in_time_is_503_not_caught_up(node: ApiNode) -> None:
    settings = node.services.settings
    node.services.settings = settings.model_copy(update={"read_model_wait_seconds": 0.2})
    follower = node.services.follower
    assert follower is not None
    follower.catch_up()
    head = node.services.ledger.store.max_index()
    node.proxy_case()  # appended; the read models are behind it
    new_head = node.services.ledger.store.max_index()
    with follower._lock:  # this process's catch-up is busy elsewhere and stays so
        answer = node.get("/cases", "auditor", min_index=new_head)
    assert answer.status_code == 503, answer.text
    problem = answer.json()
    assert (problem["reason"], problem["field"]) == ("not_caught_up", "min_index")
    assert f"reflects ledger index {head}; index {new_head} was not" in problem["detail"]
    assert answer.headers["Retry-After"] == "1"
    assert node.get("/cases", "auditor", min_index=new_head).json()["as_of"] >= new_head


def test_an_index_beyond_the_head_or_negative_is_422(node: ApiNode) -> None:
    head = node.services.ledger.store.max_index()
    beyond = node.get("/cases", "auditor", min_index=head + 1000)
    assert beyond.status_code == 422, beyond.text
    assert (beyond.json()["reason"], beyond.json()["field"]) == ("beyond_head", "min_index")
    assert f"the ledger holds index {head}" in beyond.json()["detail"]
    bad = node.get("/cases", "auditor", min_index=-1)
    assert (bad.status_code, bad.json()["field"]) == (422, "min_index")


def test_after_pages_through_every_case_once(node: ApiNode) -> None:
    made = [node.proxy_case() for _ in range(5)]
    seen: list[str] = []
    page = node.get("/cases", "auditor", page_size=2).json()
    assert page["total"] == 5
    while True:
        seen += [c["case_id"] for c in page["cases"]]
        if page["next_after"] is None:
            break
        page = node.get("/cases", "auditor", page_size=2, after=page["next_after"]).json()
    assert seen == [str(c) for c in made]
    mine = node.get("/cases", "home", page_size=2, after=str(made[1])).json()
    assert [c["case_id"] for c in mine["cases"]] == [str(made[2]), str(made[3])]
    unknown = node.get("/cases", "auditor", after=str(uuid.uuid4()))
    assert unknown.status_code == 404
    assert (unknown.json()["reason"], unknown.json()["field"]) == ("unknown_case", "after")
    assert node.get("/cases", "auditor", after="nope").json()["field"] == "after"
