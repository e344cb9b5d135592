"""Load, crash and outage support: a node process we may kill -9, clients that keep what the
node answered, and the check of the stored ledger against those answers.

Every envelope a client posts is kept as a :class:`Posted` with its outcome:

- ``acked``: a 2xx with a receipt (``created`` false when the same bytes were stored before);
- ``refused``: a 4xx problem (409 conflict, 422 broken link ...); these bytes must be absent;
- ``unavailable``: a 503 problem; the outcome is unknown until the same bytes are re-posted;
- ``server_error``: any other 5xx (a defect: the tests fail on it);
- ``in_doubt``: no answer (the node died or timed out); settled the same way.

:func:`check_ledger` then reads the database directly: every acknowledged envelope is stored
once, at the index and with the receipt the client holds; no refused envelope is stored; every
stored event has its index row and receipt (nothing half-written); the index is dense; and the
audit (``ledger.audit`` and ``tongban audit verify``) is clean.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.access import open_access_store
from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from api.client import ClientError, Refused, StepResult, TongbanClient, Unavailable
from ledger.audit import verify_ledger
from ledger.envelope import ZERO_HASH, parse_event
from ledger.receipts import parse_receipt
from ledger.workflow import CaseWorkflow
from tests.support.live import ServerProcess
from tests.support.world import Officer, make_world

REPO = Path(__file__).resolve().parents[2]
ITEM = "510000/1/5"  # 失业登记: received, form_checked, accepted, then suspended/resumed forever
APPLICANT = {"name": "李四", "id_number": "11010519491231002X"}


# -- the node as a process we may kill ----------------------------------------------------------


class NodeProcess(ServerProcess):
    """``tongban serve`` in its own session: :meth:`kill9` kills the supervisor and every worker
    at once (SIGKILL to the process group), as a power cut would; :meth:`start` serves the same
    data directory on the same port again."""

    def pids(self) -> set[int]:
        """The supervisor and its workers (for "recovered without a restart")."""
        assert self.process is not None
        found = subprocess.run(
            ["ps", "-o", "pid=", "-g", str(self.process.pid)], capture_output=True, text=True
        )
        return {int(pid) for pid in found.stdout.split()}

    def kill9(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        # Workers are in the group too; wait until none is left holding the port.
        deadline = time.monotonic() + 30
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(0.02)

    def _group_alive(self) -> bool:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def log_tail(self, lines: int = 40) -> str:
        text = (self.data_dir / "server.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


# -- one node's world ---------------------------------------------------------------------------


@dataclass
class Setup:
    data_dir: Path
    database_url: str
    schema: str | None
    token: str
    officer: Officer

    @property
    def env(self) -> dict[str, str]:
        env = {"TONGBAN_DATABASE_URL": self.database_url, "TONGBAN_WITNESS_PUSH_SECONDS": "0"}
        if self.schema:
            env["TONGBAN_DATABASE_SCHEMA"] = self.schema
        return env

    def client(self, url: str, *, timeout: float = 30.0, retries: int = 0) -> TongbanClient:
        return TongbanClient(
            url,
            self.token,
            self.officer.signer,
            body_id=self.officer.body_id,
            officer_id=self.officer.officer_id,
            timeout=timeout,
            retries=retries,
        )

    def settings(self) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            database_url=self.database_url,
            database_schema=self.schema or "",
        )


def prepare(data_dir: Path, database_url: str, schema: str | None) -> Setup:
    """A Sichuan node's registry (roots, bodies, officer ``rs-001``) and a body token."""
    world = make_world(data_dir, database_url=database_url, schema=schema, workflow=CaseWorkflow())
    world.app.close()
    token, _ = open_access_store(database_url, data_dir, schema=schema).create_token(
        "body", "510104-RS", now=datetime.now(UTC)
    )
    return Setup(data_dir, database_url, schema, token, world.officers["rs-001"])


# -- what the clients saw -----------------------------------------------------------------------


@dataclass
class Posted:
    case_id: uuid.UUID
    seq: int
    raw: bytes
    outcome: str  # acked, refused, unavailable, in_doubt
    status: int = 0
    reason: str = ""
    index: int = 0
    receipt: bytes = b""
    created: bool = False
    phase: str = ""  # what the test was doing to the node or database meanwhile
    elapsed: float = 0.0  # seconds until the answer (reported, never asserted)


@dataclass
class ClientLog:
    name: str
    posted: list[Posted] = field(default_factory=list)
    tally: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def record(self, posted: Posted) -> Posted:
        self.posted.append(posted)
        label = posted.outcome
        if posted.outcome == "acked":
            label = "acked" if posted.created else "replayed"
        elif posted.reason:
            label = f"{posted.status} {posted.reason}"
        self.tally[label] += 1
        return posted


def post(
    client: TongbanClient,
    log: ClientLog,
    case_id: uuid.UUID,
    seq: int,
    raw: bytes,
    *,
    phase: str = "",
) -> Posted:
    """Post exact bytes once and record what the node answered."""
    started = time.monotonic()
    try:
        result: StepResult = client.post_envelope(case_id, seq, raw)
    except ClientError as failed:
        posted = Posted(case_id, seq, raw, *_failure(failed))
    else:
        posted = acked(result)
    posted.phase = phase
    posted.elapsed = time.monotonic() - started
    return log.record(posted)


def _failure(error: ClientError) -> tuple[str, int, str]:
    """``(outcome, status, reason)`` of a request that got no receipt."""
    if isinstance(error, Unavailable):
        return (
            ("unavailable" if error.status == 503 else "server_error"),
            error.status,
            error.reason,
        )
    if isinstance(error, Refused):
        return "refused", error.status, error.reason
    return "in_doubt", 0, ""


def next_step(state: str, note: str) -> tuple[str, dict[str, Any]]:
    """The next step of a 失业登记 case once received: checked, accepted, then suspended and
    resumed forever."""
    if state == "received":
        return "form_checked", {"result": "pass", "reasons": [], "identity_verified": True}
    if state == "form_checked":
        return "accepted", {"note": ""}
    if state in {"accepted", "resumed"}:
        return "suspended", {"reason": "testing", "detail": note}
    if state == "suspended":
        return "resumed", {"note": note}
    raise ValueError(f"no endless step from {state!r}")


def open_case(client: TongbanClient) -> list[StepResult]:
    """Open a 失业登记 case and take it to ``accepted``: three acknowledged steps."""
    opened = client.receive(
        ITEM,
        "online",
        APPLICANT,
        home_body="510104-RS",
        jurisdiction="510104",
        materials=[("申请表", bytes(32))],
    )
    done = [opened]
    for step, body in (
        ("form_checked", {"result": "pass", "reasons": [], "identity_verified": True}),
        ("accepted", {"note": ""}),
    ):
        done.append(client.step(opened.case_id, step, body))
    return done


def acked(result: StepResult) -> Posted:
    return Posted(
        result.case_id,
        result.seq,
        result.envelope,
        "acked",
        201 if result.created else 200,
        index=result.index,
        receipt=result.receipt.raw,
        created=result.created,
    )


def settle(client: TongbanClient, log: ClientLog, posted: Posted, *, deadline: float) -> Posted:
    """Re-post the same bytes of an unanswered (or 503) post until the node answers: a receipt
    (stored now, or stored before the crash) or a refusal. Idempotent by design."""
    while True:
        answer = post(client, log, posted.case_id, posted.seq, posted.raw)
        if answer.outcome in {"acked", "refused"}:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"seq {posted.seq} of {posted.case_id} never settled")
        time.sleep(0.1)


def print_tally(logs: Sequence[ClientLog], title: str) -> Counter[str]:
    total: Counter[str] = Counter()
    print(f"\n{title}")
    for log in logs:
        total.update(log.tally)
        print(f"  {log.name:>4}: " + ", ".join(f"{k} {v}" for k, v in sorted(log.tally.items())))
    print("   all: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())))
    return total


# -- the check of the stored ledger -------------------------------------------------------------


@dataclass
class LedgerFacts:
    events: int
    indexes: int
    audited_events: int

    def __str__(self) -> str:
        return (
            f"ledger: {self.events} events stored, {self.indexes} dense indexes, "
            f"{self.audited_events} audited clean"
        )


def check_ledger(
    setup: Setup, posted: Iterable[Posted], *, settled: bool = True, audit: bool = True
) -> LedgerFacts:
    """Compare the database with what the clients were told (see the module docstring).

    ``settled``: every post was answered in the end, so each stored envelope of the posted
    cases must have been acknowledged to someone. ``audit``: also run both audits."""
    posted = list(posted)
    app = open_ledger(setup.settings(), workflow=CaseWorkflow(), read_only=True)
    try:
        rows = list(app.store.iter_rows_by_stream())
        half = [r for r in rows if None in (r.state, r.index, r.event_hash, r.receipt, r.topic)]
        assert not half, f"half-written rows (event or index/receipt missing): {half[:3]}"
        indexes = sorted(r.index for r in rows if r.index is not None)
        assert indexes == list(range(1, len(indexes) + 1)), "the ledger index has a gap"
        stored: dict[tuple[uuid.UUID, int], tuple[int, bytes, bytes]] = {}
        for row in rows:
            assert row.stream_id is not None and row.seq is not None and row.state is not None
            assert row.index is not None and row.receipt is not None
            raw = app.mapper.transcoder.decode(row.state)["envelope"]
            stored[(row.stream_id, row.seq)] = (row.index, raw, row.receipt)
        acked = [p for p in posted if p.outcome == "acked"]
        for p in acked:
            found = stored.get((p.case_id, p.seq))
            assert found is not None, f"acknowledged seq {p.seq} of {p.case_id} is missing"
            index, raw, receipt = found
            assert raw == p.raw, f"seq {p.seq} of {p.case_id}: other bytes than acknowledged"
            assert index == p.index, f"seq {p.seq} of {p.case_id}: index moved"
            assert receipt == p.receipt, f"seq {p.seq} of {p.case_id}: another receipt"
            assert parse_receipt(receipt).event_hash == parse_event(raw).hash
        stored_bytes = {raw for _, raw, _ in stored.values()}
        wrongly = [p for p in posted if p.outcome == "refused" and p.raw in stored_bytes]
        assert not wrongly, f"refused envelopes were stored: {wrongly[:3]}"
        # Each stored envelope of the posted cases was acknowledged to someone (never stored
        # behind every client's back), and stored once: the (case, seq) key is unique.
        assert len(stored_bytes) == len(stored), "the same envelope is stored twice"
        if settled:
            cases = {p.case_id for p in posted}
            acked_bytes = {p.raw for p in acked}
            unacked = [
                k for k, (_, raw, _) in stored.items() if k[0] in cases and raw not in acked_bytes
            ]
            assert not unacked, f"stored but acknowledged to nobody: {unacked[:3]}"
        if not audit:
            return LedgerFacts(len(stored), len(indexes), 0)
        report = verify_ledger(app)
        assert report.exit_code == 0, [f.as_dict() for f in report.findings[:5]]
    finally:
        app.close()
    if audit:
        audited = audit_cli(setup)
        assert audited["ok"] and not audited["findings"], audited
        assert audited["events"] == report.events
    return LedgerFacts(len(stored), len(indexes), report.events)


def audit_cli(setup: Setup) -> dict[str, Any]:
    """``tongban audit verify --json`` on the node's database, as an auditor would run it."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "audit",
            "verify",
            "--json",
            "--data-dir",
            str(setup.data_dir),
        ],
        env={**os.environ, **setup.env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"tongban audit verify exited {done.returncode}: {done.stdout}{done.stderr}"
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class Stopper:
    """A flag the test sets to end the client threads."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def stop(self) -> None:
        self._event.set()

    @property
    def stopped(self) -> bool:
        return self._event.is_set()


class Appender:
    """One client appending to cases of its own while the test kills the node or stops the
    database: it opens a case, takes it to ``accepted``, suspends and resumes it, and opens
    another every ``case_steps`` steps. Whatever gets no answer (or a 503) is re-posted as the
    very same bytes until the node answers, exactly as a department's client must."""

    def __init__(
        self,
        setup: Setup,
        url: str,
        name: str,
        stopper: Stopper,
        *,
        phase: Callable[[], str] = lambda: "",
        case_steps: int = 12,
        timeout: float = 30.0,
    ):
        self.setup = setup
        self.url = url
        self.log = ClientLog(name)
        self.stopper = stopper
        self.phase = phase
        self.case_steps = case_steps
        self.timeout = timeout
        self.case_id: uuid.UUID | None = None
        self.head = (0, b"")
        self.state = ""
        self.pending: tuple[Posted, str] | None = None  # unanswered bytes and their step

    def run(self) -> None:
        """Thread target: append until stopped, then settle what is still unanswered."""
        try:
            with self.setup.client(self.url, timeout=self.timeout) as client:
                while not self.stopper.stopped:
                    if not self.once(client):
                        time.sleep(0.2)  # the node or its database is down: back off
                deadline = time.monotonic() + 120
                while self.pending is not None:
                    if not self.once(client) and time.monotonic() > deadline:
                        raise AssertionError(f"{self.log.name}: never settled {self.pending}")
                    time.sleep(0.05)
        except Exception as error:  # recorded; the test fails on it
            self.log.errors.append(f"{type(error).__name__}: {error}")

    def acked(self) -> list[Posted]:
        return [p for p in self.log.posted if p.outcome == "acked"]

    def once(self, client: TongbanClient) -> bool:
        """One post (a new step, or the re-post of an unanswered one); False to back off."""
        if self.pending is None:
            try:
                self.pending = self._sign_next(client)
            except ClientError as failed:
                # Reading the catalog or storing the applicant failed: try again later. Kept
                # as an answer like any post's (a 503 is an answer; a timeout is not).
                self.log.record(
                    Posted(uuid.UUID(int=0), 0, b"", *_failure(failed), phase=self.phase())
                )
                if isinstance(failed, Refused):
                    raise AssertionError(f"{self.log.name}: refused: {failed}") from failed
                return False
        posted, step = self.pending
        answer = post(client, self.log, posted.case_id, posted.seq, posted.raw, phase=self.phase())
        if answer.outcome in {"unavailable", "in_doubt"}:
            return False
        self.pending = None
        if answer.outcome != "acked":
            raise AssertionError(f"{self.log.name}: its own step got {answer}")
        self.case_id = answer.case_id
        self.head = (answer.seq, parse_event(answer.raw).hash)
        self.state = step
        return True

    def _sign_next(self, client: TongbanClient) -> tuple[Posted, str]:
        seq, prev = self.head
        if self.case_id is None or seq >= self.case_steps:
            item, version = client.catalog_item(ITEM)
            stored = client.register_applicant(APPLICANT)
            case_id = uuid.uuid4()
            body = {
                "item": ITEM,
                "channel": "online",
                "coordination": item["coordination"],
                "catalog_version": version,
                "applicant": stored,
                "materials": [{"name": "申请表", "sha256": bytes(32)}],
                "home_body": "510104-RS",
                "jurisdiction": "510104",
                "origin_bodies": [],
            }
            raw = client.sign(case_id, 1, ZERO_HASH, "received", body)
            return Posted(case_id, 1, raw, "unsent"), "received"
        step, body = next_step(self.state, f"{self.log.name}/{seq + 1}")
        raw = client.sign(self.case_id, seq + 1, prev, step, body)
        return Posted(self.case_id, seq + 1, raw, "unsent"), step
