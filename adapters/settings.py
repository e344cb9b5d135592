"""One place that reads configuration: environment variables prefixed ``TONGBAN_``.

A node's region, once ``tongban init`` recorded it in ``<data dir>/node.json``, is the default
for every later command on that directory (an explicit ``TONGBAN_REGION`` still wins), so a
Jiangsu node is not mistaken for the Sichuan default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.filemodes import private_directory, write_private_text
from ledger.envelope import ledger_region

NODE_FILE = "node.json"


class Settings(BaseSettings):
    """Node configuration; every field is read from ``TONGBAN_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_", extra="ignore")

    data_dir: Path = Field(default=Path("var/data"), description="Node data directory")
    database_url: str = Field(
        default="",
        description="sqlite:///path or postgresql://...; empty means ledger.sqlite3 in data_dir",
    )
    database_schema: str = Field(default="", description="PostgreSQL schema (default: public)")
    read_database_url: str = Field(
        default="",
        description="postgresql://... of a standby readers may use (adapters/reads.py)",
    )
    host: str = Field(default="127.0.0.1", description="HTTP bind address")
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP port")
    server: str = Field(
        default="",
        description="URL client commands post to; empty: http://<host>:<port>, the node's own",
    )
    region: str = Field(default="510000", description="This node's region code (GB/T 2260)")
    ledger_name: str = Field(default="", description="This ledger's name; empty: tongban/<region>")
    crypto_profile: Literal["international", "guomi"] = Field(
        default="international",
        description="Cryptography of this node (docs/keys.md): international = Ed25519 keys, "
        "AES-256-GCM vault; guomi = SM2/SM3 keys (sm2-sm3), SM4-GCM vault",
    )
    accept_foreign_suites: bool = Field(
        default=True,
        description="Also accept objects signed in the other profile's suite (Jiangsu on "
        "Ed25519 verifying Sichuan's SM2 licenses); false: only this profile's suite",
    )
    claim_tolerance_seconds: int = Field(
        default=300, ge=0, description="Allowed distance between claimed and receipt time"
    )
    checkpoint_seconds: int = Field(
        default=60, ge=0, description="Issue a checkpoint after an append at least this often"
    )
    checkpoint_events: int = Field(
        default=1000, ge=1, description="...or once this many objects were appended since the last"
    )
    witness_push_seconds: float = Field(
        default=30, ge=0, description="Push new checkpoints to the witnesses this often (0: never)"
    )
    relay_deliver_seconds: float = Field(
        default=5, ge=0, description="Deliver queued relayed steps this often (0: never)"
    )
    monitor_seconds: float = Field(
        default=0,
        ge=0,
        description="Run the monitor of the home ledgers relayed to this often (0: never; "
        "`tongban monitor status` shows the last run)",
    )
    read_model_seconds: float = Field(
        default=1, ge=0, description="Bring the read models up to the ledger this often (0: never)"
    )
    alert_scan_seconds: float = Field(
        default=300,
        ge=0,
        description="Scan deadlines for due-soon and overdue alerts this often (0: never)",
    )
    read_model_wait_seconds: float = Field(
        default=2, ge=0, description="A listing asked for a min_index waits this long, then 503"
    )
    status_list_hours: float = Field(
        default=24, gt=0, description="Lifetime of a published license status list"
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1, description="Largest request body")
    header_timeout_seconds: float = Field(
        default=10, gt=0, description="Close a connection whose request head takes longer"
    )
    body_timeout_seconds: float = Field(
        default=30, gt=0, description="Close a connection whose request body takes longer"
    )
    public_origin: str = Field(
        default="",
        description="The origin officers' browsers reach this node at (https://host:port), "
        "which login proofs must name; empty: the origin each request was made to",
    )
    nats_url: str = Field(
        default="nats://127.0.0.1:4222", description="NATS server the outbox publishes to"
    )
    outbox: bool = Field(
        default=False, description="`serve` also runs `tongban outbox run` for this node"
    )
    commit_wait_seconds: float = Field(
        default=10,
        gt=0,
        description="PostgreSQL: cancel a write (its wait for the synchronous standby "
        "included) after this long and answer 503, never a receipt or a 200 (docs/ha.md)",
    )
    max_connections: int = Field(
        default=1000, ge=1, description="Open connections per server process; more get 503"
    )

    @model_validator(mode="after")
    def _region_recorded_by_init(self) -> Settings:
        recorded = self.data_dir / NODE_FILE
        if recorded.exists() and not {"region", "crypto_profile"} <= self.model_fields_set:
            node = json.loads(recorded.read_text())
            if "region" not in self.model_fields_set:
                self.region = str(node["region"])
            # A node made under one profile keeps it (its keys are of that suite).
            if "crypto_profile" not in self.model_fields_set and "crypto_profile" in node:
                self.crypto_profile = node["crypto_profile"]
        # Verifiers read a ledger's region from its name (docs/envelope.md §5.1): a name that
        # ends with another region would make this node's own objects fail everywhere else.
        if self.ledger_name and ledger_region(self.ledger_name) != self.region:
            raise ValueError(
                f"TONGBAN_LEDGER_NAME {self.ledger_name!r} must end with this node's region "
                f"code {self.region} (tongban/{self.region}, say)"
            )
        return self

    def record_region(self) -> None:
        """Remember this node's region and crypto profile in its data directory
        (``tongban init``, ``tongban demo``)."""
        private_directory(self.data_dir)
        node = {"region": self.region, "crypto_profile": self.crypto_profile}
        write_private_text(self.data_dir / NODE_FILE, json.dumps(node) + "\n")

    def resolved_ledger_name(self) -> str:
        return self.ledger_name or f"tongban/{self.region}"

    def client_url(self) -> str:
        """The node a client command talks to when ``--server`` is not given.

        ``TONGBAN_SERVER`` if set; otherwise the node this configuration serves,
        ``http://TONGBAN_HOST:TONGBAN_PORT``, with a wildcard bind address read as loopback
        (a node bound to 0.0.0.0 is reached at 127.0.0.1).
        """
        if self.server:
            return self.server
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 literal in a URL
        return f"http://{host}:{self.port}"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ledger.sqlite3').resolve()}"
