"""How a cross-province case moves: its steps, the transition table, and who may take each step.

- :mod:`~ledger.workflow.table`: the transition table (:data:`TRANSITIONS`), its states and
  actors;
- :mod:`~ledger.workflow.fields`: each step type's body fields (:data:`STEP_FIELDS`) and
  :func:`check_body`;
- :mod:`~ledger.workflow.state`: :class:`CaseState`, rebuilt from accepted steps (:func:`advance`);
- :mod:`~ledger.workflow.entitlement`: who may act, from the signed organization registry;
- :mod:`~ledger.workflow.rules`: the checks of a new step (:func:`take_step`,
  :func:`check_received`);
- :mod:`~ledger.workflow.policy`: the :class:`WorkflowPolicy` Protocol a ledger and its audit
  are given, and its two implementations, :class:`CaseWorkflow` (the real rules) and
  :class:`SignedCoreOnly` (none, for tests of the signed core).

``docs/workflows.md`` is generated from the table and the fields (``tools/workflow_docs.py``).
"""

from ledger.workflow.entitlement import Entitlement, NotEntitled
from ledger.workflow.fields import STEP_FIELDS, STEP_TYPES, Field, check_body
from ledger.workflow.policy import CaseWorkflow, SignedCoreOnly, WorkflowPolicy
from ledger.workflow.rules import (
    ItemNotOpen,
    catalog_item,
    check_received,
    item_version,
    take_step,
)
from ledger.workflow.state import CaseState, advance
from ledger.workflow.table import (
    ALL_CHANNELS,
    BOTH,
    CLOSED_STATES,
    CORRECTABLE_STATES,
    JOINT,
    ONLINE_OR_DIRECT,
    PROXY,
    RATEABLE_STATES,
    RATING_STATES,
    RATING_STEP_TYPES,
    RATING_TRANSITIONS,
    RECTIFYING_STATES,
    START,
    STATES,
    TRANSITIONS,
    UNRATED,
    Transition,
)

__all__ = [
    "ALL_CHANNELS",
    "BOTH",
    "CLOSED_STATES",
    "CORRECTABLE_STATES",
    "JOINT",
    "ONLINE_OR_DIRECT",
    "PROXY",
    "RATEABLE_STATES",
    "RATING_STATES",
    "RATING_STEP_TYPES",
    "RATING_TRANSITIONS",
    "RECTIFYING_STATES",
    "START",
    "STATES",
    "STEP_FIELDS",
    "STEP_TYPES",
    "TRANSITIONS",
    "UNRATED",
    "CaseState",
    "CaseWorkflow",
    "Entitlement",
    "Field",
    "ItemNotOpen",
    "NotEntitled",
    "SignedCoreOnly",
    "Transition",
    "WorkflowPolicy",
    "advance",
    "catalog_item",
    "check_body",
    "check_received",
    "item_version",
    "take_step",
]
