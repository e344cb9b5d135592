"""Login proofs (``ledger/login.py``, ``docs/login.md``): the vectors, and the rules a node
applies to a proof an officer's page signed."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.envelope import EVENT_CONTEXT, open_signed
from ledger.errors import LedgerError
from ledger.keys import KeyRegistry, parse_key_record
from ledger.login import Challenge, build_login, login_signing_input, parse_login, verify_login
from ledger.suites import Ed25519Signer

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
LOGIN = {path.stem: json.loads(path.read_text()) for path in (VECTORS / "login").glob("*.json")}


class IssuedNonces:
    """The node's side of the challenge: nonces it issued, each answered once."""

    def __init__(self, *issued: bytes) -> None:
        self.open = set(issued)

    def consume(self, nonce: bytes, now: int) -> bool:
        if nonce not in self.open:
            return False
        self.open.discard(nonce)
        return True


def _registry() -> KeyRegistry:
    records = [json.loads(path.read_text()) for path in (VECTORS / "envelope").glob("key-*.json")]
    root = next(r for r in records if r["name"] == "key-root-established")
    registry = KeyRegistry({"510000": bytes.fromhex(root["signer"]["public_key"])})
    for record in sorted(records, key=lambda r: r["index"]):
        raw = bytes.fromhex(record["expected"]["envelope"])
        registry.apply(parse_key_record(raw), record["received_at"], record["index"])
    return registry


def _verify(vector: dict[str, Any], *, used: bool = False) -> Any:
    valid = LOGIN["login-valid"]
    nonces = IssuedNonces(bytes.fromhex(valid["challenge"]["nonce"]))
    raw = bytes.fromhex(vector.get("proof") or vector["expected"]["proof"])
    check = vector["check"]
    if used or check.get("nonce_used"):
        verify_login(
            raw, origin=check["origin"], now=check["now"], registry=_registry(), nonces=nonces
        )
    return verify_login(
        raw, origin=check["origin"], now=check["now"], registry=_registry(), nonces=nonces
    )


def test_the_vectors_are_what_the_generator_makes() -> None:
    path = Path(__file__).resolve().parents[2] / "tools" / "make_login_vectors.py"
    spec = importlib.util.spec_from_file_location("make_login_vectors", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0


def test_the_valid_vector_verifies_and_its_intermediate_values_match() -> None:
    vector = LOGIN["login-valid"]
    raw = bytes.fromhex(vector["expected"]["proof"])
    signed = open_signed(raw, context="tongban/login/v1")
    assert signed.content_bytes.hex() == vector["expected"]["content"]
    assert login_signing_input(raw).hex() == vector["expected"]["signing_input"]
    assert login_signing_input(raw).startswith(b"tongban/login/v1\x00")
    proof = _verify(vector)
    assert (proof.body_id, proof.officer_id) == ("510104-RS", "rs-001")
    assert proof.origin == vector["challenge"]["origin"]


@pytest.mark.parametrize("name", sorted(n for n in LOGIN if n != "login-valid"))
def test_each_negative_vector_is_refused_with_its_reason(name: str) -> None:
    vector = LOGIN[name]
    assert vector["valid"] is False
    with pytest.raises(LedgerError) as refused:
        _verify(vector)
    assert refused.value.reason == vector["reason"]


def test_an_events_envelope_is_not_a_login() -> None:
    """An officer's signed event (context ``tongban/event/v1``) presented as a login proof."""
    event = json.loads((VECTORS / "envelope" / "event-seq1.json").read_text())
    raw = bytes.fromhex(event["expected"]["envelope"])
    assert open_signed(raw, context=EVENT_CONTEXT)
    with pytest.raises(LedgerError) as refused:
        parse_login(raw)
    assert refused.value.reason == "wrong_context"


def test_a_login_signature_does_not_verify_as_an_event() -> None:
    """The same key, the same content bytes: the context prefix makes the signatures differ,
    so a login signature moved onto an event's content is a bad signature."""
    valid = LOGIN["login-valid"]
    officer = Ed25519Signer.from_seed(bytes.fromhex(valid["signer"]["seed"]))
    challenge = Challenge("https://n.example", bytes(16), 10, 20)
    login = open_signed(
        build_login(challenge, officer, body_id="510104-RS", officer_id="rs-001"),
        context="tongban/login/v1",
    )
    event = json.loads((VECTORS / "envelope" / "event-seq1.json").read_text())
    signed = open_signed(bytes.fromhex(event["expected"]["envelope"]), context=EVENT_CONTEXT)
    forged = type(signed)(
        signed.raw, signed.content_bytes, signed.content, login.signature, signed.suite
    )
    with pytest.raises(LedgerError) as refused:
        forged.verify(officer.public_key)
    assert refused.value.reason == "bad_signature"


def test_a_revoked_officer_key_cannot_log_in() -> None:
    vector = LOGIN["login-valid"]
    registry = _registry()
    kid = vector["signer"]["kid"]
    key = registry.keys[kid]
    registry.keys[kid] = dataclasses.replace(key, compromised_since=vector["check"]["now"])
    with pytest.raises(LedgerError) as refused:
        verify_login(
            bytes.fromhex(vector["expected"]["proof"]),
            origin=vector["check"]["origin"],
            now=vector["check"]["now"],
            registry=registry,
            nonces=IssuedNonces(bytes.fromhex(vector["challenge"]["nonce"])),
        )
    assert refused.value.reason == "key_revoked"


def test_a_refused_proof_does_not_use_up_the_nonce() -> None:
    """Only a proof that passed every other check consumes its challenge: a forged proof
    sent first cannot lock the officer out."""
    valid = LOGIN["login-valid"]
    nonces = IssuedNonces(bytes.fromhex(valid["challenge"]["nonce"]))
    check = valid["check"]
    forged = bytes.fromhex(LOGIN["login-bad-signature"]["proof"])
    with pytest.raises(LedgerError):
        verify_login(
            forged, origin=check["origin"], now=check["now"], registry=_registry(), nonces=nonces
        )
    proof = verify_login(
        bytes.fromhex(valid["expected"]["proof"]),
        origin=check["origin"],
        now=check["now"],
        registry=_registry(),
        nonces=nonces,
    )
    assert proof.officer_id == "rs-001"
