"""``TongbanClient`` after a timeout, against a live demo node (SQLite).

A lost answer is the dangerous case: the node stored the step, the client never heard. The
client must re-post the *same bytes* (never sign again: a new signature would be a second,
different step) and get the original receipt back with ``created=False``; the ledger holds the
step once. When no answer ever comes the client gives up with :class:`Unreachable` after
``retries + 1`` tries, and a 409 is the officer's to judge: never retried, never re-signed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.demo import build_demo
from adapters.keyfiles import read_key
from api.client import Conflict, TongbanClient, Unreachable
from ledger.envelope import parse_event
from ledger.suites import Signer
from tests.support.live import live_node

WINDOW_BODY = "320105-ZWFW"
HOME_BODY = "510104-RS"
APPLICANT = {"name": "张三", "id_number": "11010519491231002X"}
CHECKED = {"result": "pass", "reasons": [], "identity_verified": True}
MAILED = {"leg": "window_to_home", "courier": "EMS", "tracking_number": "EMS1000000001CN"}


class LosesAnswers(httpx.BaseTransport):
    """Forwards every request; for the POSTs ``lose`` picks, the node's answer is read and
    thrown away, and the client sees a read timeout instead (the node did store the step)."""

    def __init__(self, lose: Callable[[int], bool] = lambda n: n == 1):
        self.inner = httpx.HTTPTransport()
        self.lose = lose
        self.posts: list[bytes] = []
        self.requests: list[tuple[str, str]] = []
        self.lost: list[dict[str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if request.method != "POST":
            return self.inner.handle_request(request)
        self.posts.append(request.read())
        response = self.inner.handle_request(request)
        if not self.lose(len(self.posts)):
            return response
        response.read()
        self.lost.append(response.json())
        response.close()
        raise httpx.ReadTimeout("the answer was lost on the way back", request=request)

    def close(self) -> None:
        self.inner.close()


class NeverArrives(httpx.BaseTransport):
    """Reads pass; every POST times out before it reaches the node."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.posts: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return self.inner.handle_request(request)
        self.posts.append(request.read())
        raise httpx.ConnectTimeout("no route to the node", request=request)

    def close(self) -> None:
        self.inner.close()


class CountingSigner:
    """The officer's signer, counting signatures: a 409 must not make the client sign again."""

    def __init__(self, signer: Signer):
        self.signer = signer
        self.signatures = 0

    @property
    def suite(self) -> str:
        return self.signer.suite

    @property
    def public_key(self) -> bytes:
        return self.signer.public_key

    @property
    def key_id(self) -> str:
        return self.signer.key_id

    def sign(self, message: bytes) -> bytes:
        self.signatures += 1
        return self.signer.sign(message)


@dataclass
class DemoNode:
    url: str
    data_dir: Path
    officers: dict[str, tuple[str, Path]]  # officer id → (body id, key file)
    tokens: dict[str, Any]

    def officer(self, body_id: str, n: int = 0) -> str:
        return [o for o, (b, _) in self.officers.items() if b == body_id][n]

    def client(
        self,
        officer_id: str,
        transport: httpx.BaseTransport | None = None,
        *,
        retries: int = 2,
        signer: Signer | None = None,
    ) -> TongbanClient:
        body_id, key_file = self.officers[officer_id]
        return TongbanClient(
            self.url,
            self.tokens["bodies"][body_id],
            signer or read_key(key_file),
            body_id=body_id,
            officer_id=officer_id,
            retries=retries,
            transport=transport,
        )

    def ledger(self) -> list[dict[str, Any]]:
        """Every entry of the ledger, read as an auditor reads it."""
        entries: list[dict[str, Any]] = []
        after: int | None = 0
        while after is not None:
            page = httpx.get(
                f"{self.url}/audit/events",
                params={"after": after, "limit": 1000},
                headers={"Authorization": f"Bearer {self.tokens['auditor']}"},
                timeout=30,
            )
            assert page.status_code == 200, page.text
            entries += page.json()["entries"]
            after = page.json()["next_after"]
        return entries

    def case_entries(self, case_id: uuid.UUID) -> list[dict[str, Any]]:
        return [e for e in self.ledger() if e["stream_id"] == str(case_id)]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoNode]:
    data_dir = tmp_path_factory.mktemp("retry") / "demo"
    build_demo(data_dir, cases=5, seed=3)
    keys = data_dir / "demo-keys"
    index = json.loads((keys / "index.json").read_text(encoding="utf-8"))
    officers = {
        officer["officer_id"]: (body["body_id"], data_dir / officer["key_file"])
        for body in index["bodies"]
        for officer in body["officers"]
    }
    tokens = json.loads((keys / "tokens.json").read_text(encoding="utf-8"))
    with live_node(data_dir, {"TONGBAN_DATABASE_URL": ""}) as url:
        yield DemoNode(url, data_dir, officers, tokens)


def _open_case(node: DemoNode) -> uuid.UUID:
    with node.client(node.officer(WINDOW_BODY)) as window:
        opened = window.receive(
            "510000/2/23",
            "proxy",
            APPLICANT,
            home_body=HOME_BODY,
            jurisdiction="510104",
            materials=[("申请表", hashlib.sha256(b"form").digest())],
        )
    assert opened.created
    return opened.case_id


def test_a_lost_answer_re_posts_the_same_bytes_and_the_step_is_stored_once(
    node: DemoNode,
) -> None:
    case_id = _open_case(node)
    lossy = LosesAnswers()
    with node.client(node.officer(WINDOW_BODY), lossy) as window:
        checked = window.step(case_id, "form_checked", CHECKED)

    # Two tries of one signed envelope, byte for byte; the first one reached the node.
    assert len(lossy.posts) == 2
    assert lossy.posts[0] == lossy.posts[1] == checked.envelope
    assert [r for r in lossy.requests if r[0] == "POST"] == [
        ("POST", f"/cases/{case_id}/events")
    ] * 2
    [original] = lossy.lost
    assert original["created"] is True
    assert checked.created is False
    assert (checked.seq, checked.index) == (2, original["index"])
    assert base64.b64encode(checked.receipt.raw).decode() == original["receipt"]

    entries = node.case_entries(case_id)
    assert [e["seq"] for e in entries] == [1, 2]
    assert base64.b64decode(entries[1]["envelope"]) == checked.envelope
    assert entries[1]["index"] == original["index"]
    everything = [base64.b64decode(e["envelope"]) for e in node.ledger()]
    assert everything.count(checked.envelope) == 1

    # The case goes on from the step as stored.
    with node.client(node.officer(WINDOW_BODY)) as window:
        mailed = window.step(case_id, "mailed", MAILED)
    assert (mailed.seq, mailed.created) == (3, True)


def test_a_lost_answer_when_opening_a_case_returns_the_original_receipt(node: DemoNode) -> None:
    # ``receive`` posts the applicant, then the envelope: lose the envelope's answer.
    lossy = LosesAnswers(lose=lambda n: n == 2)
    with node.client(node.officer(WINDOW_BODY), lossy) as window:
        opened = window.receive(
            "510000/2/23",
            "proxy",
            APPLICANT,
            home_body=HOME_BODY,
            jurisdiction="510104",
            materials=[("申请表", hashlib.sha256(b"form").digest())],
        )
    assert len(lossy.posts) == 3
    assert lossy.posts[1] == lossy.posts[2] == opened.envelope
    assert opened.created is False and opened.index == lossy.lost[0]["index"]
    assert [e["seq"] for e in node.case_entries(opened.case_id)] == [1]


def test_no_answer_at_all_is_unreachable_after_retries_and_writes_nothing(
    node: DemoNode,
) -> None:
    case_id = _open_case(node)
    before = node.ledger()
    dead = NeverArrives()
    with (
        node.client(node.officer(WINDOW_BODY), dead, retries=3) as window,
        pytest.raises(Unreachable, match="no answer after 4 tries"),
    ):
        window.step(case_id, "form_checked", CHECKED)
    assert len(dead.posts) == 3 + 1
    assert len(set(dead.posts)) == 1  # signed once, the same bytes every try
    assert node.ledger() == before

    # Nothing half-written: the next try over a working line takes seq 2 as if nothing happened.
    with node.client(node.officer(WINDOW_BODY)) as window:
        checked = window.step(case_id, "form_checked", CHECKED)
    assert (checked.seq, checked.created) == (2, True)


def test_every_answer_lost_is_unreachable_but_the_step_is_stored_once(node: DemoNode) -> None:
    case_id = _open_case(node)
    lossy = LosesAnswers(lose=lambda n: True)
    with (
        node.client(node.officer(WINDOW_BODY), lossy, retries=2) as window,
        pytest.raises(Unreachable),
    ):
        window.step(case_id, "form_checked", CHECKED)
    assert len(lossy.posts) == 2 + 1 and len(set(lossy.posts)) == 1
    assert [answer["created"] for answer in lossy.lost] == [True, False, False]
    assert len({answer["index"] for answer in lossy.lost}) == 1
    entries = node.case_entries(case_id)
    assert [e["seq"] for e in entries] == [1, 2]
    assert base64.b64decode(entries[1]["envelope"]) == lossy.posts[0]


class RacedTransport(httpx.BaseTransport):
    """Counts requests; just before the first POST goes out, another officer's step lands."""

    def __init__(self, competitor: Callable[[], None]):
        self.inner = httpx.HTTPTransport()
        self.competitor: Callable[[], None] | None = competitor
        self.requests: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        if request.method == "POST" and self.competitor is not None:
            competitor, self.competitor = self.competitor, None
            competitor()
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_a_conflict_is_never_retried_and_never_re_signed(node: DemoNode) -> None:
    case_id = _open_case(node)
    with node.client(node.officer(WINDOW_BODY)) as window:
        window.step(case_id, "form_checked", CHECKED)
    taken: list[bytes] = []

    def colleague_mails_first() -> None:
        with node.client(node.officer(WINDOW_BODY, 1)) as colleague:
            taken.append(colleague.step(case_id, "mailed", MAILED).envelope)

    raced = RacedTransport(colleague_mails_first)
    signer = CountingSigner(read_key(node.officers[node.officer(WINDOW_BODY)][1]))
    with (
        node.client(node.officer(WINDOW_BODY), raced, signer=signer) as window,
        pytest.raises(Conflict) as conflict,
    ):
        window.step(case_id, "mailed", {**MAILED, "tracking_number": "EMS1000000009CN"})

    assert conflict.value.status == 409
    assert signer.signatures == 1
    # The case (its head and its ledger's name), one POST: no second try, no fresh head, no
    # new signature.
    assert raced.requests == [
        ("GET", f"/cases/{case_id}"),
        ("POST", f"/cases/{case_id}/events"),
    ]
    entries = node.case_entries(case_id)
    assert [e["seq"] for e in entries] == [1, 2, 3]
    stored = base64.b64decode(entries[2]["envelope"])
    assert stored == taken[0]
    assert conflict.value.head.seq == 3
    assert conflict.value.head.event_hash == parse_event(stored).hash
