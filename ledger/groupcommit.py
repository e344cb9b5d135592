"""Group commit: concurrent appends of one process share one database transaction.

Callers enqueue their validated item (in the order the ledger must index them) and wait. No
thread is dedicated to writing: the first waiting caller that finds no write in progress becomes
the leader, takes every queued item (up to ``max_batch``), and writes them with one call of
``write``; the others keep waiting. While a leader waits for its commit (a WAL flush), new items
queue up and the next leader writes them together, so under load one flush serves many
callers, and with one caller nothing waits on anyone.

``write`` must settle every item it is given (a result or an error on the item itself) and
return only after the items it reports written are durable; an exception it raises instead is
given to every item of the batch. A caller returns from :meth:`GroupCommit.wait` only after its
own item was settled by some leader.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_MAX_BATCH = 512


class Ticket(Generic[T]):
    """A queued item and whether its batch has been written (or failed)."""

    __slots__ = ("done", "error", "item")

    def __init__(self, item: T):
        self.item = item
        self.done = False
        self.error: BaseException | None = None


class GroupCommit(Generic[T]):
    """Leader/follower batching of ``write(items)`` calls; see the module docstring."""

    def __init__(self, write: Callable[[list[T]], None], *, max_batch: int = DEFAULT_MAX_BATCH):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._write = write
        self._max_batch = max_batch
        self._cv = threading.Condition(threading.Lock())
        self._queue: list[Ticket[T]] = []
        self._writing = False
        self.batches = 0  # written batches (for tests and benchmarks: items / batches)
        self.items = 0

    def enqueue(self, item: T) -> Ticket[T]:
        """Queue ``item`` after every item queued before it; return its ticket."""
        ticket = Ticket(item)
        with self._cv:
            self._queue.append(ticket)
        return ticket

    def wait(self, ticket: Ticket[T]) -> None:
        """Block until ``ticket``'s item is written, leading batches while none is in progress.

        Raises the batch's exception when ``write`` raised instead of settling the items."""
        while True:
            with self._cv:
                while not ticket.done and self._writing:
                    self._cv.wait()
                if ticket.done:
                    break
                self._writing = True
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
            try:
                self._write([t.item for t in batch])
            except BaseException as error:  # every caller of the batch learns why
                for t in batch:
                    t.error = error
            finally:
                with self._cv:
                    for t in batch:
                        t.done = True
                    self.batches += 1
                    self.items += len(batch)
                    self._writing = False
                    self._cv.notify_all()
        if ticket.error is not None:
            raise ticket.error
