"""The supervision scheduler beside the server: scans the stored deadlines for alerts.

No event marks the passage of time, so "this leg is now overdue" is found by looking: every
``TONGBAN_ALERT_SCAN_SECONDS`` the scheduler runs :func:`adapters.supervision.scan_alerts` at
the current China date and records what is new in the node's alert feed (idempotent: a scan
that finds what an earlier one recorded records nothing; ``tongban supervise alerts run
--once`` from cron does the same).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from adapters.bootstrap import NodeServices
from adapters.supervision import scan_alerts
from ledger.calendars import CHINA

log = logging.getLogger("tongban.alerts")
CATCH_UP_SECONDS = 5.0


class AlertScheduler:
    """Runs a scan at once, then every ``interval`` seconds until stopped."""

    def __init__(self, services: NodeServices, interval: float):
        self.services = services
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def scan(self) -> int:
        """One scan now; how many alerts it recorded."""
        now = datetime.now(UTC)
        day = now.astimezone(CHINA).date()
        # A bounded catch-up (the read-model follower does the rest): stopping never waits on
        # a whole rebuild.
        return len(scan_alerts(self.services, day, now=now, budget=CATCH_UP_SECONDS))

    def _run(self) -> None:
        # The first scan runs whatever happens next: a server stopped at once has scanned once.
        while True:
            try:
                recorded = self.scan()
                if recorded:
                    log.info("recorded %d supervision alerts", recorded)
            except Exception:  # logged, retried next time; the node keeps serving
                log.exception("scanning deadlines for alerts failed")
            if self._stop.wait(self.interval):
                return
