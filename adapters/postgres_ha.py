"""PostgreSQL behind a failover manager: the connection options and the commit we must not
acknowledge (docs/ha.md).

The node reaches a primary/standby pair through one multi-host URL (``postgresql://u@h1:5432,
h2:5432/db?target_session_attrs=read-write``): libpq tries the hosts in order and keeps only a
read-write one, so after a failover the pool's next connection (pre-pinged: a broken one is
replaced) is to the new primary, without a restart. eventsourcing's factory reads host, port,
user, password and database from its environment and has no variable for the rest, so
:class:`PostgresLedgerFactory` adds them (``TONGBAN_POSTGRES_CONNINFO_OPTIONS``, made by
``adapters.bootstrap.persistence_env``) to its pool before the pool opens.

With a synchronous standby, a commit is flushed locally, then waits for the standby. If that
wait is cancelled (a statement timeout, a cancel request, an administrator's
``pg_cancel_backend``), PostgreSQL answers the statement with success and only a WARNING
("canceling wait for synchronous replication ... already committed locally, but might not have
been replicated"). A failover then may lose the commit. And with the standby gone for good
(``synchronous_mode_strict``, or until Patroni drops it), a commit waits forever:
PostgreSQL's ``statement_timeout`` is off by then.

One rule for every write the node makes on PostgreSQL (the ledger's appends and tree, the
vault, and every :class:`adapters.sqlstore.SqlStore`: access log, licenses, sessions, relay
queue, outbox position, read models, witness store, platform store): :func:`confirmed_writes`.
The write is cancelled after a bound, and any WARNING on its connection meanwhile makes it
fail as :class:`CommitNotConfirmed`: never a receipt or a 200 for it, never a hang
(adapters/outage.py: the API answers 503 + Retry-After, the client re-posts).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.postgres import PostgresFactory
from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict
from psycopg.errors import Diagnostic

log = logging.getLogger(__name__)

CONNINFO_OPTIONS = "TONGBAN_POSTGRES_CONNINFO_OPTIONS"
# The longest a write may take, its wait for the synchronous standby included, before the
# node cancels it and answers 503: a client waits no longer than this for an answer.
COMMIT_WAIT_SECONDS = 10.0


class CommitNotConfirmed(Exception):
    """PostgreSQL warned during a write: it may be committed on this server only (its wait for
    the synchronous standby was cancelled), so it is not acknowledged. Retry later."""


def not_confirmed(error: BaseException) -> bool:
    """Whether ``error`` comes from a :class:`CommitNotConfirmed` (its cause chain): a write
    that may be stored on this server only, which no caller may take as done."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, CommitNotConfirmed):
            return True
        current = current.__cause__
    return False


@contextmanager
def confirmed_writes(conn: Connection[Any], bound: float | None) -> Iterator[None]:
    """The rule for a block of writes on ``conn`` whose commits happen inside it (an
    autocommit statement, ``conn.transaction()``, ``conn.commit()``): cancelled after
    ``bound`` seconds (None: unbounded), and refused as :class:`CommitNotConfirmed` if the
    server warned meanwhile. A cancelled statement that is not a commit's wait raises the
    driver's ``QueryCanceled`` (an ``OperationalError``): refused as well."""
    with CommitWarnings().watching(conn, bound=bound) as warnings:
        yield
    warnings.raise_if_any()


def commit_confirmed(conn: Connection[Any], bound: float | None) -> None:
    """``conn.commit()`` under :func:`confirmed_writes`."""
    with confirmed_writes(conn, bound):
        conn.commit()


def _cancel(conn: Connection[Any]) -> None:
    try:
        conn.cancel_safe(timeout=5)
    except Exception:  # the server is gone: the statement fails on its own
        log.warning("could not cancel a write on a slow database", exc_info=True)


class _Watch:
    __slots__ = ("conn", "done", "firing")

    def __init__(self, conn: Any):
        self.conn = conn
        self.done = False  # released: never cancelled from now on
        self.firing = False  # its cancel is under way


class Watchdog:
    """Cancels a connection's statement still running at its deadline: one thread for all.

    Every store call on PostgreSQL is bounded (a token look-up on each request among them); a
    ``threading.Timer`` per call started a thread each time (about 0.2 ms here). Watches are
    kept in deadline order; a released one is dropped when it comes up. :meth:`release`
    returns only once no cancel of its watch is under way or can start, so a connection is
    never cancelled after it was handed back."""

    def __init__(self, cancel: Callable[[Any], None] = _cancel):
        self._cancel = cancel
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def after_fork(self) -> None:
        """In a forked child: the parent's thread is not there, its lock may be held."""
        self._cond = threading.Condition()
        self._heap = []
        self._thread = None

    def watch(self, conn: Any, bound: float) -> _Watch:
        """Cancel ``conn``'s statement if it runs ``bound`` seconds from now."""
        watch = _Watch(conn)
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + bound, next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():  # first use, or forked
                self._thread = threading.Thread(
                    target=self._run, name="tongban-commit-watchdog", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is watch:  # due before everything it sleeps for
                self._cond.notify()
        return watch

    def release(self, watch: _Watch) -> None:
        """The watched statement ended: no cancel for it from now on."""
        with self._cond:
            watch.done = True
            while watch.firing:
                self._cond.wait()

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, _, watch = self._heap[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                watch.firing = True
                self._cond.release()
                try:
                    self._cancel(watch.conn)
                except Exception:  # the cancel's own failure must not stop the watchdog
                    log.exception("the commit watchdog could not cancel a statement")
                finally:
                    self._cond.acquire()
                    watch.firing = False
                    self._cond.notify_all()


WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG.after_fork)


class PostgresLedgerFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory, with libpq options it has no variable for
    (``target_session_attrs``, ``sslmode``, ...) given to every connection of its pool."""

    def __init__(self, env: Any):
        super().__init__(env)
        options = self.env.get(CONNINFO_OPTIONS, "")
        if options:
            # The pool is not open yet (opened on first use), so its first connection has them.
            kwargs = self.datastore.pool.kwargs
            assert isinstance(kwargs, dict)
            kwargs.update(conninfo_to_dict(options))


class CommitWarnings:
    """The WARNINGs a connection receives while in :meth:`watching`."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, diagnostic: Diagnostic) -> None:
        # Read now: the diagnostic's fields are gone once the handler returns.
        if diagnostic.severity_nonlocalized == "WARNING":
            self.seen.append(
                f"{diagnostic.sqlstate}: {diagnostic.message_primary} ({diagnostic.message_detail})"
            )

    @contextmanager
    def watching(
        self, conn: Connection[Any], *, bound: float | None = None
    ) -> Iterator[CommitWarnings]:
        """Collect the warnings ``conn`` receives; with ``bound``, cancel whatever it still
        runs after that many seconds (a commit waiting for a standby that is gone would wait
        forever: PostgreSQL's statement_timeout is off by then). A cancelled wait comes back
        as a warning, anything else cancelled as ``QueryCanceled``: neither gets a receipt."""
        self.seen.clear()
        conn.add_notice_handler(self)
        watch = None if bound is None else WATCHDOG.watch(conn, bound)
        try:
            yield self
        finally:
            if watch is not None:
                WATCHDOG.release(watch)  # a cancel under way lands before the conn is reused
            conn.remove_notice_handler(self)

    def raise_if_any(self) -> None:
        """Refuse the write just made if the server warned during it
        (:class:`CommitNotConfirmed`). The node's statements raise no warning, so any is a
        doubt we must not acknowledge: matching the text ("synchronous replication") would
        depend on the server's ``lc_messages``."""
        if not self.seen:
            return
        detail = self.seen[0]
        log.warning("a write is not acknowledged: the server warned %s", detail)
        raise CommitNotConfirmed(
            f"the database committed a write locally but did not confirm it was replicated: "
            f"{detail}"
        )
