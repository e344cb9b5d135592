"""A node on PostgreSQL: a schema that does not exist is refused before anything is written,
and an auditor's read-only role can audit and read a node's ledger."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from api.cli import main
from ledger.workflow import CaseWorkflow
from tests.support.world import iter_online_cases, make_world

pytestmark = pytest.mark.postgres


def test_a_missing_schema_is_refused_before_the_data_directory_is_touched(
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["keys", "generate", str(tmp_path / "root.key")]) == 0
    missing = f"missing_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("TONGBAN_DATABASE_URL", postgres_url)
    monkeypatch.setenv("TONGBAN_DATABASE_SCHEMA", missing)
    data_dir = tmp_path / "node"
    capsys.readouterr()

    code = main(["init", "--data-dir", str(data_dir), "--root-key", str(tmp_path / "root.key")])

    out, err = capsys.readouterr()
    assert code == 64
    assert f"PostgreSQL schema {missing!r} does not exist" in err
    assert f'CREATE SCHEMA "{missing}"' in err
    assert "Traceback" not in err and out == ""
    assert not data_dir.exists()
    with psycopg.connect(postgres_url) as conn:
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (missing,))
        assert found.fetchone() is None


@pytest.fixture
def reader(postgres_url: str, postgres_schema: str) -> Iterator[str]:
    """A role that may only read the schema's tables: an auditor's login."""
    role = f"reader_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f'GRANT USAGE ON SCHEMA "{postgres_schema}" TO {role}')
    try:
        yield role
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{postgres_schema}" FROM {role}')
            conn.execute(f'REVOKE ALL ON SCHEMA "{postgres_schema}" FROM {role}')
            conn.execute(f"DROP ROLE {role}")


def test_a_read_only_role_audits_and_reads(
    tmp_path: Path,
    postgres_url: str,
    postgres_schema: str,
    reader: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world = make_world(
        tmp_path, database_url=postgres_url, schema=postgres_schema, workflow=CaseWorkflow()
    )
    case_ids = list(iter_online_cases(world, 3))
    world.app.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{postgres_schema}" TO {reader}')
    url = postgres_url.replace("postgres@", f"{reader}@", 1)
    monkeypatch.setenv("TONGBAN_DATABASE_URL", url)
    monkeypatch.setenv("TONGBAN_DATABASE_SCHEMA", postgres_schema)
    at = ["--data-dir", str(tmp_path)]
    capsys.readouterr()

    assert main(["audit", "verify", *at, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cases"] == 3
    assert main(["audit", "verify", *at, "--case", str(case_ids[0]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cases"] == 1
    assert main(["keys", "list", *at]) == 0
    assert main(["catalog", "--region", "510000", *at]) == 0
    assert main(["case", "list", *at]) == 0
    assert main(["case", "show", str(case_ids[0]), *at]) == 0


def test_serve_on_a_missing_schema_says_so(tmp_path: Path, postgres_url: str) -> None:
    import os
    import subprocess
    import sys

    world = make_world(tmp_path, workflow=CaseWorkflow())  # trust.json: an initialised node
    world.app.close()
    missing = f"missing_{uuid.uuid4().hex[:10]}"
    served = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--data-dir", str(tmp_path), "--port", "0"],
        env={
            **os.environ,
            "TONGBAN_DATABASE_URL": postgres_url,
            "TONGBAN_DATABASE_SCHEMA": missing,
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert served.returncode == 64
    assert f"PostgreSQL schema {missing!r} does not exist" in served.stderr
    assert "Traceback" not in served.stderr
