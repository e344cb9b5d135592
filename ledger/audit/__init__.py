"""Verifying stored chains: ``verify_case`` and ``verify_ledger`` (``docs/audit.md``).

- ``findings``: ``Finding``, ``AuditReport``, the documented ``REASONS``;
- ``chains``: each stream walked object by object (key registries, cases, licenses);
- ``applicants``: the rules of opening a case, checked on each stored ``received`` step;
- ``ledger_checks``: the dense index and the stored checkpoints against the rows;
- ``auditor``: the ``Auditor`` those make up, and ``auditor_for`` an application;
- ``pool``: the worker processes of ``verify_ledger(jobs=N)``;
- ``verify``: ``verify_ledger`` and ``verify_case``.
"""

from ledger.audit.auditor import Auditor, auditor_for
from ledger.audit.chains import CheckedStep
from ledger.audit.findings import INTEGRITY, MAX_LISTED, POLICY, REASONS, AuditReport, Finding
from ledger.audit.ledger_checks import AUDIT_BATCH
from ledger.audit.pool import PARTS_PER_JOB, stream_ranges
from ledger.audit.verify import verify_case, verify_ledger

__all__ = [
    "AUDIT_BATCH",
    "INTEGRITY",
    "MAX_LISTED",
    "PARTS_PER_JOB",
    "POLICY",
    "REASONS",
    "AuditReport",
    "Auditor",
    "CheckedStep",
    "Finding",
    "auditor_for",
    "stream_ranges",
    "verify_case",
    "verify_ledger",
]
