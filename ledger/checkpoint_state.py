"""The last checkpoint the node signed, kept apart from its database (``docs/transparency.md``,
"A database older than the last checkpoint"): the port :class:`SignedCheckpointState` and its
one-process implementation; the node's file-backed one is ``adapters/checkpoint_state.py``.

The log (``ledger/transparency.py``) signs only trees that extend what this state keeps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class SignedCheckpointState(Protocol):
    """The last checkpoint the node signed, kept where its database cannot roll it back.

    Shared by every process of the node: :meth:`exclusive` is held around "read the last,
    check the new tree extends it, record the new one, then store it" so two processes never
    sign two different trees. :meth:`record` returns only once the note is durable (fsynced),
    and is called before the checkpoint is stored or published anywhere.
    """

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the node-wide lock (every process, every thread) for the block."""
        ...

    def last(self) -> str | None:
        """The note of the last checkpoint signed (exact text), or None before the first."""
        ...

    def record(self, note: str) -> None:
        """Durably keep ``note`` as the last signed checkpoint (under :meth:`exclusive`)."""
        ...

    def set_aside(self, why: str) -> str:
        """Keep the current note under another name (never deleted) and forget it as the last;
        return where it is now. Only for an operator's explicit ``accept rollback``."""
        ...


class MemoryCheckpointState:
    """:class:`SignedCheckpointState` of one process (for a node without a data directory,
    and for tests); a node wires the file-backed one (``adapters/checkpoint_state.py``)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._note: str | None = None
        self.aside: list[tuple[str, str]] = []

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._lock:
            yield

    def last(self) -> str | None:
        return self._note

    def record(self, note: str) -> None:
        self._note = note

    def set_aside(self, why: str) -> str:
        if self._note is not None:
            self.aside.append((why, self._note))
        self._note = None
        return f"memory ({why})"
