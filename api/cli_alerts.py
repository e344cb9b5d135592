"""``tongban supervise alerts run | list``: the supervision scheduler for cron, and its feed.

``run --once`` scans the stored deadlines as the server's scheduler does (``api.alert_daemon``)
and records the new due-soon and overdue alerts in the node's database; without ``--once`` it
scans every ``--interval`` seconds until interrupted. ``list`` prints the feed after a cursor
(docs/supervision.md §7.3). Neither prints personal data: alerts hold none.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from adapters.alerts import open_alert_store
from adapters.bootstrap import open_services
from adapters.datadir import require_node
from adapters.supervision import scan_alerts
from api.cli_common import EXIT_USAGE, guarded
from api.cli_common import fail as _fail
from api.cli_ledger import _settings
from ledger.calendars import CHINA
from ledger.supervision.watch import ScopeError, parse_as_of


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    require_node(settings)
    try:
        fixed = parse_as_of(args.as_of, datetime.now(UTC), field="--as-of") if args.as_of else None
    except ScopeError as error:
        return _fail(str(error), EXIT_USAGE)
    node = open_services(settings)
    try:
        while True:
            now = datetime.now(UTC)
            recorded = scan_alerts(node, fixed or now.astimezone(CHINA).date(), now=now)
            if args.json:
                print(json.dumps({"recorded": [a.as_dict() for a in recorded]}, ensure_ascii=False))
            else:
                print(f"recorded {len(recorded)} new alerts")
            if args.once:
                return 0
            time.sleep(args.interval)
    finally:
        node.close()
        node.ledger.close()


def _list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    require_node(settings)
    store = open_alert_store(
        settings.resolved_database_url(),
        settings.data_dir,
        schema=settings.database_schema or None,
    )
    try:
        bodies = [args.body] if args.body else None
        alerts = store.after(args.after, bodies=bodies, limit=args.limit)
    finally:
        store.close()
    if args.json:
        document = {
            "alerts": [a.as_dict() for a in alerts],
            "next_after": alerts[-1].seq if alerts else args.after,
        }
        print(json.dumps(document, ensure_ascii=False))
        return 0
    for alert in alerts:
        print(
            f"{alert.seq:>6} {alert.status:<9} {alert.deadline.isoformat()} {alert.source:<13} "
            f"{alert.body:<16} {alert.case_id} {alert.name}"
        )
    if not alerts:
        print(f"no alert after {args.after}")
    return 0


def add_alert_commands(supervise: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``tongban supervise alerts run | list`` in the ``supervise`` group."""
    alerts = supervise.add_parser(
        "alerts", help="due-soon and overdue alerts: scan the deadlines, list the feed"
    ).add_subparsers(dest="alerts_command", required=True)
    run = alerts.add_parser("run", help="scan the stored deadlines and record new alerts")
    run.add_argument("--once", action="store_true", help="one scan, then exit (for cron)")
    run.add_argument(
        "--interval", type=float, default=300.0, help="seconds between scans without --once"
    )
    run.add_argument("--as-of", help="scan as of this date or instant (default: now)")
    listing = alerts.add_parser("list", help="the alert feed after a cursor")
    listing.add_argument("--after", type=int, default=0, help="the last seq already read")
    listing.add_argument("--body", help="only this body's alerts")
    listing.add_argument("--limit", type=int, default=1000, help="at most this many")
    for parser, handler in ((run, _run), (listing, _list)):
        parser.add_argument("--data-dir", type=Path, default=None, help="node data directory")
        parser.add_argument("--region", default=None, help="this node's region (TONGBAN_REGION)")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.set_defaults(handler=guarded(handler))
