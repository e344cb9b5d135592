"""``tongban readmodels status|rebuild``: the node's projections of its ledger.

Read models are derived data (``ledger/read_models.py``): ``status`` says how far each has
followed the ledger, ``rebuild`` drops them and builds them again from the ledger's first
entry (the result equals what following the ledger built). Neither writes to the ledger.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from adapters.bootstrap import follower_of, open_ledger
from adapters.readmodels import (
    ReadModelStoreError,
    SqlReadModelStore,
    memory_read_models,
    open_read_models,
)
from adapters.settings import Settings
from api.cli_common import fail as _fail
from api.cli_common import guarded as _guarded
from api.cli_common import missing_ledger
from api.cli_ledger import _settings
from ledger.application import LedgerApplication
from ledger.read_models import LedgerFollower


@contextlib.contextmanager
def read_models_of(settings: Settings, *, scratch: bool = False) -> Iterator[SqlReadModelStore]:
    """The node's read-model store, or with ``scratch`` (a reader who may not write the
    node's: a read-only snapshot, a database role that only selects) one of its own in a
    temporary directory, removed afterwards."""
    with contextlib.ExitStack() as stack:
        if scratch:
            where = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            store = memory_read_models(where / "readmodels.sqlite3")
        else:
            url, schema = settings.resolved_database_url(), settings.database_schema or None
            store = open_read_models(url, settings.data_dir, schema=schema)
        stack.callback(store.close)
        yield store


def following(
    args: argparse.Namespace,
    read: Callable[[LedgerApplication, LedgerFollower], int],
    *,
    reader: bool = True,
) -> int:
    """Open the ledger read-only (only if it has one) and its read models for ``read``; a
    ``reader`` gets them caught up to the ledger's head, built apart if it may not write the
    node's. ``readmodels status|rebuild`` (not readers) work on the node's own."""
    settings = _settings(args)
    if (missing := missing_ledger(settings)) is not None:
        return _fail(f"no ledger at {missing}")
    app = open_ledger(settings, read_only=True)
    scratch = settings.resolved_database_url().startswith("sqlite:///") and not os.access(
        settings.data_dir, os.W_OK
    )
    try:
        with contextlib.ExitStack() as stack:
            try:
                store = stack.enter_context(read_models_of(settings, scratch=scratch and reader))
                follower = follower_of(app, store)
                if reader:
                    follower.catch_up()
            except (ReadModelStoreError, OSError) as refused:  # not ours to write (or create)
                if scratch or not reader:
                    return _fail(f"the read models cannot be written: {refused}", 1)
                # The node's read models are the node's to write; this reader builds its own.
                print(f"tongban: building read models apart ({refused})", file=sys.stderr)
                store = stack.enter_context(read_models_of(settings, scratch=True))
                follower = follower_of(app, store)
                follower.catch_up()
            return read(app, follower)
    finally:
        app.close()


def _status(args: argparse.Namespace) -> int:
    def status(app: LedgerApplication, follower: LedgerFollower) -> int:
        head = app.store.max_index()
        rows: list[dict[str, Any]] = [
            {"projection": name, "position": position, "head": head, "behind": head - position}
            for name, position in follower.positions().items()
        ]
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            for row in rows:
                print(
                    f"{row['projection']:<16} at index {row['position']} of {row['head']} "
                    f"({row['behind']} behind)"
                )
        return 0

    return following(args, status, reader=False)


def _rebuild(args: argparse.Namespace) -> int:
    def rebuild(app: LedgerApplication, follower: LedgerFollower) -> int:
        reached = follower.rebuild()
        print(
            json.dumps({"rebuilt": list(follower.positions()), "position": reached})
            if args.json
            else f"rebuilt {', '.join(follower.positions())} up to ledger index {reached}"
        )
        return 0

    return following(args, rebuild, reader=False)


def add_readmodels_commands(commands: Any) -> None:
    group = commands.add_parser(
        "readmodels", help="the node's projections of its ledger (listings, deadlines)"
    ).add_subparsers(dest="readmodels_command", required=True)
    for name, handler, text in (
        ("status", _status, "how far each projection has followed the ledger"),
        ("rebuild", _rebuild, "drop the projections and build them again from the ledger"),
    ):
        parser = group.add_parser(name, help=text)
        parser.add_argument(
            "--data-dir", type=Path, default=None, help="node data directory (TONGBAN_DATA_DIR)"
        )
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(handler=_guarded(handler))
