"""One place that reads configuration: environment variables prefixed ``TONGBAN_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Node configuration; every field is read from ``TONGBAN_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="TONGBAN_", extra="ignore")

    data_dir: Path = Field(default=Path("var/data"), description="Node data directory")
    database_url: str = Field(
        default="",
        description="sqlite:///path or postgresql://...; empty means ledger.sqlite3 in data_dir",
    )
    database_schema: str = Field(default="", description="PostgreSQL schema (default: public)")
    host: str = Field(default="127.0.0.1", description="HTTP bind address")
    port: int = Field(default=8000, ge=0, le=65535, description="HTTP port")
    region: str = Field(default="510000", description="This node's region code (GB/T 2260)")
    ledger_name: str = Field(default="", description="This ledger's name; empty: tongban/<region>")
    claim_tolerance_seconds: int = Field(
        default=300, ge=0, description="Allowed distance between claimed and receipt time"
    )
    checkpoint_seconds: int = Field(
        default=60, ge=0, description="Issue a checkpoint after an append at least this often"
    )
    checkpoint_events: int = Field(
        default=1000, ge=1, description="...or once this many objects were appended since the last"
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1, description="Largest request body")

    def resolved_ledger_name(self) -> str:
        return self.ledger_name or f"tongban/{self.region}"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ledger.sqlite3').resolve()}"
