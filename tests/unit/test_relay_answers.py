"""How the window node reads a home node's answer (``adapters.relay``): an authentication
refusal apart from a refusal of the step, a "not now" (408, 429, 5xx) retried, and a ledger
it neither is nor relays to, said with the ledgers it has; and the client's check of
``--ledger`` (``api.client``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import httpx
import pytest

from adapters.applicants import NodeApplicants
from adapters.relay import (
    NodeRelay,
    PeerUnauthenticated,
    PeerUnreachable,
    authentication_refused,
    unknown_ledger,
)
from adapters.relay_peers import PeerNode
from adapters.relay_store import RelayStore
from api.client import check_case_ledger
from ledger.application import LedgerApplication, now_micros
from tests.support.world import seeded

SC = PeerNode("tongban/510000", "http://127.0.0.1:8002", bytes(32))


@pytest.mark.parametrize(
    ("status", "document", "refused"),
    [
        (401, {"reason": "peer_unauthenticated", "detail": "bad signature"}, True),
        (401, {}, True),
        (403, {"detail": "<html>Forbidden</html>"}, True),  # a proxy before the home node
        (403, {"reason": "unknown_body", "field": "actor.body"}, False),  # the home's refusal
        (403, {"reason": "forbidden"}, False),
        (404, {}, False),
        (422, {"reason": "malformed"}, False),
    ],
)
def test_an_authentication_refusal_is_told_from_a_refusal_of_the_step(
    status: int, document: dict[str, str], refused: bool
) -> None:
    assert authentication_refused(status, document) is refused


def test_a_ledger_this_node_does_not_relay_to_is_said_with_the_ledgers_it_has() -> None:
    said = unknown_ledger("tongban/440000", "tongban/320000", {SC.ledger: SC})
    assert "this node relays to no ledger tongban/440000" in said
    assert "this node's own ledger is tongban/320000" in said
    assert "the ledgers it relays to: tongban/510000" in said
    for typo in ("510000", "tongban/51000", "tongban:510000", "Tongban/510000"):
        assert f"{typo!r} is not a ledger name" in unknown_ledger(typo, "tongban/320000", {})
    assert "none (tongban relay add-peer)" in unknown_ledger("tongban/440000", "x", {})


def test_case_receive_checks_ledger_against_the_items_region() -> None:
    node = {"ledger": "tongban/320000", "region": "320000"}
    check_case_ledger("tongban/510000", "510000/2/23", node)  # the item's own: fine
    for ledger, said in (
        ("tongban/320000", "tongban/320000 is this node's own ledger"),
        ("tongban/440000", "tongban/440000 is region 440000's"),
        ("510000", "'510000' is not a ledger name"),
    ):
        with pytest.raises(ValueError, match="its cases live in tongban/510000") as refused:
            check_case_ledger(ledger, "510000/2/23", node)
        assert said in str(refused.value)


def relay_answering(status: int, document: dict[str, str], tmp_path: Path) -> NodeRelay:
    """A window's relay whose home node answers every call with ``status`` and ``document``."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=document)

    window = SimpleNamespace(
        node_signer=seeded("node/320000"), ledger_name="tongban/320000", clock=now_micros
    )
    return NodeRelay(
        cast(LedgerApplication, window),
        cast(NodeApplicants, None),
        cast(RelayStore, None),
        tmp_path,
        http=lambda: httpx.Client(transport=httpx.MockTransport(answer)),
    )


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_a_home_node_saying_not_now_is_unreachable_and_retried(status: int, tmp_path: Path) -> None:
    # Not a refusal of the step: settled as one, its applicant would be erased for nothing.
    with pytest.raises(PeerUnreachable, match=f"HTTP {status}"):
        relay_answering(status, {"detail": "busy"}, tmp_path).call(SC, "POST", "/peer/steps", b"{}")


def test_an_authentication_refusal_names_the_fix(tmp_path: Path) -> None:
    refusal = {"reason": "peer_unauthenticated", "detail": "no peer 'tongban/320000'"}
    relay = relay_answering(401, refusal, tmp_path)
    with pytest.raises(PeerUnauthenticated) as refused:
        relay.call(SC, "POST", "/peer/steps", b"{}")
    said = str(refused.value)
    assert "authentication refused by tongban/510000" in said and "no peer" in said
    key = seeded("node/320000").public_key.hex()
    assert (
        f"tongban relay add-peer --ledger tongban/320000 --url <this node's URL> --key {key}"
        in said
    )
    # The home node's own 403 (the body it does not know) is its answer, not an auth failure.
    answer = relay_answering(403, {"reason": "unknown_body"}, tmp_path).call(SC, "GET", "/x", b"")
    assert (answer.status, answer.document["reason"]) == (403, "unknown_body")
