"""The rules of opening a case (``ledger.opening``), checked on each case's stored
``received`` step when the audit is given the node's applicants (policy findings)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from ledger.audit.findings import AuditorFindings
from ledger.envelope import Envelope, parse_event
from ledger.opening import ApplicantRecords, applicant_problems, signed_applicant
from ledger.persistence import AllowlistMapper, LedgerRow, LedgerStore


class ApplicantChecks(AuditorFindings):
    """Each case's applicant: its ref used by one case only, bound to it, and its commitments
    those of a stored applicant (part of ``Auditor``)."""

    applicants: ApplicantRecords | None
    store: LedgerStore
    mapper: AllowlistMapper

    def _check_applicant(self, row: LedgerRow, envelope: Envelope) -> None:
        """The rules of opening a case (``ledger.opening``), checked on the stored step."""
        assert self.applicants is not None and row.seq is not None
        signed = signed_applicant(envelope)
        if signed is None:
            return
        record = self.applicants.applicant_record(signed[0])
        for reason, detail in applicant_problems(envelope, record, self._carries_ref(signed[0])):
            self._policy(row, reason, detail)

    def _carries_ref(self, ref: str) -> Callable[[str], bool]:
        def carries(case_text: str) -> bool:
            """Whether that case's stored ``received`` names ``ref`` (one row read)."""
            try:
                stored = self.store.select_entry(uuid.UUID(case_text), 1)
                if stored is None:
                    return False
                raw = self.mapper.transcoder.decode(stored.envelope)["envelope"]
                other = signed_applicant(parse_event(raw))
            except Exception:  # that case's own walk reports an unreadable step
                return False
            return other is not None and other[0] == ref

        return carries
