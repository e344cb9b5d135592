"""Verifying stored chains (``docs/audit.md``)."""

from ledger.audit.auditor import (
    AUDIT_BATCH,
    INTEGRITY,
    MAX_LISTED,
    PARTS_PER_JOB,
    POLICY,
    REASONS,
    Auditor,
    AuditReport,
    Finding,
    auditor_for,
    stream_ranges,
    verify_case,
    verify_ledger,
)

__all__ = [
    "AUDIT_BATCH",
    "INTEGRITY",
    "MAX_LISTED",
    "PARTS_PER_JOB",
    "POLICY",
    "REASONS",
    "AuditReport",
    "Auditor",
    "Finding",
    "auditor_for",
    "stream_ranges",
    "verify_case",
    "verify_ledger",
]
