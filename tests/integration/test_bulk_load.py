"""The bulk loader (``tongban demo --events N``): signed steps through the append path."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.applicants import open_node_applicants
from adapters.bootstrap import open_ledger
from adapters.bulk import Officer, bulk_load
from adapters.demo import DemoError, build_demo
from adapters.settings import Settings
from api.cli import main
from ledger.audit import verify_ledger
from ledger.errors import LedgerError
from ledger.workflow import CaseWorkflow
from tests.support.world import make_world, world_applicants


def test_demo_events_are_appended_by_concurrent_writers_and_audit_clean(tmp_path: Path) -> None:
    summary = build_demo(tmp_path / "demo", cases=4, seed=3, events=95, writers=4)
    assert summary.bulk is not None
    assert summary.bulk.events == 95
    app = open_ledger(Settings(data_dir=tmp_path / "demo"), read_only=True)
    try:
        indexes = [e.index for e in app.entries_after(0, 100_000)]
        # Every object took the next index: registry records, the demo's cases, the bulk.
        assert indexes == list(range(1, summary.registry_records + summary.events + 96))
        report = verify_ledger(app)
        assert report.exit_code == 0, report.findings[:5]
        # Every case, the demo's and the bulk loader's, opened with its applicant bound.
        applicants = open_node_applicants("", tmp_path / "demo")
        report = verify_ledger(app, applicants=applicants)
        assert report.exit_code == 0, report.findings[:5]
    finally:
        app.close()


def test_a_refused_step_stops_the_load_with_its_reason(tmp_path: Path) -> None:
    world = make_world(tmp_path, workflow=CaseWorkflow())
    stranger = world.officers["rs-001"]
    # An officer id the registry never certified: the first step is refused, nothing stored.
    forged = Officer(stranger.body_id, "not-certified", stranger.signer)
    before = world.app.store.max_index()
    with pytest.raises(LedgerError) as refused:
        bulk_load(
            world.app,
            10,
            officers=[forged],
            now=lambda: world.clock.now,
            applicants=world_applicants(world),
            writers=2,
        )
    assert refused.value.reason in {"uncertified_officer", "unknown_key"}
    assert world.app.store.max_index() == before
    world.app.close()


def test_the_cli_refuses_bad_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DemoError, match="--events"):
        build_demo(tmp_path / "d", cases=1, seed=1, events=-1)
    code = main(
        [
            "demo",
            "--cases",
            "1",
            "--events",
            "0",
            "--writers",
            "0",
            "--data-dir",
            str(tmp_path / "e"),
        ]
    )
    assert code != 0
    assert "--writers" in capsys.readouterr().err
