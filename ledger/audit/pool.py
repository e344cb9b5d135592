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
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import pairwise
from typing import Any

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
    context = worker_context(reopen)
    # This process is one of the ``jobs``: it starts ``jobs - 1`` workers, runs the
    # whole-ledger checks once while they start, then checks parts itself from the last one
    # down, taking only those no worker has begun (workers take them from the first one up).
    pool = ProcessPoolExecutor(
        jobs - 1,
        mp_context=context,
        initializer=_start_worker,
        initargs=(reopen, reopen_applicants),
    )
    try:
        futures: list[Future[AuditReport]] = [pool.submit(_check_part, bounds) for bounds in ranges]
        check_whole_ledger(auditor, store)
        whole_ledger, auditor.findings = auditor.findings, []
        for number in reversed(range(len(ranges))):
            if futures[number].cancel():
                done[number] = _check_range(auditor, ranges[number])
                if progress is not None:
                    progress(done[number].events)
        for number, future in enumerate(futures):
            if number not in done:
                done[number] = future.result()
                if progress is not None:
                    progress(done[number].events)
    except BaseException:
        # Ctrl-C, or a part that failed: the report is lost anyway, so waiting for the
        # queued parts (as leaving a ``with`` block does) only kept the user waiting.
        _stop(pool)
        raise
    pool.shutdown()  # every part is done: nothing left to wait for
    return done, whole_ledger


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
