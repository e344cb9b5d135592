"""``tongban catalog``: print one region's service catalog as a table or as JSON."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from api.cli_amend import add_amend_command
from api.cli_common import guarded
from ledger.catalog import (
    BATCHES,
    CHANNELS,
    STATUSES,
    Catalog,
    CatalogItem,
    UnknownRegion,
    load_catalog,
    regions,
)

EXIT_UNKNOWN_REGION = 64  # a usage error (EX_USAGE), as in every command
TABLE_HEADER = ("batch", "seq", "national name", "channels", "coordination", "status", "lead unit")


def add_catalog_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``catalog`` subcommand to the ``tongban`` parser."""
    catalog = commands.add_parser(
        "catalog",
        help="print a region's service catalog",
        description="Print the 跨省通办 service catalog of one region.",
    )
    catalog.add_argument(
        "--region",
        help=f"GB/T 2260 region code ({', '.join(regions())}); required to print",
    )
    catalog.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="print the version this node's cases must pin now, with its signed amendments "
        "(without it: the packaged catalog)",
    )
    catalog.add_argument("--json", action="store_true", help="print a JSON array of items")
    catalog.add_argument("--batch", type=int, choices=BATCHES, help="only this batch")
    catalog.add_argument("--channel", choices=CHANNELS, help="only items offering this channel")
    catalog.add_argument("--status", choices=STATUSES, help="only items with this status")
    catalog.add_argument("--unit", help="only items whose lead or cooperating unit contains TEXT")
    catalog.set_defaults(handler=guarded(run_catalog))
    add_amend_command(catalog.add_subparsers(dest="catalog_command", metavar="{amend}"))


def run_catalog(args: argparse.Namespace) -> int:
    """Print the filtered catalog; unknown region: message on stderr, exit 64."""
    if not args.region:
        print("tongban catalog: give --region (e.g. --region 510000)", file=sys.stderr)
        return EXIT_UNKNOWN_REGION
    try:
        catalog = load_catalog(args.region) if args.data_dir is None else _node_catalog(args)
    except UnknownRegion as error:
        print(f"tongban catalog: {error}", file=sys.stderr)
        return EXIT_UNKNOWN_REGION
    items = catalog.filter(
        batch=args.batch, channel=args.channel, status=args.status, unit=args.unit
    )
    if args.json:
        print(json.dumps([item.to_dict() for item in items], ensure_ascii=False, indent=1))
    else:
        print(format_table(items))
        print(
            f"\n{len(items)} of {len(catalog.items)} items, {catalog.region} {catalog.region_name}"
        )
        print(f"catalog version {catalog.version}")
    return 0


def _node_catalog(args: argparse.Namespace) -> Catalog:
    """The catalog the node of ``--data-dir`` makes new cases pin now (read-only)."""
    from adapters.bootstrap import open_ledger
    from adapters.datadir import require_node
    from adapters.settings import Settings

    settings = Settings(data_dir=args.data_dir)
    require_node(settings)
    app = open_ledger(settings, read_only=True)
    try:
        app.refresh_registry()
        return app.registry.catalogs.current(args.region, app.clock())
    finally:
        app.close()


def display_width(text: str) -> int:
    """Terminal columns of ``text``: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int, *, right: bool = False) -> str:
    padding = " " * (width - display_width(text))
    return padding + text if right else text + padding


def format_table(items: Sequence[CatalogItem]) -> str:
    """An aligned table of the items: batch, seq, name, channels, coordination, status, lead."""
    rows = [TABLE_HEADER] + [
        (
            str(item.batch),
            str(item.seq),
            item.national_name,
            ",".join(item.channels),
            item.coordination,
            item.status,
            item.lead_unit,
        )
        for item in items
    ]
    widths = [
        max(display_width(row[column]) for row in rows) for column in range(len(TABLE_HEADER))
    ]
    numeric = {0, 1}
    lines = [
        "  ".join(
            _pad(cell, widths[column], right=column in numeric) for column, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]
    return "\n".join(lines)
