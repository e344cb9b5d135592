"""What the audit finds: ``Finding``, ``AuditReport``, the documented reasons (``docs/audit.md``).

Findings are ``(case_id, seq, reason, detail, kind)``. *Integrity* findings mean stored bytes
are wrong; *policy* findings are valid signatures the rules now condemn (a key revoked after
the fact), which an administrator can resolve with a signed ``ratified``/``repudiated`` record.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ledger.errors import LedgerError
from ledger.keys import KeyRegistry
from ledger.opening import APPLICANT_REASONS
from ledger.persistence import LedgerRow

INTEGRITY = "integrity"
POLICY = "policy"
MAX_LISTED = 10  # checkpoints (or index ranges) named one by one; the rest are summed up

# The documented reasons, in the order a row's checks run.
REASONS = (
    "malformed",
    "unsupported_suite",
    "bad_hash",
    "broken_link",
    "seq_gap",
    "index_gap",
    "bad_receipt",
    "bad_signature",
    "unknown_key",
    "key_not_valid_at_time",
    "key_revoked",
    "uncertified_officer",
    "illegal_step",
    *APPLICANT_REASONS,
    "bad_checkpoint",
    "missing_from_tree",
    "root_mismatch",
)


@dataclass(frozen=True)
class Finding:
    case_id: str
    seq: int
    reason: str
    detail: str
    kind: str = INTEGRITY
    resolution: str | None = None  # ratified / repudiated, for resolved policy findings

    def as_dict(self) -> dict[str, Any]:
        found = {
            "case_id": self.case_id,
            "seq": self.seq,
            "reason": self.reason,
            "detail": self.detail,
            "kind": self.kind,
        }
        if self.resolution is not None:
            found["resolution"] = self.resolution
        return found


@dataclass
class AuditReport:
    events: int = 0
    cases: int = 0
    licenses: int = 0  # license streams (counted apart from cases)
    findings: list[Finding] = field(default_factory=list)

    @property
    def integrity_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == INTEGRITY]

    @property
    def open_policy_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == POLICY and f.resolution is None]

    @property
    def ok(self) -> bool:
        return not self.integrity_findings and not self.open_policy_findings

    @property
    def exit_code(self) -> int:
        """0 clean, 1 any integrity finding, 2 only unresolved policy findings."""
        if self.integrity_findings:
            return 1
        return 2 if self.open_policy_findings else 0

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"ok": self.ok, "events": self.events, "cases": self.cases}
        if self.licenses:
            found["licenses"] = self.licenses
        found["findings"] = [f.as_dict() for f in self.findings]
        return found


class AuditorFindings:
    """The findings an auditor collects, and how each kind is recorded (part of ``Auditor``)."""

    findings: list[Finding]
    registry: KeyRegistry

    def _find(
        self, stream_id: object, seq: int, reason: str, detail: str, kind: str = INTEGRITY
    ) -> None:
        self.findings.append(Finding(str(stream_id), seq, reason, detail, kind))

    def _policy_or_integrity(self, row: LedgerRow, error: LedgerError, policy: bool) -> None:
        if policy:
            self._policy(row, error.reason, error.detail)
        else:
            assert row.seq is not None
            self._find(row.stream_id, row.seq, error.reason, error.detail)

    def _policy(self, row: LedgerRow, reason: str, detail: str) -> None:
        """A policy finding, with the administrator's resolution of it if one is recorded."""
        assert row.seq is not None
        finding = Finding(str(row.stream_id), row.seq, reason, detail, POLICY)
        resolved = self.registry.resolutions.get((finding.case_id, row.seq, reason))
        if resolved is not None:
            finding = replace(finding, resolution=resolved.resolution)
        self.findings.append(finding)
