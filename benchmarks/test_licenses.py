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

P6 posts ``{"license": "<TB1:...>", "online": false}`` (and, as a second figure, ``true``) to
``POST /licenses/verify`` of a live node (uvicorn, one worker) with 8 client threads, every
answer required to be 200 and ``valid``: a refusal answered early is never timed as a
verification. The node is built in a temp dir as the two-region walkthrough builds it
(``tests/support/license_regions.py``, the real CLI and service, SQLite): Sichuan issues a
社会保障卡, Jiangsu, the verifier, has fetched Sichuan's keys, trust list and status list;
online, Jiangsu asks Sichuan's node (also live) for the status. To time an existing node
instead, set ``TONGBAN_BENCH_P6_DATA_DIR`` (a data directory whose trust lists and status
lists make the license valid; with ``TONGBAN_DATABASE_URL`` / ``TONGBAN_DATABASE_SCHEMA`` as
the node reads them) and ``TONGBAN_BENCH_P6_LICENSE`` (the ``TB1:`` text); online is then
skipped. The baseline is ``benchmarks/trivial_app.py`` (P3's trivial endpoint) measured by
this file under the same load generator, the same JSON body posted to ``/echo``, so P6's ratio
stands whether or not P3 runs.

Run: ``make bench`` (or ``.venv/bin/pytest benchmarks/test_licenses.py``); P5 needs no database.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.trivial_app import serve_trivial
from ledger.suites import Ed25519Signer, get_suite, signing_input
from licenses.compact import COMPACT_CONTEXT, decode_compact, document_digest, encode_compact
from licenses.identifiers import make_identifier
from licenses.status import StatusList, build_status_list, parse_status_list
from licenses.trust import BEIJING, LicenseKeyEntry, Recognition, TrustStore, build_trust_list
from licenses.verify import verify_license
from tests.support.license_regions import issue_card, prepare_regions
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
P6_ROUNDS = 10
P6_BASELINE = "P6 baseline: trivial FastAPI, 8 clients, JSON"


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


@dataclass(frozen=True)
class P6Node:
    url: str
    text: str
    online: bool  # whether the issuing node is up, so the verifier can ask it (online=true)
    where: str  # what the node is, for the table's note


@pytest.fixture(scope="module")
def p6_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[P6Node]:
    """Jiangsu's node, holding Sichuan's trust list and status list, and a card Sichuan
    issued; or the node and license of ``TONGBAN_BENCH_P6_DATA_DIR``/``_LICENSE``."""
    data_dir = os.environ.get("TONGBAN_BENCH_P6_DATA_DIR")
    text = os.environ.get("TONGBAN_BENCH_P6_LICENSE")
    quiet = {"TONGBAN_WITNESS_PUSH_SECONDS": "0"}
    if data_dir and text:
        with live_node(Path(data_dir), quiet) as url:
            yield P6Node(url, text, online=False, where=f"the node of {data_dir}")
        return
    # Both nodes on SQLite in a temp dir, as the license walkthrough builds them.
    env = {**quiet, "TONGBAN_DATABASE_URL": ""}
    regions = prepare_regions(tmp_path_factory.mktemp("p6"))
    with live_node(regions.sc, env) as sc_url, live_node(regions.js, env) as js_url:
        card = issue_card(regions, sc_url)
        yield P6Node(js_url, card.text, online=True, where="SQLite")


@contextmanager
def _load(
    url: str, path: str, body: dict[str, Any], check: Callable[[httpx.Response], bool]
) -> Iterator[Callable[[], None]]:
    """One round: each of 8 client threads (keep-alive) posts ``body`` ``P6_EACH`` times; an
    answer ``check`` refuses fails the round, so only the expected answers are timed."""
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(P6_CLIENTS)]
    pool = ThreadPoolExecutor(P6_CLIENTS)

    def post(client: httpx.Client) -> None:
        for _ in range(P6_EACH):
            answer = client.post(path, json=body)
            if not check(answer):
                raise AssertionError(f"{answer.status_code} {answer.text[:300]}")

    def round_() -> None:
        for future in [pool.submit(post, client) for client in clients]:
            future.result()

    try:
        round_()  # fails here, untimed, if the answers are not the expected ones
        yield round_
    finally:
        pool.shutdown()
        for client in clients:
            client.close()


def _valid(answer: httpx.Response) -> bool:
    return answer.status_code == 200 and answer.json().get("valid") is True


def test_p6_trivial_fastapi(benchmark: Any, record: Any, tmp_path: Path) -> None:
    record(P6_BASELINE, ops=P6_CLIENTS * P6_EACH, note="POST /echo, same JSON body; uvicorn")
    with serve_trivial(tmp_path / "trivial.log") as url:
        body = {"license": "TB1:" + "0" * 600, "online": False}
        with _load(url, "/echo", body, lambda answer: answer.status_code == 201) as round_:
            benchmark.pedantic(round_, rounds=P6_ROUNDS, warmup_rounds=1)


@pytest.mark.parametrize("online", [False, True], ids=["offline", "online"])
def test_p6_license_verify_over_http(
    benchmark: Any, record: Any, p6_node: P6Node, online: bool
) -> None:
    if online and not p6_node.online:
        pytest.skip("online=true needs the issuing node: not with TONGBAN_BENCH_P6_DATA_DIR")
    status = "online: the issuing node asked for the status" if online else "offline status"
    record(
        f"P6 license verify over HTTP, 8 clients, {'online' if online else 'offline'}",
        baseline=P6_BASELINE,
        ops=P6_CLIENTS * P6_EACH,
        note=f"POST /licenses/verify, compact text, {status}; uvicorn, 1 worker, {p6_node.where}",
    )
    body = {"license": p6_node.text, "online": online}
    with _load(p6_node.url, "/licenses/verify", body, _valid) as round_:
        benchmark.pedantic(round_, rounds=P6_ROUNDS, warmup_rounds=1)
