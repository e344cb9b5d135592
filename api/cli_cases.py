"""``tongban case show`` and ``tongban report bodies``: reading the ledger for people.

Both open the node read-only (no node key is created) and print :mod:`ledger.reports`, whose
docstring defines every figure (receipt time, status, holding time, open cases).
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from api.cli_catalog import display_width
from api.cli_client import add_client_commands
from api.cli_common import EXIT_USAGE, read_ledger
from api.cli_common import fail as _fail
from api.cli_common import guarded as _guarded
from api.cli_ledger import _settings
from api.cli_readmodels import following
from ledger.application import LedgerApplication
from ledger.case_listing import CaseQuery
from ledger.errors import UnknownCase
from ledger.read_models import LedgerFollower, ProjectedCaseListing
from ledger.reports import BodyActivity, BodyRef, CaseTimeline, body_report, case_timeline
from ledger.workflow import START, STATES

EXIT_UNKNOWN_CASE = 1
# Cross-province cases are read in China: receipt times are shown in UTC and Beijing time.
BEIJING = timezone(timedelta(hours=8))


def duration(seconds: float) -> str:
    """A short human duration: ``850ms``, ``42s``, ``5m03s``, ``2h15m``, ``3d04h``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def _body(ref: BodyRef) -> str:
    return f"{ref.name} ({ref.body_id})" if ref.name else ref.body_id


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(display_width(row[c]) for row in rows) for c in range(len(rows[0]))]
    return ["  ".join(_pad(cell, widths[c]) for c, cell in enumerate(row)).rstrip() for row in rows]


def format_timeline(timeline: CaseTimeline) -> str:
    """The timeline as a newcomer reads it: a header, then one line per step."""
    closed = " (closed)" if timeline.closed else ""
    lines = [
        f"case     {timeline.case_id}",
        f"item     {timeline.item_key} {timeline.item_name}".rstrip(),
        f"channel  {timeline.channel}, {timeline.coordination}",
        f"state    {timeline.state}{closed}",
        f"home     {_body(timeline.home_body)}",
    ]
    if timeline.window_body is not None:
        lines.append(f"window   {_body(timeline.window_body)}")
    if timeline.origin_bodies:
        lines.append(f"origins  {', '.join(_body(b) for b in timeline.origin_bodies)}")
    lines.append("")
    rows: list[tuple[str, ...]] = [
        ("seq", "received (UTC)", "(+08:00)", "since", "step", "body", "officer", "status")
    ]
    for step in timeline.steps:
        moment = datetime.fromisoformat(step.received_at)
        rows.append(
            (
                str(step.seq),
                moment.strftime("%Y-%m-%d %H:%M:%S"),
                moment.astimezone(BEIJING).strftime("%m-%d %H:%M"),
                "" if step.since_previous is None else f"+{duration(step.since_previous)}",
                step.step,
                _body(step.body),
                step.officer_id,
                step.status,
            )
        )
    lines += _table(rows)
    for finding in timeline.other_findings:
        lines.append(f"finding  {finding}")
    verdict = "every step verifies" if timeline.valid else "AUDIT FINDINGS (see status)"
    lines.append(f"\n{len(timeline.steps)} steps; {verdict}")
    return "\n".join(lines)


def format_bodies(activities: list[BodyActivity]) -> str:
    """One line per body: steps taken, cases held and for how long, open cases."""
    if not activities:
        return "no case steps in this ledger"
    rows: list[tuple[str, ...]] = [("body", "name", "steps", "held", "holding", "open")]
    for activity in activities:
        rows.append(
            (
                activity.body.body_id,
                activity.body.name,
                str(activity.steps_total),
                str(activity.cases_held),
                duration(activity.holding_seconds),
                str(len(activity.open_cases)),
            )
        )
    lines = _table(rows)
    lines.append("")
    for activity in activities:
        taken = ", ".join(f"{step} {n}" for step, n in activity.steps.items()) or "none"
        lines.append(f"{activity.body.body_id}: {taken}")
        for case_id in activity.open_cases:
            lines.append(f"  open {case_id}")
    lines.append(
        "\nheld: cases it held; holding: time it held them, receipt to receipt (not in the post);"
        " open: open cases where it must act next"
    )
    return "\n".join(lines)


def _reading(args: argparse.Namespace, read: Callable[[LedgerApplication], int]) -> int:
    return read_ledger(_settings(args), read)


def _case_show(args: argparse.Namespace) -> int:
    try:
        case_id = uuid.UUID(args.case)
    except ValueError:
        return _fail(f"{args.case!r} is not a case id (UUID)", EXIT_USAGE)

    def show(app: LedgerApplication) -> int:
        try:
            timeline = case_timeline(app, case_id)
        except UnknownCase:
            return _fail(f"no case {case_id} in this ledger", EXIT_UNKNOWN_CASE)
        if args.json:
            print(json.dumps(timeline.as_dict(), ensure_ascii=False, indent=1))
        else:
            print(format_timeline(timeline))
        return 0

    return _reading(args, show)


def _case_list(args: argparse.Namespace) -> int:
    def listing(app: LedgerApplication, follower: LedgerFollower) -> int:
        listed = ProjectedCaseListing(follower).list_cases(CaseQuery(state=args.state))
        cases = [
            {
                "case_id": str(summary.case_id),
                "state": summary.state,
                "item": summary.item,
                "channel": summary.channel,
                "home_body": summary.home_body,
            }
            for summary in listed.cases
        ]
        if args.json:
            print(json.dumps(cases, ensure_ascii=False, indent=1))
        else:
            for case in cases:
                print(
                    f"{case['case_id']}  {case['state']:<18} {case['item']:<12} "
                    f"{case['channel']:<7} {case['home_body']}"
                )
        return 0

    return following(args, listing)


def _report_bodies(args: argparse.Namespace) -> int:
    def report(app: LedgerApplication) -> int:
        activities = body_report(app)
        if args.json:
            print(json.dumps([a.as_dict() for a in activities], ensure_ascii=False, indent=1))
        else:
            print(format_bodies(activities))
        return 0

    return _reading(args, report)


def add_case_commands(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """Add ``case show`` and ``report bodies`` to the ``tongban`` parser; return the ``case``
    group (``api.cli_supervise`` adds ``case rate`` to it)."""

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--data-dir", type=Path, default=None, help="node data directory (TONGBAN_DATA_DIR)"
        )
        parser.add_argument("--region", default=None, help="this node's region (TONGBAN_REGION)")
        parser.add_argument("--json", action="store_true", help="print JSON")

    case: argparse._SubParsersAction = commands.add_parser(  # type: ignore[type-arg]
        "case", help="read one case"
    ).add_subparsers(dest="case_command", required=True)
    show = case.add_parser(
        "show", help="a case's timeline: every step, who took it, when, and whether it verifies"
    )
    show.add_argument("case", help="the case id (UUID)")
    common(show)
    show.set_defaults(handler=_guarded(_case_show))
    listing = case.add_parser("list", help="every case in ledger order: id, state, item")
    listing.add_argument(
        "--state",
        choices=[state for state in STATES if state != START],
        metavar="STATE",
        help="only cases in this workflow state (docs/workflows.md)",
    )
    common(listing)
    listing.set_defaults(handler=_guarded(_case_list))
    add_client_commands(case)

    report = commands.add_parser("report", help="reports over the whole ledger").add_subparsers(
        dest="report_command", required=True
    )
    bodies = report.add_parser(
        "bodies", help="per body: steps taken, cases held and for how long, open cases"
    )
    common(bodies)
    bodies.set_defaults(handler=_guarded(_report_bodies))
    return case
