"""Group commit: concurrent appends of one process share one database transaction.

Callers enqueue their validated item (in the order the ledger must index them) and wait. No
thread is dedicated to writing: a caller that finds no write in progress becomes the leader,
takes every queued item (up to ``max_batch``) and writes them with one call of ``write``; the
others wait. While a leader waits for its commit (a WAL flush), new items queue up; when it is
done it wakes exactly the callers whose items it wrote and hands the lead to the oldest caller
still queued, which writes everything queued meanwhile. So under load one flush serves many
callers, and a lone caller waits on no one.

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
    """A queued item, whether its batch was written, and the lock its caller sleeps on."""

    __slots__ = ("done", "error", "item", "wake")

    def __init__(self, item: T):
        self.item = item
        self.done = False
        self.error: BaseException | None = None
        # Held from the start; released once: the item was written, or its caller leads now.
        self.wake = threading.Lock()
        self.wake.acquire()


class GroupCommit(Generic[T]):
    """Leader/follower batching of ``write(items)`` calls; see the module docstring."""

    def __init__(self, write: Callable[[list[T]], None], *, max_batch: int = DEFAULT_MAX_BATCH):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._write = write
        self._max_batch = max_batch
        self._mutex = threading.Lock()
        self._queue: list[Ticket[T]] = []
        self._writing = False  # a leader is writing, or the lead is being handed over
        self.batches = 0  # written batches (for tests and benchmarks: items / batches)
        self.items = 0
        # Told each batch's size once it is settled (the node's metrics set it); called by
        # the leader outside the mutex, so it must be quick and must not raise.
        self.on_batch: Callable[[int], None] | None = None

    @property
    def queued(self) -> int:
        """Items waiting for a leader to take them."""
        with self._mutex:
            return len(self._queue)

    def enqueue(self, item: T) -> Ticket[T]:
        """Queue ``item`` after every item queued before it; return its ticket."""
        ticket = Ticket(item)
        with self._mutex:
            self._queue.append(ticket)
        return ticket

    def wait(self, ticket: Ticket[T]) -> None:
        """Block until ``ticket``'s item is written, leading batches when it is this caller's
        turn. Raises the batch's exception when ``write`` raised instead of settling items."""
        with self._mutex:
            follow = not ticket.done and self._writing
            if not ticket.done and not self._writing:
                self._writing = True
        if follow:
            ticket.wake.acquire()
        while not ticket.done:
            self._lead(ticket)
        if ticket.error is not None:
            raise ticket.error

    def _lead(self, own: Ticket[T]) -> None:
        with self._mutex:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        try:
            self._write([t.item for t in batch])
        except BaseException as error:  # every caller of the batch learns why
            for t in batch:
                t.error = error
        with self._mutex:
            for t in batch:
                t.done = True
            self.batches += 1
            self.items += len(batch)
            # The lead passes on only once the leader's own item is written.
            successor = self._queue[0] if own.done and self._queue else None
            if own.done and successor is None:
                self._writing = False
        for t in batch:
            t.wake.release()
        if successor is not None:
            successor.wake.release()
        if self.on_batch is not None and batch:
            self.on_batch(len(batch))
