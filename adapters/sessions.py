"""Browser sessions: the login challenges a node issued and the sessions it opened, officers'
(a login proof their key signed) and token sessions (auditors, supervisors, the administrator,
who sign nothing: opened with their API token, ended when it is revoked).

A page asks for a challenge (:meth:`SessionStore.issue_challenge`), the officer's key signs a
login proof over it (``ledger/login.py``, ``docs/login.md``), and a proof the node accepts
opens a session: a random token in an HttpOnly cookie, with a CSRF token the page sends back
on every state-changing request. Only hashes of nonces and tokens are stored. A session ends
at logout, after ``idle`` without a request, after ``lifetime`` in any case, and at once when
the officer's key stops being valid (the caller checks the key on every request).

Stored beside the access store (``sessions.sqlite3`` on SQLite, the node's schema on
PostgreSQL), so every worker process of a node shares them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.sqlstore import Connect, SqlStore, connector_for
from ledger.login import Challenge, LoginProof

CHALLENGE_LIFETIME = 120 * 1_000_000  # µs
SESSION_IDLE = 30 * 60 * 1_000_000  # µs: half an hour without a request ends a session
SESSION_LIFETIME = 10 * 3600 * 1_000_000  # µs: a working day at most


class SessionStoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class Session:
    """An open session: who it is, with which key, and the CSRF token's hash."""

    session_id: str  # the first 16 hex of the token's hash: names it in logs, never the token
    body_id: str
    officer_id: str
    kid: str
    csrf_hash: str
    opened_at: int
    last_seen: int

    def csrf_matches(self, token: str) -> bool:
        return hmac.compare_digest(_digest(token), self.csrf_hash)


@dataclass(frozen=True)
class TokenSession:
    """An open session of an auditor, a supervisor or the administrator: the API token it was
    opened with (its id), who that token names, and the CSRF token's hash."""

    session_id: str
    token_id: str
    kind: str
    subject: str
    csrf_hash: str
    opened_at: int
    last_seen: int

    def csrf_matches(self, token: str) -> bool:
        return hmac.compare_digest(_digest(token), self.csrf_hash)


def _digest(secret: str | bytes) -> str:
    data = secret.encode() if isinstance(secret, str) else secret
    return hashlib.sha256(data).hexdigest()


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS tongban_login_challenges ("
    "nonce_hash TEXT PRIMARY KEY, expires_at BIGINT NOT NULL, used_at BIGINT)",
    "CREATE TABLE IF NOT EXISTS tongban_sessions ("
    "token_hash TEXT PRIMARY KEY, body_id TEXT NOT NULL, officer_id TEXT NOT NULL, "
    "kid TEXT NOT NULL, csrf_hash TEXT NOT NULL, opened_at BIGINT NOT NULL, "
    "last_seen BIGINT NOT NULL, ended_at BIGINT)",
    # Auditors', supervisors' and the administrator's sessions: opened with their API token
    # (they sign nothing), which stays valid only while that token is not revoked.
    "CREATE TABLE IF NOT EXISTS tongban_token_sessions ("
    "token_hash TEXT PRIMARY KEY, token_id TEXT NOT NULL, kind TEXT NOT NULL, "
    "subject TEXT NOT NULL, csrf_hash TEXT NOT NULL, opened_at BIGINT NOT NULL, "
    "last_seen BIGINT NOT NULL, ended_at BIGINT)",
)


class SessionStore(SqlStore):
    """Login challenges and sessions (SQLite or PostgreSQL); implements ``NonceBook``."""

    schema = _SCHEMA
    error = SessionStoreError

    def __init__(
        self,
        connect: Connect,
        placeholder: str,
        *,
        rng: Callable[[int], bytes] = os.urandom,
        idle: int = SESSION_IDLE,
        lifetime: int = SESSION_LIFETIME,
    ) -> None:
        self._rng = rng
        self.idle = idle
        self.lifetime = lifetime
        self.touch = idle // 30  # how old the idle clock may grow before it is written
        super().__init__(connect, placeholder)

    # -- challenges --------------------------------------------------------------------------

    def issue_challenge(self, origin: str, now: int) -> Challenge:
        """A fresh challenge for a page at ``origin``; expired ones are forgotten meanwhile."""
        challenge = Challenge(origin, self._rng(32), now, now + CHALLENGE_LIFETIME)
        with self._tx() as cur:
            cur.execute(
                self._sql("DELETE FROM tongban_login_challenges WHERE expires_at <= ?"), (now,)
            )
            cur.execute(
                self._sql("INSERT INTO tongban_login_challenges VALUES (?, ?, NULL)"),
                (_digest(challenge.nonce), challenge.expires_at),
            )
        return challenge

    def consume(self, nonce: bytes, now: int) -> bool:
        """True once for a nonce issued here that has not expired (``ledger.login.NonceBook``)."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE tongban_login_challenges SET used_at = ? "
                    "WHERE nonce_hash = ? AND used_at IS NULL AND expires_at > ?"
                ),
                (now, _digest(nonce), now),
            )
            return bool(cur.rowcount == 1)

    # -- sessions ----------------------------------------------------------------------------

    def open_session(self, proof: LoginProof, now: int) -> tuple[str, str, Session]:
        """A session for the officer of an accepted ``proof``: ``(token, csrf token, session)``;
        the tokens are shown once (the cookie and the page), only their hashes are kept."""
        token = "tbs_" + self._rng(32).hex()
        csrf = self._rng(32).hex()
        session = Session(
            _digest(token)[:16],
            proof.body_id,
            proof.officer_id,
            proof.key_id,
            _digest(csrf),
            now,
            now,
        )
        with self._tx() as cur:
            cur.execute(
                self._sql("INSERT INTO tongban_sessions VALUES (?, ?, ?, ?, ?, ?, ?, NULL)"),
                (
                    _digest(token),
                    session.body_id,
                    session.officer_id,
                    session.kid,
                    session.csrf_hash,
                    now,
                    now,
                ),
            )
        return token, csrf, session

    def session(self, token: str, now: int) -> Session | None:
        """The open officer's session of ``token`` at ``now`` (its idle clock restarted), else
        None: unknown, ended, idle too long or past its lifetime."""
        digest = _digest(token)
        row = self._alive("tongban_sessions", "body_id, officer_id, kid, csrf_hash", digest, now)
        return None if row is None else Session(digest[:16], *row)

    def token_session(self, token: str, now: int) -> TokenSession | None:
        """The open token session of ``token`` at ``now``, as :meth:`session`."""
        digest = _digest(token)
        row = self._alive(
            "tongban_token_sessions", "token_id, kind, subject, csrf_hash", digest, now
        )
        return None if row is None else TokenSession(digest[:16], *row)

    def _alive(self, table: str, columns: str, digest: str, now: int) -> tuple[Any, ...] | None:
        """``columns``, ``opened_at`` and ``last_seen`` of the open session ``digest`` names.

        A page's every request comes here, so the idle clock is written only when it is
        ``touch`` old (a thirtieth of ``idle``: a minute for the default half hour), not on
        each request: a read alone costs no commit. A session may so end up to ``touch``
        before ``idle`` has passed since its last request, never after."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {columns}, opened_at, last_seen, ended_at FROM {table} "
                    "WHERE token_hash = ?"
                ),
                (digest,),
            )
            row = cur.fetchone()
        if row is None:
            return None
        *fields, opened_at, last_seen, ended_at = row
        if ended_at is not None or last_seen <= now - self.idle or opened_at <= now - self.lifetime:
            return None
        if now - last_seen >= self.touch:
            # Its own transaction (a read that became a write could meet another worker's
            # commit); ended meanwhile: no session. Another worker's later touch is kept.
            with self._tx() as cur:
                cur.execute(
                    self._sql(
                        f"UPDATE {table} SET last_seen = "
                        "CASE WHEN last_seen < ? THEN ? ELSE last_seen END "
                        "WHERE token_hash = ? AND ended_at IS NULL"
                    ),
                    (now, now, digest),
                )
                if cur.rowcount != 1:
                    return None
            last_seen = max(last_seen, now)
        return (*fields, opened_at, last_seen)

    def open_token_session(
        self, token_id: str, kind: str, subject: str, now: int
    ) -> tuple[str, str, TokenSession]:
        """A session for the holder of the API token ``token_id`` (``kind``, ``subject``):
        ``(session token, csrf token, session)``, the tokens shown once, hashes kept."""
        token = "tbs_" + self._rng(32).hex()
        csrf = self._rng(32).hex()
        session = TokenSession(
            _digest(token)[:16], token_id, kind, subject, _digest(csrf), now, now
        )
        with self._tx() as cur:
            cur.execute(
                self._sql("INSERT INTO tongban_token_sessions VALUES (?, ?, ?, ?, ?, ?, ?, NULL)"),
                (_digest(token), token_id, kind, subject, session.csrf_hash, now, now),
            )
        return token, csrf, session

    def end_session(self, token: str, now: int) -> bool:
        """Log out: True if an open session (an officer's or a token's) was ended."""
        ended = 0
        with self._tx() as cur:
            for table in ("tongban_sessions", "tongban_token_sessions"):
                cur.execute(
                    self._sql(
                        f"UPDATE {table} SET ended_at = ? WHERE token_hash = ? AND ended_at IS NULL"
                    ),
                    (now, _digest(token)),
                )
                ended += cur.rowcount
        return ended == 1

    def end_sessions_of_token(self, token_id: str, now: int) -> int:
        """End every open session opened with the API token ``token_id`` (it was revoked)."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE tongban_token_sessions SET ended_at = ? "
                    "WHERE token_id = ? AND ended_at IS NULL"
                ),
                (now, token_id),
            )
            return int(cur.rowcount)

    def end_sessions_of_key(self, kid: str, now: int) -> int:
        """End every open session opened with ``kid`` (its key was revoked); how many."""
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    "UPDATE tongban_sessions SET ended_at = ? WHERE kid = ? AND ended_at IS NULL"
                ),
                (now, kid),
            )
            return int(cur.rowcount)


def open_session_store(
    database_url: str, data_dir: Path, *, schema: str | None = None
) -> SessionStore:
    """The session store beside the ledger: SQLite file in the data dir, or PostgreSQL."""
    connect, placeholder = connector_for(database_url, data_dir, "sessions.sqlite3", schema=schema)
    return SessionStore(connect, placeholder)
