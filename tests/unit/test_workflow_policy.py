"""The workflow policy is a choice its caller names: no permissive default behind a generic name.

The ``Auditor`` used to fall back to a permissive ``WorkflowPolicy()`` when its caller named
none, so an audit built by hand checked no workflow rule at all and said nothing about it.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from ledger.audit import AUDIT_BATCH, Auditor, AuditReport, auditor_for
from ledger.persistence import AllowlistMapper
from ledger.workflow import CaseWorkflow, SignedCoreOnly, WorkflowPolicy
from tests.support.cases import COMBOS, body_for
from tests.support.world import World, make_world

ONLINE = COMBOS[0]


@pytest.fixture
def lax(tmp_path: Path) -> World:
    """A ledger whose node ran no workflow rules: ``accepted`` before ``form_checked``."""
    world = make_world(tmp_path, workflow=SignedCoreOnly())
    world.run(
        uuid.uuid4(),
        [
            ("rs-001", "received", ONLINE.received_body()),
            ("rs-001", "accepted", body_for("accepted")),
        ],
    )
    return world


def audit(world: World, workflow: WorkflowPolicy) -> list[tuple[int, str]]:
    app = world.app
    assert isinstance(app.mapper, AllowlistMapper)
    auditor = Auditor(
        app.store,
        app.mapper,
        ledger_name=app.ledger_name,
        trusted_roots=app.trusted_roots,
        workflow=workflow,
    )
    auditor.load_registry()
    auditor.check_rows(app.store.iter_rows_by_stream(AUDIT_BATCH), AuditReport())
    return [(finding.seq, finding.reason) for finding in auditor.findings]


def test_an_auditor_is_not_built_without_a_workflow(lax: World) -> None:
    app = lax.app
    assert isinstance(app.mapper, AllowlistMapper)
    with pytest.raises(TypeError, match="workflow"):
        Auditor(  # type: ignore[call-arg]
            app.store, app.mapper, ledger_name=app.ledger_name, trusted_roots=app.trusted_roots
        )


def test_the_workflow_the_auditor_is_given_decides_what_it_reports(lax: World) -> None:
    assert audit(lax, CaseWorkflow()) == [(2, "illegal_step")]
    assert audit(lax, SignedCoreOnly()) == []


def test_the_generic_name_is_no_policy(lax: World) -> None:
    """``WorkflowPolicy`` is the Protocol: the permissive rules are ``SignedCoreOnly`` by name."""
    with pytest.raises(TypeError):
        WorkflowPolicy()  # type: ignore[misc]


def test_a_node_that_names_no_policy_runs_the_real_rules(lax: World, tmp_path: Path) -> None:
    """``open_ledger`` without ``workflow`` (the CLI, ``serve``) gets the real rules, and so does
    the audit of its ledger (``auditor_for``)."""
    lax.app.close()
    app = open_ledger(Settings(data_dir=tmp_path), clock=lax.clock, read_only=True)
    try:
        assert isinstance(app.workflow, CaseWorkflow)
        assert isinstance(auditor_for(app).workflow, CaseWorkflow)
    finally:
        app.close()
