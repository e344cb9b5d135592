"""The ``tongban`` command line."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import IO, Any

from pydantic import ValidationError

from adapters.atomic import write_atomically
from adapters.bootstrap import ConfigurationError, check_database
from adapters.crypto_profile import (
    CryptoUnavailable,
    ProfileMismatch,
    apply_crypto_profile,
    check_node_key,
)
from adapters.datadir import DataDirLocked, NotANode, lock_data_dir, require_node, sqlite_path
from adapters.filemodes import UnsafePermissions, private_directory, refuse_if_others_can_write
from adapters.settings import Settings
from api.cli_cases import add_case_commands
from api.cli_catalog import add_catalog_command
from api.cli_common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    describe_settings_error,
    fail,
    quiet_broken_pipe,
)
from api.cli_deadlines import add_deadline_commands
from api.cli_demo import add_demo_command
from api.cli_halls import add_hall_commands
from api.cli_ledger import add_ledger_commands
from api.cli_licenses import add_license_commands
from api.cli_outbox import add_outbox_commands
from api.cli_page_signing import add_page_signing_commands
from api.cli_readmodels import add_readmodels_commands
from api.cli_relay import add_relay_commands
from api.cli_supervise import add_rate_command, add_supervise_commands
from api.cli_tokens import add_token_commands
from api.cli_transparency import add_transparency_commands

_STARTUP_FAILED = "TONGBAN_SERVE_STARTUP_FAILED"  # set by `tongban serve` for its workers


def serve_app() -> Any:
    """The app factory ``tongban serve`` gives uvicorn, run in each worker process.

    A node that cannot start (its database unreachable, say) exits with uvicorn's startup
    failure code: the supervisor of ``--workers N`` then stops, where any other exit made it
    start the worker again, for ever, each time after the same traceback.
    """
    from uvicorn.config import STARTUP_FAILURE

    from api.app import create_app

    try:
        return create_app()
    except Exception as error:
        print(f"tongban: the node cannot start: {error}", file=sys.stderr)
        if os.environ.get(_STARTUP_FAILED):
            Path(os.environ[_STARTUP_FAILED]).touch()
        sys.exit(STARTUP_FAILURE)


def _watch_worker_startup() -> Path:
    """Where a worker that could not start says so (uvicorn's supervisor returns normally)."""
    failed = Path(tempfile.mkdtemp(prefix="tongban-serve-")) / "failed"
    os.environ[_STARTUP_FAILED] = str(failed)
    return failed


def _workers_started(failed: Path) -> int:
    """``serve``'s exit code once uvicorn returned: 1 if a worker could not start."""
    code = 1 if failed.exists() else 0
    shutil.rmtree(failed.parent, ignore_errors=True)
    return code


def bind_listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: any free port, read it back with
    ``getsockname``). Bound here, before uvicorn starts, so the port is this process's from
    the moment it is reported, and every worker serves the same socket."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def write_port_file(path: Path, port: int) -> None:
    """Write ``port`` to ``path`` atomically: a reader sees no file or the whole number."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, f"{port}\n", mode=0o644)


def _refuse_unsafe_data_directory(data_dir: Path) -> None:
    from adapters.bootstrap import NODE_KEY_FILE, TRUST_FILE
    from adapters.vault import MASTER_KEY_FILE

    private_directory(data_dir)
    for name, what in (
        (NODE_KEY_FILE, "key file"),
        (MASTER_KEY_FILE, "key file"),
        (TRUST_FILE, "trust file"),
    ):
        refuse_if_others_can_write(data_dir / name, what)


def _tls_problem(certfile: Path | None, keyfile: Path | None) -> str | None:
    """Why ``serve`` cannot use this certificate and key, or None (also when neither is given:
    plain HTTP). Checked before anything starts, so the message reaches the terminal."""
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        given, missing = (
            ("--certfile", "--keyfile") if keyfile is None else ("--keyfile", "--certfile")
        )
        return f"{given} needs {missing} too (HTTPS takes the certificate and its private key)"
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as error:
        return f"cannot serve HTTPS with certificate {certfile} and key {keyfile}: {error}"
    return None


def _serve(args: argparse.Namespace) -> int:
    problem = _tls_problem(args.certfile, args.keyfile)
    if problem is not None:
        print(f"tongban: {problem}", file=sys.stderr)
        return 64
    # The app factory reads TONGBAN_* (so every worker process configures itself alike).
    for name, value in (("DATA_DIR", args.data_dir), ("HOST", args.host), ("PORT", args.port)):
        if value is not None:
            os.environ[f"TONGBAN_{name}"] = str(value)
    settings = Settings()
    try:  # a mistyped directory is refused before anything is made there
        require_node(settings)
        check_database(settings.resolved_database_url(), settings.database_schema or None)
        check_node_key(settings)
        apply_crypto_profile(settings)  # a node accepting sm2-sm3 needs libcrypto's SM2
    except (NotANode, ConfigurationError, ProfileMismatch, CryptoUnavailable) as error:
        print(f"tongban: {error}", file=sys.stderr)
        return 64
    try:  # here, where the error reaches the terminal, not only the server's log
        _refuse_unsafe_data_directory(settings.data_dir)
    except UnsafePermissions as error:
        return fail(str(error))
    if settings.port == 0:
        named = _peers_naming_this_node(settings)
        if named:
            return fail(
                f"--port 0 picks another port at each start, and this node has peers "
                f"({', '.join(named)}): their peers.json names this node by its URL, which would "
                "go stale (their steps queue as unreachable). Serve on a fixed port (--port 8002) "
                "and give that URL to `tongban relay add-peer --url` at each peer (docs/relay.md)"
            )
    on_sqlite = sqlite_path(settings) is not None
    if args.workers > 1 and on_sqlite:
        print(
            "tongban: several workers need PostgreSQL (TONGBAN_DATABASE_URL); "
            "SQLite serves one writer",
            file=sys.stderr,
        )
        return 64
    lock = None
    if on_sqlite:
        try:
            lock = lock_data_dir(settings.data_dir)  # held until this process exits
        except DataDirLocked as error:
            print(f"tongban: {error}", file=sys.stderr)
            return 1
    try:
        sock = bind_listening_socket(settings.host, settings.port)
    except OSError as error:
        where = f"{settings.host}:{settings.port}"
        print(f"tongban: cannot listen on {where}: {error}", file=sys.stderr)
        if lock is not None:
            lock.close()
        return 69
    failed = _watch_worker_startup()
    # uvicorn ends a SIGTERM by raising it again under the handler found before it started:
    # with the default one the process dies there, before the cleanup below (the relay child
    # would be left running). This handler turns it into an exception the cleanup sees.
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _serve_until_stopped(args, settings, sock, lock, failed)
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)  # cleaned up: end as SIGTERM ends a process
        return 0


def _peers_naming_this_node(settings: Settings) -> list[str]:
    """The peers in ``peers.json``: each names this node by URL in its own (relay setups
    are made both ways, docs/relay.md); an unreadable file is said when the node serves."""
    from adapters.relay_peers import PeerConfigError, load_peers

    try:
        return sorted(load_peers(settings.data_dir))
    except PeerConfigError:
        return []


class _Terminated(Exception):
    """SIGTERM reached ``serve``."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _serve_until_stopped(
    args: argparse.Namespace,
    settings: Settings,
    sock: socket.socket,
    lock: IO[str] | None,
    failed: Path,
) -> int:
    import uvicorn

    from api.logs import log_config
    from api.server import protocol_name

    relay = None
    if args.outbox or settings.outbox:
        # The workers read it too: their /metrics then shows the outbox's lag.
        os.environ["TONGBAN_OUTBOX"] = "true"
        relay = _start_outbox(settings)
    metrics_dir = _metrics_directory(args.workers)
    try:
        with sock:
            # Reported once the socket listens: connections queue until the app has started.
            if args.port_file is not None:
                write_port_file(args.port_file, sock.getsockname()[1])
            uvicorn.run(
                "api.cli:serve_app",
                factory=True,
                fd=sock.fileno(),
                workers=args.workers,
                # JSON lines, no uvicorn access log: it prints the query string (api/logs.py).
                log_config=log_config(),
                access_log=False,
                # Header and body timeouts and a connection limit (api/server.py).
                http=protocol_name(),
                # HTTPS (docs/operations.md): the officers' pages sign only in a secure context.
                ssl_certfile=args.certfile,
                ssl_keyfile=args.keyfile,
            )
    finally:
        if relay is not None:
            _stop_outbox(relay)
        if lock is not None:
            lock.close()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return _workers_started(failed)


def _start_outbox(settings: Settings) -> subprocess.Popen[bytes]:
    """``tongban outbox run`` for the served node, as a child process (its own event loop,
    its own log lines on standard error); stopped with the server."""
    command = [
        sys.executable,
        "-m",
        "api.cli",
        "outbox",
        "run",
        "--data-dir",
        str(settings.data_dir),
    ]
    relay = subprocess.Popen(command)
    threading.Thread(target=_report_outbox_exit, args=(relay,), daemon=True).start()
    return relay


def _report_outbox_exit(relay: subprocess.Popen[bytes]) -> None:
    """Wait for the relay (so one that fails is reaped, not left a zombie) and say so: it is
    not restarted, and the node goes on serving."""
    code = relay.wait()
    if code > 0:
        print(
            f"tongban: the outbox relay (pid {relay.pid}) exited with code {code} and is not "
            "restarted; the node goes on serving (run `tongban outbox run` yourself, or restart "
            "serve, once the cause above is fixed)",
            file=sys.stderr,
        )


def _stop_outbox(relay: subprocess.Popen[bytes]) -> None:
    if relay.poll() is None:
        relay.send_signal(signal.SIGTERM)
        try:
            relay.wait(timeout=30)
        except subprocess.TimeoutExpired:
            relay.kill()
            relay.wait()


def _metrics_directory(workers: int) -> str | None:
    """With several workers, a fresh directory for prometheus_client's multiprocess mode,
    set before any worker starts (each imports the metrics anew): a scrape answered by any
    worker sums all of them (adapters/metrics.py). Removed when ``serve`` ends."""
    if workers <= 1:
        return None
    directory = tempfile.mkdtemp(prefix="tongban-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def _version() -> str:
    try:
        return f"tongban {metadata.version('tongban')}"
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "tongban (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tongban", description=__doc__)
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default=None, help="bind address (TONGBAN_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (TONGBAN_PORT; 0: any free)")
    serve.add_argument(
        "--port-file",
        type=Path,
        default=None,
        help="write the port listened on to this file (atomically), e.g. with --port 0",
    )
    serve.add_argument("--data-dir", type=Path, default=None, help="data directory")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (PostgreSQL)")
    serve.add_argument(
        "--outbox",
        action="store_true",
        help="also run `tongban outbox run` for this node (TONGBAN_OUTBOX, TONGBAN_NATS_URL)",
    )
    serve.add_argument(
        "--certfile",
        type=Path,
        default=None,
        help="serve HTTPS with this PEM certificate (chain); with --keyfile. The officers' "
        "pages sign only over HTTPS or on localhost (docs/operations.md)",
    )
    serve.add_argument(
        "--keyfile", type=Path, default=None, help="the PEM private key of --certfile"
    )
    serve.set_defaults(handler=_serve)
    add_catalog_command(commands)
    add_ledger_commands(commands)
    add_demo_command(commands)
    add_hall_commands(commands)
    case = add_case_commands(commands)
    add_rate_command(case)
    add_page_signing_commands(commands, case)
    add_supervise_commands(commands)
    add_token_commands(commands)
    add_transparency_commands(commands)
    add_license_commands(commands)
    add_outbox_commands(commands)
    # After any other module's supervise commands: it joins their group.
    add_deadline_commands(commands)
    add_relay_commands(commands)
    add_readmodels_commands(commands)
    return parser


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    """The first Ctrl-C stops the command; the next ones are ignored until it has exited.

    A second Ctrl-C used to land in the cleanup itself (the store closed under writers still
    appending crashed the interpreter; a half-built demo directory stayed). Cleanup is quick.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; exit codes are listed in :mod:`api.cli_common`."""
    # Whatever a command writes (a database, a key, a report) is its user's alone; files the
    # node writes also carry their mode explicitly (adapters/filemodes.py).
    os.umask(0o077)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as leaving:
        # argparse exits 2 on a usage error; 2 is the audit's "open policy findings" here,
        # so every usage error is EX_USAGE (64) instead. --help and --version still exit 0.
        if leaving.code in (0, None):
            raise
        return EXIT_USAGE
    previous = signal.getsignal(signal.SIGINT)
    if (
        previous is signal.default_int_handler
        and threading.current_thread() is threading.main_thread()
    ):
        signal.signal(signal.SIGINT, _interrupt_once)
    try:
        result: int = args.handler(args)
    except KeyboardInterrupt:
        # The conventional 128 + SIGINT; the command cleaned up on its way out.
        print("tongban: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return quiet_broken_pipe()
    except SystemExit as leaving:  # uvicorn's, when one worker could not start
        if leaving.code in (0, None):
            raise
        return 1
    except ValidationError as error:  # TONGBAN_* of a command that is not guarded (serve)
        print(f"tongban: {describe_settings_error(error)}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        # Not after an interrupt: more Ctrl-Cs stay ignored until the process has exited.
        if signal.getsignal(signal.SIGINT) is _interrupt_once:
            signal.signal(signal.SIGINT, previous)
    try:
        sys.stdout.flush()  # a reader that left (`| head -1`) shows here, not at exit
    except BrokenPipeError:
        return quiet_broken_pipe()
    return result


if __name__ == "__main__":
    sys.exit(main())
