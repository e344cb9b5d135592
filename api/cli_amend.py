"""``tongban catalog amend``: change one field of a catalog item by a root-signed record.

It shows the change (old → new value, old → new catalog version) before signing, asks on a
terminal unless ``--yes``, then appends a ``catalog_amended`` record to the node's registry.
Cases keep the catalog version they pinned; new cases must pin the new one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from adapters.bootstrap import open_ledger
from adapters.keyfiles import read_key
from adapters.settings import Settings
from api.cli_common import fail as _fail
from api.cli_common import guarded as _guarded
from api.cli_common import missing_ledger
from ledger.admin import RegistryClerk
from ledger.application import LedgerApplication
from ledger.catalog import AMENDABLE_FIELDS, Catalog, regions

EXIT_DECLINED = 1
_LIST_FIELDS = frozenset({"channels", "cooperating_units"})


# -- tongban demo ----------------------------------------------------------------------------


def current_catalog(app: LedgerApplication, region: str) -> Catalog:
    """The catalog version new cases of ``region`` must pin now (packaged, then amended)."""
    return app.registry.catalogs.current(region, app.clock())


def _parse_value(field: str, text: str) -> Any:
    if field == "time_limits":  # a JSON list of leg limits (docs/supervision.md §3.2)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"--value for time_limits is a JSON list: {error}") from None
        if not isinstance(value, list):
            raise ValueError("--value for time_limits is a JSON list of {leg, promised_days, ...}")
        return value
    if field not in _LIST_FIELDS:
        return text
    if text.lstrip().startswith("["):
        value = json.loads(text)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"--value for {field} is a JSON list of texts")
    else:
        value = [part.strip() for part in text.split(",") if part.strip()]
    # The catalog keeps channels sorted and unique; accept them in any order.
    return sorted(set(value)) if field == "channels" else value


def _show(value: Any) -> str:
    if isinstance(value, list | tuple) and any(isinstance(v, dict) for v in value):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, list | tuple):
        return ",".join(value) if value else "(none)"
    return repr(value) if value == "" else str(value)


def _confirm(args: argparse.Namespace) -> int | None:
    """None to go on; otherwise the exit code."""
    if args.yes:
        return None
    if not sys.stdin.isatty():
        return _fail(
            "not signed: confirmation needs a terminal; review the amendment above and run "
            "again with --yes to sign it"
        )
    answer = input("sign this amendment with the region root and append it? [y/N] ")
    if answer.strip().lower() not in {"y", "yes"}:
        print("not signed", file=sys.stderr)
        return EXIT_DECLINED
    return None


def _catalog_amend(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.node_region:
        overrides["region"] = args.node_region
    settings = Settings(**overrides)
    if (missing := missing_ledger(settings)) is not None:
        return _fail(f"no ledger at {missing}")
    root = read_key(args.root_key)
    app = open_ledger(settings)
    try:
        if args.region not in app.registry.regions:
            return _fail(f"this node does not trust a root of region {args.region}")
        if root.key_id != app.registry.regions[args.region].root_kid:
            return _fail(f"{args.root_key} is not the current root key of region {args.region}")
        base = current_catalog(app, args.region)
        item = next((i for i in base.items if i.item_key == args.item), None)
        if item is None:
            return _fail(f"region {args.region} has no item {args.item}")
        value = _parse_value(args.field, args.value)
        unset = [] if args.field == "time_limits" else ""  # absent from the data when unset
        old_value = item.to_dict().get(args.field, unset)
        if old_value == value:
            print(f"{args.item} {args.field} is already {_show(value)}; nothing signed")
            return 0
        change = {"item": args.item, "field": args.field, "value": value}
        amended = base.amended([change])
        new_item = next(i for i in amended.items if i.item_key == args.item)
        print(f"catalog amendment, region {base.region} {base.region_name}")
        print(f"  item     {item.item_key} {item.national_name}")
        before, after = item.to_dict(), new_item.to_dict()
        for name in sorted(set(before) | set(after), key=lambda n: (n != args.field, n)):
            if before.get(name, []) != after.get(name, []):
                print(f"  {name}: {_show(before.get(name, []))} → {_show(after.get(name, []))}")
        print(f"  catalog version: {base.version} → {amended.version}")
        print(f"  signed by: root {root.key_id} of region {args.region}")
        declined = _confirm(args)
        if declined is not None:
            return declined
        clerk = RegistryClerk(app, args.region)
        appended = clerk.append(
            root, "catalog_amended", {"base_version": base.version, "changes": [change]}
        )
        print(
            json.dumps(
                {
                    "index": appended.index,
                    "seq": appended.seq,
                    "old_version": base.version,
                    "new_version": amended.version,
                }
            )
        )
        return 0
    finally:
        app.close()


def add_amend_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``amend`` to the ``catalog`` command: ``tongban catalog amend ...``."""
    amend = commands.add_parser(
        "amend",
        help="amend one field of a catalog item: a catalog_amended record signed by the root",
        description="Show the change (old → new value and catalog version), then sign it with "
        "the region root and append it to the node's key registry. Cases keep the catalog "
        "version they pinned.",
    )
    amend.add_argument(
        "--region", required=True, help=f"the catalog's region ({', '.join(regions())})"
    )
    amend.add_argument("--item", required=True, help="item key region/batch/seq, e.g. 510000/1/5")
    amend.add_argument("--field", required=True, choices=AMENDABLE_FIELDS)
    amend.add_argument(
        "--value",
        required=True,
        help="new value; channels and cooperating_units are comma-separated (or a JSON list)",
    )
    amend.add_argument("--root-key", type=Path, required=True, help="the region root's key file")
    amend.add_argument(
        "--data-dir", type=Path, default=None, help="node data directory (TONGBAN_DATA_DIR)"
    )
    amend.add_argument("--node-region", default=None, help="this node's region (TONGBAN_REGION)")
    amend.add_argument("--yes", action="store_true", help="sign without asking")
    amend.set_defaults(handler=_guarded(_catalog_amend))
