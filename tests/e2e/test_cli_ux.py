"""The command line as a new user meets it (issue 13): exit codes, errors in words, defaults.

Each test reproduces one finding of trying the README as a new user would: a usage error
exiting 2 like the audit's findings, a traceback instead of a message, a client command
posting to a port nobody configured, a refusal printed as bare numbers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from adapters.settings import Settings
from adapters.witness_client import PushResult
from api import cli_ledger
from api.cli import main
from api.cli_common import iso_time
from api.cli_transparency import explain_push
from ledger.audit import AuditReport, Finding

TONGBAN = str(Path(sys.executable).with_name("tongban"))
CASE = "00000000-0000-4000-8000-000000000001"


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "officer.key"
    assert main(["keys", "generate", str(path)]) == 0
    capsys.readouterr()
    return path


def _signer(key_file: Path) -> list[str]:
    return [
        "--key",
        str(key_file),
        "--signer-body",
        "510104-RS",
        "--officer",
        "o-1",
        "--token",
        "t",
    ]


# -- exit codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["bogus"],
        ["audit", "verify", "--jobs", "two"],
        ["case", "receive", "--channel", "fax"],
        ["catalog", "--region", "510000", "--channel", "fax"],
    ],
)
def test_usage_errors_exit_64_not_the_audits_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 64
    assert "usage:" in capsys.readouterr().err


def test_an_unknown_catalog_region_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "--region", "999999"]) == 64
    assert "999999" in capsys.readouterr().err


def test_case_list_refuses_an_unknown_state_naming_the_states(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["case", "list", "--data-dir", str(tmp_path), "--state", "bogus"]) == 64
    err = capsys.readouterr().err
    assert "'bogus'" in err and "delivered" in err and "received" in err
    assert not (tmp_path / "ledger.sqlite3").exists()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as leaving:
        main(["--version"])
    assert leaving.value.code == 0
    assert capsys.readouterr().out.startswith("tongban 0.")


def test_output_piped_to_head_stops_quietly() -> None:
    # More than a pipe's buffer, so the writer is still writing when the reader leaves.
    reader = subprocess.Popen(
        [TONGBAN, "catalog", "--region", "510000", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reader.stdout is not None and reader.stderr is not None
    assert reader.stdout.readline() == b"[\n"
    reader.stdout.close()
    err = reader.stderr.read().decode()
    assert reader.wait(timeout=60) == 141
    assert err == ""


# -- where client commands post -----------------------------------------------------------


def test_client_commands_post_to_the_configured_port_and_name_the_url(
    key_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _closed_port()
    monkeypatch.delenv("TONGBAN_SERVER", raising=False)
    monkeypatch.setenv("TONGBAN_PORT", str(port))
    assert main(["case", "check", CASE, *_signer(key_file)]) == 1
    assert f"http://127.0.0.1:{port}/cases/{CASE}" in capsys.readouterr().err


def test_license_commands_name_the_url_they_could_not_reach(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _closed_port()
    monkeypatch.setenv("TONGBAN_SERVER", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("TONGBAN_PORT", "8000")  # TONGBAN_SERVER wins over host and port
    assert main(["license", "show", "LIC", "--token", "t"]) == 1
    err = capsys.readouterr().err
    assert f"http://127.0.0.1:{port}/licenses/LIC" in err


def test_server_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TONGBAN_SERVER", "TONGBAN_HOST", "TONGBAN_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().client_url() == "http://127.0.0.1:8000"
    monkeypatch.setenv("TONGBAN_HOST", "0.0.0.0")
    monkeypatch.setenv("TONGBAN_PORT", "8123")
    assert Settings().client_url() == "http://127.0.0.1:8123"
    monkeypatch.setenv("TONGBAN_HOST", "::")
    assert Settings().client_url() == "http://[::1]:8123"
    monkeypatch.setenv("TONGBAN_SERVER", "https://node.example")
    assert Settings().client_url() == "https://node.example"


# -- errors in words, never a traceback -----------------------------------------------------


def test_case_step_body_is_ambiguous_and_body_json_must_be_an_object(
    key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["case", "step", CASE, "--type", "arrived"]
    signer = ["--key", str(key_file), "--officer", "o-1", "--token", "t"]
    assert main([*base, "--body-json", "{}", "--body", "510104-RS", *signer]) == 64
    assert "--signer-body" in capsys.readouterr().err
    assert main([*base, "--body-json", "not json", *_signer(key_file)]) == 64
    assert "--body-json is not JSON" in capsys.readouterr().err
    assert main([*base, "--body-json", "[]", *_signer(key_file)]) == 64
    assert "JSON object" in capsys.readouterr().err


def test_the_old_body_option_still_names_the_signer_elsewhere(
    key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _closed_port()
    argv = ["case", "arrive", CASE, "--server", f"http://127.0.0.1:{port}", "--key", str(key_file)]
    assert main([*argv, "--body", "510104-RS", "--officer", "o-1", "--token", "t"]) == 1
    err = capsys.readouterr().err
    assert "--body is deprecated: write --signer-body" in err
    assert f"127.0.0.1:{port}" in err  # it got as far as the network: the body was taken


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["case", "check", "not-a-uuid"], "'not-a-uuid' is not a case id"),
        (["case", "deliver", "x", "--method", "online"], "'x' is not a case id"),
        (["license", "id", "--case", "nope", "--type", "t", "--issuer-code", "c"], "--case 'nope'"),
        (["license", "verify", "no-such-file"], "no-such-file: No such file or directory"),
        (["license", "scan", "no-such.png"], "no-such.png: No such file or directory"),
    ],
)
def test_bad_arguments_get_a_message_not_a_traceback(
    argv: list[str], said: str, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signer = _signer(key_file) if argv[0] == "case" else []
    assert main([*argv, *signer]) == 64
    assert said in capsys.readouterr().err


def test_a_malformed_item_is_named(key_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    form = key_file.with_name("form.txt")
    form.write_text("form")
    argv = ["case", "receive", "--item", "510000-2-23", "--channel", "proxy"]
    argv += ["--home-body", "510104-RS", "--jurisdiction", "510104", "--applicant-name", "张三"]
    argv += ["--applicant-id", "1", "--material", f"f={form}", "--server", "http://127.0.0.1:1"]
    assert main([*argv, *_signer(key_file)]) == 64
    assert "item '510000-2-23': write REGION/BATCH/NUMBER" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["zz", "abc", "00" * 31, "04" + "00" * 64, "02" + "11" * 32])
def test_keys_trust_names_a_bad_public_key(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["keys", "trust", "--data-dir", str(tmp_path), "--trust-region", "320000"]
    assert main([*argv, "--public-key", value]) == 64
    assert f"--public-key {value!r}: an Ed25519 public key is 32 bytes" in capsys.readouterr().err
    assert not (tmp_path / "trust.json").exists()


def test_keys_revoke_names_a_bad_time(
    tmp_path: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = tmp_path / "node"
    argv = ["keys", "revoke", "--data-dir", str(node), "--signer-key", str(key_file)]
    assert main([*argv, "--kid", "x", "--compromised-since", "yesterday"]) == 64
    assert "'yesterday' is not an ISO 8601 time" in capsys.readouterr().err
    assert not node.exists()  # refused before anything was opened


# -- what the commands print --------------------------------------------------------------


def test_a_ledger_wide_finding_prints_no_case_dash_seq_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = AuditReport(events=3, cases=1)
    report.findings = [
        Finding("", 0, "index_gap", "ledger index 2 missing"),
        Finding(CASE, 2, "bad_signature", "envelope signature"),
    ]
    monkeypatch.setattr(cli_ledger, "verify_ledger", lambda *_, **__: report)
    (tmp_path / "ledger.sqlite3").touch()
    assert main(["audit", "verify", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "[integrity] ledger: index_gap — ledger index 2 missing" in out
    assert f"[integrity] case {CASE} seq 2: bad_signature" in out
    assert "case -" not in out and "seq 0" not in out


def test_witness_refusals_are_said_in_words() -> None:
    larger = explain_push(PushResult("tongban/320000/witness", "refused", 409, 181, "182"))
    assert "already cosigned a larger tree of this log (size 182)" in larger
    assert "(size 181)" in larger
    fork = explain_push(PushResult("w", "refused", 422, 9, "inconsistent"))
    assert "evidence of a fork" in fork
    unknown = explain_push(PushResult("w", "refused", 404, 9, "unknown log"))
    assert "does not witness this log" in unknown


def test_witness_evidence_says_when_there_is_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["witness", "evidence", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("no evidence")
    assert main(["witness", "evidence", "--data-dir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_times_print_in_iso_8601_china_time() -> None:
    assert iso_time(1_767_574_800_000_000) == "2026-01-05T09:00:00+08:00"


def test_keys_list_prints_iso_times_and_json_keeps_microseconds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root.key"
    assert main(["keys", "generate", str(root)]) == 0
    node = tmp_path / "node"
    assert (
        main(["init", "--data-dir", str(node), "--region", "510000", "--root-key", str(root)]) == 0
    )
    capsys.readouterr()
    assert main(["keys", "list", "--data-dir", str(node)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("+08:00 .. open" in line for line in lines)
    assert main(["keys", "list", "--data-dir", str(node), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all(isinstance(row["valid_from"], int) for row in rows)


def test_version_from_the_console_script() -> None:
    done = subprocess.run([TONGBAN, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("tongban ")
    assert os.path.basename(TONGBAN) == "tongban"
    assert uuid.UUID(CASE)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_stops_when_the_node_cannot_start(tmp_path: Path, workers: str) -> None:
    # Each worker fails in the app factory (no database answers on that port); the supervisor
    # used to start them again for ever. It must stop, say why, and exit non-zero.
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/tongban"
    done = subprocess.run(
        [TONGBAN, "serve", "--workers", workers, "--port", "0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TONGBAN_DATABASE_URL": url},
    )
    # 1: the worker could not start; 64 if serve's own check of the database refuses first.
    assert done.returncode in (1, 64), done.stderr
    assert "died" not in done.stderr  # uvicorn's words when it restarts a worker
    assert "Traceback" not in done.stderr


def test_audit_progress_goes_to_stderr_never_into_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = tmp_path / "demo"
    assert main(["demo", "--cases", "2", "--data-dir", str(node)]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--data-dir", str(node), "--json", "--progress"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["ok"] is True
    assert "events" in captured.err  # the counter, redrawn on one line


@pytest.mark.parametrize(
    "argv",
    [
        ["case", "list", "--data-dir", "."],
        ["serve", "--data-dir", "."],
        ["license", "show", "LIC", "--token", "t"],
        [
            "case",
            "check",
            CASE,
            "--key",
            "k",
            "--signer-body",
            "b",
            "--officer",
            "o",
            "--token",
            "t",
        ],
    ],
)
def test_a_bad_environment_variable_is_named(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TONGBAN_SERVER", raising=False)
    monkeypatch.setenv("TONGBAN_PORT", "eighty")
    assert main(argv) == 64
    err = capsys.readouterr().err
    assert "tongban: configuration: TONGBAN_PORT='eighty': Input should be a valid integer" in err
    assert "pydantic" not in err


def test_a_malformed_trust_list_is_refused_in_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node = tmp_path / "demo"
    assert main(["demo", "--cases", "2", "--data-dir", str(node)]) == 0
    root = node / "demo-keys" / "root-510000.key"
    argv = ["license", "trust-list", "publish", "--data-dir", str(node), "--root-key", str(root)]
    capsys.readouterr()
    assert main([*argv, "--issuer-code", "510104-RS=X", "--accept", "short=510000"]) == 64
    err = capsys.readouterr().err
    assert "trust list not signed: malformed: type must be a 21-character" in err


def test_witness_commands_on_a_file_instead_of_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    assert main(["witness", "configure", "--data-dir", str(not_a_dir), "--name", "w"]) == 64
    assert f"{not_a_dir}/transparency.json: Not a directory" in capsys.readouterr().err


def test_a_serving_node_logs_witness_refusals_in_words(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from types import SimpleNamespace

    from api import transparency_daemon

    refused = PushResult("tongban/320000/witness", "refused", 409, 181, "182")
    config = SimpleNamespace(witnesses=[SimpleNamespace(witness="w")])
    monkeypatch.setattr(transparency_daemon, "load_transparency_config", lambda *_, **__: config)
    monkeypatch.setattr(transparency_daemon, "verified_cosigners", lambda *_: [])
    monkeypatch.setattr(
        transparency_daemon, "parse_checkpoint", lambda _: SimpleNamespace(size=181)
    )
    monkeypatch.setattr(transparency_daemon, "push_checkpoint", lambda *_: [refused])
    ledger = SimpleNamespace(
        latest_checkpoint=lambda: SimpleNamespace(text="note"),
        store=SimpleNamespace(max_index=lambda: 181),
    )
    services = SimpleNamespace(settings=SimpleNamespace(data_dir=Path("."), region="510000"))
    services.ledger = ledger
    pusher = transparency_daemon.WitnessPusher(services, 30)  # type: ignore[arg-type]
    with caplog.at_level("WARNING", logger="tongban.witnessing"):
        assert pusher.once() == 0
    said = caplog.messages
    assert said == [
        "witness tongban/320000/witness: refused: it already cosigned a larger tree of this log "
        "(size 182) than this checkpoint (size 181); the log lost entries or this checkpoint is old"
    ]


def test_a_worker_that_cannot_start_exits_with_uvicorns_startup_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Any other exit code makes uvicorn's supervisor of --workers N start the worker again.
    from uvicorn.config import STARTUP_FAILURE

    from api import app as app_module
    from api.cli import serve_app

    def broken() -> None:
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(app_module, "create_app", broken)
    marker = tmp_path / "failed"
    monkeypatch.setenv("TONGBAN_SERVE_STARTUP_FAILED", str(marker))
    with pytest.raises(SystemExit) as leaving:
        serve_app()
    assert leaving.value.code == STARTUP_FAILURE
    assert marker.exists()  # so that `tongban serve` exits 1, not 0
    assert "tongban: the node cannot start: database unreachable" in capsys.readouterr().err
