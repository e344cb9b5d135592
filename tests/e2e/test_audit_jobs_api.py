"""``POST /audit/verify``: one whole-ledger audit at a time, tested without racing a clock.

The audit is held running (``verify_ledger`` waits for the test) so "running" is a state the
test sets, not a guess about how long a 2 s wait covers on a loaded machine.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import api.routes.audit as audit_routes
from ledger.audit import verify_ledger
from tests.support.api_node import ApiNode, api_node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ApiNode]:
    with api_node(tmp_path) as node:
        yield node


class HeldAudit:
    """``verify_ledger`` that runs only once released; counts its runs."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.runs = 0
        self._real = verify_ledger

    def __call__(self, ledger: Any, **options: Any) -> Any:
        self.runs += 1
        assert self.release.wait(timeout=60), "the test never released the audit"
        return self._real(ledger, **options)  # the route passes the node's applicants


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> HeldAudit:
    held = HeldAudit()
    monkeypatch.setattr(audit_routes, "verify_ledger", held)
    monkeypatch.setattr(audit_routes, "ANSWER_WAIT_SECONDS", 0.0)
    return held


def _start(node: ApiNode) -> dict[str, Any]:
    answer = node.post("/audit/verify", "auditor", content_type=None)
    assert answer.status_code == 202, answer.text
    job: dict[str, Any] = answer.json()
    return job


def _finished(node: ApiNode, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        job: dict[str, Any] = node.get(f"/audit/jobs/{job_id}", "auditor").json()
        if job["status"] != "running":
            return job
        assert time.monotonic() < deadline, "the audit job never finished"
        time.sleep(0.01)


def test_a_second_request_joins_the_running_audit(node: ApiNode, held: HeldAudit) -> None:
    first = _start(node)
    assert first["status"] == "running"
    second = _start(node)
    assert second["job_id"] == first["job_id"]
    held.release.set()
    done = _finished(node, first["job_id"])
    assert done["status"] == "done" and done["report"]["ok"] is True
    assert held.runs == 1
    # Once it finished, the next request starts another audit.
    third = _start(node)
    assert third["job_id"] != first["job_id"]
    assert _finished(node, third["job_id"])["status"] == "done"


def test_two_simultaneous_requests_start_one_audit(
    node: ApiNode, held: HeldAudit, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each new job waits (up to 2 s) for the other request to make one too: without a lock
    # around "is one running? no: start one", both do.
    made = threading.Barrier(2)
    real_job = audit_routes.Job

    def job(job_id: str) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            made.wait(timeout=2)
        return real_job(job_id)

    monkeypatch.setattr(audit_routes, "Job", job)
    answers: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: answers.append(_start(node))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    held.release.set()
    assert len(answers) == 2
    assert answers[0]["job_id"] == answers[1]["job_id"], "two audits started at once"
    _finished(node, answers[0]["job_id"])
    assert held.runs == 1
