"""The ``tongban`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from adapters.bootstrap import ConfigurationError, check_database
from adapters.datadir import DataDirLocked, NotANode, lock_data_dir, require_node, sqlite_path
from adapters.settings import Settings
from api.cli_cases import add_case_commands
from api.cli_catalog import add_catalog_command
from api.cli_demo import add_demo_command
from api.cli_ledger import add_ledger_commands
from api.cli_licenses import add_license_commands
from api.cli_tokens import add_token_commands
from api.cli_transparency import add_transparency_commands


def _serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    # The app factory reads TONGBAN_* (so every worker process configures itself alike).
    for name, value in (("DATA_DIR", args.data_dir), ("HOST", args.host), ("PORT", args.port)):
        if value is not None:
            os.environ[f"TONGBAN_{name}"] = str(value)
    settings = Settings()
    try:
        require_node(settings)
        check_database(settings.resolved_database_url(), settings.database_schema or None)
    except (NotANode, ConfigurationError) as error:
        print(f"tongban: {error}", file=sys.stderr)
        return 64
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
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=args.workers,
        )
    finally:
        if lock is not None:
            lock.close()
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
    args = build_parser().parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
