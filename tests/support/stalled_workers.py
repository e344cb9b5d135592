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
from typing import Any

from adapters.bootstrap import open_ledger
from adapters.settings import Settings


def open_ledger_stalling_in_workers(settings: Settings, **options: Any) -> Any:
    if multiprocessing.parent_process() is None:
        return open_ledger(settings, **options)
    print(f"audit worker {os.getpid()} stalled", file=sys.stderr, flush=True)
    while True:
        time.sleep(3600)
