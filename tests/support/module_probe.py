"""What a worker process has imported when it starts a task (``tests/integration/
test_audit_jobs.py``). It imports nothing of Tongban itself, so it adds nothing to the answer."""

from __future__ import annotations

import sys


def imported(name: str) -> bool:
    """Whether module ``name`` was imported in this process before this call."""
    return name in sys.modules
