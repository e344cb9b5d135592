"""The ``tongban`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from adapters.settings import Settings
from api.cli_catalog import add_catalog_command
from api.cli_ledger import add_ledger_commands


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    overrides: dict[str, object] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    settings = Settings(**overrides)  # type: ignore[arg-type]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tongban", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default=None, help="bind address (TONGBAN_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (TONGBAN_PORT)")
    serve.add_argument("--data-dir", type=Path, default=None, help="data directory")
    serve.set_defaults(handler=_serve)
    add_catalog_command(commands)
    add_ledger_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
