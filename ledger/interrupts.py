"""Waiting on other threads without losing Ctrl-C.

The kernel gives a process's SIGINT to any of its threads. Python runs its handler (and raises
``KeyboardInterrupt``) only in the main thread, when that thread runs again; a main thread
blocked on a lock with no timeout is not woken by a signal another thread received, so a
command waiting for its workers could hang after Ctrl-C. These waits wake every
:data:`SIGNAL_CHECK_SECONDS` to let the handler run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from typing import Any

SIGNAL_CHECK_SECONDS = 0.2


def wait_for(condition: threading.Condition, predicate: Callable[[], Any]) -> None:
    """``condition.wait_for(predicate)`` (the condition's lock held), interruptible."""
    while not condition.wait_for(predicate, timeout=SIGNAL_CHECK_SECONDS):
        pass


def results(futures: Iterable[Future[Any]]) -> None:
    """Wait for every future; raise the first failure as soon as one fails, interruptibly."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=SIGNAL_CHECK_SECONDS, return_when=FIRST_EXCEPTION)
        for future in done:
            future.result()
