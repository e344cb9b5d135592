"""Ctrl-C on long commands: they stop promptly, exit 130 and leave nothing half-built to serve.

``make serve`` serves ``var/demo`` once ``var/demo/ledger.sqlite3`` exists, so an interrupted
demo build must not leave that file (nor a directory ``tongban demo`` then refuses).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from api.cli import main
from ledger.workflow import CaseWorkflow
from tests.support.world import iter_online_cases, make_world

TONGBAN = str(Path(sys.executable).with_name("tongban"))


def _wait_for_output(stream: int, marker: bytes, seconds: float) -> bytes:
    """Read ``stream`` until ``marker`` appears (a bounded wait: fails after ``seconds``)."""
    seen = b""
    deadline = time.monotonic() + seconds
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} within {seconds} s; stderr so far: {seen[-500:]!r}"
        ready, _, _ = select.select([stream], [], [], left)
        if ready:
            chunk = os.read(stream, 65536)
            assert chunk, f"exited before {marker!r}; stderr: {seen[-2000:]!r}"
            seen += chunk
    return seen


def _ctrl_c_as_at_a_terminal() -> None:
    """In the child before it runs: Ctrl-C's default action. A suite started in the background
    by a non-interactive shell (``cmd &``, nohup) inherits SIGINT *ignored*; Python then installs
    no KeyboardInterrupt handler and the signal these tests send would do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(argv: list[str], marker: bytes, times: int = 1) -> tuple[int, bytes]:
    process = subprocess.Popen(
        [TONGBAN, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "TONGBAN_DATABASE_URL": ""},
        preexec_fn=_ctrl_c_as_at_a_terminal,
    )
    assert process.stderr is not None
    try:
        seen = _wait_for_output(process.stderr.fileno(), marker, 120)
        for _ in range(times):  # an impatient user: the later ones land in the cleanup
            process.send_signal(signal.SIGINT)
            time.sleep(0.05)
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return code, seen + process.stderr.read()


def test_ctrl_c_stops_a_bulk_demo_build_and_leaves_nothing_to_serve(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    argv = ["demo", "--cases", "3", "--events", "1000000", "--writers", "4"]
    code, err = _interrupt([*argv, "--data-dir", str(demo), "--progress"], b"bulk ", times=3)
    assert code == 130, err.decode(errors="replace")[-2000:]
    assert b"Traceback" not in err
    assert b"interrupted" in err
    assert not (demo / "ledger.sqlite3").exists()  # what `make serve` tests
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no half-built sibling either


def test_a_demo_build_interrupted_while_opening_cases_can_be_run_again(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    argv = ["demo", "--cases", "5000", "--data-dir", str(demo), "--progress"]
    code, err = _interrupt(argv, b"cases ")
    assert code == 130, err.decode(errors="replace")[-2000:]
    assert not demo.exists()
    done = subprocess.run(
        [TONGBAN, "demo", "--cases", "3", "--data-dir", str(demo)],
        capture_output=True,
        timeout=300,
        env={**os.environ, "TONGBAN_DATABASE_URL": ""},
    )
    assert done.returncode == 0, done.stderr
    assert (demo / "ledger.sqlite3").exists() and (demo / "demo-keys" / "tokens.json").exists()


def test_a_demo_is_renamed_into_an_empty_directory_and_a_killed_build_is_cleaned_up(
    tmp_path: Path,
) -> None:
    demo = tmp_path / "demo"
    demo.mkdir()  # an empty directory is a fine target
    killed = tmp_path / ".demo.building"  # what `kill -9` of a build leaves
    killed.mkdir()
    (killed / "DEMO").write_text("DEMO\n")
    (killed / "ledger.sqlite3").write_bytes(b"half")
    assert main(["demo", "--cases", "2", "--data-dir", str(demo)]) == 0
    assert (demo / "ledger.sqlite3").exists() and (demo / "DEMO").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_a_demo_refuses_a_building_directory_it_did_not_make(tmp_path: Path) -> None:
    foreign = tmp_path / ".demo.building"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["demo", "--cases", "2", "--data-dir", str(tmp_path / "demo")]) == 64
    assert (foreign / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "demo").exists()


def test_ctrl_c_stops_audit_verify_jobs_without_waiting_for_its_parts(tmp_path: Path) -> None:
    """Ctrl-C during ``audit verify --jobs 2``: the pool used to wait for every queued part
    (the ``with ProcessPoolExecutor`` exit) before the command could stop; now the parts not
    begun are cancelled and the worker processes (which only read) are stopped.

    The worker here never finishes its part (``tests/support/stalled_workers.py``), so the
    command stops only if it does not wait for it.
    """
    node = tmp_path / "node"
    world = make_world(node, workflow=CaseWorkflow())
    list(iter_online_cases(world, 20))
    world.app.close()
    script = (
        "import sys\n"
        "import api.cli_ledger\n"
        "from tests.support.stalled_workers import open_ledger_stalling_in_workers\n"
        "api.cli_ledger.open_ledger = open_ledger_stalling_in_workers\n"
        "from api.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = ["audit", "verify", "--data-dir", str(node), "--jobs", "2"]
    process = subprocess.Popen(
        [sys.executable, "-c", script, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "TONGBAN_DATABASE_URL": ""},
        preexec_fn=_ctrl_c_as_at_a_terminal,
    )
    assert process.stderr is not None
    worker = 0
    try:
        seen = _wait_for_output(process.stderr.fileno(), b" stalled", 120)
        worker = int(seen.split(b"audit worker ", 1)[1].split()[0])
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)  # before the fix: waits for the stalled part forever
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if worker:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
    err = seen + process.stderr.read()
    assert code == 130, err.decode(errors="replace")[-2000:]
    assert b"Traceback" not in err
    assert b"interrupted" in err
    assert not Path(f"/proc/{worker}").exists()  # the worker was stopped (and reaped)


def test_a_failed_part_fails_the_audit_without_waiting_for_the_others(tmp_path: Path) -> None:
    """The same for a part that fails in a worker: the audit fails at once (it reports
    nothing from a partial run), it does not wait for the parts still queued."""
    node = tmp_path / "node"
    world = make_world(node, workflow=CaseWorkflow())
    list(iter_online_cases(world, 20))
    world.app.close()
    script = (
        "import sys\n"
        "from functools import partial\n"
        "from pathlib import Path\n"
        "from adapters.bootstrap import open_ledger\n"
        "from adapters.settings import Settings\n"
        "from ledger.audit import verify_ledger\n"
        "from tests.support.stalled_workers import open_ledger_failing_in_workers\n"
        "settings = Settings(data_dir=Path(sys.argv[1]))\n"
        "reopen = partial(open_ledger_failing_in_workers, settings)\n"
        "try:\n"
        "    verify_ledger(open_ledger(settings, read_only=True), jobs=2, reopen=reopen)\n"
        "except RuntimeError as error:\n"
        "    print(f'audit failed: {error}')\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(node)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).parents[2],
        env={**os.environ, "TONGBAN_DATABASE_URL": ""},
    )
    try:
        out, err = process.communicate(timeout=120)  # before the fix: waited forever
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    assert out == b"audit failed: this part failed\n"
    assert b"Traceback" not in err
