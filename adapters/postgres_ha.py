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

import logging
import threading
from collections.abc import Iterator
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
        timer = None
        if bound is not None:
            timer = threading.Timer(bound, _cancel, (conn,))
            timer.daemon = True
            timer.start()
        try:
            yield self
        finally:
            if timer is not None:
                timer.cancel()
                timer.join()  # a cancel already under way lands before the connection is reused
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
