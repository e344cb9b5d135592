"""An ``open_ledger`` that never returns in an audit's worker process (a part that never ends).

``tests/e2e/test_cli_interrupt.py`` puts it in place of ``api.cli_ledger.open_ledger`` inside a
``tongban`` subprocess: the parent process opens the ledger as usual; each worker process of
``audit verify --jobs N`` announces itself on stderr and then waits forever, so whatever it was
given is never done. It lives in a module of its own so a spawned worker can import it.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from types import SimpleNamespace
from typing import Any

from adapters.bootstrap import open_ledger
from adapters.settings import Settings


def open_ledger_stalling_in_workers(settings: Settings, **options: Any) -> Any:
    if multiprocessing.parent_process() is None:
        return open_ledger(settings, **options)
    print(f"audit worker {os.getpid()} stalled", file=sys.stderr, flush=True)
    while True:
        time.sleep(3600)


class _FailingThenStallingStore:
    """The worker's store: its first part fails, any later one never ends."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._parts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def iter_rows_by_stream(self, *args: Any, **kwargs: Any) -> Any:
        self._parts += 1
        if self._parts == 1:
            raise RuntimeError("this part failed")
        print(f"audit worker {os.getpid()} stalled", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)


def open_ledger_failing_in_workers(settings: Settings) -> Any:
    """``reopen`` for ``verify_ledger(jobs=2)``: the worker's first part fails, the next
    stalls (the real ledger, read-only, for everything else)."""
    app = open_ledger(settings, read_only=True)
    return SimpleNamespace(
        store=_FailingThenStallingStore(app.store),
        mapper=app.mapper,
        ledger_name=app.ledger_name,
        trusted_roots=app.trusted_roots,
        home_region=app.home_region,
        workflow=app.workflow,
    )


class _WaitingStore:
    """The worker's store: its first part waits until ``flag`` exists (at most 20 s)."""

    def __init__(self, store: Any, flag: str) -> None:
        self._store = store
        self._flag = flag
        self._parts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def iter_rows_by_stream(self, *args: Any, **kwargs: Any) -> Any:
        self._parts += 1
        deadline = time.monotonic() + 20
        while self._parts == 1 and not os.path.exists(self._flag) and time.monotonic() < deadline:
            time.sleep(0.02)
        return self._store.iter_rows_by_stream(*args, **kwargs)


def open_ledger_busy_in_workers(settings: Settings, flag: str, **options: Any) -> Any:
    """``reopen`` for ``verify_ledger(jobs=2)``: the worker's first part is held until the file
    ``flag`` exists (the real ledger, read-only, for everything else)."""
    app = open_ledger(settings, read_only=True, **options)
    if multiprocessing.parent_process() is None:
        return app
    return SimpleNamespace(
        store=_WaitingStore(app.store, flag),
        mapper=app.mapper,
        ledger_name=app.ledger_name,
        trusted_roots=app.trusted_roots,
        home_region=app.home_region,
        workflow=app.workflow,
    )
