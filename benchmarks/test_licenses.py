"""P5 offline license verification vs raw Ed25519; P6 license verification over HTTP (N/A).

P5 measures ``licenses.verify`` if that module exists; until it does (as when this suite was
written) it measures ``licenses.compact.decode_compact(text).verify(public_key)``: Base45,
zlib, canonical decode, shape checks, then the signature. The baseline is raw Ed25519 verify
of a message the size of the compact form's signing input.

Run: ``make bench`` (or ``.venv/bin/pytest benchmarks/test_licenses.py``); no database needed.
"""

from __future__ import annotations

import importlib.util
import os
from datetime import date
from typing import Any

from benchmarks.conftest import row
from ledger.suites import Ed25519Signer, get_suite, signing_input
from licenses.compact import COMPACT_CONTEXT, decode_compact, document_digest, encode_compact
from licenses.identifiers import make_identifier

SIGNER = Ed25519Signer.from_seed(bytes(range(32)))
TEXT = encode_compact(
    SIGNER,
    identifier=make_identifier("13100000TB0000020C001", "12510104MB1234567A", "51010420260000123"),
    valid_from=date(2026, 1, 1),
    valid_until=None,
    status_list_id="510000-2026-01",
    status_index=42,
    holder_name="张三",
    holder_id="11010519491231002X",
    document_digest=document_digest(b"license document"),
)
MESSAGE_SIZE = len(
    signing_input(COMPACT_CONTEXT, get_suite(SIGNER.suite), decode_compact(TEXT).payload)
)
RAW = "raw Ed25519 verify (license size)"
HAS_VERIFY = importlib.util.find_spec("licenses.verify") is not None


def test_raw_ed25519_verify_license_size(benchmark: Any, record: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    record(RAW, note=f"{MESSAGE_SIZE} B message")
    message = os.urandom(MESSAGE_SIZE)
    signature = SIGNER.sign(message)
    key = Ed25519PublicKey.from_public_bytes(SIGNER.public_key)
    benchmark(key.verify, signature, message)


def test_p5_offline_license_verify(benchmark: Any, record: Any) -> None:
    note = (
        "licenses/verify.py appeared mid-task (verify_license needs a trust store; not wired "
        "yet): measured decode_compact(text).verify(public_key)"
        if HAS_VERIFY
        else "licenses/verify.py absent: measured decode_compact(text).verify(public_key)"
    )
    record("P5 offline license verify", baseline=RAW, note=note)
    public_key = SIGNER.public_key

    def verify() -> None:
        decode_compact(TEXT).verify(public_key)

    benchmark(verify)
    row(
        "P6 license verify over HTTP",
        "N/A",
        baseline=RAW,
        note="no license verification endpoint exists yet (api/routes has none)",
    )
