"""``tongban token create | revoke | list``: API tokens, shown once, stored as hashes."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.access import AccessStoreError, open_access_store
from adapters.datadir import require_node
from adapters.settings import Settings
from api.cli_common import EXIT_USAGE, guarded
from ledger.supervision.watch import ScopeError, parse_scope


def _store(args: argparse.Namespace) -> Any:
    overrides: dict[str, Any] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    settings = Settings(**overrides)
    require_node(settings)  # a token for a mistyped directory would open no node
    return open_access_store(
        settings.resolved_database_url(),
        settings.data_dir,
        schema=settings.database_schema or None,  # where the node looks tokens up (bootstrap)
    )


def _supervisor_scope(args: argparse.Namespace, text: str) -> str:
    """A supervisor's scope as its token names it: sorted GB/T 2260 codes of this region."""
    overrides: dict[str, Any] = {"data_dir": args.data_dir} if args.data_dir else {}
    return ",".join(parse_scope(text, Settings(**overrides).region, field="--supervisor"))


def _unknown_subject(args: argparse.Namespace, kind: str, subject: str) -> str | None:
    """A token names a principal the node knows: a registered body, a trusted region."""
    if kind not in ("body", "peer"):
        return None
    from adapters.bootstrap import open_ledger

    overrides: dict[str, Any] = {"data_dir": args.data_dir} if args.data_dir else {}
    settings = Settings(**overrides)
    require_node(settings)
    ledger = open_ledger(settings, read_only=True)
    try:
        ledger.refresh_registry()
        if kind == "body" and subject not in ledger.registry.bodies:
            return f"no body {subject!r} in this node's registry (register it first)"
        if kind == "peer" and subject not in ledger.trusted_roots:
            return f"region {subject!r} is not among this node's trusted roots"
        return None
    finally:
        ledger.close()


def _create(args: argparse.Namespace) -> int:
    chosen = [
        (k, v)
        for k, v in (
            ("body", args.body),
            ("auditor", args.auditor),
            ("peer", args.peer),
            ("supervisor", args.supervisor),
        )
        if v
    ] + ([("admin", "admin")] if args.admin else [])
    if len(chosen) != 1:
        print(
            "tongban: give exactly one of --body ID, --auditor NAME, --peer REGION, "
            "--supervisor DIVISIONS, --admin",
            file=sys.stderr,
        )
        return EXIT_USAGE
    kind, subject = chosen[0]
    if kind == "supervisor":
        try:
            subject = _supervisor_scope(args, subject)
        except ScopeError as error:
            print(f"tongban: {error.field}: {error}", file=sys.stderr)
            return EXIT_USAGE
    problem = _unknown_subject(args, kind, subject)
    if problem:
        print(f"tongban: {problem}", file=sys.stderr)
        return EXIT_USAGE
    token, info = _store(args).create_token(kind, subject, now=datetime.now(UTC))
    print(
        json.dumps(
            {"token": token, "token_id": info.token_id, "kind": kind, "subject": subject},
            ensure_ascii=False,
        )
    )
    print("store this token now: it is shown only once", file=sys.stderr)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    try:
        info = _store(args).revoke(args.token, now=datetime.now(UTC))
    except AccessStoreError as error:
        print(f"tongban: {error}", file=sys.stderr)
        return 1
    print(json.dumps(vars(info), ensure_ascii=False))
    return 0


def _list(args: argparse.Namespace) -> int:
    print(json.dumps([vars(t) for t in _store(args).tokens()], ensure_ascii=False, indent=1))
    return 0


def add_token_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    tokens = commands.add_parser("token", help="API tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = tokens.add_parser("create", help="create a token (printed once)")
    create.add_argument("--body", help="a body's token (it posts its officers' envelopes)")
    create.add_argument("--auditor", help="an auditor's token")
    create.add_argument("--peer", help="another region's token (its region code)")
    create.add_argument(
        "--supervisor",
        metavar="DIVISIONS",
        help="a supervisor's token, scoped to this region (510000) or to divisions "
        "(510104,510105); it reads deadlines and alerts, never personal data",
    )
    create.add_argument("--admin", action="store_true", help="the administrator's token")
    revoke = tokens.add_parser("revoke", help="revoke a token (by token or token id)")
    revoke.add_argument("token")
    listing = tokens.add_parser("list", help="list tokens (ids, never the tokens)")
    for parser, handler in ((create, _create), (revoke, _revoke), (listing, _list)):
        parser.add_argument(
            "--data-dir", type=Path, default=None, help="node data directory (TONGBAN_DATA_DIR)"
        )
        parser.set_defaults(handler=guarded(handler))
