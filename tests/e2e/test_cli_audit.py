"""``tongban audit verify`` as an auditor runs it: on a real data directory, exit codes and JSON."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.cli import main
from api.cli_ledger import _Progress
from ledger.envelope import ZERO_HASH
from ledger.workflow import CaseWorkflow
from tests.support.world import iter_online_cases, make_world, world_applicants


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("node")
    world = make_world(data_dir, workflow=CaseWorkflow())
    list(iter_online_cases(world, 100))
    world.app.close()
    return data_dir


def test_a_thousand_event_ledger_verifies_clean(
    ledger_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--data-dir", str(ledger_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"ok": True, "events": 1000, "cases": 100, "findings": []}


def test_one_case_verifies_alone(ledger_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(ledger_dir / "ledger.sqlite3") as db:
        (case_hex,) = db.execute(
            "SELECT originator_id FROM stored_events WHERE topic = 'tongban.case.opened' LIMIT 1"
        ).fetchone()
    case_id = str(__import__("uuid").UUID(case_hex))
    assert (
        main(["audit", "verify", "--data-dir", str(ledger_dir), "--case", case_id, "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["events"] == 10


def _copy_with_a_flipped_receipt(ledger_dir: Path, copy: Path) -> tuple[str, int]:
    """A copy of the ledger whose receipt at index 500 has its last byte flipped."""
    copy.mkdir()
    for name in ("ledger.sqlite3", "trust.json", "node.key"):
        (copy / name).write_bytes((ledger_dir / name).read_bytes())
    with sqlite3.connect(copy / "ledger.sqlite3") as db:
        index, case_hex, seq, receipt = db.execute(
            "SELECT ledger_index, originator_id, originator_version, receipt FROM stored_ledger "
            "WHERE ledger_index = 500"
        ).fetchone()
        flipped = bytearray(receipt)
        flipped[-1] ^= 0x01
        db.execute(
            "UPDATE stored_ledger SET receipt = ? WHERE ledger_index = ?", (bytes(flipped), index)
        )
    return case_hex, seq


def test_a_flipped_receipt_byte_fails_with_exit_1_at_its_place(
    ledger_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    case_hex, seq = _copy_with_a_flipped_receipt(ledger_dir, copy)
    assert main(["audit", "verify", "--data-dir", str(copy), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert [
        (f["case_id"].replace("-", ""), f["seq"], f["reason"], f["kind"])
        for f in report["findings"]
    ] == [(case_hex, seq, "bad_receipt", "integrity")]


def test_a_missing_ledger_is_an_error_not_a_clean_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--data-dir", str(tmp_path / "nowhere")]) == 64
    # the path as the user knows it (it printed //tmp/... before)
    assert f"no ledger at {tmp_path / 'nowhere' / 'ledger.sqlite3'}\n" in capsys.readouterr().err
    assert not (tmp_path / "nowhere" / "node.key").exists()


def test_jobs_2_prints_what_one_process_prints(
    ledger_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    _copy_with_a_flipped_receipt(ledger_dir, copy)
    outputs = []
    for jobs in ("1", "2"):
        for form in (["--json"], []):
            code = main(["audit", "verify", "--data-dir", str(copy), "--jobs", jobs, *form])
            outputs.append((jobs, form, code, capsys.readouterr().out))
    one, two = [o[2:] for o in outputs if o[0] == "1"], [o[2:] for o in outputs if o[0] == "2"]
    assert two == one
    assert one[0][0] == 1 and json.loads(one[0][1])["events"] == 1000
    assert one[1][1].startswith("FINDINGS: 1000 events in 100 cases, 1 findings")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--jobs", "0"], "--jobs 0 must be at least 1"),
        (["--jobs", "2", "--case", "7a2500f9-0000-4000-8000-000000000000"], "--jobs is for"),
    ],
)
def test_bad_jobs_is_a_usage_error(
    ledger_dir: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert main(["audit", "verify", "--data-dir", str(ledger_dir), *flags]) == 64
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_progress_is_redrawn_at_each_thousand_even_for_a_part_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    progress = _Progress(2500)
    for count in (600, 600, 1300):  # --jobs reports a part's events at once
        progress(count)
    drawn = capsys.readouterr().err.split("\r")[1:]
    assert [line.split("] ")[1] for line in drawn] == ["1200/2500 events", "2500/2500 events"]


@pytest.mark.parametrize("as_json", [False, True])
def test_a_case_the_ledger_does_not_hold_is_not_reported_clean(
    ledger_dir: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    argv = ["audit", "verify", "--data-dir", str(ledger_dir), "--case", unknown]
    assert main(argv + (["--json"] if as_json else [])) == 1
    out, err = capsys.readouterr()
    assert "clean" not in out
    assert f"no case {unknown} in this ledger" in err


@pytest.fixture
def read_only_copy(ledger_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """An auditor's snapshot: the node's files copied, then made read-only (files and dir)."""
    copy = tmp_path / "snapshot"
    copy.mkdir()
    for name in ("ledger.sqlite3", "trust.json", "node.key"):
        (copy / name).write_bytes((ledger_dir / name).read_bytes())
        (copy / name).chmod(0o444)
    copy.chmod(0o555)
    yield copy
    copy.chmod(0o755)


def _as_reader(*argv: str) -> subprocess.CompletedProcess[str]:
    """``tongban ARGV`` in a process that may not write the snapshot: as root (these tests'
    container) it runs without the capabilities that let root ignore file permissions."""
    command = [sys.executable, "-m", "api.cli", *argv]
    if os.geteuid() == 0:
        dropped = "-dac_override,-dac_read_search,-fowner"
        command = ["setpriv", f"--bounding-set={dropped}", f"--inh-caps={dropped}", *command]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "TONGBAN_DATABASE_URL": ""},
    )


def test_a_read_only_copy_audits_and_reads_without_writing(read_only_copy: Path) -> None:
    before = {p.name: p.read_bytes() for p in read_only_copy.iterdir()}
    with sqlite3.connect(
        f"file:{read_only_copy / 'ledger.sqlite3'}?mode=ro&immutable=1", uri=True
    ) as db:
        (case_hex,) = db.execute(
            "SELECT originator_id FROM stored_events WHERE topic = 'tongban.case.opened' LIMIT 1"
        ).fetchone()
    case_id = str(uuid.UUID(case_hex))
    at = ["--data-dir", str(read_only_copy)]

    audited = _as_reader("audit", "verify", *at, "--json")
    assert audited.returncode == 0, audited.stderr
    assert json.loads(audited.stdout)["events"] == 1000
    one = _as_reader("audit", "verify", *at, "--case", case_id, "--json")
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["events"] == 10
    for argv in (
        ["audit", "verify", *at, "--jobs", "2"],
        ["catalog", "--region", "510000", *at],
        ["keys", "list", *at],
        ["case", "show", case_id, *at],
        ["case", "list", *at],
        ["report", "bodies", *at],
    ):
        done = _as_reader(*argv)
        assert done.returncode == 0, (argv, done.stderr)
        assert "Traceback" not in done.stderr
    assert {p.name: p.read_bytes() for p in read_only_copy.iterdir()} == before


def test_a_case_opened_around_the_opening_is_a_policy_finding_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the node's vault key in the data directory the audit checks applicants too."""
    world = make_world(tmp_path, workflow=CaseWorkflow())
    world_applicants(world)  # the node's vault key, vault and bindings
    case_id = uuid.uuid4()
    body = world.received_body("510000/1/5", "online")  # a placeholder ref, stored nowhere
    world.app.append_event(world.event(world.officers["rs-001"], case_id, 1, ZERO_HASH, body=body))
    world.app.close()
    for extra in ([], ["--jobs", "2"], ["--case", str(case_id)]):
        assert main(["audit", "verify", "--data-dir", str(tmp_path), "--json", *extra]) == 2
        findings = json.loads(capsys.readouterr().out)["findings"]
        assert [(f["case_id"], f["reason"], f["kind"]) for f in findings] == [
            (str(case_id), "applicant_unmatched", "policy")
        ]


def test_a_read_only_copy_of_a_whole_node_audits_its_applicants_too(tmp_path: Path) -> None:
    """With the vault key in the snapshot the audit reads the vault and the access store as
    well: neither may be written either."""
    node = tmp_path / "node"
    assert main(["demo", "--cases", "3", "--seed", "5", "--data-dir", str(node)]) == 0
    copy = tmp_path / "snapshot"
    copy.mkdir()
    for source in node.iterdir():
        if source.is_file():
            (copy / source.name).write_bytes(source.read_bytes())
            (copy / source.name).chmod(0o444)
    assert (copy / "vault.key").exists() and (copy / "access.sqlite3").exists()
    (copy / "vault.key").chmod(0o400)  # the vault refuses a key others may read
    copy.chmod(0o555)
    try:
        audited = _as_reader("audit", "verify", "--data-dir", str(copy), "--json")
        assert audited.returncode == 0, audited.stderr
        assert json.loads(audited.stdout)["cases"] == 3
        assert "Traceback" not in audited.stderr
    finally:
        copy.chmod(0o755)
