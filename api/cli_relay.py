"""``tongban relay deliver | status | drop | add-peer`` and ``tongban monitor [status]``
(docs/relay.md).

They work on the node's data directory, like ``witness push``: ``deliver`` sends the steps
still queued for their home nodes now, and those held after an authentication refusal (the
server sends the queued ones every ``relay_deliver_seconds``), ``status`` lists the relayed
steps and where they stand, ``drop`` gives a waiting step up (its applicant is erased),
``add-peer`` names another region's node (its ledger, URL and node key) in ``peers.json``.
``monitor`` reconciles the home receipts held with each home ledger (``adapters.monitor``),
once or ``--every`` seconds, and keeps each run: exit 0 when every receipt is proven or
pending, 1 with findings (each with its evidence in ``--json``) or a peer that cannot be
reached or refuses this node. ``monitor status`` shows the last run kept (by this command or
the server's monitor thread), with the same exit codes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from adapters.bootstrap import NodeServices, open_services
from adapters.datadir import require_node
from adapters.monitor import last_monitor_run, monitor_run
from adapters.relay_peers import PeerConfigError, PeerNode, save_peer
from adapters.relay_store import STATES
from adapters.settings import Settings
from api.cli_common import fail, guarded, iso_time
from ledger.envelope import ledger_region


def _settings(args: argparse.Namespace) -> Settings:
    """The node's settings; a directory ``tongban init`` did not make is refused (64), as
    ``serve`` refuses it, rather than made into an empty node reporting all clear."""
    settings = Settings(data_dir=args.data_dir) if args.data_dir is not None else Settings()
    require_node(settings)
    return settings


@contextmanager
def _services(args: argparse.Namespace) -> Iterator[NodeServices]:
    services = open_services(_settings(args))
    try:
        yield services
    finally:
        services.close()
        services.ledger.close()


def _deliver(args: argparse.Namespace) -> int:
    with _services(args) as node:
        settled = node.relay.deliver(held=True)
        remirrored = node.relay.remirror()
        assert node.relays is not None
        left = node.relays.steps(state="queued")
        held = node.relays.steps(state="held")
        document = {
            "delivered": [node.relay.outcome(step) for step in settled],
            "still_queued": len(left),
            "held": len(held),
            "mirrored_again": len(remirrored),
        }
    print(json.dumps(document, indent=1))
    for step in held[:1]:  # one reason is enough: they share it
        print(f"tongban: {len(held)} steps held: {step.detail}", file=sys.stderr)
    return 0


def _drop(args: argparse.Namespace) -> int:
    try:
        event_hash = bytes.fromhex(args.event)
    except ValueError:
        return fail(f"--event is a relayed step's event_hash (hex), not {args.event!r}")
    if not args.reason.strip():
        return fail("--reason says why the step is given up (kept in its row)")
    with _services(args) as node:
        step = node.relay.drop(event_hash, args.reason.strip())
        if step is None:
            assert node.relays is not None
            found = node.relays.get(event_hash)
            if found is None:
                return fail(f"no relayed step {args.event} (tongban relay status --json)")
            return fail(f"the step is {found.state}, not waiting: only a queued or held step drops")
        print(json.dumps(node.relay.outcome(step), indent=1))
    return 0


def _status(args: argparse.Namespace) -> int:
    if args.state is not None and args.state not in STATES:
        return fail(f"--state is one of {', '.join(STATES)}")
    with _services(args) as node:
        assert node.relays is not None
        steps = node.relays.steps(state=args.state)
        rows = [node.relay.outcome(s) for s in steps]
    if args.json:
        print(json.dumps({"steps": rows}, indent=1))
        return 0
    for step, row in zip(steps, rows, strict=True):
        where = ""
        if step.state == "accepted":
            where = f"home index {step.home_index}"
        elif step.state == "conflict":
            where = f"home head is seq {step.home_head_seq}: {step.detail}"
        elif step.detail:
            where = step.detail
        if row["applicant_here"] is not None:
            where = f"(applicant {row['applicant_here']} here) {where}"
        print(
            f"{step.state:8} {step.home_ledger} {step.case_id} seq {step.seq} {step.step} "
            f"by {step.body} at {iso_time(step.relayed_at)} {where}".rstrip()
        )
    counts = {state: sum(s.state == state for s in steps) for state in STATES}
    print(", ".join(f"{n} {state}" for state, n in counts.items()))
    return 0


def _add_peer(args: argparse.Namespace) -> int:
    settings = _settings(args)
    own = settings.resolved_ledger_name()
    if args.ledger != f"tongban/{ledger_region(args.ledger)}":
        return fail(f"--ledger is the peer's ledger, tongban/<region>, not {args.ledger!r}")
    if args.ledger == own:
        return fail(f"--ledger {args.ledger} is this node's own ledger: name the other node's")
    if not args.url.startswith(("http://", "https://")):
        return fail(f"--url is the peer's base URL, http(s)://host[:port], not {args.url!r}")
    try:
        port = urlsplit(args.url).port
    except ValueError:
        return fail(f"--url {args.url!r}: its port is not a number from 1 to 65535")
    if port == 0:
        return fail(
            f"--url {args.url!r}: port 0 is no address (a node asked to serve on --port 0 "
            "listens on another port, and a new one at each start): serve the peer on a fixed "
            "port and give that"
        )
    try:
        key = bytes.fromhex(args.key)
    except ValueError:
        return fail("--key is the peer's node public key in hex (64 hex digits)")
    if len(key) != 32:
        return fail(f"--key is 64 hex digits (an Ed25519 node key), not {len(args.key)}")
    document: dict[str, Any] = {"ledger": args.ledger, "url": args.url, "public_key": args.key}
    try:
        path = save_peer(settings.data_dir, PeerNode(args.ledger, args.url, key))
    except PeerConfigError as error:
        return fail(str(error))
    print(json.dumps({"peers_file": str(path), **document}))
    return 0


def _monitor(args: argparse.Namespace) -> int:
    if args.every is not None and args.every <= 0:
        return fail("--every is the seconds between two runs, more than 0")
    if args.runs is not None and (args.every is None or args.runs < 1):
        return fail("--runs N (1 or more) goes with --every: stop after N runs")
    with _services(args) as node:
        done = 0
        while True:
            run = monitor_run(node.relay)
            done += 1
            _print_run(run.as_dict(), args.json, periodic=args.every is not None)
            if args.every is None or (args.runs is not None and done >= args.runs):
                break
            time.sleep(args.every)
    # A home node that stays unreachable must not pass a cron'd monitor unnoticed.
    return 1 if run.alert else 0


def _print_run(run: dict[str, Any], as_json: bool, *, periodic: bool) -> None:
    if as_json:
        # One JSON object per line when periodic (a stream a program follows).
        print(json.dumps(run, ensure_ascii=False, indent=None if periodic else 1), flush=True)
        return
    reports: list[dict[str, Any]] = run["peers"]
    if periodic:
        print(f"{run['checked_at']}: {'ALERT' if run['alert'] else 'all clear'}")
    if not reports:
        print("no home receipts held: nothing to reconcile")
    for report in reports:
        if report["unauthenticated"]:
            where = f"authentication refused: {report['unauthenticated']}"
        elif report["unreachable"]:
            where = f"unreachable: {report['unreachable']}"
        elif report["checkpoint_size"] is None:
            where = "no checkpoint from the home node yet"
        else:
            where = f"checkpoint size {report['checkpoint_size']}"
        print(
            f"{report['peer']}: {report['receipts']} receipts: {report['proven']} proven, "
            f"{report['pending']} pending, {report['failed']} failed, {report['unchecked']} "
            f"unchecked; {len(report['findings'])} findings ({where})"
        )
        if report["uncosigned"]:
            print(f"  uncosigned: {report['uncosigned']}")
        for finding in report["findings"]:
            at = f" case {finding['case_id']} seq {finding['seq']}" if finding["case_id"] else ""
            print(f"  {finding['kind']}{at}: {finding['detail']}")
    sys.stdout.flush()


def _monitor_status(args: argparse.Namespace) -> int:
    with _services(args) as node:
        last = last_monitor_run(node.relay)
    if last is None:
        print(
            "tongban: the monitor has not run yet: `tongban monitor`, `tongban monitor --every "
            "SECONDS`, or serve with TONGBAN_MONITOR_SECONDS",
            file=sys.stderr,
        )
        return 1
    if not args.json:
        print(f"last run {last['checked_at']}: {'ALERT' if last['alert'] else 'all clear'}")
    _print_run(last, args.json, periodic=False)
    return 1 if last["alert"] else 0


def add_relay_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    relay = commands.add_parser("relay", help="steps relayed to other regions' nodes")
    actions = relay.add_subparsers(dest="relay_command", required=True)

    def data_dir(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--data-dir", type=Path, default=None, help="node data directory (TONGBAN_DATA_DIR)"
        )

    deliver = actions.add_parser("deliver", help="deliver the queued steps now")
    data_dir(deliver)
    deliver.set_defaults(handler=guarded(_deliver))

    status = actions.add_parser("status", help="the relayed steps and where they stand")
    data_dir(status)
    status.add_argument("--state", default=None, help=f"only one of {', '.join(STATES)}")
    status.add_argument("--json", action="store_true", help="JSON instead of lines")
    status.set_defaults(handler=guarded(_status))

    drop = actions.add_parser(
        "drop", help="give a queued or held step up (never delivered; its applicant erased)"
    )
    data_dir(drop)
    drop.add_argument("--event", required=True, help="the step's event_hash (relay status)")
    drop.add_argument("--reason", required=True, help="why (kept in the step's row)")
    drop.set_defaults(handler=guarded(_drop))

    add_peer = actions.add_parser("add-peer", help="name another region's node (peers.json)")
    data_dir(add_peer)
    add_peer.add_argument("--ledger", required=True, help="its ledger, e.g. tongban/510000")
    add_peer.add_argument("--url", required=True, help="its base URL")
    add_peer.add_argument("--key", required=True, help="its node public key, hex")
    add_peer.set_defaults(handler=guarded(_add_peer))

    monitor = commands.add_parser(
        "monitor", help="reconcile the home receipts held with each home ledger's checkpoints"
    )
    data_dir(monitor)
    monitor.add_argument("--json", action="store_true", help="the report as JSON (evidence too)")
    monitor.add_argument(
        "--every", type=float, default=None, help="run again every SECONDS (until Ctrl-C)"
    )
    monitor.add_argument("--runs", type=int, default=None, help="with --every: stop after N runs")
    monitor.set_defaults(handler=guarded(_monitor))
    shown = monitor.add_subparsers(dest="monitor_command", required=False)
    last = shown.add_parser("status", help="the monitor's last run, as kept (exit 1: an alert)")
    # SUPPRESS: the parent's --data-dir/--json stand when these are not given here.
    last.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help="node data dir")
    last.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="as JSON")
    last.set_defaults(handler=guarded(_monitor_status))
