"""Keeping the read models up to the ledger beside the server, never inside an append."""

from __future__ import annotations

import logging
import threading

from adapters.bootstrap import NodeServices

log = logging.getLogger("tongban.read_models")


class ReadModelFollower:
    """Polls the ledger's head every ``interval`` seconds and catches the projections up (a
    listing catches up too before answering: this keeps that catch-up short)."""

    def __init__(self, services: NodeServices, interval: float):
        self.services = services
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="read-models", daemon=True)

    def start(self) -> None:
        if self.services.follower is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            follower = self.services.follower
            if follower is None:
                return
            try:
                # A bounded catch-up, so stopping never waits on a whole rebuild.
                follower.catch_up(budget=max(self.interval, 1.0))
            except Exception:  # logged, retried next time; the node keeps serving
                log.exception("bringing the read models up to the ledger failed")
