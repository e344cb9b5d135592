"""Bulk load: many signed case steps through a department's own append path, for scale.

:func:`bulk_load` appends ``events`` signed steps with ``LedgerApplication.append_event``
— the signature and key checks, the real workflow, the group commit with its dense ledger index
and signed receipts, checkpoints as the node's policy issues them — from several writer threads
at once, as a node's request threads would. Each writer runs its own cases, one after the other:
``received``, ``form_checked``, ``accepted``, then ``suspended`` and ``resumed`` alternating,
``case_steps`` steps a case, each signed by one of the given officers and claiming the time
``now()`` when it is signed (so never later than the node's receipt time).

``tongban demo --events N`` uses it to grow a demo ledger to N more events (1,000,000 for the
scale benchmarks P7 and P8); ``benchmarks/loader.py`` uses it for the benchmark ledgers. A
bulk case opens as every case does (``ledger.opening.CaseOpening``): its body stores an
invented applicant (:data:`BULK_APPLICANT`) in the node's vault, and the opening claims it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.applicants import NodeApplicants
from ledger import interrupts
from ledger.application import LedgerApplication
from ledger.catalog import find_item, load_catalog
from ledger.envelope import ZERO_HASH, build_event, parse_event
from ledger.opening import CaseOpening
from ledger.personal import PersonalData
from ledger.suites import Signer, get_suite

DEFAULT_CASE_STEPS = 10
DEFAULT_WRITERS = 8
BULK_ITEM = "510000/1/5"  # 社会保障卡申领, offered online in the packaged Sichuan catalog
BULK_APPLICANT = PersonalData(name="批量测试人员", id_number="11010519491231002X")


@dataclass(frozen=True)
class Officer:
    """An officer who signs bulk steps: their body, id and key."""

    body_id: str
    officer_id: str
    signer: Signer


def received_body(
    app: LedgerApplication,
    now: int,
    item_key: str = BULK_ITEM,
    channel: str = "online",
    *,
    home_body: str = "510104-RS",
    jurisdiction: str = "510104",
    origin_bodies: Sequence[str] = (),
) -> dict[str, Any]:
    """A valid ``received`` body under the catalog in force at ``now`` (placeholder applicant:
    no vault record behind it)."""
    item = find_item(item_key)
    return {
        "item": item_key,
        "channel": channel,
        "coordination": item.coordination,
        "catalog_version": app.registry.catalogs.current_at(item.region, now)
        or load_catalog(item.region).version,
        "applicant": {
            "ref": "ap_" + "a" * 26,  # the vault's format
            "commitments": {"name": bytes(32), "id_number": bytes(32)},
        },
        "materials": [{"name": "申请表", "sha256": bytes(32)}],
        "home_body": home_body,
        "jurisdiction": jurisdiction,
        "origin_bodies": list(origin_bodies),
    }


class CaseWriter:
    """One writer's cases: builds the next signed step of its current case."""

    def __init__(
        self,
        app: LedgerApplication,
        officer: Officer,
        *,
        case_steps: int = DEFAULT_CASE_STEPS,
        home_body: str = "",
        applicants: NodeApplicants | None = None,
    ):
        if case_steps < 3:
            raise ValueError("a bulk case has at least its received, form_checked, accepted steps")
        self.app = app
        self.officer = officer
        self.case_steps = case_steps
        self.home_body = home_body or officer.body_id
        # Without applicants (benchmarks of the bare append path) a case carries the
        # placeholder applicant; only CaseOpening with a stored one makes it readable.
        self.applicants = applicants
        self.case_id = uuid.uuid4()
        self.seq = 0
        self.prev = ZERO_HASH

    def _body(self, seq: int, now: int) -> tuple[str, dict[str, Any]]:
        if seq == 1:
            division = self.home_body[:6]
            body = received_body(self.app, now, home_body=self.home_body, jurisdiction=division)
            if self.applicants is not None:
                at = datetime.fromtimestamp(now / 1e6, UTC)
                stored = self.applicants.store(BULK_APPLICANT, body=self.officer.body_id, now=at)
                body["applicant"] = {"ref": stored.ref, "commitments": dict(stored.commitments)}
            return "received", body
        if seq == 2:
            return "form_checked", {"result": "pass", "reasons": [], "identity_verified": True}
        if seq == 3:
            return "accepted", {"note": ""}
        if seq % 2 == 0:
            return "suspended", {"reason": "hearing", "detail": "听证"}
        return "resumed", {"note": ""}

    def next_event(self, claimed_time: int) -> bytes:
        """The next step's exact bytes, claiming ``claimed_time`` (µs); a new case after
        ``case_steps`` steps."""
        if self.seq == self.case_steps:
            self.case_id, self.seq, self.prev = uuid.uuid4(), 0, ZERO_HASH
        self.seq += 1
        event_type, body = self._body(self.seq, claimed_time)
        raw = build_event(
            self.officer.signer,
            ledger=self.app.ledger_name,
            case_id=self.case_id,
            seq=self.seq,
            event_type=event_type,
            time=claimed_time,
            body_id=self.officer.body_id,
            officer_id=self.officer.officer_id,
            prev=self.prev,
            body=body,
        )
        self.prev = get_suite(self.officer.signer.suite).digest(raw)  # its hash, without a parse
        return raw


@dataclass(frozen=True)
class BulkSummary:
    events: int
    cases: int
    seconds: float
    commits: int  # group commits that wrote them

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def _join(pool: ThreadPoolExecutor) -> None:
    """Wait until every writer has returned, even through further Ctrl-Cs (each append
    takes milliseconds; giving up the wait is what let the store close under a writer)."""
    while True:
        try:
            pool.shutdown(wait=True, cancel_futures=True)
            return
        except KeyboardInterrupt:
            continue


def bulk_load(
    app: LedgerApplication,
    events: int,
    *,
    officers: Sequence[Officer],
    now: Callable[[], int],
    applicants: NodeApplicants,
    writers: int = DEFAULT_WRITERS,
    case_steps: int = DEFAULT_CASE_STEPS,
    progress: Callable[[int, int], None] | None = None,
) -> BulkSummary:
    """Append ``events`` signed steps from ``writers`` threads (officers taken in turn);
    return what was written. ``now()`` is the time a step claims (read, not advanced: the
    node's clock gives the receipt time). Each case opens through ``CaseOpening`` with an
    applicant stored in ``applicants``. Stops at the first refusal, which it raises."""
    if events < 0 or writers < 1 or not officers:
        raise ValueError("bulk_load needs events >= 0, writers >= 1 and at least one officer")
    lock = threading.Lock()
    left = [events]
    done = [0]
    cases = [0]
    stop = threading.Event()
    opening = CaseOpening(app, applicants)

    def write(n: int) -> None:
        writer = CaseWriter(
            app, officers[n % len(officers)], case_steps=case_steps, applicants=applicants
        )
        while not stop.is_set():
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                raw = writer.next_event(now())
                if writer.seq == 1:
                    appended = opening.open(parse_event(raw))
                else:
                    appended = app.append_event(raw)
            except BaseException:
                stop.set()
                raise
            with lock:
                done[0] += 1
                cases[0] += appended.seq == 1
                if progress is not None:
                    progress(done[0], events)

    commits = app.group_commit.batches
    started = time.perf_counter()
    pool = ThreadPoolExecutor(writers)
    try:
        # Ctrl-C may reach a writer thread (ledger.interrupts).
        interrupts.results([pool.submit(write, n) for n in range(writers)])
    except BaseException:
        # Ctrl-C reaches the main thread, waiting here: tell the writers to stop after their
        # current append. The caller closes the application next, which must not happen
        # under a writer still appending (that crashed the interpreter).
        stop.set()
        raise
    finally:
        _join(pool)
    return BulkSummary(
        done[0], cases[0], time.perf_counter() - started, app.group_commit.batches - commits
    )
