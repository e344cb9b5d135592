"""``tongban supervise cases|bodies`` and ``tongban calendar``: deadlines of every case,
per-body and per-item figures, and the region's signed working-day calendar
(docs/supervision.md).

The ``supervise`` group is shared with other supervision commands (ratings, bulletins):
:func:`add_deadline_commands` adds to the group when another module created it already.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.bootstrap import open_ledger
from adapters.calendar_seed import UnannouncedYear, seed_year
from adapters.keyfiles import read_key
from api.cli_common import CHINA, EXIT_USAGE, read_ledger
from api.cli_common import fail as _fail
from api.cli_common import guarded as _guarded
from api.cli_ledger import _settings
from ledger.admin import RegistryClerk
from ledger.application import LedgerApplication
from ledger.calendars import CalendarError, CalendarYear
from ledger.reports import reading_registry
from ledger.supervision import ServiceStandard
from ledger.supervision.cases import figures, supervise_ledger

EXIT_DECLINED = 1


def parse_as_of(text: str | None, now: dt.datetime | None = None) -> dt.date:
    """The China date of ``--as-of``: a date (``2025-10-10``, taken as China's) or an instant
    with its offset (``2025-10-10T09:00:00+08:00``, ``...Z``); default now."""
    if text is None:
        return (now or dt.datetime.now(dt.UTC)).astimezone(CHINA).date()
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--as-of {text!r} is not an ISO date or an instant with its offset"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"--as-of {text!r} has no offset (add +08:00 or Z)")
    return moment.astimezone(CHINA).date()


def parse_standard(text: str | None) -> ServiceStandard:
    """``--service-standard check=1,mail=2``: the region's promised days for the legs named,
    the defaults (docs/supervision.md §3.2) for the others."""
    days = dict(ServiceStandard().days)
    for part in (text or "").split(","):
        if not part.strip():
            continue
        leg, _, count = part.partition("=")
        if leg.strip() not in days or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(
                f"--service-standard {part!r} is not LEG=DAYS with LEG one of "
                f"{', '.join(days)} and DAYS at least 1"
            )
        days[leg.strip()] = int(count)
    return ServiceStandard(days)


def _reading(args: argparse.Namespace, read: Callable[[LedgerApplication], int]) -> int:
    return read_ledger(_settings(args), read)


def _supervise_cases(args: argparse.Namespace) -> int:
    as_of = parse_as_of(args.as_of)
    standard = parse_standard(args.service_standard)

    def read(app: LedgerApplication) -> int:
        cases, books = supervise_ledger(app, standard, as_of)
        judged = [case.judged(as_of, books) for case in cases]
        if args.status:
            judged = [c for c in judged if any(leg["status"] == args.status for leg in c["legs"])]
        if args.json:
            print(json.dumps({"as_of": as_of.isoformat(), "cases": judged}, ensure_ascii=False))
            return 0
        print(f"as of {as_of.isoformat()} (China)")
        for case in judged:
            print(f"{case['case_id']}  {case['item']:<12} {case['state']}")
            for leg in case["legs"]:
                flags = " beyond legal limit" if leg["beyond_legal_limit"] else ""
                print(
                    f"  {leg['name']:<10} {leg['started']} → {leg['deadline']} "
                    f"({leg['working_days_allowed']}d, paused {leg['working_days_paused']}d) "
                    f"{leg['status']}{flags}"
                )
        return 0

    return _reading(args, read)


def _supervise_bodies(args: argparse.Namespace) -> int:
    as_of = parse_as_of(args.as_of)
    standard = parse_standard(args.service_standard)

    def read(app: LedgerApplication) -> int:
        cases, books = supervise_ledger(app, standard, as_of)
        rows = [row.as_dict() for row in figures(cases, as_of, books, by=args.by)]
        if args.json:
            print(json.dumps({"as_of": as_of.isoformat(), "by": args.by, "rows": rows}))
            return 0
        print(f"as of {as_of.isoformat()} (China), per {args.by}")
        for row in rows:
            rate = "-" if row["on_time_rate"] is None else f"{row['on_time_rate']:.0%}"
            median = row["median_handling_days"]
            print(
                f"{row['key']:<16} on time {rate:>5} of {row['legs_closed']} closed legs; "
                f"median {'-' if median is None else median} working days; "
                f"overdue now {row['overdue_now']} of {row['open_legs']} open"
            )
        return 0

    return _reading(args, read)


def _calendar_show(args: argparse.Namespace) -> int:
    def read(app: LedgerApplication) -> int:
        years = reading_registry(app).calendars.years(args.calendar_region)
        if args.year is not None:
            years = [y for y in years if y.year == args.year]
        shown = [{"region": y.region, **y.to_body()} for y in years]
        if args.json:
            print(json.dumps(shown, ensure_ascii=False))
        elif not shown:
            print("no calendar published (deadlines are provisional: weekends only)")
        for year in [] if args.json else shown:
            scope = ",".join(year["divisions"]) or "whole region"
            print(f"{year['region']} {year['year']} ({scope}): {len(year['holidays'])} holidays")
            print(f"  holidays: {' '.join(year['holidays'])}")
            print(f"  make-up workdays: {' '.join(year['workdays']) or '(none)'}")
        return 0

    return _reading(args, read)


def _year_to_publish(args: argparse.Namespace) -> CalendarYear:
    if args.divisions or args.holidays is not None:
        body: dict[str, Any] = {
            "year": args.year,
            "holidays": sorted(set(args.holidays or [])),
            "workdays": sorted(set(args.workdays or [])),
            "divisions": sorted(set(args.divisions or [])),
            "source": args.source,
        }
        return CalendarYear.from_body(args.calendar_region, body)
    return seed_year(args.calendar_region, args.year)


def _calendar_publish(args: argparse.Namespace) -> int:
    try:
        year = _year_to_publish(args)
    except CalendarError as error:
        return _fail(f"--{error.field}: {error}", EXIT_USAGE)
    except UnannouncedYear as error:
        return _fail(f"{error}; a year is published only once the State Council announced it")
    settings = _settings(args)
    root = read_key(args.root_key)
    app = open_ledger(settings)
    try:
        region = args.calendar_region
        if region not in app.registry.regions:
            return _fail(f"this node does not trust a root of region {region}")
        if root.key_id != app.registry.regions[region].root_kid:
            return _fail(f"{args.root_key} is not the current root key of region {region}")
        body = year.to_body()
        scope = ",".join(year.divisions) or "whole region"
        print(f"working-day calendar {region} {year.year} ({scope}), source {year.source!r}")
        print(f"  holidays ({len(body['holidays'])}): {' '.join(body['holidays'])}")
        print(f"  make-up workdays: {' '.join(body['workdays']) or '(none)'}")
        previous = app.registry.calendars.get(region, year.year, year.divisions)
        if previous is not None:
            print("  replaces the calendar published before for this year and scope")
        if not args.yes:
            if not sys.stdin.isatty():
                return _fail(
                    "not signed: confirmation needs a terminal; review the calendar above and "
                    "run again with --yes to sign it"
                )
            if input("sign with the region root and append? [y/N] ").strip().lower() not in {
                "y",
                "yes",
            }:
                print("not signed", file=sys.stderr)
                return EXIT_DECLINED
        appended = RegistryClerk(app, region).append(root, "calendar_published", body)
        print(json.dumps({"index": appended.index, "seq": appended.seq, "year": year.year}))
        return 0
    finally:
        app.close()


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="node data directory (TONGBAN_DATA_DIR)"
    )
    parser.add_argument("--region", default=None, help="this node's region (TONGBAN_REGION)")


def _judging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--as-of", default=None, help="judge at this date or instant (default now)")
    parser.add_argument(
        "--service-standard",
        default=None,
        help="the region's promised working days where the catalog sets none, e.g. "
        "check=1,mail=3,acceptance=5,decision=15,delivery=5 (these are the defaults)",
    )


def _iso_date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date (YYYY-MM-DD)") from None


def _supervise_group(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """The ``supervise`` group's sub-commands, created unless another module did."""
    existing = commands.choices.get("supervise")
    if existing is not None:
        for action in existing._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action
    group: argparse._SubParsersAction = commands.add_parser(  # type: ignore[type-arg]
        "supervise", help="supervision: deadlines, on-time figures per body and item"
    ).add_subparsers(dest="supervise_command", required=True)
    return group


def add_deadline_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``supervise cases|bodies`` and ``calendar publish|show``."""
    supervise = _supervise_group(commands)
    cases = supervise.add_parser(
        "cases", help="every case with its legs, deadlines and status (docs/supervision.md)"
    )
    _common(cases)
    _judging(cases)
    cases.add_argument(
        "--status",
        choices=("on_time", "due_soon", "overdue", "closed_on_time", "closed_late", "provisional"),
        help="only cases with a leg of this status",
    )
    cases.set_defaults(handler=_guarded(_supervise_cases))
    bodies = supervise.add_parser(
        "bodies", help="per body (or item): on-time rate, median handling days, overdue now"
    )
    _common(bodies)
    _judging(bodies)
    bodies.add_argument("--by", choices=("body", "item"), default="body")
    bodies.set_defaults(handler=_guarded(_supervise_bodies))

    calendar = commands.add_parser(
        "calendar", help="the region's signed working-day calendar (holidays, 调休)"
    ).add_subparsers(dest="calendar_command", required=True)
    show = calendar.add_parser("show", help="the calendar years published in this ledger")
    _common(show)
    show.add_argument("--calendar-region", default=None, help="only this region's years")
    show.add_argument("--year", type=int, default=None)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_guarded(_calendar_show))
    publish = calendar.add_parser(
        "publish",
        help="sign a year's calendar with the region root (seeded from the State Council's "
        "announcement, or a place's local holidays with --divisions)",
    )
    _common(publish)
    publish.add_argument("--calendar-region", required=True, help="the region, e.g. 510000")
    publish.add_argument("--year", type=int, required=True)
    publish.add_argument("--root-key", type=Path, required=True, help="the region root's key")
    publish.add_argument(
        "--divisions", nargs="+", default=None, help="local calendar: division codes it covers"
    )
    publish.add_argument("--holidays", nargs="*", type=_iso_date, default=None)
    publish.add_argument("--workdays", nargs="*", type=_iso_date, default=None)
    publish.add_argument("--source", default="", help="the announcement it follows")
    publish.add_argument("--yes", action="store_true", help="sign without asking")
    publish.set_defaults(handler=_guarded(_calendar_publish))
