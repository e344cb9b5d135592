"""Generate the relay test vectors in ``tests/vectors/relay/`` (docs/envelope.md §9, §10).

    .venv/bin/python tools/make_relay_vectors.py            # (re)write the vector files
    .venv/bin/python tools/make_relay_vectors.py --check    # exit 1 if a file would change

A relay receipt and a peer request signed with fixed seeds at fixed times (Ed25519 is
deterministic, so the bytes are the same on every run), two negative objects, and the cases of
the relay-receipt time rule (§9.3), each with the verdict an implementation must reach.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script too

from ledger import canonical
from ledger.envelope import RECEIPT_CONTEXT, open_signed
from ledger.relay import (
    PEER_REQUEST_CONTEXT,
    RELAY_RECEIPT_CONTEXT,
    make_peer_request,
    make_relay_receipt,
)
from ledger.suites import Ed25519Signer, get_suite, signing_input
from tools import vectorkit
from tools.vectorkit import seed, to_json

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "relay"

START = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds
SECOND = 1_000_000
TOLERANCE = 300 * SECOND  # the reference node's default claim tolerance
WINDOW_LEDGER, HOME_LEDGER = "tongban/320000", "tongban/510000"
CASE_ID = uuid.UUID("0b5b3a52-7c1e-4c5e-9a0e-2f4d5c6b7a81")
EVENT_HASH = bytes.fromhex("22ba59b660fbd4c3b58a129144c685a02001be1f1020aa322b1820dc0789c73e")
WINDOW_NODE = "window-node/320000"


def _signer() -> Ed25519Signer:
    return Ed25519Signer.from_seed(seed(WINDOW_NODE))


def _positive(name: str, kind: str, context: str, raw: bytes, description: str) -> dict[str, Any]:
    signed = open_signed(raw, context=context)
    suite = get_suite(signed.suite.name)
    return {
        "name": name,
        "valid": True,
        "kind": kind,
        "context": context,
        "description": description,
        "signer": vectorkit.signer_json(WINDOW_NODE, seed(WINDOW_NODE)),
        "content": to_json(signed.content),
        "expected": {
            "content": signed.content_bytes.hex(),
            "signing_input": signing_input(context, suite, signed.content_bytes).hex(),
            "signature": signed.signature.hex(),
            "envelope": raw.hex(),
            "hash": signed.hash.hex(),
            "kid": signed.key_id,
        },
    }


def relay_receipt() -> bytes:
    return make_relay_receipt(
        _signer(),
        relay=WINDOW_LEDGER,
        ledger=HOME_LEDGER,
        event_hash=EVENT_HASH,
        stream_id=CASE_ID,
        seq=2,
        time=START + 61 * SECOND,
    )


def peer_request() -> bytes:
    return make_peer_request(
        _signer(),
        sender=WINDOW_LEDGER,
        receiver=HOME_LEDGER,
        method="POST",
        path="/peer/steps",
        body=b'{"envelope":"..."}',
        time=START + 62 * SECOND,
    )


def _resigned(content: dict[str, Any], context: str) -> bytes:
    content_bytes = canonical.encode(content)
    signer = _signer()
    signature = signer.sign(signing_input(context, get_suite(signer.suite), content_bytes))
    return canonical.encode([content_bytes, signature])


def negative_vectors() -> list[dict[str, Any]]:
    content = dict(open_signed(relay_receipt(), context=RELAY_RECEIPT_CONTEXT).content)
    unknown = _resigned({**content, "home_index": 7}, RELAY_RECEIPT_CONTEXT)
    as_receipt = _resigned({**content, "ctx": RECEIPT_CONTEXT}, RECEIPT_CONTEXT)
    return [
        {
            "name": "neg-relay-receipt-unknown-field",
            "valid": False,
            "context": RELAY_RECEIPT_CONTEXT,
            "envelope": unknown.hex(),
            "public_key": _signer().public_key.hex(),
            "reason": "malformed",
            "refused_by": "decoding",
            "description": "a relay receipt holds exactly its documented fields",
        },
        {
            "name": "neg-relay-receipt-as-node-receipt",
            "valid": False,
            "context": RELAY_RECEIPT_CONTEXT,
            "envelope": as_receipt.hex(),
            "public_key": _signer().public_key.hex(),
            "reason": "wrong_context",
            "refused_by": "decoding",
            "description": "the same content under tongban/receipt/v1 is not a relay receipt",
        },
    ]


def time_rule_vector() -> dict[str, Any]:
    """The relay-receipt rule (§9.3) on fixed times: ``accepted`` or the refusal's field."""
    relayed = START + 61 * SECOND
    cases = [
        ("queued an hour, claimed just before the relay", relayed - 2 * SECOND, relayed,
         relayed + 3600 * SECOND, None),
        ("queued a day: the home clock does not count", relayed + 1 * SECOND, relayed,
         relayed + 86_400 * SECOND, None),
        ("claimed more than the tolerance before the relay", relayed - TOLERANCE - 1, relayed,
         relayed + 10 * SECOND, "time"),
        ("claimed more than the tolerance after the relay", relayed + TOLERANCE + 1, relayed,
         relayed + TOLERANCE + 1, "time"),
        ("claimed exactly at the tolerance", relayed - TOLERANCE, relayed, relayed, None),
        ("relay receipt from the home node's future", relayed, relayed,
         relayed - TOLERANCE - 1, "relay_receipt.time"),
    ]  # fmt: skip
    return {
        "name": "relayed-time-rule",
        "valid": True,
        "kind": "rule",
        "description": "claimed = the event's time, relayed_at = the relay receipt's time, "
        "now = the home node's clock at delivery; refused = the field named, or null",
        "tolerance": TOLERANCE,
        "cases": [
            {"case": what, "claimed": c, "relayed_at": r, "now": n, "refused": f}
            for what, c, r, n, f in cases
        ],
    }


def all_vectors() -> dict[str, dict[str, Any]]:
    vectors = [
        _positive(
            "relay-receipt",
            "relay_receipt",
            RELAY_RECEIPT_CONTEXT,
            relay_receipt(),
            "Jiangsu's window node's relay receipt for seq 2 of a Sichuan case; event = the "
            "hash of event-seq2 (tests/vectors/envelope)",
        ),
        _positive(
            "peer-request",
            "peer_request",
            PEER_REQUEST_CONTEXT,
            peer_request(),
            'The Tongban-Peer header of POST /peer/steps with the body {"envelope":"..."} '
            "(body = SHA-256 of those exact bytes)",
        ),
        *negative_vectors(),
        time_rule_vector(),
    ]
    return {f"{vector['name']}.json": vector for vector in vectors}


def main(argv: list[str] | None = None) -> int:
    return vectorkit.run(argv, description=__doc__.splitlines()[0], out=OUT, vectors=all_vectors)


if __name__ == "__main__":
    sys.exit(main())
