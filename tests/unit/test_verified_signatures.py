"""The bounded set of verified signatures ``SignedObject.verify`` remembers across objects."""

from __future__ import annotations

import pytest

from ledger import envelope
from ledger.envelope import EVENT_CONTEXT, VerifiedSignatures, open_signed, seal
from ledger.suites import BadSignature, Ed25519Signer


def test_the_oldest_go_first_when_full() -> None:
    held = VerifiedSignatures(limit=3)
    for n in range(5):
        held.add(bytes([n]))
    assert len(held) == 3
    assert bytes([0]) not in held and bytes([1]) not in held
    assert all(bytes([n]) in held for n in (2, 3, 4))


def test_a_success_is_remembered_and_a_changed_byte_is_verified_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(envelope, "VERIFIED", VerifiedSignatures(limit=10))
    signer = Ed25519Signer.generate()
    raw = seal({"ctx": EVENT_CONTEXT, "n": 1}, signer)
    calls: list[bytes] = []
    suite = open_signed(raw, context=EVENT_CONTEXT).suite
    real = type(suite).verify

    def counted(self: object, public_key: bytes, message: bytes, signature: bytes) -> None:
        calls.append(signature)
        real(suite, public_key, message, signature)

    monkeypatch.setattr(type(suite), "verify", counted)
    open_signed(raw, context=EVENT_CONTEXT).verify(signer.public_key)
    open_signed(raw, context=EVENT_CONTEXT).verify(
        signer.public_key
    )  # a new object of the same bytes
    assert len(calls) == 1 and len(envelope.VERIFIED) == 1
    altered = bytearray(raw)
    altered[-1] ^= 0x01  # the signature's last byte
    with pytest.raises(BadSignature):
        open_signed(bytes(altered), context=EVENT_CONTEXT).verify(signer.public_key)
    with pytest.raises(BadSignature):  # a failure is never remembered
        open_signed(bytes(altered), context=EVENT_CONTEXT).verify(signer.public_key)
    assert len(calls) == 3 and len(envelope.VERIFIED) == 1
    other = Ed25519Signer.generate()
    with pytest.raises(BadSignature):  # the same bytes under another key
        open_signed(raw, context=EVENT_CONTEXT).verify(other.public_key)
