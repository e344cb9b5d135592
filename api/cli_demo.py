"""``tongban demo``: build a demo node (never into a real node's directory)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from adapters.crypto_profile import PROFILE_ENV, ProfileMismatch, crypto_profile, profile_of_suite
from adapters.demo import DemoError, DemoSummary, build_demo
from adapters.settings import Settings
from api.cli_common import fail as _fail
from api.cli_common import guarded as _guarded
from ledger.suites import ED25519_SHA256, SOFTWARE_SIGNERS

EXIT_DECLINED = 1
DEFAULT_DEMO_DIR = Path("var/demo")
# Fields holding lists in the catalog; on the command line they are comma-separated.
_LIST_FIELDS = frozenset({"channels", "cooperating_units"})


# -- tongban demo ----------------------------------------------------------------------------


class _Progress:
    """``cases 500/1200 steps`` then ``bulk 5000/1000000 events`` on one stderr line each.

    The builder reports both phases through one callback; a count that starts again is the
    next phase.
    """

    PHASES = (("cases", "steps"), ("bulk", "events"))

    def __init__(self) -> None:
        self.phase = 0
        self.last = 0

    def __call__(self, done: int, total: int) -> None:
        if done <= self.last:
            self.phase = min(self.phase + 1, len(self.PHASES) - 1)
        self.last = done
        if done % 500 == 0 or done == total or done == 1:
            name, unit = self.PHASES[self.phase]
            end = "" if done < total else "\n"
            print(f"\r{name} {done}/{total} {unit}", end=end, file=sys.stderr, flush=True)


def _print_summary(summary: DemoSummary) -> None:
    print(f"demo node in {summary.data_dir} (ledger {summary.ledger}, seed {summary.seed})")
    print(
        f"{summary.cases} cases, {summary.events} signed steps, {summary.bodies} bodies, "
        f"{summary.officers} officers, {summary.registry_records} registry records"
    )
    print(f"time: {summary.as_dict()['first_time']} .. {summary.as_dict()['last_time']}")
    print("cases by channel/coordination:")
    for name, count in summary.combinations.items():
        print(f"  {name:<14} {count:>6}")
    print("steps by type:")
    for name, count in summary.step_types.items():
        print(f"  {name:<20} {count:>6}")
    print("cases by current state:")
    for name, count in summary.final_states.items():
        print(f"  {name:<20} {count:>6}")
    if summary.bulk is not None:
        bulk = summary.bulk
        print(
            f"bulk: {bulk.events} more signed steps in {bulk.cases} cases, "
            f"{bulk.seconds:.1f} s ({bulk.per_second:.0f}/s, "
            f"{bulk.events / max(bulk.commits, 1):.1f} per commit)"
        )
    if summary.missing_step_types:
        print(f"not shown with so few cases: {', '.join(summary.missing_step_types)}")
    print(f"demo keys (to sign more steps): {summary.data_dir / 'demo-keys'}/index.json")


def _demo_suite(chosen: str | None) -> str:
    """The demo's suite: ``--suite``, else the profile ``TONGBAN_CRYPTO_PROFILE`` names (the
    demo's own directory has no node.json yet), else Ed25519. A ``--suite`` of the other
    profile's keys is refused: the node would then be served under a profile it was not made in."""
    if PROFILE_ENV not in os.environ:
        return chosen or ED25519_SHA256
    wanted = crypto_profile(Settings()).key_suite
    if chosen is not None and chosen != wanted:
        raise ProfileMismatch(
            f"--suite {chosen} makes an {profile_of_suite(chosen)} demo node, but "
            f"{PROFILE_ENV}={os.environ[PROFILE_ENV]} makes {wanted} keys and would serve it as "
            f"such; give --suite {wanted}, or unset {PROFILE_ENV}"
        )
    return wanted


def _demo(args: argparse.Namespace) -> int:
    # TONGBAN_DATABASE_URL is honoured; the data directory is the demo's own, never
    # TONGBAN_DATA_DIR, so a node's configured directory is not the default target.
    database_url = Settings().database_url
    suite = _demo_suite(args.suite)
    try:
        summary = build_demo(
            args.data_dir,
            cases=args.cases,
            seed=args.seed,
            database_url=database_url,
            progress=_Progress() if args.progress or sys.stderr.isatty() else None,
            events=args.events,
            writers=args.writers,
            suite=suite,
        )
    except DemoError as error:
        return _fail(str(error))
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False, indent=1))
    else:
        _print_summary(summary)
    return 0


def add_demo_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``tongban demo``."""
    demo = commands.add_parser(
        "demo",
        help="build a demo node (fake keys, bodies, applicants and cases) in a DEMO directory",
        description="Build a deterministic demo node. Refuses any directory that is not a "
        "new, empty or DEMO-marked one: demo data never enters a real node.",
    )
    demo.add_argument("--cases", type=int, default=200, help="number of cases (default 200)")
    demo.add_argument("--seed", type=int, default=1, help="seed of keys and cases (default 1)")
    demo.add_argument(
        "--suite",
        choices=sorted(SOFTWARE_SIGNERS),
        default=None,
        help="suite of every demo key: ed25519-sha256, or sm2-sm3 for a guomi node "
        "(SM2/SM3 keys, SM4-GCM vault); default the one of TONGBAN_CRYPTO_PROFILE, else "
        "ed25519-sha256",
    )
    demo.add_argument(
        "--events",
        type=int,
        default=0,
        help="then append this many more signed steps through the append path, from "
        "--writers threads (scale tests: 1000000); default 0",
    )
    demo.add_argument(
        "--writers", type=int, default=8, help="concurrent writers of --events (default 8)"
    )
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DEMO_DIR,
        help=f"demo data directory (default {DEFAULT_DEMO_DIR})",
    )
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument(
        "--progress",
        action="store_true",
        help="show progress on stderr even when it is not a terminal (it is shown on one)",
    )
    demo.set_defaults(handler=_guarded(_demo))
