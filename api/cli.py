"""The ``tongban`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from adapters.filemodes import UnsafePermissions, private_directory, refuse_if_others_can_write
from adapters.settings import Settings
from api.cli_cases import add_case_commands
from api.cli_catalog import add_catalog_command
from api.cli_common import fail
from api.cli_demo import add_demo_command
from api.cli_ledger import add_ledger_commands
from api.cli_licenses import add_license_commands
from api.cli_tokens import add_token_commands
from api.cli_transparency import add_transparency_commands


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


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.logs import log_config
    from api.server import protocol_name

    # The app factory reads TONGBAN_* (so every worker process configures itself alike).
    for name, value in (("DATA_DIR", args.data_dir), ("HOST", args.host), ("PORT", args.port)):
        if value is not None:
            os.environ[f"TONGBAN_{name}"] = str(value)
    settings = Settings()
    try:  # here, where the error reaches the terminal, not only the server's log
        _refuse_unsafe_data_directory(settings.data_dir)
    except UnsafePermissions as error:
        return fail(str(error))
    if args.workers > 1 and settings.resolved_database_url().startswith("sqlite"):
        print(
            "tongban: several workers need PostgreSQL (TONGBAN_DATABASE_URL); "
            "SQLite serves one writer",
            file=sys.stderr,
        )
        return 64
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        # JSON lines, and no uvicorn access log: it prints the query string (api/logs.py).
        log_config=log_config(),
        access_log=False,
        # Header and body timeouts and a connection limit, from the settings (api/server.py).
        http=protocol_name(),
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tongban", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default=None, help="bind address (TONGBAN_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (TONGBAN_PORT)")
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
    # Whatever a command writes (a database, a key, a report) is its user's alone; files the
    # node writes also carry their mode explicitly (adapters/filemodes.py).
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
