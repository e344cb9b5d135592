"""``tongban supervise bulletin | ratings`` and ``tongban case rate``: ratings (好差评), their
rectification and the monthly bulletin (定期通报).

The ``supervise`` commands open the node read-only and recompute everything from the signed
steps (``ledger.ratings.stats``). ``case rate`` rates a case: with ``--code`` as the applicant
does, posting the slip's code to the node (no token, no key: the node signs); without, an
officer records a rating said at the window or to the 12345 hotline and signs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import httpx

from adapters.atomic import write_atomically
from api.bulletin import bulletin_csv, bulletin_html
from api.cli_alerts import add_alert_commands
from api.cli_cases import _reading, _table
from api.cli_client import (
    _case_id,
    _run,
    connection_options,
    server_url,
)
from api.cli_common import EXIT_USAGE, guarded
from api.cli_common import fail as _fail
from ledger.application import LedgerApplication
from ledger.calendars import china_date
from ledger.ratings.stats import (
    BULLETIN_COLUMNS,
    all_rated_cases,
    body_ratings,
    bulletin_of,
    calendar_name,
    month_bounds,
    published_calendars,
)
from ledger.workflow.fields import RATING_LEVELS


def _bulletin(args: argparse.Namespace) -> int:
    try:
        month_bounds(args.month)
    except ValueError as error:
        return _fail(f"--month: {error}", EXIT_USAGE)

    def make(app: LedgerApplication) -> int:
        bulletin = bulletin_of(app, args.month)
        if args.html is not None:
            page = bulletin_html(bulletin, ledger_name=app.ledger_name).encode()
            write_atomically(args.html, page)
        if args.csv:
            sys.stdout.write(bulletin_csv(bulletin))
        elif args.json:
            document = {"month": bulletin.month, "notes": bulletin.notes, "rows": bulletin.rows}
            print(json.dumps(document, ensure_ascii=False, indent=1))
        else:
            shown = [c for c in BULLETIN_COLUMNS if c != "month" and c not in RATING_LEVELS]
            rows = [tuple(shown)] + [tuple(str(r[c]) for c in shown) for r in bulletin.rows]
            print(f"bulletin {bulletin.month}: {len(bulletin.rows)} rows (body × item)")
            if bulletin.rows:
                print("\n".join(_table(rows)))
            for note in bulletin.notes:
                print(f"note: {note}")
        return 0

    return _reading(args, make)


def _ratings(args: argparse.Namespace) -> int:
    def report(app: LedgerApplication) -> int:
        try:
            day = date.fromisoformat(args.as_of) if args.as_of else china_date(app.clock())
        except ValueError:
            return _fail(f"--as-of must be an ISO date, not {args.as_of!r}", EXIT_USAGE)
        calendars = published_calendars(app)
        bodies = body_ratings(all_rated_cases(app, calendars), day)
        if args.json:
            document = {
                "as_of": day.isoformat(),
                "calendar": calendar_name(calendars, app.home_region),
                "bodies": [b.as_dict() for b in bodies],
            }
            print(json.dumps(document, ensure_ascii=False, indent=1))
            return 0
        header = ("body", "ratings", *RATING_LEVELS, "open", "late", "closed")
        rows = [header] + [
            (
                b.body_id,
                str(b.total),
                *(str(b.distribution[level]) for level in RATING_LEVELS),
                str(b.rectifications_open),
                str(b.rectifications_late),
                str(b.rectifications_closed),
            )
            for b in bodies
        ]
        print(f"ratings and rectifications on {day.isoformat()}")
        print("\n".join(_table(rows)) if bodies else "no rating in this ledger")
        return 0

    return _reading(args, report)


def _rate(args: argparse.Namespace) -> int:
    case_id = _case_id(args.case)
    if args.code is None:
        if args.channel not in ("window", "hotline"):
            return _fail("without --code a rating is recorded at the window or by the hotline")
        body = {"level": args.level, "channel": args.channel}
        if args.comment:
            body["comment"] = args.comment
        return _run(args, lambda c: c.step(case_id, "rated", body))
    if args.channel not in ("online", "code"):
        return _fail("with --code the channel is online or code")
    rating = {"code": args.code, "level": args.level, "channel": args.channel}
    if args.comment:
        rating["comment"] = args.comment
    answer = httpx.post(f"{server_url(args).rstrip('/')}/cases/{case_id}/ratings", json=rating)
    if answer.status_code >= 400:
        try:
            problem = answer.json()
        except ValueError:
            problem = {"reason": "error", "detail": answer.text}
        field = f" (field {problem['field']})" if problem.get("field") else ""
        print(
            f"tongban: refused {answer.status_code} {problem.get('reason')}{field}: "
            f"{problem.get('detail', '')}",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(answer.json()))
    return 0


def add_rate_command(case: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``tongban case rate``."""
    rate = case.add_parser(
        "rate",
        help="rate a delivered or refused case: --code as the applicant, else as an officer",
    )
    rate.add_argument("case", help="the case id")
    rate.add_argument("--level", required=True, choices=RATING_LEVELS)
    rate.add_argument("--comment", default="", help="free text (personal data is refused)")
    rate.add_argument("--code", help="the one-time code on the receipt slip (the node signs)")
    rate.add_argument(
        "--channel",
        choices=("online", "code", "window", "hotline"),
        help="default: online with --code, window without",
    )
    connection_options(rate)
    rate.set_defaults(handler=guarded(_with_default_channel))


def _with_default_channel(args: argparse.Namespace) -> int:
    if args.channel is None:
        args.channel = "online" if args.code is not None else "window"
    return _rate(args)


def add_supervise_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``tongban supervise bulletin`` and ``tongban supervise ratings``."""
    supervise = commands.add_parser(
        "supervise", help="supervision: ratings, rectifications, the monthly bulletin"
    ).add_subparsers(dest="supervise_command", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--data-dir", type=Path, default=None, help="node data directory")
        parser.add_argument("--region", default=None, help="this node's region (TONGBAN_REGION)")
        parser.add_argument("--json", action="store_true", help="print JSON")

    bulletin = supervise.add_parser(
        "bulletin", help="the monthly bulletin (定期通报) by body and item, from the ledger"
    )
    bulletin.add_argument("--month", required=True, help="YYYY-MM (China dates)")
    bulletin.add_argument("--csv", action="store_true", help="print CSV")
    bulletin.add_argument("--html", type=Path, help="also write the printable page here")
    common(bulletin)
    bulletin.set_defaults(handler=guarded(_bulletin))

    ratings = supervise.add_parser(
        "ratings", help="per body: rating distribution, rectifications open, late and closed"
    )
    ratings.add_argument("--as-of", help="ISO date (China); default today")
    common(ratings)
    ratings.set_defaults(handler=guarded(_ratings))

    add_alert_commands(supervise)
