"""The demo node on SQLite and PostgreSQL: a clean audit, every step type and every channel ×
coordination combination, the same demo for the same seed, and never inside a real node."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from adapters.applicants import open_node_applicants
from adapters.bootstrap import open_ledger
from adapters.demo import (
    DEMO_MARKER,
    DemoError,
    DemoSummary,
    NotADemoDirectory,
    build_demo,
    offered_combinations,
)
from adapters.keyfiles import read_key
from adapters.settings import Settings
from adapters.vault import PostgresVault, SQLiteVault, load_or_create_master_key
from ledger.application import LedgerApplication
from ledger.audit import verify_ledger
from ledger.catalog import load_catalog
from ledger.envelope import Envelope, build_event, parse_event
from ledger.keys import registry_stream_id
from ledger.personal import normalize_id_number, verify_commitment
from ledger.workflow import STEP_TYPES, SignedCoreOnly
from tests.support.world import make_world

OFFERED = offered_combinations(load_catalog("510000").items)


def _open(data_dir: Path, database_url: str = "", schema: str | None = None) -> LedgerApplication:
    settings = Settings(data_dir=data_dir, database_url=database_url, region="510000")
    return open_ledger(settings, schema=schema, read_only=True)


def _case_events(app: LedgerApplication) -> list[Envelope]:
    """Case events in ledger-index order (the registry streams left out)."""
    registries = {registry_stream_id(region) for region in app.trusted_roots}
    return [
        parse_event(entry.envelope)
        for entry in app.entries_after(0, 1_000_000)
        if entry.stream_id not in registries
    ]


def _check_demo(app: LedgerApplication, summary: DemoSummary, cases: int) -> list[Envelope]:
    report = verify_ledger(app)
    assert report.findings == []
    assert report.exit_code == 0
    assert (report.cases, report.events) == (cases, summary.events)
    events = _case_events(app)
    assert {e.type for e in events} == set(STEP_TYPES)
    received = [e for e in events if e.type == "received"]
    assert len(received) == cases
    assert {(e.body["channel"], e.body["coordination"]) for e in received} == set(OFFERED)
    assert summary.missing_step_types == ()
    assert sum(summary.combinations.values()) == cases
    assert set(summary.combinations) == {f"{c}/{k}" for c, k in OFFERED}
    for envelope in received:  # personal data stays in the vault
        assert set(envelope.body["applicant"]) == {"ref", "commitments"}
        assert set(envelope.body["applicant"]["commitments"]) == {"name", "id_number", "address"}
    return events


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    data_dir = tmp_path_factory.mktemp("demo") / "var-demo"
    return data_dir, build_demo(data_dir, cases=60, seed=11)


def test_sqlite_demo_verifies_clean_with_every_step_type_and_combination(
    sqlite_demo: tuple[Path, DemoSummary],
) -> None:
    data_dir, summary = sqlite_demo
    app = _open(data_dir)
    try:
        _check_demo(app, summary, 60)
        # Every case opened with its applicant bound (ledger.opening): no applicant finding.
        assert verify_ledger(app, applicants=open_node_applicants("", data_dir)).findings == []
    finally:
        app.close()
    assert "DEMO DATA" in (data_dir / DEMO_MARKER).read_text(encoding="utf-8")


def test_applicants_are_in_the_vault_with_valid_fake_id_numbers(
    sqlite_demo: tuple[Path, DemoSummary],
) -> None:
    data_dir, _ = sqlite_demo
    app = _open(data_dir)
    try:
        received = [e for e in _case_events(app) if e.type == "received"]
    finally:
        app.close()
    vault = SQLiteVault(data_dir / "vault.sqlite3", master_key=load_or_create_master_key(data_dir))
    for envelope in received[:10]:
        applicant = envelope.body["applicant"]
        data = vault.read(applicant["ref"])
        assert data.name.startswith("测试人员")
        assert normalize_id_number(data.id_number) == data.id_number
        secret = vault.commitment_secret(applicant["ref"])
        verify_commitment(
            secret, "id_number", data.id_number, applicant["commitments"]["id_number"]
        )


def test_the_demo_keys_let_a_demo_user_sign_another_step(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    build_demo(data_dir, cases=5, seed=2)
    index = json.loads((data_dir / "demo-keys" / "index.json").read_text(encoding="utf-8"))
    officers = {
        (body["body_id"], officer["officer_id"]): data_dir / officer["key_file"]
        for body in index["bodies"]
        for officer in body["officers"]
    }
    app = open_ledger(Settings(data_dir=data_dir, region="510000"))  # the real clock
    try:
        first = next(e for e in _case_events(app) if e.type == "received")
        head = app.head(first.case_id)
        officer_id = next(o for b, o in officers if b == first.body_id)
        raw = build_event(
            read_key(officers[(first.body_id, officer_id)]),
            ledger=app.ledger_name,
            case_id=first.case_id,
            seq=head.seq + 1,
            event_type="corrected",
            time=app.clock(),
            body_id=first.body_id,
            officer_id=officer_id,
            prev=head.event_hash,
            body={"target_seq": 1, "reason": "演示：更正收件信息"},
        )
        assert app.append_event(raw).created
        assert verify_ledger(app).exit_code == 0
    finally:
        app.close()


def _fingerprint(app: LedgerApplication) -> list[tuple[uuid.UUID, int, str, str]]:
    return [(e.case_id, e.seq, e.type, e.body_id) for e in _case_events(app)]


def test_the_same_seed_builds_the_same_demo(tmp_path: Path) -> None:
    runs: list[Any] = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        build_demo(tmp_path / name, cases=20, seed=seed)
        app = _open(tmp_path / name)
        try:
            runs.append(_fingerprint(app))
        finally:
            app.close()
    assert runs[0] == runs[1]
    assert (tmp_path / "a" / "trust.json").read_text() == (
        tmp_path / "b" / "trust.json"
    ).read_text()
    assert {c for c, *_ in runs[0]}.isdisjoint({c for c, *_ in runs[2]})


def test_a_directory_that_may_be_a_real_node_is_refused(tmp_path: Path) -> None:
    node = tmp_path / "node"
    make_world(node, workflow=SignedCoreOnly()).app.close()
    before = sorted(p.name for p in node.iterdir())
    with pytest.raises(NotADemoDirectory, match="may be a real node"):
        build_demo(node, cases=3, seed=1)
    assert sorted(p.name for p in node.iterdir()) == before  # nothing written, no marker
    # A new directory, but the node's own database (as TONGBAN_DATABASE_URL could name it).
    with pytest.raises(NotADemoDirectory, match="already holds a ledger"):
        build_demo(
            tmp_path / "fresh", cases=3, seed=1, database_url=f"sqlite:///{node}/ledger.sqlite3"
        )

    trust_only = tmp_path / "trust-only"
    trust_only.mkdir()
    (trust_only / "trust.json").write_text("{}\n")
    with pytest.raises(NotADemoDirectory, match=r"trust\.json"):
        build_demo(trust_only, cases=3, seed=1)
    assert not (trust_only / DEMO_MARKER).exists()


def test_an_existing_demo_is_not_built_over_and_zero_cases_is_an_error(
    sqlite_demo: tuple[Path, DemoSummary], tmp_path: Path
) -> None:
    data_dir, _ = sqlite_demo
    with pytest.raises(NotADemoDirectory, match="already holds a demo"):
        build_demo(data_dir, cases=3, seed=11)
    with pytest.raises(DemoError):
        build_demo(tmp_path / "none", cases=0, seed=1)


@pytest.mark.postgres
def test_postgres_demo_verifies_clean_and_a_used_database_is_refused(
    postgres_url: str, postgres_schema: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "demo"
    summary = build_demo(
        data_dir, cases=30, seed=3, database_url=postgres_url, schema=postgres_schema
    )
    assert not (data_dir / "ledger.sqlite3").exists()
    app = _open(data_dir, postgres_url, postgres_schema)
    try:
        events = _check_demo(app, summary, 30)
        applicants = open_node_applicants(postgres_url, data_dir, schema=postgres_schema)
        assert verify_ledger(app, applicants=applicants).findings == []
    finally:
        app.close()
    vault = PostgresVault(
        postgres_url, postgres_schema, master_key=load_or_create_master_key(data_dir)
    )
    first = next(e for e in events if e.type == "received")
    assert vault.read(first.body["applicant"]["ref"]).name.startswith("测试人员")

    with pytest.raises(NotADemoDirectory, match="already holds a ledger"):
        build_demo(
            tmp_path / "again", cases=3, seed=3, database_url=postgres_url, schema=postgres_schema
        )


def test_every_demo_case_shows_its_applicant_to_its_intake_body_over_http(
    sqlite_demo: tuple[Path, DemoSummary],
) -> None:
    """Issue 14 item 7: the demo appended through the application and never bound an
    applicant to its case, so every intake body got 409 ``commitment_mismatch``."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    data_dir, _ = sqlite_demo
    tokens = json.loads((data_dir / "demo-keys" / "tokens.json").read_text(encoding="utf-8"))
    app = _open(data_dir)
    try:
        received = [e for e in _case_events(app) if e.type == "received"]
    finally:
        app.close()
    api = create_app(Settings(data_dir=data_dir, region="510000"))
    try:
        with TestClient(api) as client:
            for envelope in received[:15]:
                answer = client.get(
                    f"/cases/{envelope.case_id}",
                    params={"personal": "true", "purpose": "核对申请人身份"},
                    headers={"Authorization": f"Bearer {tokens['bodies'][envelope.body_id]}"},
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["applicant"]["name"].startswith("测试人员")
    finally:
        api.state.services.ledger.close()
