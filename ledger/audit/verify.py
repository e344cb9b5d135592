"""The audit's entry points: ``verify_ledger`` (every stored object, in one process or
several) and ``verify_case`` (one case)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from ledger.audit.auditor import auditor_for
from ledger.audit.findings import AuditReport, Finding
from ledger.audit.ledger_checks import AUDIT_BATCH, check_whole_ledger
from ledger.audit.pool import PARTS_PER_JOB, check_parts, stream_ranges
from ledger.opening import ApplicantRecords


def verify_ledger(
    app: Any,
    *,
    progress: Callable[[int], None] | None = None,
    jobs: int = 1,
    reopen: Callable[[], Any] | None = None,
    applicants: ApplicantRecords | None = None,
    reopen_applicants: Callable[[], ApplicantRecords] | None = None,
) -> AuditReport:
    """Verify every stored object of the ledger (``app`` is a ``LedgerApplication``).

    With ``jobs`` > 1 the case and license streams are checked by this process and
    ``jobs - 1`` worker processes, each stream whole by one of them (``reopen``, a picklable
    callable, opens the same ledger read-only in a worker); the report is the same, finding
    for finding and in the same order, as with one (``docs/audit.md``, Worker processes).
    With ``applicants`` each case's applicant is checked too (``reopen_applicants``, also
    picklable, opens them in a worker).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    if jobs > 1 and applicants is not None and reopen_applicants is None:
        raise ValueError("jobs > 1 with applicants needs reopen_applicants for the workers")
    auditor = auditor_for(app, applicants)
    report = AuditReport()
    auditor.load_registry()
    if jobs == 1:
        auditor.check_rows(app.store.iter_rows_by_stream(AUDIT_BATCH), report, progress)
        check_whole_ledger(auditor, app.store)
        report.findings = auditor.findings
        return report
    if reopen is None:
        raise ValueError("jobs > 1 needs reopen: a picklable callable opening the same ledger")
    registry_findings, auditor.findings = auditor.findings, []
    ranges = stream_ranges(jobs * PARTS_PER_JOB)
    done, whole_ledger = check_parts(
        auditor,
        app.store,
        ranges,
        jobs=jobs,
        reopen=reopen,
        reopen_applicants=reopen_applicants if applicants is not None else None,
        progress=progress,
    )
    stream_findings: list[Finding] = []
    for number in range(len(ranges)):  # in stream order, as one process would have found them
        part = done[number]
        report.events += part.events
        report.cases += part.cases
        report.licenses += part.licenses
        stream_findings.extend(part.findings)
    report.findings = registry_findings + stream_findings + whole_ledger
    return report


def verify_case(
    app: Any, case_id: uuid.UUID, *, applicants: ApplicantRecords | None = None
) -> AuditReport:
    """Verify one case (and the key registries it depends on; its applicant, given
    ``applicants``)."""
    auditor = auditor_for(app, applicants)
    report = AuditReport()
    auditor.load_registry()
    registry_findings = list(auditor.findings)
    auditor.check_rows(app.store.select_stream_rows(case_id), report)
    report.findings = registry_findings + auditor.findings[len(registry_findings) :]
    return report
