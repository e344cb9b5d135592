"""Calls of Jiangsu's node to the in-process Sichuan node of ``tests.support.api_node``, signed
as the peer API wants them (``Tongban-Peer``, docs/relay.md): a relayed ``received`` step with
its relay receipt and applicant, and a read of a case for Jiangsu's window."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from urllib.parse import urlencode

from adapters.relay import PEER_HEADER
from adapters.relay_peers import PeerNode, save_peer
from ledger.application import now_micros
from ledger.envelope import ZERO_HASH, parse_event
from ledger.personal import applicant_ref, commitments, validate_personal_data
from ledger.relay import make_peer_request, make_relay_receipt
from tests.support.api_node import APPLICANT, ApiNode
from tests.support.world import seeded

JS_LEDGER = "tongban/320000"
PEER_SIGNER = seeded("node/320000/peer")  # Jiangsu's node key, as Sichuan's peers.json names it


def configure_peer(node: ApiNode) -> None:
    """Sichuan's node knows Jiangsu's node by its key (the URL is never called here)."""
    save_peer(node.data_dir, PeerNode(JS_LEDGER, "http://127.0.0.1:9", PEER_SIGNER.public_key))


def peer_headers(node: ApiNode, method: str, path: str, body: bytes) -> dict[str, str]:
    signed = make_peer_request(
        PEER_SIGNER,
        sender=JS_LEDGER,
        receiver=node.services.ledger.ledger_name,
        method=method,
        path=path,
        body=body,
        time=now_micros(),
    )
    return {PEER_HEADER: base64.b64encode(signed).decode()}


def relayed_received(node: ApiNode, case_id: uuid.UUID | None = None) -> tuple[bytes, bytes]:
    """``(request body, exact envelope)`` of a ``received`` step Jiangsu's window signed for
    Sichuan's ledger, relayed with Jiangsu's relay receipt and the applicant's record."""
    secret = os.urandom(32)
    ref = applicant_ref()
    signed_commitments = commitments(secret, validate_personal_data(APPLICANT))
    body = node.world.received_body("510000/2/23", "proxy")
    body["applicant"] = {"ref": ref, "commitments": signed_commitments}
    body["materials"] = [{"name": "申请表", "sha256": hashlib.sha256(b"form").digest()}]
    raw = node.envelope("320105-ZWFW", case_id or uuid.uuid4(), 1, ZERO_HASH, "received", body)
    envelope = parse_event(raw)
    receipt = make_relay_receipt(
        PEER_SIGNER,
        relay=JS_LEDGER,
        ledger=envelope.ledger,
        event_hash=envelope.hash,
        stream_id=envelope.case_id,
        seq=1,
        time=now_micros(),
    )
    document = {
        "envelope": base64.b64encode(raw).decode(),
        "relay_receipt": base64.b64encode(receipt).decode(),
        "applicant": {"ref": ref, "secret": base64.b64encode(secret).decode(), "data": APPLICANT},
    }
    return json.dumps(document).encode(), raw


def read_path(case_id: uuid.UUID, **params: str) -> str:
    return f"/peer/cases/{case_id}?{urlencode({'body': '320105-ZWFW', **params})}"
