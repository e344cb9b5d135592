"""Node receipts: the node's signed word that it accepted an object at a ledger index.

A receipt is a ``tongban/receipt/v1`` signed object (``docs/envelope.md``) made with the node's
ledger key, whose content names the ledger, the dense ledger index, the accepted object's hash,
its stream and seq, and the receipt time. It is stored beside the object and returned to the
caller as proof of submission.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ledger.envelope import (
    RECEIPT_CONTEXT,
    SignedObject,
    SignedView,
    open_signed,
    parse_case_id,
    require,
    seal,
)
from ledger.suites import Signer


@dataclass(frozen=True)
class Receipt(SignedView):
    signed: SignedObject
    ledger: str
    index: int
    event_hash: bytes
    stream_id: uuid.UUID
    seq: int
    time: int


def make_receipt(
    node_signer: Signer,
    *,
    ledger: str,
    index: int,
    event_hash: bytes,
    stream_id: uuid.UUID,
    seq: int,
    time: int,
) -> bytes:
    return seal(
        {
            "ctx": RECEIPT_CONTEXT,
            "ledger": ledger,
            "index": index,
            "event": event_hash,
            "stream": str(stream_id),
            "seq": seq,
            "time": time,
        },
        node_signer,
    )


def parse_receipt(raw: bytes) -> Receipt:
    signed = open_signed(raw, context=RECEIPT_CONTEXT)
    content = signed.content
    return Receipt(
        signed=signed,
        ledger=require(content, "ledger", str),
        index=require(content, "index", int),
        event_hash=require(content, "event", bytes),
        stream_id=parse_case_id(require(content, "stream", str), "stream"),
        seq=require(content, "seq", int),
        time=require(content, "time", int),
    )
