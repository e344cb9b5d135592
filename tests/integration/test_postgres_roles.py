"""Least-privilege database roles (deploy/postgres/*.sql, docs/operations.md).

On a private cluster: the roles script, a first start as ``tongban_owner`` (it creates every
table), the grants script; then the node serves under ``tongban_node`` (appends, checkpoints,
tokens, the vault all work) while PostgreSQL refuses it any UPDATE, DELETE, TRUNCATE or direct
INSERT of ledger rows, and refuses ``tongban_auditor`` every write while its audit is clean.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from adapters.bootstrap import open_ledger, open_services
from adapters.settings import Settings
from ledger.audit import verify_ledger
from ledger.workflow import SignedCoreOnly
from tests.support.pgcluster import BIN_DIR, PrivateCluster, pg_cluster  # noqa: F401
from tests.support.world import make_world

pytestmark = pytest.mark.postgres
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "postgres"
SCHEMA = "ledger"
LEDGER_TABLES = ("tongban_events", "tongban_ledger")


def _psql(cluster: PrivateCluster, script: str) -> None:
    done = subprocess.run(
        [str(BIN_DIR / "psql"), cluster.url, "-q", "-v", f"schema={SCHEMA}", "-f", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _as(cluster: PrivateCluster, role: str) -> str:
    return f"postgresql://{role}@127.0.0.1:{cluster.port}/postgres"


def _refused(url: str, statement: str) -> None:
    # In a transaction (LOCK TABLE needs one), rolled back whatever happens.
    with psycopg.connect(url) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement)


def test_the_node_role_appends_but_cannot_rewrite_and_the_auditor_only_reads(
    tmp_path: Path,
    pg_cluster: PrivateCluster,  # noqa: F811
) -> None:
    _psql(pg_cluster, str(DEPLOY / "01-roles.sql"))
    owner, node_url, auditor = (
        _as(pg_cluster, r) for r in ("tongban_owner", "tongban_node", "tongban_auditor")
    )
    # The first start, as the owner: every table and the append function.
    world = make_world(tmp_path, database_url=owner, schema=SCHEMA, workflow=SignedCoreOnly())
    world.app.close()
    first = open_services(Settings(data_dir=tmp_path, database_url=owner, database_schema=SCHEMA))
    first.close()
    first.ledger.close()
    _psql(pg_cluster, str(DEPLOY / "02-grants.sql"))

    # The node under its own role: appends, checkpoints, tokens and the vault work.
    served = open_services(
        Settings(data_dir=tmp_path, database_url=node_url, database_schema=SCHEMA),
        clock=world.clock,
        workflow=SignedCoreOnly(),
    )
    try:
        world.app = served.ledger
        officer = world.officers["rs-001"]
        _, appended = world.append_case(officer, 3)
        assert [a.index for a in appended] == [a.index for a in appended if a.created]
        assert served.ledger.issue_checkpoint() is not None
        token, _ = served.access.create_token("auditor", "ops", now=datetime.now(UTC))
        assert served.access.authenticate(token) is not None
    finally:
        served.close()
        served.ledger.close()

    with psycopg.connect(node_url) as conn:
        (rows,) = conn.execute(f"SELECT count(*) FROM {SCHEMA}.tongban_ledger").fetchone() or (0,)
    assert rows > 3
    for table in LEDGER_TABLES:
        qualified = f"{SCHEMA}.{table}"
        _refused(node_url, f"UPDATE {qualified} SET originator_version = originator_version")
        _refused(node_url, f"DELETE FROM {qualified}")
        _refused(node_url, f"TRUNCATE {qualified}")
    _refused(
        node_url,
        f"INSERT INTO {SCHEMA}.tongban_ledger SELECT ledger_index + 1000, originator_id, "
        f"originator_version + 1000, event_hash || 'x', receipt FROM {SCHEMA}.tongban_ledger "
        "LIMIT 1",
    )
    _refused(node_url, f"LOCK TABLE {SCHEMA}.tongban_events IN EXCLUSIVE MODE")

    # The auditor: reads everything of the ledger, writes nothing anywhere.
    for table in (*LEDGER_TABLES, "tongban_tree", "tongban_checkpoints"):
        _refused(auditor, f"DELETE FROM {SCHEMA}.{table}")
        _refused(auditor, f"UPDATE {SCHEMA}.{table} SET {_any_column(pg_cluster, table)}")
    _refused(auditor, f"CREATE TABLE {SCHEMA}.auditor_was_here (a int)")
    _refused(auditor, f"SELECT * FROM {SCHEMA}.tongban_tokens")  # not the node's secrets
    audit_view = open_ledger(
        Settings(data_dir=tmp_path, database_url=auditor, database_schema=SCHEMA),
        read_only=True,
        workflow=SignedCoreOnly(),
    )
    try:
        report = verify_ledger(audit_view)
        assert report.exit_code == 0, report.findings[:5]
    finally:
        audit_view.close()


def _any_column(cluster: PrivateCluster, table: str) -> str:
    with psycopg.connect(cluster.url) as conn:
        row = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s LIMIT 1",
            (SCHEMA, table),
        ).fetchone()
    assert row is not None, table
    return f"{row[0]} = {row[0]}"
