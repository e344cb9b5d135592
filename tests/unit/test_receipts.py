"""Receipts are packed directly (the append path signs one per event): the bytes must be
exactly what the general canonical encoder makes of the same content."""

from __future__ import annotations

import uuid

import pytest

from ledger.envelope import RECEIPT_CONTEXT, seal
from ledger.receipts import make_receipt, parse_receipt
from ledger.suites import Ed25519Signer

NODE = Ed25519Signer.from_seed(bytes(range(32)))


@pytest.mark.parametrize(
    ("ledger", "index", "seq", "time"),
    [
        ("tongban/510000", 1, 1, 0),
        ("tongban/510000", 127, 128, 1_767_225_600_000_000),
        ("tongban/510000", 2**16, 2**32, -1),
        ("tongban/四川", 2**64 - 1, 2**63, -(2**63)),
    ],
)
def test_a_receipt_is_the_canonical_seal_of_its_content(
    ledger: str, index: int, seq: int, time: int
) -> None:
    stream = uuid.UUID(int=index % 2**128)
    event_hash = bytes([index % 256]) * 32
    made = make_receipt(
        NODE,
        ledger=ledger,
        index=index,
        event_hash=event_hash,
        stream_id=stream,
        seq=seq,
        time=time,
    )
    content = {
        "ledger": ledger,
        "index": index,
        "event": event_hash,
        "stream": str(stream),
        "seq": seq,
        "time": time,
        "ctx": RECEIPT_CONTEXT,
    }
    assert made == seal(content, NODE)
    receipt = parse_receipt(made)
    receipt.signed.verify(NODE.public_key)
    assert (receipt.ledger, receipt.index, receipt.seq, receipt.time) == (ledger, index, seq, time)
    assert (receipt.event_hash, receipt.stream_id) == (event_hash, stream)
