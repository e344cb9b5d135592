"""The node's background jobs (``api/periodic.py``): ticks, failures, the first tick, stop."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from api.periodic import Periodic


class Counting(Periodic):
    name = "counting"
    failure = "the counting job failed"

    def __init__(self, interval: float, *, fail_first: bool = False, at_once: bool = False):
        super().__init__(services=None, interval=interval)  # type: ignore[arg-type]
        self.first_at_once = at_once
        self.fail_first = fail_first
        self.ticks = 0
        self.third = threading.Event()

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks == 3:
            self.third.set()
        if self.fail_first and self.ticks == 1:
            raise RuntimeError("first tick fails")


def test_a_failing_tick_is_logged_and_the_job_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    job = Counting(0.01, fail_first=True)
    with caplog.at_level(logging.ERROR, logger="tongban"):
        job.start()
        try:
            assert job.third.wait(30), "the job stopped after its failing tick"
        finally:
            job.stop()
    assert [r.getMessage() for r in caplog.records] == ["the counting job failed"]


@pytest.mark.parametrize(("at_once", "ticks"), [(True, 1), (False, 0)])
def test_the_first_tick_waits_an_interval_unless_asked_at_once(at_once: bool, ticks: Any) -> None:
    job = Counting(3600, at_once=at_once)
    job.start()
    job.stop()  # returns once the thread ended: a tick at start has run by then
    assert not job._thread.is_alive()
    assert job.ticks == ticks
