"""``tongban relay deliver | status | add-peer`` and ``tongban monitor`` (docs/relay.md).

They work on the node's data directory, like ``witness push``: ``deliver`` sends the steps
still queued for their home nodes now (the server does it every ``relay_deliver_seconds``),
``status`` lists the relayed steps and where they stand, ``add-peer`` names another region's
node (its ledger, URL and node key) in ``peers.json``. ``monitor`` reconciles the home
receipts held with each home ledger (``adapters.monitor``): exit 0 when every receipt is
proven or pending, 1 with findings (each with its evidence in ``--json``) or a peer that
cannot be reached.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adapters.bootstrap import NodeServices, open_services
from adapters.datadir import require_node
from adapters.monitor import monitor_peers
from adapters.relay import relay_outcome
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
        settled = node.relay.deliver()
        remirrored = node.relay.remirror()
        assert node.relays is not None
        left = node.relays.steps(state="queued")
    print(
        json.dumps(
            {
                "delivered": [relay_outcome(step) for step in settled],
                "still_queued": len(left),
                "mirrored_again": len(remirrored),
            },
            indent=1,
        )
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    if args.state is not None and args.state not in STATES:
        return fail(f"--state is one of {', '.join(STATES)}")
    with _services(args) as node:
        assert node.relays is not None
        steps = node.relays.steps(state=args.state)
    if args.json:
        print(json.dumps({"steps": [relay_outcome(s) for s in steps]}, indent=1))
        return 0
    for step in steps:
        where = ""
        if step.state == "accepted":
            where = f"home index {step.home_index}"
        elif step.state == "conflict":
            where = f"home head is seq {step.home_head_seq}: {step.detail}"
        elif step.detail:
            where = step.detail
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
    with _services(args) as node:
        reports = monitor_peers(node.relay)
    findings = sum(len(r.findings) for r in reports)
    unreachable = [r.peer for r in reports if r.unreachable]
    if args.json:
        print(json.dumps({"peers": [r.as_dict() for r in reports]}, ensure_ascii=False, indent=1))
    else:
        if not reports:
            print("no home receipts held: nothing to reconcile")
        for report in reports:
            if report.unreachable:
                where = f"unreachable: {report.unreachable}"
            elif report.checkpoint_size is None:
                where = "no checkpoint from the home node yet"
            else:
                where = f"checkpoint size {report.checkpoint_size}"
            print(
                f"{report.peer}: {report.receipts} receipts: {report.proven} proven, "
                f"{report.pending} pending, {report.failed} failed, {report.unchecked} "
                f"unchecked; {len(report.findings)} findings ({where})"
            )
            if report.uncosigned:
                print(f"  uncosigned: {report.uncosigned}")
            for finding in report.findings:
                at = f" case {finding.case_id} seq {finding.seq}" if finding.case_id else ""
                print(f"  {finding.kind}{at}: {finding.detail}")
    # A home node that stays unreachable must not pass a cron'd monitor unnoticed.
    return 1 if findings or unreachable else 0


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
    monitor.set_defaults(handler=guarded(_monitor))
