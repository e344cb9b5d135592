"""A job beside the server, every ``interval`` seconds in a daemon thread, never inside a request.

Each of the node's background jobs (witness pushes, relay deliveries, the monitor, the read
models' catch-up, the alert scans) is a :class:`Periodic` with its own ``tick``: a tick that
fails is logged and tried again at the next one; the node keeps serving.
"""

from __future__ import annotations

import logging
import threading

from adapters.bootstrap import NodeServices


class Periodic:
    name = "periodic"  # the thread's name
    failure = "a background job failed"  # logged with the traceback when a tick raises
    log = logging.getLogger("tongban")
    first_at_once = False  # True: the first tick at start, not one interval later
    join_seconds = 5.0  # how long stop() waits for a tick under way

    def __init__(self, services: NodeServices, interval: float):
        self.services = services
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.join_seconds)

    def tick(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        if not self.first_at_once and self._stop.wait(self.interval):
            return
        while True:
            try:
                self.tick()
            except Exception:  # logged, tried again next time; the node keeps serving
                self.log.exception(self.failure)
            if self._stop.wait(self.interval):
                return
