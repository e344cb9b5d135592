"""The ``tongban`` command line."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from adapters.settings import Settings
from api.cli_cases import add_case_commands
from api.cli_catalog import add_catalog_command
from api.cli_demo import add_demo_command
from api.cli_ledger import add_ledger_commands
from api.cli_licenses import add_license_commands
from api.cli_tokens import add_token_commands
from api.cli_transparency import add_transparency_commands


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
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(f"{port}\n")
    os.replace(partial, path)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    # The app factory reads TONGBAN_* (so every worker process configures itself alike).
    for name, value in (("DATA_DIR", args.data_dir), ("HOST", args.host), ("PORT", args.port)):
        if value is not None:
            os.environ[f"TONGBAN_{name}"] = str(value)
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.workers > 1 and settings.resolved_database_url().startswith("sqlite"):
        print(
            "tongban: several workers need PostgreSQL (TONGBAN_DATABASE_URL); "
            "SQLite serves one writer",
            file=sys.stderr,
        )
        return 64
    try:
        sock = bind_listening_socket(settings.host, settings.port)
    except OSError as error:
        where = f"{settings.host}:{settings.port}"
        print(f"tongban: cannot listen on {where}: {error}", file=sys.stderr)
        return 69
    with sock:
        # Reported once the socket listens: connections queue until the app has started.
        if args.port_file is not None:
            write_port_file(args.port_file, sock.getsockname()[1])
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            fd=sock.fileno(),
            workers=args.workers,
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tongban", description=__doc__)
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
    serve.set_defaults(handler=_serve)
    add_catalog_command(commands)
    add_ledger_commands(commands)
    add_demo_command(commands)
    add_case_commands(commands)
    add_token_commands(commands)
    add_transparency_commands(commands)
    add_license_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
