"""``tongban hall``: publish a body's hall information (a signed ``hall_published`` record,
docs/keys.md) and show what the registry holds; the public pages show it (docs/pages.md).

A field not given is published empty, which the pages show as 未公布 (never a guess).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from adapters.bootstrap import open_ledger
from adapters.datadir import require_node
from adapters.keyfiles import read_key
from adapters.settings import Settings
from api.cli_common import fail, guarded, iso_time, read_ledger
from ledger.admin import RegistryClerk
from ledger.application import LedgerApplication
from ledger.keys.organizations import HALL_FIELDS

_LABELS = {
    "address": "地址",
    "hours": "办公时间",
    "phone": "咨询电话",
    "appointment": "预约方式",
    "notice": "办事须知",
}


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(data_dir=args.data_dir) if args.data_dir is not None else Settings()


def _publish(args: argparse.Namespace) -> int:
    settings = _settings(args)
    require_node(settings)
    body: dict[str, Any] = {"body_id": args.body_id}
    body |= {name: getattr(args, name) or "" for name in HALL_FIELDS}
    app = open_ledger(settings)
    try:
        app.refresh_registry()
        known = app.registry.bodies.get(args.body_id)
        if known is None:
            return fail(f"--body-id: no body {args.body_id} in this node's registry")
        appended = RegistryClerk(app, known.region).append(
            read_key(args.signer_key), "hall_published", body
        )
    finally:
        app.close()
    print(json.dumps({"index": appended.index, "seq": appended.seq, "body_id": args.body_id}))
    return 0


def _show(args: argparse.Namespace) -> int:
    def show(app: LedgerApplication) -> int:
        app.refresh_registry()
        halls = sorted(app.registry.halls.values(), key=lambda hall: hall.body_id)
        if args.body_id:
            halls = [hall for hall in halls if hall.body_id == args.body_id]
        rows = [
            {"body_id": h.body_id, "published_at": iso_time(h.published_at)}
            | {name: getattr(h, name) for name in HALL_FIELDS}
            for h in halls
        ]
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=1))
            return 0
        if not rows:
            print(
                "no hall information published" + (f" for {args.body_id}" if args.body_id else "")
            )
        for row in rows:
            print(f"{row['body_id']} (published {row['published_at']})")
            for name, label in _LABELS.items():
                print(f"  {label}: {row[name] or '未公布'}")
        return 0

    return read_ledger(_settings(args), show)


def add_hall_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``tongban hall publish|show``."""
    hall = commands.add_parser(
        "hall", help="a body's hall information (address, hours, phone, 办事须知)"
    ).add_subparsers(dest="hall_command", required=True)
    publish = hall.add_parser(
        "publish",
        help="sign and append a body's hall information (the region root or the body's key)",
    )
    publish.add_argument("--data-dir", type=Path, default=None, help="node data directory")
    publish.add_argument("--body-id", required=True)
    publish.add_argument(
        "--signer-key", type=Path, required=True, help="the region root's or the body's key file"
    )
    for name, longest in HALL_FIELDS.items():
        publish.add_argument(
            f"--{name}", default="", help=f"{_LABELS[name]} (at most {longest} characters)"
        )
    publish.set_defaults(handler=guarded(_publish))
    show = hall.add_parser("show", help="the hall information this node's registry holds")
    show.add_argument("--data-dir", type=Path, default=None, help="node data directory")
    show.add_argument("--body-id", default=None, help="only this body")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=guarded(_show))
