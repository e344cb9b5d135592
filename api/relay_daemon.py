"""Delivering queued relayed steps, and monitoring the home ledgers, in the background
(``adapters.relay``, ``adapters.monitor``, docs/relay.md).

While the node serves, a daemon thread wakes every ``relay_deliver_seconds`` and sends the
steps still queued for their home nodes. Failures are logged and retried at the next
wake-up; they never affect requests. Several workers may each run one: the home node answers
a repeated delivery with the receipt it gave first, and a row is settled once.

Another wakes every ``monitor_seconds`` (0: never) and runs the monitor, which logs its
alerts and keeps the run for ``tongban monitor status``.
"""

from __future__ import annotations

import logging

from adapters.monitor import monitor_run
from api.periodic import Periodic

log = logging.getLogger("tongban.relay")


class RelayDeliverer(Periodic):
    name = "relay-deliverer"
    failure = "delivering queued relayed steps failed"
    log = log

    def tick(self) -> None:
        delivered = self.services.relay.deliver()
        if delivered:
            log.info("delivered %d queued relayed steps", len(delivered))


class MonitorWatch(Periodic):
    """The monitor, every ``interval`` seconds beside the server (its first run at once)."""

    name = "relay-monitor"
    failure = "the monitor's run failed"
    log = log
    first_at_once = True

    def tick(self) -> None:
        monitor_run(self.services.relay)  # logs its own alerts
