"""Node receipts: the node's signed word that it accepted an object at a ledger index.

A receipt is a ``tongban/receipt/v1`` signed object (``docs/envelope.md``) made with the node's
ledger key, whose content names the ledger, the dense ledger index, the accepted object's hash,
its stream and seq, and the receipt time. It is stored beside the object and returned to the
caller as proof of submission.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import msgpack

from ledger.envelope import (
    FORMAT_VERSION,
    RECEIPT_CONTEXT,
    SignedObject,
    SignedView,
    open_signed,
    parse_case_id,
    require,
)
from ledger.errors import MalformedEncoding
from ledger.suites import Signer, get_suite, signing_input


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
    """The receipt's exact bytes (what :func:`ledger.envelope.seal` would make of its content).

    Signed on every append, inside the write: the content is built from the node's own
    checked values with its keys already in canonical order and msgpack packs every value in
    its shortest form, so packing it directly is its canonical encoding without the general
    encoder's walk (``tests/unit/test_receipts.py`` holds the two equal)."""
    content = {
        "ctx": RECEIPT_CONTEXT,
        "event": event_hash,
        "index": index,
        "kid": node_signer.key_id,
        "ledger": ledger,
        "seq": seq,
        "stream": str(stream_id),
        "suite": node_signer.suite,
        "time": time,
        "v": FORMAT_VERSION,
    }
    content_bytes: bytes = msgpack.packb(content, use_bin_type=True)
    message = signing_input(RECEIPT_CONTEXT, get_suite(node_signer.suite), content_bytes)
    return msgpack.packb([content_bytes, node_signer.sign(message)], use_bin_type=True)  # type: ignore[no-any-return]


#: A receipt's content holds exactly these fields (docs/envelope.md §6).
RECEIPT_FIELDS = frozenset(
    {"v", "suite", "ctx", "kid", "ledger", "index", "event", "stream", "seq", "time"}
)


def parse_receipt(raw: bytes) -> Receipt:
    signed = open_signed(raw, context=RECEIPT_CONTEXT)
    content = signed.content
    unknown = sorted(set(content) - RECEIPT_FIELDS)
    if unknown:
        raise MalformedEncoding(f"unknown fields {unknown}", field=unknown[0])
    index, seq = require(content, "index", int), require(content, "seq", int)
    for name, value in (("index", index), ("seq", seq)):
        if value < 1:
            raise MalformedEncoding(f"{name} starts at 1", field=name)
    event_hash = require(content, "event", bytes)
    if len(event_hash) != signed.suite.digest_size:
        raise MalformedEncoding(
            f"event must be one digest ({signed.suite.digest_size} bytes)", field="event"
        )
    return Receipt(
        signed=signed,
        ledger=require(content, "ledger", str),
        index=index,
        event_hash=event_hash,
        stream_id=parse_case_id(require(content, "stream", str), "stream"),
        seq=seq,
        time=require(content, "time", int),
    )
