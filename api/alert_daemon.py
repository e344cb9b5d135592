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
import multiprocessing
import os
from datetime import UTC, datetime

from adapters.bootstrap import open_services
from adapters.settings import Settings
from adapters.supervision import bulletin_for, bulletin_kept, previous_month, scan_alerts
from api.periodic import Periodic
from ledger.calendars import CHINA

log = logging.getLogger("tongban.alerts")
CATCH_UP_SECONDS = 5.0
LOWEST_PRIORITY = 19  # os.nice: the bulletin's child runs on what the requests leave


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
        month = previous_month(datetime.now(UTC).astimezone(CHINA).date())
        if not bulletin_kept(self.services, month):  # kept: once per calendar and catalog
            self.keep_bulletin_aside(month)

    def keep_bulletin_aside(self, month: str) -> None:
        """Make and keep ``month``'s bulletin in a child process at the lowest CPU priority,
        waiting for it (stopping ends it). It replays the whole ledger (151 s for 1,000,007
        events here): in this process that would hold the interpreter lock the requests
        need, and a node restarted meanwhile would start it again on every start."""
        child = multiprocessing.get_context("spawn").Process(
            target=keep_bulletin,
            args=(self.services.settings, month),
            name="tongban-bulletin",
            daemon=True,  # never outlives the server
        )
        child.start()
        while child.is_alive():
            if self._stop.wait(1.0):
                # Stopping: a small ledger's bulletin is a second away, a large one's minutes.
                child.join(timeout=self.join_seconds - 10)
                break
        if child.is_alive():
            child.terminate()
        child.join()
        if child.exitcode not in (0, None) and not self._stop.is_set():
            log.warning("making the bulletin of %s failed (exit %s)", month, child.exitcode)


def keep_bulletin(settings: Settings, month: str) -> None:
    """The child's work (:meth:`AlertScheduler.keep_bulletin_aside`): the node opened as a
    server worker opens it, the bulletin made and kept by :func:`bulletin_for`."""
    os.nice(LOWEST_PRIORITY)
    node = open_services(settings)
    try:
        bulletin_for(node, month)
    finally:
        node.close()
