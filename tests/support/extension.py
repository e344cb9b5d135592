"""A case with an extension (延期) on a test node (``tests.support.api_node``): an extension needs
an item whose decision leg has a legal extension (行政许可, by a signed catalog amendment) and
the home body's head (an officer key certified ``head: true``), docs/supervision.md §3.3."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from ledger.admin import RegistryClerk
from ledger.application import now_micros
from ledger.envelope import ZERO_HASH, build_event
from tests.support.api_node import ApiNode
from tests.support.world import Officer, seeded

ITEM = "510000/2/23"  # 社会保障卡补领、换领、换发, received at the Jiangsu window
HOME = "510104-RS"
HEAD = "rs-head"
EXTENSION = {"working_days": 10, "approval": "head_of_body", "reason": "需现场核查"}


def make_permit_and_head(node: ApiNode) -> Officer:
    """Amend the item to 行政许可 (Art. 42: 20 working days, 10 more by the head) and certify
    the home body's head; once per node."""
    if HEAD in node.world.officers:
        return node.world.officers[HEAD]
    ledger = node.services.ledger
    ledger.refresh_registry()
    region = node.world.region
    base = ledger.registry.catalogs.current(region, now_micros()).version
    clerk = RegistryClerk(ledger, region)
    change = {"item": ITEM, "field": "item_type", "value": "行政许可"}
    clerk.append(node.world.root, "catalog_amended", {"base_version": base, "changes": [change]})
    head = seeded(f"officer/{HOME}/{HEAD}")
    clerk.certify_officer(node.world.body_keys[HOME], HOME, HEAD, head.public_key, head=True)
    node.world.officers[HEAD] = Officer(HOME, HEAD, head)
    return node.world.officers[HEAD]


def _post(node: ApiNode, case_id: uuid.UUID, officer: Officer, step: str, body: Any) -> None:
    ledger = node.services.ledger
    head = ledger.head(case_id) if ledger.has_case(case_id) else None
    raw = build_event(
        officer.signer,
        ledger=ledger.ledger_name,
        case_id=case_id,
        seq=1 if head is None else head.seq + 1,
        event_type=step,
        time=now_micros(),
        body_id=officer.body_id,
        officer_id=officer.officer_id,
        prev=ZERO_HASH if head is None else head.event_hash,
        body=body,
    )
    principal = {"320105-ZWFW": "window", HOME: "home"}[officer.body_id]
    path = "/cases" if head is None else f"/cases/{case_id}/events"
    answer = node.post(path, principal, raw)
    assert answer.status_code == 201, answer.text


def accepted_permit_case(node: ApiNode) -> uuid.UUID:
    """A proxy case of the amended item, received at the window and accepted at home."""
    make_permit_and_head(node)
    ledger = node.services.ledger
    ledger.refresh_registry()
    body = node.world.received_body(ITEM, "proxy")
    body["catalog_version"] = ledger.registry.catalogs.current(
        node.world.region, now_micros()
    ).version
    body["applicant"] = node.stored_applicant("window")
    body["materials"] = [{"name": "申请表", "sha256": hashlib.sha256(b"form").digest()}]
    window, home = node.world.officers["js-001"], node.world.officers["rs-001"]
    case_id = uuid.uuid4()
    mailed = {"leg": "window_to_home", "courier": "EMS", "tracking_number": "EMS0001"}
    for officer, step, step_body in (
        (window, "received", body),
        (window, "form_checked", {"result": "pass", "reasons": [], "identity_verified": True}),
        (window, "mailed", mailed),
        (home, "arrived", {"note": ""}),
        (home, "accepted", {"note": ""}),
    ):
        _post(node, case_id, officer, step, step_body)
    return case_id


def extend(node: ApiNode, case_id: uuid.UUID, body: dict[str, Any] | None = None) -> None:
    """The head's 延期 on the case (10 working days unless ``body`` says otherwise)."""
    _post(node, case_id, make_permit_and_head(node), "extended", body or EXTENSION)


def step(node: ApiNode, case_id: uuid.UUID, step_type: str, body: dict[str, Any]) -> None:
    """A step of the home body's officer (rs-001) on the case's head."""
    _post(node, case_id, node.world.officers["rs-001"], step_type, body)
