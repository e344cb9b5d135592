"""Signatures remembered across objects by their exact bytes: for case pages, never audits."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.audit import verify_ledger
from ledger.envelope import EVENT_CONTEXT, VerifiedSignatures, open_signed, seal
from ledger.reports import case_timeline
from ledger.suites import BadSignature, Ed25519Sha256, Ed25519Signer
from ledger.workflow import CaseWorkflow
from tests.support.world import make_world


def test_the_oldest_go_first_when_full() -> None:
    held = VerifiedSignatures(limit=3)
    for n in range(5):
        held.add(bytes([n]))
    assert len(held) == 3
    assert bytes([0]) not in held and bytes([1]) not in held
    assert all(bytes([n]) in held for n in (2, 3, 4))


def _counted(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    calls: list[bytes] = []
    real = Ed25519Sha256.verify

    def counted(self: Ed25519Sha256, public_key: bytes, message: bytes, signature: bytes) -> None:
        calls.append(signature)
        real(self, public_key, message, signature)

    monkeypatch.setattr(Ed25519Sha256, "verify", counted)
    return calls


def test_a_success_is_remembered_and_a_changed_byte_is_verified_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    remembered = VerifiedSignatures(limit=10)
    signer = Ed25519Signer.generate()
    raw = seal({"ctx": EVENT_CONTEXT, "n": 1}, signer)
    calls = _counted(monkeypatch)
    open_signed(raw, context=EVENT_CONTEXT).verify(signer.public_key, remembered=remembered)
    # a new object of the same bytes
    open_signed(raw, context=EVENT_CONTEXT).verify(signer.public_key, remembered=remembered)
    assert len(calls) == 1 and len(remembered) == 1
    altered = bytearray(raw)
    altered[-1] ^= 0x01  # the signature's last byte
    for _ in range(2):  # a failure is never remembered
        with pytest.raises(BadSignature):
            open_signed(bytes(altered), context=EVENT_CONTEXT).verify(
                signer.public_key, remembered=remembered
            )
    assert len(calls) == 3 and len(remembered) == 1
    with pytest.raises(BadSignature):  # the same bytes under another key
        open_signed(raw, context=EVENT_CONTEXT).verify(
            Ed25519Signer.generate().public_key, remembered=remembered
        )
    open_signed(raw, context=EVENT_CONTEXT).verify(signer.public_key)  # none given: verified
    assert len(calls) == 5


def test_case_pages_remember_and_a_whole_ledger_audit_verifies_every_signature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, workflow=CaseWorkflow())
    case_id = world.online_case()
    calls = _counted(monkeypatch)
    assert case_timeline(world.app, case_id).valid
    first = len(calls)
    assert first > 0
    assert case_timeline(world.app, case_id).valid
    assert len(calls) == first  # the second page verified nothing again
    assert verify_ledger(world.app).ok
    audited = len(calls) - first
    assert verify_ledger(world.app).ok
    assert len(calls) - first == 2 * audited > 0  # each audit verified every signature
