"""How a ledger decides a case step: the policy is a choice its caller names.

:class:`WorkflowPolicy` is the Protocol the ledger (:class:`ledger.application.LedgerApplication`)
and the audit (:class:`ledger.audit.Auditor`) call; two implementations exist, by name, so no
caller gets the permissive one without saying so:

- :class:`CaseWorkflow`, the real rules (the transition table, the pinned catalog, the
  organization registry): what a node runs and what an audit of its ledger replays;
- :class:`SignedCoreOnly`, no workflow rules at all: for tests of the signed core (signatures,
  chains, receipts, keys) that sign generic steps, and never for a node.
"""

from __future__ import annotations

from typing import Protocol

from ledger.envelope import Envelope
from ledger.keys import KeyRegistry
from ledger.workflow.entitlement import Entitlement
from ledger.workflow.rules import take_step
from ledger.workflow.state import CaseState, advance


class WorkflowPolicy(Protocol):
    """Decides whether a case step is accepted and what the case's state becomes."""

    def step(
        self, state: CaseState, envelope: Envelope, registry: KeyRegistry, moment: int | None = None
    ) -> CaseState:
        """The state after ``envelope`` received at ``moment``; raise ``EnvelopeRejected`` to
        refuse it."""
        ...


class CaseWorkflow:
    """The real rules: the transition table, the pinned catalog, the organization registry."""

    def step(
        self, state: CaseState, envelope: Envelope, registry: KeyRegistry, moment: int | None = None
    ) -> CaseState:
        entitlement = Entitlement(registry.body_view, registry.home_region, registry.is_head)
        return take_step(state, envelope, registry.catalogs, entitlement, moment)


class SignedCoreOnly:
    """No rules beyond the table-free core: for tests of the signed core, never for a node.

    Every step is taken as it comes (:func:`ledger.workflow.state.advance`): a step the table
    would refuse leaves the state as it was instead of being refused.
    """

    def step(
        self, state: CaseState, envelope: Envelope, registry: KeyRegistry, moment: int | None = None
    ) -> CaseState:
        return advance(state, envelope)
