"""The personal-data vault: one contract, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from adapters.vault import (
    ApplicantErased,
    PersonalDataVault,
    PostgresVault,
    SQLiteVault,
    UnknownApplicant,
    VaultConfigurationError,
    VaultError,
    VaultIntegrityError,
    load_or_create_master_key,
    open_vault,
)
from ledger.personal import PersonalData, verify_commitment

MASTER_KEY = bytes(range(32))
WRONG_MASTER_KEY = bytes(range(100, 132))
NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
ZHANG = PersonalData(
    name="张三丰",
    id_number="11010519491231002X",
    phone="13812345678",
    address="北京市朝阳区建国路1号",
)
LI = PersonalData(name="李四", id_number="440524188001010014")

MakeVault = Callable[[bytes], PersonalDataVault]


class RawAccess:
    """Direct access to a backend's rows, bypassing the vault, for attacks and inspection."""

    def fetch(self, query: str, ref: str) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def update_data(self, ref: str, *, nonce: bytes, ciphertext: bytes) -> None:
        raise NotImplementedError

    def everything(self) -> bytes:
        """Every byte the backend holds for the vault, as far as we can reach it."""
        raise NotImplementedError

    def ciphertext(self, ref: str) -> tuple[bytes, bytes]:
        [(nonce, ciphertext)] = self.fetch("SELECT nonce, ciphertext FROM {data} WHERE ref = ", ref)
        return bytes(nonce), bytes(ciphertext)

    def key_rows(self, ref: str) -> list[tuple[Any, ...]]:
        return self.fetch("SELECT * FROM {keys} WHERE ref = ", ref)

    def tombstones(self, ref: str) -> list[tuple[Any, ...]]:
        return self.fetch("SELECT ref, reason FROM {erasures} WHERE ref = ", ref)


class VaultContract:
    """What every vault backend must do. Subclasses provide ``make_vault`` and ``raw``."""

    @pytest.fixture
    def make_vault(self) -> MakeVault:
        raise NotImplementedError

    @pytest.fixture
    def raw(self) -> RawAccess:
        raise NotImplementedError

    @pytest.fixture
    def vault(self, make_vault: MakeVault) -> PersonalDataVault:
        return make_vault(MASTER_KEY)

    def test_is_a_personal_data_vault(self, vault: PersonalDataVault) -> None:
        assert isinstance(vault, PersonalDataVault)

    def test_an_adoption_racing_another_of_the_same_ref_keeps_the_first(
        self, make_vault: MakeVault, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        first, second = make_vault(MASTER_KEY), make_vault(MASTER_KEY)
        ref, secret = "ap_" + "a" * 26, bytes(range(32))
        load = first._load  # type: ignore[attr-defined]
        looks: list[str] = []

        def looked_before_the_other_inserted(wanted: str) -> Any:
            looks.append(wanted)
            return None if len(looks) == 1 else load(wanted)

        monkeypatch.setattr(first, "_load", looked_before_the_other_inserted)
        second.adopt(ref, ZHANG, secret, now=NOW)
        kept = first.adopt(ref, ZHANG, secret, now=NOW)
        assert kept.ref == ref and first.read(ref) == ZHANG
        assert first.commitment_secret(ref) == secret

    def test_store_then_read_round_trips(self, vault: PersonalDataVault) -> None:
        stored = vault.store(ZHANG, now=NOW)
        assert stored.ref.startswith("ap_")
        assert stored.stored_at == NOW
        assert vault.read(stored.ref) == ZHANG
        assert vault.is_erased(stored.ref) is False

    def test_data_survives_reopening(self, vault: PersonalDataVault, make_vault: MakeVault) -> None:
        stored = vault.store(ZHANG, now=NOW)
        assert make_vault(MASTER_KEY).read(stored.ref) == ZHANG

    def test_commitments_verify_under_the_commitment_secret(self, vault: PersonalDataVault) -> None:
        stored = vault.store(ZHANG, now=NOW)
        secret = vault.commitment_secret(stored.ref)
        assert len(secret) == 32
        assert list(stored.commitments) == ["name", "id_number", "phone", "address"]
        for field, value in ZHANG.as_dict().items():
            verify_commitment(secret, field, value, stored.commitments[field])

    def test_each_applicant_gets_fresh_keys(self, vault: PersonalDataVault) -> None:
        first = vault.store(ZHANG, now=NOW)
        second = vault.store(ZHANG, now=NOW)
        assert first.ref != second.ref
        assert first.commitments["id_number"] != second.commitments["id_number"]
        assert vault.commitment_secret(first.ref) != vault.commitment_secret(second.ref)

    def test_no_plaintext_in_the_database(self, vault: PersonalDataVault, raw: RawAccess) -> None:
        stored = vault.store(ZHANG, now=NOW)
        nonce, ciphertext = raw.ciphertext(stored.ref)
        assert len(nonce) == 12
        everything = raw.everything()
        assert ciphertext in everything
        for value in [*ZHANG.as_dict().values(), "张三丰", "三丰"]:
            for encoded in (value.encode("utf-8"), value.encode("utf-16-le")):
                assert encoded not in ciphertext
                assert encoded not in everything

    def test_erase_makes_data_unreadable_but_commitments_remain(
        self, vault: PersonalDataVault, raw: RawAccess
    ) -> None:
        stored = vault.store(ZHANG, now=NOW)
        secret_held_by_verifier = vault.commitment_secret(stored.ref)
        erased_at = NOW + timedelta(days=30)

        vault.erase(stored.ref, now=erased_at, reason="PIPL art. 47 request #123")

        with pytest.raises(ApplicantErased) as caught:
            vault.read(stored.ref)
        assert caught.value.ref == stored.ref
        assert caught.value.erased_at == erased_at
        assert caught.value.reason == "PIPL art. 47 request #123"
        with pytest.raises(ApplicantErased):
            vault.commitment_secret(stored.ref)
        assert vault.is_erased(stored.ref) is True
        # The ledger's commitments are untouched bytes in the caller's hands.
        verify_commitment(
            secret_held_by_verifier, "id_number", ZHANG.id_number, stored.commitments["id_number"]
        )
        # Keys gone; ciphertext and tombstone kept to tell "erased" from "never existed".
        assert raw.key_rows(stored.ref) == []
        assert raw.ciphertext(stored.ref)[1]
        assert raw.tombstones(stored.ref) == [(stored.ref, "PIPL art. 47 request #123")]

    def test_erase_is_idempotent_and_keeps_the_first_time(self, vault: PersonalDataVault) -> None:
        stored = vault.store(ZHANG, now=NOW)
        vault.erase(stored.ref, now=NOW + timedelta(hours=1), reason="first")
        vault.erase(stored.ref, now=NOW + timedelta(hours=2), reason="second")
        with pytest.raises(ApplicantErased) as caught:
            vault.read(stored.ref)
        assert (caught.value.erased_at, caught.value.reason) == (NOW + timedelta(hours=1), "first")

    def test_erasing_one_applicant_leaves_others_readable(self, vault: PersonalDataVault) -> None:
        zhang = vault.store(ZHANG, now=NOW)
        li = vault.store(LI, now=NOW)
        vault.erase(zhang.ref, now=NOW, reason="request")
        assert vault.read(li.ref) == LI
        assert vault.is_erased(li.ref) is False

    def test_unknown_ref_is_not_erased_but_unknown(self, vault: PersonalDataVault) -> None:
        vault.store(ZHANG, now=NOW)
        ref = "ap_" + "a" * 26
        with pytest.raises(UnknownApplicant) as caught:
            vault.read(ref)
        assert caught.value.ref == ref
        with pytest.raises(UnknownApplicant):
            vault.commitment_secret(ref)
        with pytest.raises(UnknownApplicant):
            vault.is_erased(ref)
        with pytest.raises(UnknownApplicant):
            vault.erase(ref, now=NOW, reason="typo")

    def test_tampered_ciphertext_is_rejected_not_garbled(
        self, vault: PersonalDataVault, raw: RawAccess
    ) -> None:
        stored = vault.store(ZHANG, now=NOW)
        nonce, ciphertext = raw.ciphertext(stored.ref)
        flipped = bytes([ciphertext[0] ^ 0x01]) + ciphertext[1:]
        raw.update_data(stored.ref, nonce=nonce, ciphertext=flipped)
        with pytest.raises(VaultIntegrityError) as caught:
            vault.read(stored.ref)
        assert caught.value.reason == "ciphertext_rejected"

    def test_ciphertext_moved_to_another_ref_is_rejected(
        self, vault: PersonalDataVault, raw: RawAccess
    ) -> None:
        zhang = vault.store(ZHANG, now=NOW)
        li = vault.store(LI, now=NOW)
        nonce, ciphertext = raw.ciphertext(zhang.ref)
        raw.update_data(li.ref, nonce=nonce, ciphertext=ciphertext)
        with pytest.raises(VaultIntegrityError, match="ciphertext_rejected"):
            vault.read(li.ref)

    def test_wrong_master_key_cannot_decrypt(
        self, vault: PersonalDataVault, make_vault: MakeVault
    ) -> None:
        stored = vault.store(ZHANG, now=NOW)
        intruder = make_vault(WRONG_MASTER_KEY)
        with pytest.raises(VaultIntegrityError) as caught:
            intruder.read(stored.ref)
        assert caught.value.reason == "key_unwrap_failed"
        with pytest.raises(VaultError):
            intruder.commitment_secret(stored.ref)

    def test_naive_time_and_empty_reason_are_refused(self, vault: PersonalDataVault) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            vault.store(ZHANG, now=datetime(2025, 3, 1))
        stored = vault.store(ZHANG, now=NOW)
        with pytest.raises(ValueError, match="reason"):
            vault.erase(stored.ref, now=NOW, reason=" ")
        assert vault.is_erased(stored.ref) is False

    def test_master_key_must_be_32_bytes(self, make_vault: MakeVault) -> None:
        with pytest.raises(VaultConfigurationError, match="expected 32"):
            make_vault(b"too short")


# --- SQLite ----------------------------------------------------------------------------------


class SQLiteRaw(RawAccess):
    def __init__(self, path: Path) -> None:
        self.path = path

    def _execute(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        import sqlite3

        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    def fetch(self, query: str, ref: str) -> list[tuple[Any, ...]]:
        tables = {
            "data": "applicant_data",
            "keys": "applicant_keys",
            "erasures": "applicant_erasures",
        }
        return self._execute(query.format(**tables) + "?", (ref,))

    def update_data(self, ref: str, *, nonce: bytes, ciphertext: bytes) -> None:
        self._execute(
            "UPDATE applicant_data SET nonce = ?, ciphertext = ? WHERE ref = ?",
            (nonce, ciphertext, ref),
        )

    def everything(self) -> bytes:
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        return b"".join(path.read_bytes() for path in files if path.exists())


class TestSQLiteVault(VaultContract):
    @pytest.fixture
    def path(self, tmp_path: Path) -> Path:
        return tmp_path / "vault.sqlite3"

    @pytest.fixture
    def make_vault(self, path: Path) -> MakeVault:
        return lambda master_key: SQLiteVault(path, master_key=master_key)

    @pytest.fixture
    def raw(self, path: Path, vault: PersonalDataVault) -> RawAccess:
        return SQLiteRaw(path)

    def test_erased_key_bytes_leave_the_file(
        self, vault: PersonalDataVault, raw: RawAccess, path: Path
    ) -> None:
        stored = vault.store(ZHANG, now=NOW)
        [(_, wrapped_key, wrapped_secret)] = raw.key_rows(stored.ref)
        assert wrapped_key in raw.everything()
        vault.erase(stored.ref, now=NOW, reason="request")
        everything = raw.everything()
        assert wrapped_key not in everything
        assert wrapped_secret not in everything

    def test_uses_write_ahead_logging(self, vault: PersonalDataVault, raw: SQLiteRaw) -> None:
        assert raw._execute("PRAGMA journal_mode", ()) == [("wal",)]

    def test_driver_errors_become_vault_errors(self, tmp_path: Path) -> None:
        (tmp_path / "not-a-database").write_bytes(b"\xff" * 4096)
        with pytest.raises(VaultError, match="SQLite vault"):
            SQLiteVault(tmp_path / "not-a-database", master_key=MASTER_KEY)


# --- PostgreSQL ------------------------------------------------------------------------------


class PostgresRaw(RawAccess):
    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.tables = {
            "data": sql.Identifier(schema, "applicant_data"),
            "keys": sql.Identifier(schema, "applicant_keys"),
            "erasures": sql.Identifier(schema, "applicant_erasures"),
        }

    def fetch(self, query: str, ref: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            statement = sql.SQL(query + "%s").format(**self.tables)
            return [
                tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                for row in conn.execute(statement, (ref,)).fetchall()
            ]

    def update_data(self, ref: str, *, nonce: bytes, ciphertext: bytes) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("UPDATE {data} SET nonce = %s, ciphertext = %s WHERE ref = %s").format(
                    **self.tables
                ),
                (nonce, ciphertext, ref),
            )

    def everything(self) -> bytes:
        chunks: list[bytes] = []
        with psycopg.connect(self.url, autocommit=True) as conn:
            for table in self.tables.values():
                query = sql.SQL("SELECT * FROM {}").format(table)
                for row in conn.execute(query).fetchall():
                    for value in row:
                        chunks.append(
                            bytes(value)
                            if isinstance(value, bytes | memoryview)
                            else str(value).encode()
                        )
        return b"\x00".join(chunks)


@pytest.mark.postgres
class TestPostgresVault(VaultContract):
    @pytest.fixture
    def make_vault(self, postgres_url: str, postgres_schema: str) -> MakeVault:
        return lambda master_key: PostgresVault(
            postgres_url, postgres_schema, master_key=master_key
        )

    @pytest.fixture
    def raw(self, postgres_url: str, postgres_schema: str, vault: PersonalDataVault) -> RawAccess:
        return PostgresRaw(postgres_url, postgres_schema)

    def test_driver_errors_become_vault_errors(self, postgres_url: str) -> None:
        with pytest.raises(VaultError, match="PostgreSQL vault"):
            PostgresVault(postgres_url, "no_such_schema_here", master_key=MASTER_KEY)


# --- wiring ----------------------------------------------------------------------------------


def test_open_vault_defaults_to_its_own_sqlite_file(tmp_path: Path) -> None:
    ledger_url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    for url in ("", ledger_url):
        vault = open_vault(url, tmp_path, MASTER_KEY)
        assert isinstance(vault, SQLiteVault)
        assert vault.path == tmp_path / "vault.sqlite3"
    assert not (tmp_path / "ledger.sqlite3").exists()


@pytest.mark.postgres
def test_open_vault_chooses_postgres_by_scheme(
    postgres_url: str, tmp_path: Path, postgres_schema: str
) -> None:
    vault = open_vault(postgres_url, tmp_path, MASTER_KEY)
    assert isinstance(vault, PostgresVault)
    stored = vault.store(LI, now=NOW)
    assert vault.read(stored.ref) == LI
    assert not (tmp_path / "vault.sqlite3").exists()


def test_open_vault_refuses_unknown_schemes(tmp_path: Path) -> None:
    with pytest.raises(VaultConfigurationError, match="mysql"):
        open_vault("mysql://db/x", tmp_path, MASTER_KEY)


def test_master_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "node"
    key = load_or_create_master_key(data_dir)
    assert len(key) == 32
    assert stat.S_IMODE((data_dir / "vault.key").stat().st_mode) == 0o600
    assert load_or_create_master_key(data_dir) == key
    assert [p.name for p in data_dir.iterdir()] == ["vault.key"]


def test_master_key_file_must_be_private_and_32_bytes(tmp_path: Path) -> None:
    path = tmp_path / "vault.key"
    path.write_bytes(os.urandom(32))
    path.chmod(0o644)
    with pytest.raises(VaultConfigurationError, match="mode 0644"):
        load_or_create_master_key(tmp_path)
    path.chmod(0o600)
    path.write_bytes(b"short")
    with pytest.raises(VaultConfigurationError, match="holds 5 bytes"):
        load_or_create_master_key(tmp_path)
