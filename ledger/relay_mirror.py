"""The window node's own evidence of what its officers signed for other ledgers.

For every step it relayed and the home node accepted, the window node appends to **its own**
ledger a ``tongban/relay-mirror/v1`` object signed with its node key, holding the step's exact
bytes, the relay receipt it signed when the step reached it and the home node's receipt. One
mirror stream per home ledger (:func:`mirror_stream_id`), hash-chained like any stream, so the
window node's checkpoints commit to it and its ``audit verify`` checks it: the mirror's and the
relay receipt's node signatures, the officer's signature under the window's own registry at
the relay receipt's time, and that the three name one step (docs/relay.md, "The mirror").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger.envelope import (
    Envelope,
    SignedObject,
    SignedView,
    open_signed,
    parse_case_id,
    parse_event,
    require,
    seal,
)
from ledger.errors import MalformedEncoding

if TYPE_CHECKING:
    from ledger.keys import KeyRegistry
from ledger.receipts import Receipt, parse_receipt
from ledger.relay import RelayReceipt, parse_relay_receipt
from ledger.suites import Signer

MIRROR_CONTEXT = "tongban/relay-mirror/v1"
MIRROR_FIELDS = frozenset(
    {
        "v",
        "suite",
        "ctx",
        "kid",
        "ledger",
        "stream",
        "seq",
        "prev",
        "time",
        "home",
        "step",
        "relay_receipt",
        "home_receipt",
    }
)
_NAMESPACE = uuid.UUID("6f1c3a9e-2b7d-4e58-9a41-0c2d7b5e8f13")


def mirror_stream_id(home_ledger: str) -> uuid.UUID:
    """The window ledger's mirror stream of the steps relayed to ``home_ledger``."""
    return uuid.uuid5(_NAMESPACE, f"tongban/relay-mirror/{home_ledger}")


@dataclass(frozen=True)
class RelayMirror(SignedView):
    signed: SignedObject
    ledger: str
    stream_id: uuid.UUID
    seq: int
    prev: bytes
    time: int
    home: str
    step: Envelope
    relay: RelayReceipt
    home_receipt: Receipt


def build_mirror(
    node_signer: Signer,
    *,
    ledger: str,
    home: str,
    seq: int,
    prev: bytes,
    time: int,
    step: bytes,
    relay_receipt: bytes,
    home_receipt: bytes,
) -> bytes:
    raw = seal(
        {
            "ctx": MIRROR_CONTEXT,
            "ledger": ledger,
            "stream": str(mirror_stream_id(home)),
            "seq": seq,
            "prev": prev,
            "time": time,
            "home": home,
            "step": step,
            "relay_receipt": relay_receipt,
            "home_receipt": home_receipt,
        },
        node_signer,
    )
    parse_mirror(raw)  # never hand out bytes the ledger would refuse
    return raw


def parse_mirror(raw: bytes) -> RelayMirror:
    """Decode a mirror object and check that its parts name one step (not the signatures)."""
    signed = open_signed(raw, context=MIRROR_CONTEXT)
    content = signed.content
    unknown = sorted(set(content) - MIRROR_FIELDS)
    if unknown:
        raise MalformedEncoding(f"unknown fields {unknown}", field=unknown[0])
    seq, time = require(content, "seq", int), require(content, "time", int)
    if seq < 1:
        raise MalformedEncoding("seq starts at 1", field="seq")
    prev = require(content, "prev", bytes)
    if len(prev) != signed.suite.digest_size:
        raise MalformedEncoding("prev must be one digest long", field="prev")
    home = require(content, "home", str)
    stream_id = parse_case_id(require(content, "stream", str), "stream")
    if stream_id != mirror_stream_id(home):
        raise MalformedEncoding("stream is not the mirror stream of home", field="stream")
    step = parse_event(require(content, "step", bytes))
    relay = parse_relay_receipt(require(content, "relay_receipt", bytes))
    home_receipt = parse_receipt(require(content, "home_receipt", bytes))
    ledger = require(content, "ledger", str)
    same_step = (
        relay.event_hash == step.hash == home_receipt.event_hash
        and relay.stream_id == step.case_id == home_receipt.stream_id
        and relay.seq == step.seq == home_receipt.seq
    )
    if not same_step:
        raise MalformedEncoding(
            "step, relay receipt and home receipt name different steps", field="step"
        )
    if not (relay.ledger == step.ledger == home_receipt.ledger == home) or relay.relay != ledger:
        raise MalformedEncoding("the ledgers of the parts do not agree", field="home")
    return RelayMirror(
        signed=signed,
        ledger=ledger,
        stream_id=stream_id,
        seq=seq,
        prev=prev,
        time=time,
        home=home,
        step=step,
        relay=relay,
        home_receipt=home_receipt,
    )


def check_mirror_signatures(registry: KeyRegistry, mirror: RelayMirror, moment: int) -> None:
    """Raise unless the mirror is signed by a node key of this region valid at ``moment``,
    its relay receipt by one valid at the relay's time, and its step by an officer this
    registry certifies at that time (the window's own check, when the step reached it)."""
    node = registry.node_key_at(mirror.key_id, moment)
    mirror.signed.verify(node.public_key)
    relayed = registry.node_key_at(mirror.relay.key_id, mirror.relay.time)
    mirror.relay.signed.verify(relayed.public_key)
    step = mirror.step
    officer = registry.officer_key_at(
        step.key_id, mirror.relay.time, body_id=step.body_id, officer_id=step.officer_id
    )
    step.signed.verify(officer.public_key)
