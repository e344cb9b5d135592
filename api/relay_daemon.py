"""Delivering queued relayed steps in the background (``adapters.relay``, docs/relay.md).

While the node serves, a daemon thread wakes every ``relay_deliver_seconds`` and sends the
steps still queued for their home nodes. Failures are logged and retried at the next
wake-up; they never affect requests. Several workers may each run one: the home node answers
a repeated delivery with the receipt it gave first, and a row is settled once.
"""

from __future__ import annotations

import logging
import threading

from adapters.bootstrap import NodeServices

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
