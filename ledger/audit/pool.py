"""The worker processes of ``verify_ledger(jobs=N)`` (``docs/audit.md``, Worker processes).

The case and license streams are cut into consecutive stream-id ranges ("parts"); each part is
checked whole by one process, and the parts' findings are put back in stream order.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise
from typing import Any

from ledger import interrupts
from ledger.audit.auditor import Auditor, auditor_for
from ledger.audit.findings import AuditReport, Finding
from ledger.audit.ledger_checks import AUDIT_BATCH, check_whole_ledger
from ledger.opening import ApplicantRecords

PARTS_PER_JOB = 2  # a few parts a worker for balance; each costs the database one more pass
_UUIDS = 2**128
_worker: tuple[Any, Auditor] | None = None  # the worker's application (kept open) and auditor


def stream_ranges(parts: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``parts`` consecutive stream-id ranges, both ends included, covering every UUID."""
    bounds = [_UUIDS * n // parts for n in range(parts + 1)]
    return [(uuid.UUID(int=low), uuid.UUID(int=high - 1)) for low, high in pairwise(bounds)]


def worker_context(reopen: Callable[[], Any]) -> multiprocessing.context.BaseContext:
    """How worker processes start: forked from a server process that imported the audit and
    the module ``reopen`` comes from once (``forkserver``, where the platform has it), else
    ``spawn``. Neither inherits this process's connections or locks. A spawned worker imports
    the audit afresh for every ``verify_ledger``, about 0.5 s of CPU here: as long as checking
    several hundred SM2 events, so a small ledger's audit with ``jobs`` > 1 spent much of its
    second core importing. A forkserver imports once per process (the first audit), and each
    later worker is ready in milliseconds. The server's preload is fixed when it starts; a
    module it lacks is imported by the worker as a spawned one would."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    opener = getattr(reopen, "func", reopen)  # a functools.partial, usually
    context.set_forkserver_preload([__name__, getattr(opener, "__module__", None) or __name__])
    return context


def check_parts(
    auditor: Auditor,
    store: Any,
    ranges: list[tuple[uuid.UUID, uuid.UUID]],
    *,
    jobs: int,
    reopen: Callable[[], Any],
    reopen_applicants: Callable[[], ApplicantRecords] | None,
    progress: Callable[[int], None] | None,
) -> tuple[dict[int, AuditReport], list[Finding]]:
    """Each part's report by its number, and the whole-ledger findings (run meanwhile)."""
    done: dict[int, AuditReport] = {}
    # This process is one of the ``jobs``: it starts ``jobs - 1`` workers, runs the
    # whole-ledger checks once while they start, then checks parts itself from the last one
    # down while the workers take them from the first one up, each part claimed once
    # (:class:`_Parts`). A worker is handed one part at a time, by a thread of this process
    # that waits for it: a pool given every part at once queues two per worker before any
    # begins, which this process then cannot take back (it checked one part of four while
    # the worker checked three).
    parts = _Parts(len(ranges))
    pool = ProcessPoolExecutor(
        jobs - 1,
        mp_context=worker_context(reopen),
        initializer=_start_worker,
        initargs=(reopen, reopen_applicants),
    )
    feeding = _Feeding(jobs - 1)

    def feed() -> None:  # hands one worker its parts, one at a time
        try:
            while not feeding.failures and (number := parts.first()) is not None:
                done[number] = pool.submit(_check_part, ranges[number]).result()
        except BaseException as error:
            feeding.fail(error)
        finally:
            feeding.finished()

    mine: set[int] = set()
    try:
        for _ in range(jobs - 1):
            threading.Thread(target=feed, name="audit-feeder", daemon=True).start()
        check_whole_ledger(auditor, store)
        whole_ledger, auditor.findings = auditor.findings, []
        while not feeding.failures and (number := parts.last()) is not None:
            done[number] = _check_range(auditor, ranges[number])
            mine.add(number)
            if progress is not None:
                progress(done[number].events)
        feeding.wait()
        if progress is not None:
            for number in sorted(set(done) - mine):
                progress(done[number].events)
    except BaseException:
        # Ctrl-C, or a part that failed: the report is lost anyway, so waiting for the
        # queued parts (as leaving a ``with`` block does) only kept the user waiting.
        feeding.fail(None)
        _stop(pool)
        raise
    pool.shutdown()  # every part is done: nothing left to wait for
    return done, whole_ledger


class _Parts:
    """Part numbers, each claimed once: workers take them from the first up, the auditing
    process from the last down."""

    def __init__(self, count: int) -> None:
        self._front, self._back = 0, count - 1
        self._lock = threading.Lock()

    def first(self) -> int | None:
        with self._lock:
            if self._front > self._back:
                return None
            self._front += 1
            return self._front - 1

    def last(self) -> int | None:
        with self._lock:
            if self._front > self._back:
                return None
            self._back -= 1
            return self._back + 1


class _Feeding:
    """The feeder threads' state: how many are still running, and the first failure."""

    def __init__(self, feeders: int) -> None:
        self.failures: list[BaseException | None] = []
        self._running = feeders
        self._changed = threading.Condition()

    def fail(self, error: BaseException | None) -> None:
        """Stop handing out parts (``None``: this process stops the audit itself)."""
        with self._changed:
            self.failures.append(error)
            self._changed.notify_all()

    def finished(self) -> None:
        with self._changed:
            self._running -= 1
            self._changed.notify_all()

    def wait(self) -> None:
        """Until every feeder is done, or one failed: then raise its error (a worker still
        busy with another part is not waited for; the caller stops it)."""
        with self._changed:
            # Ctrl-C may reach a feeder or pool thread (ledger.interrupts).
            interrupts.wait_for(self._changed, lambda: self.failures or self._running == 0)
            error = next((failure for failure in self.failures if failure is not None), None)
        if error is not None:
            raise error


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the parts not begun and stop the workers without waiting for the others: a
    worker only reads (its ledger is opened read-only), so stopping one loses nothing.
    (Python 3.14's ``ProcessPoolExecutor.terminate_workers`` does the same.)"""
    workers = list((pool._processes or {}).values())
    manager: threading.Thread | None = getattr(pool, "_executor_manager_thread", None)
    pending = pool._pending_work_items
    pool.shutdown(wait=False, cancel_futures=True)
    # Python 3.11's pool, seeing a stopped worker, fails every pending future, and crashes
    # on the cancelled ones (the parts this process took); its manager thread drops those
    # when it handles the shutdown (it rebinds its table then), so the workers are stopped
    # only once it has, or is gone. Bounded: the manager does nothing else meanwhile.
    deadline = time.monotonic() + 5
    while (
        manager is not None
        and manager.is_alive()
        and getattr(manager, "pending_work_items", None) is pending
        and time.monotonic() < deadline
    ):
        time.sleep(0.005)
    for worker in workers:
        if worker.is_alive():
            worker.terminate()


def _start_worker(
    reopen: Callable[[], Any], reopen_applicants: Callable[[], ApplicantRecords] | None
) -> None:
    global _worker
    app = reopen()
    _worker = app, auditor_for(app, reopen_applicants() if reopen_applicants else None)
    _worker[1].load_registry()  # its findings are the parent's to report


def _check_part(bounds: tuple[uuid.UUID, uuid.UUID]) -> AuditReport:
    assert _worker is not None
    return _check_range(_worker[1], bounds)


def _check_range(auditor: Auditor, bounds: tuple[uuid.UUID, uuid.UUID]) -> AuditReport:
    """The streams whose ids lie in ``bounds``: their counts and findings alone."""
    auditor.findings = []
    part = AuditReport()
    auditor.check_rows(auditor.store.iter_rows_by_stream(AUDIT_BATCH, stream_range=bounds), part)
    part.findings, auditor.findings = auditor.findings, []
    return part
