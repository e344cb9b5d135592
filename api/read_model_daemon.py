"""Keeping the read models up to the ledger beside the server, never inside an append."""

from __future__ import annotations

import logging

from api.periodic import Periodic

log = logging.getLogger("tongban.read_models")


class ReadModelFollower(Periodic):
    """Polls the ledger's head every ``interval`` seconds and catches the projections up (a
    listing catches up too before answering: this keeps that catch-up short)."""

    name = "read-models"
    failure = "bringing the read models up to the ledger failed"
    log = log
    join_seconds = 30.0

    def start(self) -> None:
        if self.services.follower is not None:
            super().start()

    def tick(self) -> None:
        follower = self.services.follower
        if follower is not None:
            # A bounded catch-up, so stopping never waits on a whole rebuild.
            follower.catch_up(budget=max(self.interval, 1.0))
