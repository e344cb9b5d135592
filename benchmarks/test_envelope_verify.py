"""Verifying one signed envelope (decode canonically, check shape, verify) vs raw Ed25519.

Run: ``make bench`` (or ``.venv/bin/pytest benchmarks -q``).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from ledger.envelope import ZERO_HASH, build_event, parse_event
from ledger.suites import Ed25519Signer

SIGNER = Ed25519Signer.from_seed(bytes(32))
MESSAGE = os.urandom(300)
SIGNATURE = SIGNER.sign(MESSAGE)
ENVELOPE = build_event(
    SIGNER,
    ledger="tongban/510000",
    case_id=uuid.UUID(int=7),
    seq=2,
    event_type="form_checked",
    time=1_767_225_600_000_000,
    body_id="320105-ZWFW",
    officer_id="js-window-001",
    prev=ZERO_HASH,
    body={"result": "pass", "reasons": [], "materials": [{"name": "申请表", "sha256": bytes(32)}]},
)


def test_raw_ed25519_verify(benchmark: Any, record: Any) -> None:
    record("raw Ed25519 verify (300 B)")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = Ed25519PublicKey.from_public_bytes(SIGNER.public_key)
    benchmark(key.verify, SIGNATURE, MESSAGE)


def test_envelope_parse_and_verify(benchmark: Any, record: Any) -> None:
    record("envelope parse + verify", baseline="raw Ed25519 verify (300 B)")

    def verify() -> None:
        parse_event(ENVELOPE).signed.verify(SIGNER.public_key)

    benchmark(verify)
