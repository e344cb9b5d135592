"""``tongban outbox run|status|replay`` and ``tongban platform-consumer run|replay-dead|status``.

The outbox publishes the node's ledger to NATS JetStream (``adapters/outbox.py``); the platform
consumer is the provincial platform's side, verifying and applying what it receives
(``adapters/platform.py``). Both run until SIGTERM or Ctrl-C, backing off while the broker is
away; ``docs/reporting.md`` describes the messages and ``docs/cli.md`` the exit codes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from adapters.bootstrap import open_ledger
from adapters.datadir import require_node
from adapters.keyfiles import read_trusted_roots
from adapters.outbox import (
    OutboxRelay,
    OutboxStatus,
    StreamNames,
    StreamSubjectsTaken,
    connect_nats,
    ensure_streams,
    outbox_status,
)
from adapters.outbox_store import open_outbox_store
from adapters.platform import DEFAULT_CONSUMER, DeadLetterForwarder, PlatformConsumer
from adapters.platform_store import open_platform_store
from adapters.settings import Settings
from api.cli_common import fail, guarded
from ledger.errors import reason_of


class MemoryPosition:
    """A replay's own position, in memory: replaying never moves the relay's stored one."""

    def __init__(self, start: int):
        self.position = start

    def published_up_to(self, stream: str) -> int:
        return self.position

    def advance(self, stream: str, expected: int, new: int) -> bool:
        self.position = new
        return True


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = args.data_dir
    if getattr(args, "nats", None):
        overrides["nats_url"] = args.nats
    return Settings(**overrides)


def _names(settings: Settings, args: argparse.Namespace) -> StreamNames:
    return StreamNames(settings.region, stream=args.stream or "")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0 seconds")
    return value


def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def _log_to_stderr() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="tongban: %(message)s")


def _print_status(status: OutboxStatus, as_json: bool) -> None:
    if as_json:
        print(json.dumps(status.to_dict()))
    else:
        print(
            f"stream {status.stream}: ledger head {status.head}, published up to "
            f"{status.published_up_to}, lag {status.lag}"
        )


async def _relay(args: argparse.Namespace, *, start: int | None) -> dict[str, Any]:
    settings = _settings(args)
    require_node(settings)
    names = _names(settings, args)
    ledger = open_ledger(settings, read_only=True)
    store = open_outbox_store(
        settings.resolved_database_url(), settings.data_dir, schema=settings.database_schema or None
    )
    nc = await connect_nats(settings.nats_url, name=f"tongban-outbox-{settings.region}")
    try:
        js = nc.jetstream()
        await ensure_streams(js, names, duplicate_window=args.duplicate_window)
        position: Any = store if start is None else MemoryPosition(start)
        relay = OutboxRelay(ledger, position, js, names, batch=args.batch)
        if start is None:
            _stop_on_signals(asyncio.get_running_loop(), relay.stop)
            logging.getLogger("tongban.outbox").info(
                "outbox: publishing %s to %s from index %d",
                ledger.ledger_name, names.stream, store.published_up_to(names.stream) + 1,
            )  # fmt: skip
        await relay.run(until_caught_up=start is not None)
        done = position.published_up_to(names.stream)
        return {"stream": names.stream, "up_to": done, "newly_stored": relay.published}
    finally:
        await nc.close()
        store.close()
        ledger.close()


def _outbox_run(args: argparse.Namespace) -> int:
    _log_to_stderr()
    asyncio.run(_relay(args, start=None))
    return 0


def _outbox_replay(args: argparse.Namespace) -> int:
    summary = asyncio.run(_relay(args, start=args.from_index - 1))
    print(json.dumps({"from": args.from_index, **summary}))
    return 0


def _outbox_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    require_node(settings)
    ledger = open_ledger(settings, read_only=True)
    store = open_outbox_store(
        settings.resolved_database_url(), settings.data_dir, schema=settings.database_schema or None
    )
    try:
        _print_status(outbox_status(ledger, store, _names(settings, args)), args.json)
    finally:
        store.close()
        ledger.close()
    return 0


# -- the platform's side ------------------------------------------------------------------


def _platform_store(args: argparse.Namespace) -> Any:
    if not args.database_url:
        args.store_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return open_platform_store(args.database_url or "", args.store_dir)


def _ledger_name(args: argparse.Namespace) -> str:
    return str(args.ledger or f"tongban/{args.region}")


async def _consume(args: argparse.Namespace, *, replay_dead: bool = False) -> dict[int, str]:
    # Every region in the file: a ledger holds other regions' key records and steps their
    # officers signed (a cross-province window), each checked from its own region's root.
    roots = read_trusted_roots(args.trust)
    if args.region not in roots:
        raise ValueError(f"--trust {args.trust} holds no root for region {args.region}")
    store = _platform_store(args)
    names = StreamNames(args.region, stream=args.stream or "")
    nc = await connect_nats(args.nats, name=f"tongban-platform-{args.region}")
    try:
        js = nc.jetstream()
        await ensure_streams(js, names)
        ledger = _ledger_name(args)
        consumer = PlatformConsumer(
            store, roots, js, nc, names, ledger_name=ledger,
            durable=args.durable, max_deliver=args.max_deliver, retry_delay=args.retry_delay,
        )  # fmt: skip
        if replay_dead:
            return await consumer.replay_dead()
        forwarder = DeadLetterForwarder(store, js, nc, names, ledger_name=ledger,
                                        durable=args.durable)  # fmt: skip
        _stop_on_signals(asyncio.get_running_loop(), consumer.stop)
        await forwarder.start()
        await consumer.run()
        return {}
    finally:
        await nc.close()
        store.close()


def _platform_run(args: argparse.Namespace) -> int:
    _log_to_stderr()
    asyncio.run(_consume(args))
    return 0


def _platform_replay_dead(args: argparse.Namespace) -> int:
    refused = asyncio.run(_consume(args, replay_dead=True))
    for index, reason in sorted(refused.items()):
        print(f"tongban: index {index} refused again: {reason}", file=sys.stderr)
    print(json.dumps({"refused_again": sorted(refused)}))
    return 1 if refused else 0


def _platform_status(args: argparse.Namespace) -> int:
    store = _platform_store(args)
    ledger = _ledger_name(args)
    try:
        known = store.ledgers()
        if known and ledger not in known:
            # A mistyped --region or --ledger read as "applied up to 0" looked like a stalled
            # consumer; say which ledgers this store does hold instead.
            held = ", ".join(known)
            message = f"no message of ledger {ledger} was applied here (this store holds: {held})"
            return fail(message)
        status = {
            "ledger": ledger,
            "applied_up_to": store.applied_up_to(ledger),
            "applied": store.count(ledger),
            "dead_letters": store.dead_letters(ledger),
        }
    finally:
        store.close()
    if args.json:
        print(json.dumps(status))
    else:
        print(
            f"{ledger}: applied up to {status['applied_up_to']} ({status['applied']} messages), "
            f"dead letters {status['dead_letters'] or 'none'}"
        )
    return 0


def _nats_errors(handler: Any) -> Any:
    """A broker that cannot be reached at start is exit 1, named, like an unreachable node."""

    def run(args: argparse.Namespace) -> int:
        import nats.errors

        try:
            code: int = handler(args)
            return code
        except StreamSubjectsTaken as error:
            return fail(f"--stream {error.stream}: {error}")
        except (nats.errors.NoServersError, ConnectionError, TimeoutError) as error:
            url = getattr(args, "nats", "") or f"{Settings().nats_url} (TONGBAN_NATS_URL)"
            return fail(f"cannot reach NATS at {url}: {reason_of(error)}", 1)

    return run


def add_outbox_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    outbox = commands.add_parser(
        "outbox", help="publish the ledger to NATS JetStream (docs/reporting.md)"
    ).add_subparsers(dest="outbox_command", required=True)
    run = outbox.add_parser("run", help="publish every index from the stored position on, for ever")
    replay = outbox.add_parser(
        "replay", help="publish again from --from N to the ledger's head (duplicates are refused)"
    )
    replay.add_argument("--from", dest="from_index", type=_positive, required=True, metavar="N")
    status = outbox.add_parser("status", help="ledger head, published-up-to and lag")
    status.add_argument("--json", action="store_true", help="one JSON object")
    for parser in (run, replay, status):
        parser.add_argument("--data-dir", type=Path, default=None, help="data directory")
        parser.add_argument("--stream", default="", help="stream name (TONGBAN_<region>)")
    for parser in (run, replay):
        parser.add_argument("--nats", default="", help="NATS URL (TONGBAN_NATS_URL)")
        parser.add_argument("--batch", type=_positive, default=500, help="indexes per batch")
        parser.add_argument(
            "--duplicate-window", type=_seconds, default=120.0,
            help="the stream's duplicate window in seconds; deduplication does not rely on it",
        )  # fmt: skip
    run.set_defaults(handler=guarded(_nats_errors(_outbox_run)))
    replay.set_defaults(handler=guarded(_nats_errors(_outbox_replay)))
    status.set_defaults(handler=guarded(_outbox_status))

    platform = commands.add_parser(
        "platform-consumer", help="the platform's side: verify and apply a region's reports"
    ).add_subparsers(dest="platform_command", required=True)
    consume = platform.add_parser("run", help="consume, verify and apply, for ever")
    again = platform.add_parser(
        "replay-dead", help="verify and apply the dead letters again (after fixing --trust)"
    )
    show = platform.add_parser("status", help="applied-up-to, count and dead letters")
    show.add_argument("--json", action="store_true", help="one JSON object")
    for parser in (consume, again, show):
        parser.add_argument("--store-dir", type=Path, required=True, help="the platform's store")
        parser.add_argument("--database-url", default="", help="PostgreSQL instead of SQLite")
        parser.add_argument("--region", required=True, help="the reporting region (GB/T 2260)")
        parser.add_argument("--ledger", default="", help="its ledger name (tongban/<region>)")
    for parser in (consume, again):
        parser.add_argument(
            "--trust", type=Path, required=True,
            help="trust.json: the root of every region whose officers sign in this ledger",
        )  # fmt: skip
        parser.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS URL")
        parser.add_argument("--stream", default="", help="stream name (TONGBAN_<region>)")
        parser.add_argument("--durable", default=DEFAULT_CONSUMER, help="durable consumer name")
        parser.add_argument(
            "--max-deliver", type=_positive, default=5, help="tries, then dead letter"
        )
        parser.add_argument(
            "--retry-delay", type=_seconds, default=1.0, help="seconds before a retry"
        )
    again.set_defaults(handler=guarded(_nats_errors(_platform_replay_dead)))
    consume.set_defaults(handler=guarded(_nats_errors(_platform_run)))
    show.set_defaults(handler=guarded(_platform_status))
