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
import threading

from adapters.bootstrap import NodeServices
from adapters.monitor import monitor_run

log = logging.getLogger("tongban.relay")


class RelayDeliverer:
    def __init__(self, services: NodeServices, interval: float):
        self.services = services
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay-deliverer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                delivered = self.services.relay.deliver()
            except Exception:  # logged, retried next time; the node keeps serving
                log.exception("delivering queued relayed steps failed")
                continue
            if delivered:
                log.info("delivered %d queued relayed steps", len(delivered))


class MonitorWatch:
    """The monitor, every ``interval`` seconds beside the server (its first run at once)."""

    def __init__(self, services: NodeServices, interval: float):
        self.services = services
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relay-monitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            try:
                monitor_run(self.services.relay)  # logs its own alerts
            except Exception:  # logged, run again next time; the node keeps serving
                log.exception("the monitor's run failed")
            if self._stop.wait(self.interval):
                return
