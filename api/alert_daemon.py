"""The supervision scheduler beside the server: scans the stored deadlines for alerts.

No event marks the passage of time, so "this leg is now overdue" is found by looking: every
``TONGBAN_ALERT_SCAN_SECONDS`` the scheduler runs :func:`adapters.supervision.scan_alerts` at
the current China date and records what is new in the node's alert feed (idempotent: a scan
that finds what an earlier one recorded records nothing; ``tongban supervise alerts run
--once`` from cron does the same). It also makes the previous month's bulletin once, so the
first supervisor to ask for it does not wait for a replay of the ledger.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from adapters.supervision import bulletin_for, previous_month, scan_alerts
from api.periodic import Periodic
from ledger.calendars import CHINA

log = logging.getLogger("tongban.alerts")
CATCH_UP_SECONDS = 5.0


class AlertScheduler(Periodic):
    """Runs a scan at once, then every ``interval`` seconds until stopped."""

    name = "alerts"
    failure = "scanning deadlines for alerts failed"
    log = log
    # The first scan runs whatever happens next: a server stopped at once has scanned once.
    first_at_once = True
    join_seconds = 30.0

    def scan(self) -> int:
        """One scan now; how many alerts it recorded."""
        now = datetime.now(UTC)
        day = now.astimezone(CHINA).date()
        # A bounded catch-up (the read-model follower does the rest): stopping never waits on
        # a whole rebuild.
        return len(scan_alerts(self.services, day, now=now, budget=CATCH_UP_SECONDS))

    def tick(self) -> None:
        recorded = self.scan()
        if recorded:
            log.info("recorded %d supervision alerts", recorded)
        today = datetime.now(UTC).astimezone(CHINA).date()
        bulletin_for(self.services, previous_month(today))  # kept: once per calendar/catalog
