"""The outbox relay: every ledger index, in order, to NATS JetStream (docs/reporting.md §1).

The ledger index is the outbox: the relay reads the objects after its stored position
(``adapters.outbox_store``), builds each index's message (``ledger.reporting``), publishes the
batch pipelined, waits for every acknowledgement and only then moves its position, in its own
transaction. A crash between the publish and the move publishes those indexes again.

Deduplication does not depend on JetStream's ``duplicate_window``: each index has its own
subject, ``<prefix>.<index>``, on a stream with ``max_msgs_per_subject=1`` and
``discard_new_per_subject``, so the server refuses a second message on an index's subject for
as long as the stream keeps the first (err_code 10077, read here as "already published"), two
minutes or two years later. Broker errors back off (0.1 s doubling to 10 s) and retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from adapters.outbox_store import OutboxPositionStore
from ledger.application import LedgerApplication
from ledger.errors import reason_of
from ledger.reporting import ReportBuilder, ReportMessage

log = logging.getLogger("tongban.outbox")

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
#: The server's answer to a second message on a subject that allows one (discard new per subject).
ALREADY_PUBLISHED = 10077
MAX_BACKOFF = 10.0


@dataclass(frozen=True)
class StreamNames:
    """Where a ledger's messages go: one stream, one subject per index, a dead-letter stream."""

    region: str
    stream: str = ""
    prefix: str = ""
    dead_prefix: str = ""

    def __post_init__(self) -> None:
        if not self.stream:
            object.__setattr__(self, "stream", f"TONGBAN_{self.region}")
        if not self.dead_prefix:  # a stream of another prefix has its own dead letters
            dead = f"{self.prefix}.dead" if self.prefix else f"tongban.deadletter.{self.region}"
            object.__setattr__(self, "dead_prefix", dead)
        if not self.prefix:
            object.__setattr__(self, "prefix", f"tongban.ledger.{self.region}")

    def subject(self, index: int) -> str:
        return f"{self.prefix}.{index}"

    @property
    def dead_letter_stream(self) -> str:
        return f"{self.stream}_DLQ"

    def dead_letter_subject(self, index: int) -> str:
        return f"{self.dead_prefix}.{index}"


async def ensure_streams(js: Any, names: StreamNames, *, duplicate_window: float = 120.0) -> None:
    """Create (or update to) the report stream and its dead-letter stream, both one message
    per subject with new ones refused. Needs nats-server 2.9 or later."""
    from nats.js.api import DiscardPolicy, StorageType, StreamConfig

    for stream, subjects in (
        (names.stream, [f"{names.prefix}.*"]),
        (names.dead_letter_stream, [f"{names.dead_prefix}.*"]),
    ):
        config = StreamConfig(
            name=stream,
            subjects=subjects,
            storage=StorageType.FILE,
            max_msgs_per_subject=1,
            discard=DiscardPolicy.NEW,
            discard_new_per_subject=True,
            duplicate_window=duplicate_window,
        )
        try:
            await js.add_stream(config)
        except Exception as error:  # exists with another config: bring it to this one
            code = getattr(error, "err_code", None)
            if code == SUBJECTS_OVERLAP:
                owner = await _stream_holding(js, subjects[0])
                raise StreamSubjectsTaken(stream, subjects[0], owner) from None
            if code != 10058:
                raise
            await js.update_stream(config)


SUBJECTS_OVERLAP = 10065  # JetStream: "subjects overlap with an existing stream"


class StreamSubjectsTaken(ValueError):
    """Another stream on the broker already takes this region's subjects: the stream name
    does not change the subjects, so a region has one report stream per broker."""

    def __init__(self, stream: str, subjects: str, owner: str):
        held = f"stream {owner}" if owner else "another stream"
        super().__init__(
            f"cannot make stream {stream}: its subjects {subjects} already belong to {held} "
            "on this broker (the stream name does not change the subjects; one stream per "
            "region and broker)"
        )
        self.stream = stream
        self.owner = owner


async def _stream_holding(js: Any, subjects: str) -> str:
    try:
        return str(await js.find_stream_name_by_subject(subjects))
    except Exception:  # only for the message: the refusal stands without the name
        return ""


class PublishRefused(RuntimeError):
    """The server refused an index's message for another reason than already holding it."""

    def __init__(self, index: int, error: dict[str, Any]):
        super().__init__(f"index {index} refused: {error.get('description', error)}")
        self.index = index


def is_already_published(error: BaseException) -> bool:
    return getattr(error, "err_code", None) == ALREADY_PUBLISHED


@dataclass(frozen=True)
class OutboxStatus:
    stream: str
    head: int  # the ledger's highest index
    published_up_to: int

    @property
    def lag(self) -> int:
        """Indexes accepted by the ledger and not yet known to be in the stream."""
        return max(0, self.head - self.published_up_to)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "head": self.head,
            "published_up_to": self.published_up_to,
            "lag": self.lag,
        }


def outbox_status(
    ledger: LedgerApplication, store: OutboxPositionStore, names: StreamNames
) -> OutboxStatus:
    """The relay's lag (for ``tongban outbox status`` and a metrics endpoint)."""
    return OutboxStatus(names.stream, ledger.store.max_index(), store.published_up_to(names.stream))


def outbox_lag(ledger: LedgerApplication, store: OutboxPositionStore, names: StreamNames) -> int:
    """The lag metric: ledger head minus published-up-to."""
    return outbox_status(ledger, store, names).lag


def report_builder(ledger: LedgerApplication) -> ReportBuilder:
    def history(case_id: Any) -> list[bytes]:
        return [entry.envelope for entry in ledger.stream_entries(case_id)]

    return ReportBuilder(ledger.ledger_name, history)


class OutboxRelay:
    """Publishes the ledger from its stored position on; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        ledger: LedgerApplication,
        store: OutboxPositionStore,
        js: Any,
        names: StreamNames,
        *,
        batch: int = 500,
        poll: float = 0.2,
        ack_timeout: float = 10.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ):
        self.ledger = ledger
        self.store = store
        self.js = js
        self.names = names
        self.batch = batch
        self.poll = poll
        self.ack_timeout = ack_timeout
        self.sleep = sleep
        self.builder = report_builder(ledger)
        self.stop = asyncio.Event()
        self.published = 0  # messages newly stored by the server in this run

    async def publish(self, messages: Sequence[ReportMessage]) -> None:
        """Publish ``messages`` in order, pipelined; return once the server holds every one.

        Published on the core connection in index order with a reply subject per index, then
        every acknowledgement awaited (nats-py's ``publish_async`` leaves an error answer's
        future unresolved, so the acknowledgements are read here)."""
        acks = await self._acks(messages)
        for message in messages:
            answer = acks[message.index]
            error = answer.get("error")
            if error is None:
                self.published += 1
            elif error.get("err_code") != ALREADY_PUBLISHED:
                raise PublishRefused(message.index, error)

    async def _acks(self, messages: Sequence[ReportMessage]) -> dict[int, dict[str, Any]]:
        nc = self.js._nc
        inbox = nc.new_inbox()
        acks: dict[int, dict[str, Any]] = {}
        all_in = asyncio.Event()

        async def answered(msg: Any) -> None:
            try:
                index = int(msg.subject.rsplit(".", 1)[1])
                # An empty answer is a status (503: no stream listens on the subject).
                acks[index] = json.loads(msg.data) if msg.data else {"error": {"code": 503}}
            except ValueError:
                return
            if len(acks) == len(messages):
                all_in.set()

        subscription = await nc.subscribe(f"{inbox}.*", cb=answered)
        try:
            for message in messages:
                await nc.publish(
                    self.names.subject(message.index), message.to_bytes(),
                    reply=f"{inbox}.{message.index}",
                )  # fmt: skip
            await asyncio.wait_for(all_in.wait(), timeout=self.ack_timeout)
        finally:
            await subscription.unsubscribe()
        return acks

    async def step(self) -> int:
        """Publish the next batch after the stored position; how many indexes it moved."""
        position = await asyncio.to_thread(self.store.published_up_to, self.names.stream)
        entries = await asyncio.to_thread(self.ledger.entries_after, position, self.batch)
        if not entries:
            return 0
        messages = await asyncio.to_thread(lambda: [self.builder.message(e) for e in entries])
        await self.publish(messages)
        moved = await asyncio.to_thread(
            self.store.advance, self.names.stream, position, entries[-1].index
        )
        if not moved:
            log.warning("outbox position moved by another relay; reloading")
        return len(entries)

    async def run(self, *, until_caught_up: bool = False) -> None:
        """Follow the ledger; back off on broker errors. ``until_caught_up``: return once the
        position reached the ledger's head (``tongban outbox replay``)."""
        backoff = 0.1
        while not self.stop.is_set():
            try:
                moved = await self.step()
            except Exception as error:
                if isinstance(error, asyncio.CancelledError):
                    raise
                reason = reason_of(error)
                log.warning("outbox: broker or store error, retrying in %.1fs: %s", backoff, reason)
                await self.sleep(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
                continue
            backoff = 0.1
            if moved == 0:
                if until_caught_up:
                    return
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=self.poll)


async def connect_nats(url: str, *, name: str) -> Any:
    """A NATS connection that reconnects for ever (the relay waits out a broker restart)."""
    import nats

    # nats-py would try a missing server for ever (max_reconnect_attempts also bounds the
    # first connect): a broker that is not there at start is an error the caller reports.
    parsed = urlparse(url)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(parsed.hostname or "127.0.0.1", parsed.port or 4222), 5
        )
    except (TimeoutError, OSError) as error:
        raise ConnectionError(str(error) or "no answer in 5 s") from None
    writer.close()

    async def quiet(error: Exception) -> None:
        log.info("nats: %s", reason_of(error))

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=quiet,
        pending_size=64 * 1024 * 1024,
    )
