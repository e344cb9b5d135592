"""P5 offline license verification vs raw Ed25519; P6 license verification over HTTP.

P5 measures ``licenses.verify.verify_license`` on compact ``TB1:`` texts, offline, every check
run: Base45, zlib, canonical decode, shape, identifier and check character, the issuing key
found in the issuing region's trust list and valid that day, the signature, the cached status
list, the dates, recognition by the verifier's own (verified) trust list. The texts are 1,000
different licenses (serials, holders, status entries) of one issuing body, verified in turn,
one per round as the baseline's rounds, so nothing of one license is reused for the next;
what a verifier legitimately reuses is reused: the trust lists, checked once, and the issuing
body's codes. The baseline is raw Ed25519 verify of a message the size of the compact form's
signing input.

P6 posts ``{"license": "<TB1:...>", "online": false}`` to ``POST /licenses/verify`` of a live
node (uvicorn, one worker) with 8 client threads, every answer required to be 200 and
``valid``: a refusal answered early is never timed as a verification. Its baseline is the
trivial endpoint of P3 under the same load generator (``benchmarks/test_http_append.py``, same
run). It is skipped with its reason while the route does not exist in this tree, or while no
node that verifies a license is configured: ``TONGBAN_BENCH_P6_DATA_DIR`` (a data directory
whose trust lists and status lists make the license valid; with ``TONGBAN_DATABASE_URL`` /
``TONGBAN_DATABASE_SCHEMA`` as the node reads them) and ``TONGBAN_BENCH_P6_LICENSE`` (the
``TB1:`` text).

Run: ``make bench`` (or ``.venv/bin/pytest benchmarks/test_licenses.py``); P5 needs no database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.suites import Ed25519Signer, get_suite, signing_input
from licenses.compact import COMPACT_CONTEXT, decode_compact, document_digest, encode_compact
from licenses.identifiers import make_identifier
from licenses.status import StatusList, build_status_list, parse_status_list
from licenses.trust import BEIJING, LicenseKeyEntry, Recognition, TrustStore, build_trust_list
from licenses.verify import verify_license
from tests.support.live import live_node

RAW = "raw Ed25519 verify (license size)"
LICENSES = 1_000
TYPE = "13100000TB0000020C001"
ISSUER = "12510104MB1234567A"
BODY = "510104-RS"
LIST_ID = "510000-2026-01"
ISSUING_ROOT = Ed25519Signer.from_seed(bytes(range(1, 33)))
VERIFYING_ROOT = Ed25519Signer.from_seed(bytes(range(2, 34)))
LICENSE_KEY = Ed25519Signer.from_seed(bytes(range(32)))
NODE = Ed25519Signer.from_seed(bytes(range(3, 35)))
NOW = int(datetime(2026, 6, 1, 12, tzinfo=BEIJING).timestamp()) * 1_000_000
DAY = 86_400_000_000
P6_CLIENTS = 8
P6_EACH = 10
P3_BASELINE = "P3 baseline: trivial FastAPI, 8 clients"  # measured in test_http_append.py


def _holder_id(n: int) -> str:
    """A resident ID number (GB 11643) with a valid check character, one per license."""
    first = f"110105{19490101 + n % 28:08d}{n % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(digit) * weight for digit, weight in zip(first, weights, strict=True))
    return first + "10X98765432"[total % 11]


def _licenses() -> list[str]:
    return [
        encode_compact(
            LICENSE_KEY,
            identifier=make_identifier(TYPE, ISSUER, f"5101042026{n:07d}"),
            valid_from=date(2026, 1, 1),
            valid_until=None,
            status_list_id=LIST_ID,
            status_index=n,
            holder_name="张三",
            holder_id=_holder_id(n),
            document_digest=document_digest(f"license document {n}".encode()),
        )
        for n in range(LICENSES)
    ]


def _verifier() -> dict[str, Any]:
    """What an offline verifier in Sichuan holds: both regions' trust lists, a status list."""
    trust = TrustStore({"510000": ISSUING_ROOT.public_key, "330000": VERIFYING_ROOT.public_key})
    entry = LicenseKeyEntry(
        LICENSE_KEY.key_id, LICENSE_KEY.suite, LICENSE_KEY.public_key, BODY, ISSUER, 0, None, None
    )
    common = {"version": 1, "issued_at": 0, "valid_until": NOW + 365 * DAY}
    trust.add(
        build_trust_list(
            ISSUING_ROOT, region="510000", license_keys=[entry], recognition=[], **common
        )
    )
    own = trust.add(
        build_trust_list(
            VERIFYING_ROOT,
            region="330000",
            license_keys=[],
            recognition=[Recognition(TYPE, frozenset({"510000"}))],
            **common,
        )
    )
    status = parse_status_list(
        build_status_list(
            NODE,
            StatusList(),
            list_id=LIST_ID,
            issuer="tongban/510000",
            version=1,
            issued_at=NOW - DAY,
            valid_until=NOW + DAY,
        )
    )
    return {"trust": trust, "recognition": own, "status": status, "now": NOW}


def test_raw_ed25519_verify_license_size(benchmark: Any, record: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = _licenses()[0]
    size = len(signing_input(COMPACT_CONTEXT, get_suite("ed25519-sha256"), b""))
    assert decode_compact(text).suite.digest_size == 32
    record(RAW, note=f"{size} B message (context, 0x00, SHA-256 of the payload)")
    message = os.urandom(size)
    signature = LICENSE_KEY.sign(message)
    key = Ed25519PublicKey.from_public_bytes(LICENSE_KEY.public_key)
    benchmark(key.verify, signature, message)


def test_p5_offline_license_verify(benchmark: Any, record: Any) -> None:
    texts = _licenses()
    verifier = _verifier()
    for text in texts[:3]:
        assert verify_license(text, **verifier).valid, verify_license(text, **verifier)
    record(
        "P5 offline license verify",
        baseline=RAW,
        note=f"verify_license, compact form, {len(texts):,} different licenses in turn",
    )
    # One verification a round, as the baseline's rounds: medians of equally short rounds.
    presented = cycle(texts)
    benchmark(lambda: verify_license(next(presented), **verifier))
    assert verify_license(next(presented), **verifier).valid


# -- P6 ---------------------------------------------------------------------------------------


def _routes_have_verify() -> bool:
    """Whether this tree's API has the route (``openapi.json`` is checked against the app)."""
    openapi = json.loads((Path(__file__).resolve().parents[1] / "openapi.json").read_text())
    return "post" in openapi.get("paths", {}).get("/licenses/verify", {})


@pytest.fixture
def p6_node() -> Iterator[tuple[str, str]]:
    if not _routes_have_verify():
        pytest.skip("POST /licenses/verify does not exist in this tree yet (branch wt-lic)")
    data_dir = os.environ.get("TONGBAN_BENCH_P6_DATA_DIR")
    text = os.environ.get("TONGBAN_BENCH_P6_LICENSE")
    if not data_dir or not text:
        pytest.skip(
            "set TONGBAN_BENCH_P6_DATA_DIR and TONGBAN_BENCH_P6_LICENSE: a node and a license "
            "it verifies valid (P6 does not time refusals)"
        )
    with live_node(Path(data_dir), {"TONGBAN_WITNESS_PUSH_SECONDS": "0"}) as url:
        yield url, text


def test_p6_license_verify_over_http(benchmark: Any, record: Any, p6_node: tuple[str, str]) -> None:
    url, text = p6_node
    record(
        "P6 license verify over HTTP, 8 clients",
        baseline=P3_BASELINE,
        ops=P6_CLIENTS * P6_EACH,
        note="POST /licenses/verify, compact text, offline status; live uvicorn, 1 worker",
    )
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(P6_CLIENTS)]
    body = {"license": text, "online": False}

    def post(client: httpx.Client) -> None:
        for _ in range(P6_EACH):
            answer = client.post("/licenses/verify", json=body)
            if answer.status_code != 200 or answer.json().get("valid") is not True:
                raise AssertionError(f"{answer.status_code} {answer.text[:300]}")

    with ThreadPoolExecutor(P6_CLIENTS) as pool:

        def round_() -> None:
            for future in [pool.submit(post, client) for client in clients]:
                future.result()

        round_()  # fails here, untimed, if the node does not find the license valid
        benchmark.pedantic(round_, rounds=10, warmup_rounds=1)
    for client in clients:
        client.close()
