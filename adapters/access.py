"""API tokens and the personal-data access log, on SQLite or PostgreSQL.

Tokens are random (``tb_`` + 52 base32 characters, 256 bits), shown once at creation and stored
only as SHA-256 hashes; each is bound to one principal: a body (of this region or another), an
auditor, a peer region, the region's administrator, or a supervisor scoped to divisions. Revoked
tokens stay listed.

Every read of an applicant's personal data in clear is recorded (who, when, which case, why)
and listed per case (``GET /cases/{id}/access``): :class:`AccessStore` is the ledger's
``ledger.access.AccessLog``, whose rules say when a read is allowed and logged.

Both tables live apart from the ledger's: SQLite ``access.sqlite3`` in the data directory, or
the ``tongban_tokens`` / ``tongban_access_log`` tables on PostgreSQL. Driver errors become
:class:`AccessStoreError`.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from adapters.sqlstore import Connect, SqlStore, connector_for
from ledger.access import Reader

PRINCIPAL_KINDS = ("body", "auditor", "peer", "admin", "supervisor")


class AccessStoreError(Exception):
    pass


class UnknownToken(AccessStoreError, LookupError):
    pass


@dataclass(frozen=True)
class Principal:
    """Who a request acts as."""

    kind: str  # body, auditor, peer, admin, supervisor
    # body id, auditor name, region code; "admin" for the administrator; a supervisor's scope:
    # comma-separated GB/T 2260 codes ("510000", "510104,510105"), docs/supervision.md §7
    subject: str
    token_id: str  # a token's id, or "session:<id>" for an officer's browser session
    officer_id: str = ""  # the officer of a session (a body token names no officer)

    @property
    def scope(self) -> tuple[str, ...]:
        """A supervisor's divisions (empty for any other principal)."""
        return tuple(self.subject.split(",")) if self.kind == "supervisor" else ()

    @property
    def acting(self) -> str:
        """Who acted, as the access log names them: the body, and its officer when known."""
        return f"{self.subject}/{self.officer_id}" if self.officer_id else self.subject


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    kind: str
    subject: str
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class AccessRecord:
    case_id: str
    kind: str
    subject: str
    purpose: str
    fields: str
    at: str


def _acting(principal: Reader) -> str:
    # An officer's session names the officer, not only the body (docs/login.md).
    return principal.acting if isinstance(principal, Principal) else principal.subject


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tongban_tokens ("
    "token_hash TEXT PRIMARY KEY, token_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, "
    "subject TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)",
    "CREATE TABLE IF NOT EXISTS tongban_access_log ("
    "case_id TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, purpose TEXT NOT NULL, "
    "fields TEXT NOT NULL, at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tongban_access_log_case ON tongban_access_log (case_id)",
    # Which body stored an applicant's data, and the one case it was then used for: a ref
    # read from the public ledger cannot be reused to open another case and read the person.
    "CREATE TABLE IF NOT EXISTS tongban_applicant_refs ("
    "ref TEXT PRIMARY KEY, body TEXT NOT NULL, case_id TEXT, stored_at TEXT NOT NULL)",
)


class AccessStore(SqlStore):
    """Tokens, the access log and applicant bindings (SQLite or PostgreSQL)."""

    schema = _SCHEMA
    error = AccessStoreError

    def __init__(
        self,
        connect: Connect,
        placeholder: str,
        *,
        rng: Callable[[int], bytes] = os.urandom,
        create: bool = True,
    ):
        self._rng = rng
        super().__init__(connect, placeholder, create=create)

    # -- tokens ------------------------------------------------------------------------------

    def create_token(self, kind: str, subject: str, *, now: datetime) -> tuple[str, TokenInfo]:
        """A new token for ``kind``/``subject``: the plaintext (shown once) and its record."""
        if kind not in PRINCIPAL_KINDS:
            raise ValueError(f"principal kind must be one of {PRINCIPAL_KINDS}")
        if not subject:
            raise ValueError("a token names its principal")
        token = "tb_" + base64.b32encode(self._rng(32)).decode().rstrip("=").lower()
        digest = token_hash(token)
        info = TokenInfo(digest[:16], kind, subject, now.isoformat(), None)
        with self._tx() as cur:
            cur.execute(
                self._sql("INSERT INTO tongban_tokens VALUES (?, ?, ?, ?, ?, NULL)"),
                (digest, info.token_id, kind, subject, info.created_at),
            )
        return token, info

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked token, else None."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "SELECT kind, subject, token_id FROM tongban_tokens "
                    "WHERE token_hash = ? AND revoked_at IS NULL"
                ),
                (token_hash(token),),
            )
            row = cur.fetchone()
        return Principal(row[0], row[1], row[2]) if row else None

    def principal_of_id(self, token_id: str) -> Principal | None:
        """The principal of the token ``token_id`` while it is not revoked, else None (a token
        session is checked against it on every request)."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "SELECT kind, subject, token_id FROM tongban_tokens "
                    "WHERE token_id = ? AND revoked_at IS NULL"
                ),
                (token_id,),
            )
            row = cur.fetchone()
        return Principal(row[0], row[1], row[2]) if row else None

    def revoke(self, token_or_id: str, *, now: datetime) -> TokenInfo:
        """Revoke by token id (as listed) or by the token itself."""
        key = token_hash(token_or_id)[:16] if token_or_id.startswith("tb_") else token_or_id
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE tongban_tokens SET revoked_at = COALESCE(revoked_at, ?) "
                    "WHERE token_id = ?"
                ),
                (now.isoformat(), key),
            )
            if cur.rowcount == 0:
                raise UnknownToken(f"no token {key}")
        return next(t for t in self.tokens() if t.token_id == key)

    def tokens(self) -> list[TokenInfo]:
        with self._tx() as cur:
            cur.execute(
                "SELECT token_id, kind, subject, created_at, revoked_at FROM tongban_tokens "
                "ORDER BY created_at, token_id"
            )
            return [TokenInfo(*row) for row in cur.fetchall()]

    # -- applicant bindings ------------------------------------------------------------------

    def bind_applicant(self, ref: str, body: str, *, now: datetime) -> None:
        with self._tx() as cur:
            cur.execute(
                self._sql("INSERT INTO tongban_applicant_refs VALUES (?, ?, NULL, ?)"),
                (ref, body, now.isoformat()),
            )

    def applicant_binding(self, ref: str) -> tuple[str, str | None] | None:
        """``(storing body, case id or None)`` of a ref, or None if this node never stored it."""
        with self._tx() as cur:
            cur.execute(
                self._sql("SELECT body, case_id FROM tongban_applicant_refs WHERE ref = ?"),
                (ref,),
            )
            row = cur.fetchone()
        return (row[0], row[1]) if row else None

    def claim_applicant(self, ref: str, body: str, case_id: str) -> bool:
        """Atomically tie a ref this body stored to one case; False if taken or not theirs."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE tongban_applicant_refs SET case_id = ? "
                    "WHERE ref = ? AND body = ? AND (case_id IS NULL OR case_id = ?)"
                ),
                (case_id, ref, body, case_id),
            )
            return bool(cur.rowcount == 1)

    def release_applicant(self, ref: str, case_id: str) -> None:
        """Undo a claim whose case was refused, so the ref can open the corrected case."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE tongban_applicant_refs SET case_id = NULL WHERE ref = ? AND case_id = ?"
                ),
                (ref, case_id),
            )

    # -- the access log ----------------------------------------------------------------------

    def record_access(
        self, case_id: str, principal: Reader, *, purpose: str, fields: str, now: datetime
    ) -> None:
        with self._tx() as cur:
            cur.execute(
                self._sql("INSERT INTO tongban_access_log VALUES (?, ?, ?, ?, ?, ?)"),
                (case_id, principal.kind, _acting(principal), purpose, fields, now.isoformat()),
            )

    def accesses(self, case_id: str) -> list[AccessRecord]:
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "SELECT case_id, kind, subject, purpose, fields, at FROM tongban_access_log "
                    "WHERE case_id = ? ORDER BY at"
                ),
                (case_id,),
            )
            return [AccessRecord(*row) for row in cur.fetchall()]

    def access_log(
        self,
        *,
        case_id: str | None = None,
        reader: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[AccessRecord], int]:
        """One page of the whole log, newest first, and how many records match: every read,
        a case's, or a reader's (``reader`` as the log names it, ``body/officer``, or a body,
        which matches its officers' reads too). No index serves ``reader``: an auditor's
        occasional query scans the log."""
        where: list[str] = []
        params: list[object] = []
        if case_id is not None:
            where.append("case_id = ?")
            params.append(case_id)
        if reader is not None:  # substr, not LIKE: no wildcard to escape, same on both engines
            where.append("(subject = ? OR substr(subject, 1, ?) = ?)")
            params += [reader, len(reader) + 1, f"{reader}/"]
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._tx() as cur:
            cur.execute(self._sql(f"SELECT count(*) FROM tongban_access_log{clause}"), params)
            total = int(cur.fetchone()[0])
            cur.execute(
                self._sql(
                    "SELECT case_id, kind, subject, purpose, fields, at FROM tongban_access_log"
                    f"{clause} ORDER BY at DESC, case_id, subject LIMIT ? OFFSET ?"
                ),
                (*params, limit, offset),
            )
            return [AccessRecord(*row) for row in cur.fetchall()], total


def open_access_store(
    database_url: str, data_dir: Path, *, schema: str | None = None, read_only: bool = False
) -> AccessStore:
    """The access store beside the ledger: SQLite file in the data dir, or PostgreSQL.
    ``read_only`` (an auditor's view) creates no table and opens SQLite read-only."""
    connect = connector_for(
        database_url, data_dir, "access.sqlite3", schema=schema, read_only=read_only
    )
    return AccessStore(*connect, create=not read_only)
