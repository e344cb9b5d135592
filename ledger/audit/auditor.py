"""Verifying stored chains: ``verify_case`` and ``verify_ledger`` (``docs/audit.md``).

The audit re-reads what is stored and trusts nothing the node computed: every object is
re-encoded canonically, hashed, linked to its predecessor, matched with its receipt and its
dense ledger index, and its signature checked under the key valid at its receipt time, with
the certification chain officer → body → root rebuilt from the configured roots alone.

Findings are ``(case_id, seq, reason, detail, kind)``. *Integrity* findings mean stored bytes
are wrong; *policy* findings are valid signatures the rules now condemn (a key revoked after
the fact), which an administrator can resolve with a signed ``ratified``/``repudiated`` record.
Given the node's applicants (``ledger.opening.ApplicantRecords``), the audit also checks each
case's ``received`` step against the rules of opening a case: its applicant ref used by one
case only, bound to it, and its commitments those of a stored applicant (policy findings).
"""

from __future__ import annotations

from typing import Any

from ledger.audit.chains import ChainChecks, CheckedStep
from ledger.audit.findings import Finding
from ledger.audit.ledger_checks import LedgerChecks
from ledger.envelope import Envelope, VerifiedSignatures
from ledger.errors import LedgerError
from ledger.keys import KeyRegistry, ledger_home_region, registry_stream_id
from ledger.opening import ApplicantRecords
from ledger.persistence import AllowlistMapper, LedgerStore
from ledger.workflow import WorkflowPolicy


class Auditor(ChainChecks, LedgerChecks):
    """The audit of one ledger: its chains (``chains``, ``applicants``) and the whole-ledger
    checks (``ledger_checks``), their findings collected in ``findings``."""

    def __init__(
        self,
        store: LedgerStore,
        mapper: AllowlistMapper,
        *,
        ledger_name: str,
        trusted_roots: dict[str, bytes],
        home_region: str = "",
        workflow: WorkflowPolicy,  # required: no silent default that turns workflow checks off
        applicants: ApplicantRecords | None = None,
    ):
        self.workflow = workflow
        self.applicants = applicants  # None: no applicant findings (a ledger copy alone)
        self.store = store
        self.mapper = mapper
        self.ledger_name = ledger_name
        self.trusted_roots = trusted_roots
        # Only node keys of the ledger's own region (from its name, as every verifier binds
        # it) receipt and checkpoint it; an empty home region trusted every region's.
        region = ledger_home_region(ledger_name)
        if home_region and home_region != region:
            raise LedgerError(
                f"home region {home_region} is not the region of {ledger_name}",
                reason="wrong_region",
                field="home_region",
            )
        self.registry = KeyRegistry(trusted_roots, home_region=region)
        self.registry_streams = {registry_stream_id(r): r for r in trusted_roots}
        self.findings: list[Finding] = []
        self._first: Envelope | None = None  # a stream's first envelope, parsed by _is_license
        # Set to a dict to keep each readable case or license step's envelope and time by seq
        # (a case's timeline shows what was checked, without parsing it again).
        self.checked_steps: dict[int, CheckedStep] | None = None
        # Set for a case page's checks (ledger.reports): signatures verified by earlier pages
        # are not verified again. An audit leaves it unset and verifies every one itself.
        self.remembered: VerifiedSignatures | None = None


def auditor_for(app: Any, applicants: ApplicantRecords | None = None) -> Auditor:
    """An auditor of ``app``'s ledger (its store, mapper, trust roots and workflow), and of
    its cases' applicants if ``applicants`` is given."""
    return Auditor(
        app.store,
        app.mapper,
        ledger_name=app.ledger_name,
        trusted_roots=app.trusted_roots,
        home_region=app.home_region,
        workflow=app.workflow,
        applicants=applicants,
    )
