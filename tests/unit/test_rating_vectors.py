"""The vectors in ``tests/vectors/ratings/`` (docs/envelope.md §5.5), checked against the
generator, with the library's rules, and with hashlib and cryptography alone from the doc."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.envelope import parse_event
from ledger.errors import LedgerError
from ledger.workflow import CaseState, take_step
from tests.support.cases import fake_catalogs, fake_entitlement
from tools import make_rating_vectors, vectorkit

VECTORS_DIR = Path(__file__).resolve().parent.parent / "vectors" / "ratings"
VECTORS = {
    path.stem: json.loads(path.read_text(encoding="utf-8"))
    for path in sorted(VECTORS_DIR.glob("*.json"))
}
NEGATIVE = [name for name, v in VECTORS.items() if not v["valid"]]


def test_the_files_are_what_the_generator_makes() -> None:
    made = make_rating_vectors.all_vectors()
    assert {name.removesuffix(".json") for name in made} == set(VECTORS)
    for name, vector in made.items():
        assert (VECTORS_DIR / name).read_text(encoding="utf-8") == vectorkit.render(vector)


def test_code_proof_and_commitment_from_the_document_alone() -> None:
    received = VECTORS["rating-received"]
    code = received["rating_code"]
    normalized = code["code"].replace("-", "").upper()
    assert normalized == code["normalized"]
    case_id = received["content"]["case"]
    proof = hashlib.sha256(
        b"tongban/rating-code/v1\x00" + case_id.encode() + b"\x00" + normalized.encode()
    ).digest()
    assert proof.hex() == code["proof"]
    commitment = hashlib.sha256(proof).digest()
    assert received["content"]["body"]["rating_code"] == {"bin": commitment.hex()}
    rated = VECTORS["rating-node-signed"]["content"]
    assert rated["body"]["code_proof"] == {"bin": proof.hex()}
    assert rated["actor"]["officer"] == "node"


@pytest.mark.parametrize("name", ["rating-received", "rating-node-signed", "rating-officer-signed"])
def test_signatures_verify_from_the_document_alone(name: str) -> None:
    vector = VECTORS[name]
    outer = bytes.fromhex(vector["expected"]["envelope"])
    content, signature = msgpack.unpackb(outer)
    signing_input = b"tongban/event/v1\x00" + hashlib.sha256(content).digest()
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(vector["signer"]["public_key"]))
    key.verify(signature, signing_input)  # raises if not


def delivered_state() -> CaseState:
    received = VECTORS["rating-received"]["content"]
    return CaseState(
        state="delivered",
        item=received["body"]["item"],
        channel=received["body"]["channel"],
        coordination="single",
        intake_body=received["actor"]["body"],
        home_body=received["body"]["home_body"],
        rating_code=bytes.fromhex(received["body"]["rating_code"]["bin"]),
    )


def _take(envelope_hex: str) -> CaseState:
    envelope = parse_event(bytes.fromhex(envelope_hex))
    return take_step(delivered_state(), envelope, fake_catalogs(), fake_entitlement())


@pytest.mark.parametrize(
    ("name", "rating"),
    [("rating-node-signed", "verifying"), ("rating-officer-signed", "rated")],
)
def test_valid_ratings_are_taken_by_the_rules(name: str, rating: str) -> None:
    assert _take(VECTORS[name]["expected"]["envelope"]).rating == rating


@pytest.mark.parametrize("name", NEGATIVE)
def test_negative_ratings_are_refused_with_their_reason(name: str) -> None:
    vector: dict[str, Any] = VECTORS[name]
    with pytest.raises(LedgerError) as error:
        _take(vector["envelope"])
    assert (error.value.reason, error.value.field) == (vector["reason"], vector["field"])
