"""The relay vectors (``tests/vectors/relay/``, docs/envelope.md §9, §10) against the code.

Each signed vector is rebuilt from its JSON content with the seed it names: the canonical
content, the signing input, the signature and the outer bytes must come out byte for byte, and
the library must open it as its kind. Negative vectors must be refused with their reason; the
time rule's cases must each get their verdict from ``ledger.relay.check_relayed_time``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import canonical
from ledger.envelope import open_signed
from ledger.errors import LedgerError
from ledger.relay import (
    PEER_REQUEST_CONTEXT,
    RELAY_RECEIPT_CONTEXT,
    check_relayed_time,
    parse_peer_request,
    parse_relay_receipt,
)
from tools import make_relay_vectors

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "relay"


def load(name: str) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text())
    return vector


def from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"bin"}:
            return bytes.fromhex(value["bin"])
        return {key: from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json(item) for item in value]
    return value


def test_the_files_are_what_the_generator_makes() -> None:
    assert make_relay_vectors.main(["--check"]) == 0


@pytest.mark.parametrize("name", ["relay-receipt", "peer-request"])
def test_a_signed_vector_is_rebuilt_byte_for_byte(name: str) -> None:
    vector = load(name)
    expected = {k: bytes.fromhex(v) if k != "kid" else v for k, v in vector["expected"].items()}
    content = canonical.encode(from_json(vector["content"]))
    assert content == expected["content"]
    # ctx || 0x00 || SHA-256(content), signed with Ed25519 (§2.3), by hand.
    message = vector["context"].encode() + b"\x00" + hashlib.sha256(content).digest()
    assert message == expected["signing_input"]
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["signer"]["seed"]))
    assert key.sign(message) == expected["signature"]
    outer = canonical.encode([content, expected["signature"]])
    assert outer == expected["envelope"]
    assert hashlib.sha256(outer).digest() == expected["hash"]
    if vector["context"] == RELAY_RECEIPT_CONTEXT:
        receipt = parse_relay_receipt(outer)
        assert (receipt.relay, receipt.ledger, receipt.seq) == (
            "tongban/320000",
            "tongban/510000",
            2,
        )
    else:
        assert vector["context"] == PEER_REQUEST_CONTEXT
        request = parse_peer_request(outer)
        assert request.body_digest == hashlib.sha256(b'{"envelope":"..."}').digest()
    open_signed(outer, context=vector["context"]).verify(
        bytes.fromhex(vector["signer"]["public_key"])
    )


@pytest.mark.parametrize(
    "name", ["neg-relay-receipt-unknown-field", "neg-relay-receipt-as-node-receipt"]
)
def test_a_negative_vector_is_refused_with_its_reason(name: str) -> None:
    vector = load(name)
    with pytest.raises(LedgerError) as refused:
        parse_relay_receipt(bytes.fromhex(vector["envelope"]))
    assert refused.value.reason == vector["reason"]


def test_each_case_of_the_time_rule_gets_its_verdict() -> None:
    vector = load("relayed-time-rule")
    verdicts: list[str | None] = []
    for case in vector["cases"]:
        try:
            check_relayed_time(
                case["claimed"], case["relayed_at"], case["now"], vector["tolerance"]
            )
            verdicts.append(None)
        except LedgerError as refused:
            assert refused.reason == "time_out_of_tolerance"
            verdicts.append(refused.field)
    assert verdicts == [case["refused"] for case in vector["cases"]]
    assert {None, "time", "relay_receipt.time"} == set(verdicts)
