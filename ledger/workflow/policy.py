"""The policy a ledger and its audit apply to a case step: the real rules, or none."""

from __future__ import annotations

from ledger.envelope import Envelope
from ledger.keys import KeyRegistry
from ledger.workflow.entitlement import Entitlement
from ledger.workflow.rules import take_step
from ledger.workflow.state import CaseState, advance


class WorkflowPolicy:
    """No rules beyond the table-free core: for tests of the signed core and for tools."""

    def step(
        self, state: CaseState, envelope: Envelope, registry: KeyRegistry, moment: int | None = None
    ) -> CaseState:
        """The state after ``envelope`` received at ``moment``; raise ``EnvelopeRejected`` to
        refuse it."""
        return advance(state, envelope)


class CaseWorkflow(WorkflowPolicy):
    """The real rules: the transition table, the pinned catalog, the organization registry."""

    def step(
        self, state: CaseState, envelope: Envelope, registry: KeyRegistry, moment: int | None = None
    ) -> CaseState:
        entitlement = Entitlement(registry.body_view, registry.home_region)
        return take_step(state, envelope, registry.catalogs, entitlement, moment)
