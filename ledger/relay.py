"""Relaying a step to its home ledger (normative text: ``docs/envelope.md`` §9 and §10).

A clerk posts a step of a case homed in another region to their own node (the *window*
node). The window node checks what it can, forwards the exact signed bytes to the *home*
node, and signs a **relay receipt** (``tongban/relay-receipt/v1``) with its node key: its word
that the step reached it at ``time``. When the home node is unreachable the step waits in the
window node's queue with that receipt; the home node then checks the step's claimed time
against the relay receipt's time, not its own clock (:func:`check_relayed_time`).

Every call between nodes carries a **peer request** (``tongban/peer-request/v1``) signed with
the calling node's key, naming the method, the path, a digest of the body and the time: the
home node authenticates its peer by the key it configured for that ledger, the way a witness
authenticates a log by the log's key on the checkpoint.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ledger.envelope import (
    SignedObject,
    SignedView,
    open_signed,
    parse_case_id,
    require,
    seal,
)
from ledger.errors import EnvelopeRejected, MalformedEncoding
from ledger.suites import Signer, get_suite

RELAY_RECEIPT_CONTEXT = "tongban/relay-receipt/v1"
PEER_REQUEST_CONTEXT = "tongban/peer-request/v1"

RELAY_RECEIPT_FIELDS = frozenset(
    {"v", "suite", "ctx", "kid", "relay", "ledger", "event", "stream", "seq", "time"}
)
PEER_REQUEST_FIELDS = frozenset(
    {"v", "suite", "ctx", "kid", "from", "to", "method", "path", "body", "time"}
)


class RelayRefused(EnvelopeRejected):
    """A relayed step or a peer request the home node refuses (reason in ``reason``)."""

    reason = "relay_refused"


class RelayedTimeOutOfTolerance(EnvelopeRejected):
    reason = "time_out_of_tolerance"


class PeerUnauthenticated(EnvelopeRejected):
    reason = "peer_unauthenticated"


@dataclass(frozen=True)
class RelayReceipt(SignedView):
    """The window node's signed word that a step for ``ledger`` reached it at ``time``."""

    signed: SignedObject
    relay: str  # the window node's ledger name
    ledger: str  # the home ledger the step is for
    event_hash: bytes
    stream_id: uuid.UUID
    seq: int
    time: int


def make_relay_receipt(
    node_signer: Signer,
    *,
    relay: str,
    ledger: str,
    event_hash: bytes,
    stream_id: uuid.UUID,
    seq: int,
    time: int,
) -> bytes:
    """The relay receipt's exact bytes, signed with the window node's key."""
    return seal(
        {
            "ctx": RELAY_RECEIPT_CONTEXT,
            "relay": relay,
            "ledger": ledger,
            "event": event_hash,
            "stream": str(stream_id),
            "seq": seq,
            "time": time,
        },
        node_signer,
    )


def _known_fields(content: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(content) - allowed)
    if unknown:
        raise MalformedEncoding(f"unknown fields {unknown}", field=unknown[0])


def parse_relay_receipt(raw: bytes) -> RelayReceipt:
    """Decode and shape-check a relay receipt (not its signature)."""
    signed = open_signed(raw, context=RELAY_RECEIPT_CONTEXT)
    content = signed.content
    _known_fields(content, RELAY_RECEIPT_FIELDS)
    seq, time = require(content, "seq", int), require(content, "time", int)
    if seq < 1:
        raise MalformedEncoding("seq starts at 1", field="seq")
    if time < 0:
        raise MalformedEncoding("time must be microseconds since the epoch", field="time")
    event_hash = require(content, "event", bytes)
    if len(event_hash) != signed.suite.digest_size:
        raise MalformedEncoding("event must be one digest", field="event")
    return RelayReceipt(
        signed=signed,
        relay=require(content, "relay", str),
        ledger=require(content, "ledger", str),
        event_hash=event_hash,
        stream_id=parse_case_id(require(content, "stream", str), "stream"),
        seq=seq,
        time=time,
    )


def check_relay_receipt(
    receipt: RelayReceipt,
    *,
    peer_key: bytes,
    home_ledger: str,
    event_hash: bytes,
    stream_id: uuid.UUID,
    seq: int,
) -> None:
    """Raise unless ``receipt`` is the peer's signature over exactly this step for this
    ledger (§9.2 steps 1–3)."""
    try:
        receipt.signed.verify(peer_key)
    except Exception as error:
        raise RelayRefused(
            "the relay receipt is not signed by the peer's node key",
            reason="bad_signature",
            field="relay_receipt",
        ) from error
    if receipt.ledger != home_ledger:
        raise RelayRefused(
            f"the relay receipt is for ledger {receipt.ledger!r}, this is {home_ledger!r}",
            reason="wrong_ledger",
            field="relay_receipt.ledger",
        )
    if (receipt.event_hash, receipt.stream_id, receipt.seq) != (event_hash, stream_id, seq):
        raise RelayRefused(
            "the relay receipt names another step than the envelope sent with it",
            reason="relay_mismatch",
            field="relay_receipt.event",
        )


def check_relayed_time(claimed: int, relayed_at: int, now: int, tolerance: int) -> None:
    """The relay-receipt rule (§9.3): the claimed time is within ``tolerance`` of the time
    the step reached the window node, and that time is not later than the home node's clock
    by more than ``tolerance``. How long the step then waited in the queue does not count."""
    if relayed_at - now > tolerance:
        raise RelayedTimeOutOfTolerance(
            f"the relay receipt's time is {(relayed_at - now) / 1e6:+.0f} s from the node's "
            f"clock (tolerance {tolerance / 1e6:.0f} s)",
            field="relay_receipt.time",
        )
    if abs(claimed - relayed_at) > tolerance:
        raise RelayedTimeOutOfTolerance(
            f"claimed time is {(claimed - relayed_at) / 1e6:+.0f} s from the relay receipt's "
            f"time (tolerance {tolerance / 1e6:.0f} s)",
            field="time",
        )


# -- peer requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerRequest(SignedView):
    """One authenticated call from node ``sender`` to node ``receiver``."""

    signed: SignedObject
    sender: str
    receiver: str
    method: str
    path: str
    body_digest: bytes
    time: int


def make_peer_request(
    node_signer: Signer,
    *,
    sender: str,
    receiver: str,
    method: str,
    path: str,
    body: bytes,
    time: int,
) -> bytes:
    """The signed header value of one call (``path`` with its query string)."""
    digest = get_suite(node_signer.suite).digest(body)
    return seal(
        {
            "ctx": PEER_REQUEST_CONTEXT,
            "from": sender,
            "to": receiver,
            "method": method.upper(),
            "path": path,
            "body": digest,
            "time": time,
        },
        node_signer,
    )


def parse_peer_request(raw: bytes) -> PeerRequest:
    signed = open_signed(raw, context=PEER_REQUEST_CONTEXT)
    content = signed.content
    _known_fields(content, PEER_REQUEST_FIELDS)
    return PeerRequest(
        signed=signed,
        sender=require(content, "from", str),
        receiver=require(content, "to", str),
        method=require(content, "method", str),
        path=require(content, "path", str),
        body_digest=require(content, "body", bytes),
        time=require(content, "time", int),
    )


def check_peer_request(
    request: PeerRequest,
    *,
    peer_key: bytes,
    receiver: str,
    method: str,
    path: str,
    body: bytes,
    now: int,
    tolerance: int,
) -> None:
    """Raise ``PeerUnauthenticated`` unless ``request`` is the peer's signature over exactly
    this call, to this node, made within ``tolerance`` of ``now`` (§10)."""
    try:
        request.signed.verify(peer_key)
    except Exception as error:
        raise PeerUnauthenticated(
            "the peer request is not signed by the key configured for its sender",
            field="tongban-peer",
        ) from error
    checks = (
        (request.receiver == receiver, f"it is addressed to {request.receiver!r}", "to"),
        (request.method == method.upper(), "it signs another method", "method"),
        (request.path == path, "it signs another path", "path"),
        (request.body_digest == request.signed.suite.digest(body), "it signs another body", "body"),
        (abs(request.time - now) <= tolerance, "its time is out of tolerance", "time"),
    )
    for ok, why, field in checks:
        if not ok:
            raise PeerUnauthenticated(
                f"the peer request does not authenticate this call: {why}",
                field=f"tongban-peer.{field}",
            )
