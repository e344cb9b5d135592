"""The one place that wires real adapters into the ledger application."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adapters.access import AccessStore, open_access_store
from adapters.alerts import AlertStore, open_alert_store
from adapters.applicants import NodeApplicants
from adapters.checkpoint_state import FileCheckpointState
from adapters.crypto_profile import apply_crypto_profile, check_node_key, crypto_profile
from adapters.filemodes import (
    create_private_file,
    private_directory,
    refuse_if_others_can_write,
)
from adapters.keyfiles import NODE_KEY_FILE, TRUST_FILE, load_or_create_key, read_trusted_roots
from adapters.license_store import SqlLicenseStore, open_license_store
from adapters.license_vault import VaultHolderSecrets
from adapters.outage import fail_fast_while_down
from adapters.outbox_store import OutboxPositionStore, open_outbox_store
from adapters.peers import http_fetch
from adapters.postgres_ha import CONNINFO_OPTIONS
from adapters.readmodels import SqlReadModelStore, open_read_models
from adapters.reads import ReadLedgers
from adapters.relay import NodeRelay
from adapters.relay_peers import load_peers
from adapters.relay_store import RelayStore, open_relay_store
from adapters.sessions import SessionStore, open_session_store
from adapters.settings import Settings
from adapters.sqlstore import SqlStore, read_only_uri
from adapters.vault import PersonalDataVault, load_or_create_master_key, open_vault
from adapters.witness_store import WitnessStoreBackend, open_witness_store
from ledger.access import CaseAccess
from ledger.application import LedgerApplication, now_micros
from ledger.case_listing import CaseListing, ReplayedCaseListing
from ledger.opening import CaseOpening
from ledger.ratings.projection import LedgerRatings
from ledger.ratings.service import RatingService
from ledger.read_models import (
    CaseDeadlineProjection,
    CaseLegs,
    CaseRatingProjection,
    CaseSummaryProjection,
    LedgerFollower,
    ProjectedCaseListing,
    Projection,
)
from ledger.supervision.projection import LedgerLegs
from ledger.transparency import CheckpointPolicy
from ledger.workflow import WorkflowPolicy
from licenses.service import LicenseService

__all__ = [
    "NODE_KEY_FILE",  # from adapters.keyfiles, where the files are read and written
    "TRUST_FILE",
    "ConfigurationError",
    "NodeServices",
    "check_database",
    "follower_of",
    "open_ledger",
    "open_licenses",
    "open_services",
    "persistence_env",
]


class ConfigurationError(ValueError):
    pass


@dataclass
class NodeServices:
    settings: Settings
    ledger: LedgerApplication
    vault: PersonalDataVault
    access: AccessStore
    clock: Callable[[], int]
    licenses: LicenseService | None = None  # None: a node opened without its license store
    reads: ReadLedgers | None = None  # None: every read goes to ``ledger``
    relays: RelayStore | None = None  # None: a node opened without its relay queue
    read_models: SqlReadModelStore | None = None  # None: listings replay every case
    # The calendar engine's legs of a case (None: ``LedgerLegs`` over ``ledger`` with the
    # package's service standard).
    legs: CaseLegs | None = None
    # Stores opened on first use (a node that witnesses nobody, or that no officer logs in
    # to, never creates their tables), closed with the others.
    _opened: dict[str, SqlStore] = field(default_factory=dict, init=False, repr=False)
    _opening: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _store(self, name: str, opener: Callable[..., SqlStore]) -> Any:
        with self._opening:
            if name not in self._opened:
                self._opened[name] = bounded_writes(
                    opener(
                        self.settings.resolved_database_url(),
                        self.settings.data_dir,
                        schema=self.settings.database_schema or None,
                    ),
                    self.settings,
                )
            return self._opened[name]

    def witness_store(self) -> WitnessStoreBackend:
        """This node's store as a witness of other logs."""
        store: WitnessStoreBackend = self._store("witness", open_witness_store)
        return store

    def outbox_store(self) -> OutboxPositionStore:
        """The outbox's published-up-to position (``adapters.outbox_store``), for its lag."""
        store: OutboxPositionStore = self._store("outbox", open_outbox_store)
        return store

    def session_store(self) -> SessionStore:
        """Officers' login challenges and browser sessions (``adapters.sessions``)."""
        store: SessionStore = self._store("sessions", open_session_store)
        return store

    def alert_store(self) -> AlertStore:
        """The supervision alert feed (``adapters.alerts``), which the scheduler writes."""
        store: AlertStore = self._store("alerts", open_alert_store)
        return store

    def close(self) -> None:
        """Give back the stores' kept database connections (the ledger is closed apart)."""
        self.access.close()
        if self.reads is not None:
            self.reads.close()
        if self.relays is not None:
            self.relays.close()
        if self.read_models is not None:
            self.read_models.close()
        if self.licenses is not None and isinstance(self.licenses.ctx.store, SqlLicenseStore):
            self.licenses.ctx.store.close()
        with self._opening:
            opened, self._opened = self._opened, {}
        for store in opened.values():
            store.close()

    @cached_property
    def ratings(self) -> RatingService:
        """Ratings the node signs (the slip's code); one per node, as it counts wrong codes."""
        return RatingService(self.ledger)

    @property
    def applicants(self) -> NodeApplicants:
        """The applicants stored here: the vault's records and their bindings."""
        return NodeApplicants(self.access, self.vault)

    @property
    def opening(self) -> CaseOpening:
        """The one path that opens cases (``ledger.opening``)."""
        return CaseOpening(self.ledger, self.applicants)

    @property
    def relay(self) -> NodeRelay:
        """This node as a window: steps for other regions' ledgers (``adapters.relay``)."""
        if self.relays is None:
            raise ConfigurationError("this node was opened without its relay queue")
        return NodeRelay(self.ledger, self.applicants, self.relays, self.settings.data_dir)

    def relay_peer(self, ledger: str) -> bool:
        """Whether this node relays steps for ``ledger`` (``peers.json`` names its node)."""
        return self.relays is not None and ledger in load_peers(self.settings.data_dir)

    @property
    def cases(self) -> CaseAccess:
        """Who reads cases, listings and personal data, and the log of those reads."""
        listing: CaseListing = ReplayedCaseListing(self.ledger)
        if self.follower is not None:
            wait = self.settings.read_model_wait_seconds
            listing = ProjectedCaseListing(self.follower, budget=max(wait, 1.0), wait=wait)
        return CaseAccess(self.ledger, listing, self.applicants, self.access, now=_utc_now)

    def reader(self, reader: str, *, min_index: int = 0) -> LedgerApplication:
        """The ledger ``reader`` (a key of ``adapters.reads.READERS``) reads: a standby when
        one is configured and satisfies it, else the primary (``adapters/reads.py``)."""
        if self.reads is None:
            return self.ledger
        return self.reads.ledger(reader, min_index=min_index)

    def cases_over(self, ledger: LedgerApplication) -> CaseAccess:
        """:attr:`cases` over ``ledger``, one :meth:`reader` gave (the access log stays on
        the primary: recording who read personal data is a write)."""
        listing = ReplayedCaseListing(ledger)
        return CaseAccess(ledger, listing, self.applicants, self.access, now=_utc_now)

    @cached_property
    def follower(self) -> LedgerFollower | None:
        """This process's follower of the ledger for the read models (one per node object:
        it serializes this process's catch-ups)."""
        if self.read_models is None:
            return None
        return follower_of(self.ledger, self.read_models, self.legs)


S = TypeVar("S")


def bounded_writes(store: S, settings: Settings) -> S:
    """``store`` (the vault, a ``SqlStore``) with the node's bound on a commit's wait
    (``TONGBAN_COMMIT_WAIT_SECONDS``, adapters/postgres_ha.py); SQLite stores have none."""
    if getattr(store, "commit_wait_seconds", None) is not None:
        store.commit_wait_seconds = settings.commit_wait_seconds  # type: ignore[attr-defined]
    return store


def follower_of(
    ledger: LedgerApplication, store: SqlReadModelStore, legs: CaseLegs | None = None
) -> LedgerFollower:
    """The projections a node keeps: case summaries and deadline legs, the calendar engine's
    over ``ledger``'s registry (signed catalog versions, published calendars) unless ``legs``
    is given."""
    engine = legs if legs is not None else LedgerLegs(ledger)
    projections: list[Projection] = [CaseSummaryProjection(), CaseDeadlineProjection(engine)]
    # Rectifications count on the engine's registry (their own when the legs are given).
    counted = engine if isinstance(engine, LedgerLegs) else LedgerLegs(ledger)
    projections.append(CaseRatingProjection(LedgerRatings(counted)))
    return LedgerFollower(ledger, ledger.store, store, projections)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def persistence_env(database_url: str, *, schema: str | None = None) -> dict[str, str]:
    """eventsourcing's environment for a database URL (``sqlite:///path`` or ``postgresql://``)."""
    url = urlparse(database_url)
    if url.scheme == "sqlite":
        path = unquote(url.path)
        if not path or path == "/":
            raise ConfigurationError(f"database URL {database_url!r} names no SQLite file")
        create_private_file(Path(path))  # before SQLite: its -wal and -shm take this mode
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "10",
            "APPLICATION_RECORDER_TOPIC": "adapters.sqlite:SQLiteLedgerRecorder",
        }
    if url.scheme in {"postgresql", "postgres"}:
        params = _postgres_params(database_url)
        env = {
            # Our factory: eventsourcing's, plus the connection options it has no variable for.
            "PERSISTENCE_MODULE": "adapters.postgres_ha:PostgresLedgerFactory",
            "POSTGRES_DBNAME": params.pop("dbname", "") or "postgres",
            # One host or several ("h1,h2", ports "p1,p2"): libpq tries them in order.
            "POSTGRES_HOST": params.pop("host", "") or "127.0.0.1",
            "POSTGRES_PORT": params.pop("port", "") or "5432",
            "POSTGRES_USER": params.pop("user", "") or "postgres",
            "POSTGRES_PASSWORD": params.pop("password", ""),
            # Also the longest a request waits for a pooled connection (then 503).
            "POSTGRES_CONNECT_TIMEOUT": "5",
            # A connection broken by a database restart is replaced before use, not failed
            # on the next request (the recorder does not retry; adapters/postgres.py).
            "POSTGRES_PRE_PING": "yes",
            "POSTGRES_LOCK_TIMEOUT": "10",
            "APPLICATION_RECORDER_TOPIC": "adapters.postgres:PostgresLedgerRecorder",
        }
        if params:  # target_session_attrs=read-write, sslmode, ...: docs/ha.md
            env[CONNINFO_OPTIONS] = make_conninfo(**params)
        if schema:
            env["POSTGRES_SCHEMA"] = schema
        return env
    raise ConfigurationError(
        f"database URL scheme {url.scheme!r} is not supported (sqlite:/// or postgresql://)"
    )


def _postgres_params(database_url: str) -> dict[str, str]:
    """libpq's own reading of a URL: a multi-host one (``postgresql://u@h1:5432,h2:5432/db?
    target_session_attrs=read-write``) is a host list, a port list and options."""
    try:
        return {key: str(value) for key, value in conninfo_to_dict(database_url).items()}
    except psycopg.ProgrammingError as error:
        raise ConfigurationError(
            f"database URL {_redacted(database_url)!r} is not valid: {error}"
        ) from error


def check_database(database_url: str, schema: str | None) -> None:
    """Raise :class:`ConfigurationError` when the PostgreSQL schema the node is configured with
    does not exist: a mistyped ``TONGBAN_DATABASE_SCHEMA`` must not become a new, empty ledger,
    so the schema is created by whoever administers the database, never implicitly here."""
    if not schema or urlparse(database_url).scheme not in {"postgresql", "postgres"}:
        return
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    if found is None:
        raise ConfigurationError(
            f"PostgreSQL schema {schema!r} does not exist in {_redacted(database_url)}: create "
            f'it first (CREATE SCHEMA "{schema}"), or correct TONGBAN_DATABASE_SCHEMA'
        )


def _redacted(database_url: str) -> str:
    url = urlparse(database_url)
    userinfo = url.netloc.rpartition("@")[0]  # not url.password: a host list has no one port
    if ":" not in userinfo:
        return database_url
    password = userinfo.split(":", 1)[1]
    return url._replace(netloc=url.netloc.replace(f":{password}@", ":***@", 1)).geturl()


def _read_only_env(env: dict[str, str], database_url: str, schema: str | None) -> None:
    """Make ``env`` open an existing ledger without writing; leave a missing one to be made
    as before (``tongban demo`` probes a new database read-only)."""
    if "SQLITE_DBNAME" in env:
        path = Path(env["SQLITE_DBNAME"])
        # Empty is new: ``persistence_env`` has just created the file (0600) for SQLite to
        # set up, and SQLite cannot set up a file it opened read-only.
        if not path.is_file() or path.stat().st_size == 0:
            return
        env["SQLITE_DBNAME"] = read_only_uri(path)
        env["CREATE_TABLE"] = "false"
        return
    # An audit reads through a server-side cursor in one transaction and verifies each batch
    # between fetches: eventsourcing's 5 s idle limit ended audits on a busy machine (seen
    # after a failover test's 650 events); a reader holds no lock that blocks writers.
    env["POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT"] = "600"
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        (table,) = conn.execute(
            "SELECT to_regclass(%s)",
            (f'"{schema or "public"}".{LedgerApplication.name.lower()}_ledger',),
        ).fetchone() or (None,)
    if table is not None:
        env["CREATE_TABLE"] = "false"


def _owns_ledger(database_url: str, schema: str | None) -> bool:
    """Whether this connection's role may create and alter the ledger's tables: they do not
    exist yet, or it owns them (docs/operations.md, Database roles)."""
    with psycopg.connect(database_url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c "
            "WHERE c.oid = to_regclass(%s)",
            (f'"{schema or "public"}".{LedgerApplication.name.lower()}_ledger',),
        ).fetchone()
    return row is None or bool(row[0])


def open_ledger(
    settings: Settings,
    *,
    clock: Callable[[], int] = now_micros,
    schema: str | None = None,
    workflow: WorkflowPolicy | None = None,
    read_only: bool = False,
) -> LedgerApplication:
    """The node's ledger on the configured database, with its ledger key and trust roots.

    ``read_only`` (an auditor's view) writes nothing to a ledger that exists: no table is
    created, and an SQLite file is opened read-only, so a read-only copy (a snapshot whose
    files and directory nobody may write) can be audited.
    """
    profile = apply_crypto_profile(settings)
    url = settings.resolved_database_url()
    schema = schema or settings.database_schema or None
    check_database(url, schema)  # before the data directory is touched
    if not read_only:  # the node key signs receipts: refused if not of the profile's suite
        check_node_key(settings)
    if read_only:  # a reader of a snapshot creates nothing, and trusts no shared directory
        refuse_if_others_can_write(settings.data_dir, "data directory")
    else:
        private_directory(settings.data_dir)  # refused if others may write it
    env = persistence_env(url, schema=schema)
    if read_only:
        _read_only_env(env, url, schema)
    elif "POSTGRES_DBNAME" in env and not _owns_ledger(url, schema):
        # A node under a least-privilege role: the owner created (and upgrades) the tables.
        env["CREATE_TABLE"] = "false"
    env["AGGREGATE_CACHE_MAXSIZE"] = "10000"
    app = LedgerApplication(
        env,
        ledger_name=settings.resolved_ledger_name(),
        trusted_roots=read_trusted_roots(settings.data_dir / TRUST_FILE),
        # An auditor's read-only view neither needs nor creates the node key, and must not
        # stop at the first bad registry record: the audit reports it instead.
        node_signer=None
        if read_only
        else load_or_create_key(settings.data_dir / NODE_KEY_FILE, profile.key_suite),
        home_region=settings.region,
        load_registry=not read_only,
        clock=clock,
        claim_tolerance=settings.claim_tolerance_seconds * 1_000_000,
        workflow=workflow,
        checkpoint_policy=CheckpointPolicy(
            seconds=settings.checkpoint_seconds, events=settings.checkpoint_events
        ),
        # In the data directory, not the database: every process of the node shares it, and
        # a database restored from an older backup does not roll it back.
        signed_checkpoints=FileCheckpointState(settings.data_dir),
    )
    if hasattr(app.recorder, "commit_wait_seconds"):  # PostgreSQL (adapters/postgres_ha.py)
        app.recorder.commit_wait_seconds = settings.commit_wait_seconds
    if "POSTGRES_CONNECT_TIMEOUT" in env:
        datastore = getattr(app.recorder, "datastore", None)
        if datastore is not None:
            fail_fast_while_down(datastore, hold=float(env["POSTGRES_CONNECT_TIMEOUT"]))
    return app


def open_services(
    settings: Settings,
    *,
    clock: Callable[[], int] = now_micros,
    schema: str | None = None,
    workflow: WorkflowPolicy | None = None,
) -> NodeServices:
    """Everything a serving node needs: ledger, vault, tokens and access log."""
    ledger = open_ledger(settings, clock=clock, schema=schema, workflow=workflow)
    url = settings.resolved_database_url()
    schema = schema or settings.database_schema or None
    vault = bounded_writes(
        open_vault(
            url,
            settings.data_dir,
            load_or_create_master_key(settings.data_dir),
            schema=schema or "public",
            cipher=crypto_profile(settings).vault_cipher,
        ),
        settings,
    )
    access = bounded_writes(open_access_store(url, settings.data_dir, schema=schema), settings)
    return NodeServices(
        settings,
        ledger,
        vault,
        access,
        clock,
        open_licenses(settings, ledger, vault, schema),
        reads=open_reads(settings, ledger, schema=schema),
        relays=bounded_writes(open_relay_store(url, settings.data_dir, schema=schema), settings),
        read_models=bounded_writes(
            open_read_models(url, settings.data_dir, schema=schema), settings
        ),
        legs=LedgerLegs(ledger),
    )


def open_reads(
    settings: Settings, primary: LedgerApplication, *, schema: str | None = None
) -> ReadLedgers | None:
    """The read-only connection port: ``TONGBAN_READ_DATABASE_URL``'s standby beside the
    primary (``adapters/reads.py``), or None when no standby is configured."""
    if not settings.read_database_url:
        return None
    if urlparse(settings.read_database_url).scheme not in {"postgresql", "postgres"}:
        raise ConfigurationError(
            "TONGBAN_READ_DATABASE_URL must be a postgresql:// URL (a standby of the primary)"
        )
    standby = settings.model_copy(update={"database_url": settings.read_database_url})

    def open_standby() -> LedgerApplication:
        # Read-only: no table is created, no node key is used; the standby refuses writes.
        return open_ledger(standby, schema=schema, read_only=True)

    return ReadLedgers(primary, open_standby)


def open_licenses(
    settings: Settings,
    ledger: LedgerApplication,
    vault: PersonalDataVault,
    schema: str | None = None,
) -> LicenseService:
    """The license service of a node: its store beside the ledger, other nodes over HTTP."""
    store = bounded_writes(
        open_license_store(
            settings.resolved_database_url(),
            settings.data_dir,
            load_or_create_master_key(settings.data_dir),
            schema=schema or settings.database_schema or None,
        ),
        settings,
    )
    return LicenseService(
        ledger,
        store,
        VaultHolderSecrets(vault),
        region=settings.region,
        fetch=http_fetch,
        status_list_lifetime=int(settings.status_list_hours * 3600 * 1_000_000),
    )
