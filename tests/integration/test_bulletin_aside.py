"""The server's supervision scheduler keeps last month's bulletin, made in a child process.

Making a finished month's bulletin replays the whole ledger (151 s for 1,000,007 events on
this machine); made by the scheduler thread itself, it held the interpreter lock the requests
need, and a node restarted before it finished started it again at every start.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import adapters.supervision
from adapters.bootstrap import open_services
from adapters.supervision import bulletin_for, bulletin_kept, previous_month
from api.alert_daemon import AlertScheduler
from ledger.calendars import CHINA
from ledger.ratings.stats import bulletin_of
from ledger.workflow import CaseWorkflow
from tests.support.world import make_world


def test_last_months_bulletin_is_made_and_kept_in_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(tmp_path, workflow=CaseWorkflow())
    world.app.close()
    assert world.settings is not None
    node = open_services(world.settings)
    month = previous_month(datetime.now(UTC).astimezone(CHINA).date())
    expected = bulletin_of(node.ledger, month)

    def not_here(*_: object) -> None:
        raise AssertionError("the bulletin was made in the server's own process")

    monkeypatch.setattr(adapters.supervision, "bulletin_of", not_here)
    try:
        assert not bulletin_kept(node, month)
        AlertScheduler(node, interval=3600).tick()
        assert bulletin_kept(node, month)
        kept = bulletin_for(node, month)  # read back, not made (bulletin_of refuses here)
        assert kept.month == month and kept.rows == expected.rows
    finally:
        node.close()
