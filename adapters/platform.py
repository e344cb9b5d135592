"""The platform side: a durable JetStream consumer that verifies and applies report messages.

``tongban platform-consumer`` runs it. Messages come in stream order (index order, as the relay
publishes them); each is verified (``ledger.report_verify``: receipt, node key, officer key,
record) and applied by ledger index into the platform's own store (``adapters.platform_store``)
with the applied-up-to position in the same transaction, and only then acknowledged. A crash
before the ack redelivers the message; the store ignores an index it holds, so the effect is
once. A message that fails verification is not acknowledged (``nak`` with a delay): after
``max_deliver`` tries JetStream publishes a max-deliveries advisory
(``$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>``); the dead-letter forwarder
here copies that message to the dead-letter subject of its index (a stream that keeps one
message per subject) and notes it in the store.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from adapters.outbox import StreamNames, ensure_streams, is_already_published
from adapters.platform_store import PlatformStore
from ledger.errors import LedgerError, reason_of
from ledger.report_verify import ReportVerifier
from ledger.reporting import parse_report

log = logging.getLogger("tongban.platform")

DEFAULT_CONSUMER = "platform"


def max_deliveries_subject(names: StreamNames, durable: str) -> str:
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{names.stream}.{durable}"


class PlatformConsumer:
    """Verifies and applies one region's messages; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        store: PlatformStore,
        trusted_roots: Mapping[str, bytes],
        js: Any,
        nc: Any,
        names: StreamNames,
        *,
        ledger_name: str,
        durable: str = DEFAULT_CONSUMER,
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        retry_delay: float = 1.0,
        batch: int = 256,
    ):
        self.store = store
        self.js = js
        self.nc = nc
        self.names = names
        self.ledger_name = ledger_name
        self.durable = durable
        self.max_deliver = max_deliver
        self.ack_wait = ack_wait
        self.retry_delay = retry_delay
        self.batch = batch
        self.verifier = ReportVerifier(trusted_roots, region=names.region, ledger_name=ledger_name)
        self.stop = asyncio.Event()
        self.applied = 0
        self.refused = 0

    def load(self) -> None:
        """Rebuild the key registry from the key records already applied, in index order."""
        for _, raw in self.store.messages(self.ledger_name, kind="key"):
            self.verifier.verify(parse_report(raw))

    async def subscribe(self) -> Any:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        config = ConsumerConfig(
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            max_ack_pending=self.batch * 4,
        )
        return await self.js.pull_subscribe(
            f"{self.names.prefix}.*", durable=self.durable, stream=self.names.stream, config=config
        )

    def handle(self, data: bytes) -> bool:
        """Verify and apply one message; True if newly applied, False if already held.
        Raises :class:`LedgerError` (do not apply) or the store's error (retry)."""
        message = parse_report(data)
        if self.store.has(self.ledger_name, message.index):
            return False
        verified = self.verifier.verify(message)
        return self.store.apply(
            self.ledger_name, message.index, message.kind, str(message.stream), message.seq,
            verified.receipt_time, data,
        )  # fmt: skip

    async def _deliver(self, msg: Any) -> None:
        try:
            if await asyncio.to_thread(self.handle, msg.data):
                self.applied += 1
        except LedgerError as error:
            self.refused += 1
            log.warning(
                "refused %s: %s (field %s): %s", msg.subject, error.reason, error.field,
                error.detail,
            )  # fmt: skip
            await msg.nak(delay=self.retry_delay)
            return
        await msg.ack()

    async def replay_dead(self) -> dict[int, str]:
        """Verify and apply the dead letters again (after the trust was fixed, say): each is
        read back from the dead-letter stream (else the report stream) and checked in index
        order among the key records already applied, as the consumer would have. Returns the
        indexes refused again, with the reason; the rest are applied."""
        dead = await asyncio.to_thread(self.store.dead_letters, self.ledger_name)
        keys = dict(
            await asyncio.to_thread(lambda: list(self.store.messages(self.ledger_name, kind="key")))
        )
        refused: dict[int, str] = {}
        for index in sorted(set(keys) | set(dead)):
            if index in keys:
                self.verifier.verify(parse_report(keys[index]))
                continue
            data = await self._stored(index)
            try:
                if await asyncio.to_thread(self.handle, data):
                    self.applied += 1
            except LedgerError as error:
                refused[index] = f"{error.reason} (field {error.field}): {error.detail}"
        return refused

    async def _stored(self, index: int) -> bytes:
        import nats.js.errors

        try:
            stored = await self.js.get_msg(
                self.names.dead_letter_stream, subject=self.names.dead_letter_subject(index)
            )
        except nats.js.errors.NotFoundError:  # its copy was never made: the original
            stored = await self.js.get_msg(self.names.stream, subject=self.names.subject(index))
        return bytes(stored.data or b"")

    async def run(self) -> None:
        """Fetch, verify, apply, acknowledge; back off on broker errors."""
        import nats.errors

        await asyncio.to_thread(self.load)
        subscription = None
        backoff = 0.1
        while not self.stop.is_set():
            try:
                if subscription is None:
                    subscription = await self.subscribe()
                try:
                    messages = await subscription.fetch(self.batch, timeout=0.5)
                except nats.errors.TimeoutError:
                    continue
                for msg in messages:
                    await self._deliver(msg)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("platform consumer: retrying in %.1fs: %s", backoff, reason_of(error))
                await asyncio.sleep(backoff)
                backoff = min(10.0, backoff * 2)


class DeadLetterForwarder:
    """Copies each message JetStream gave up on to its index's dead-letter subject."""

    def __init__(self, store: PlatformStore, js: Any, nc: Any, names: StreamNames, *,
                 ledger_name: str, durable: str = DEFAULT_CONSUMER):  # fmt: skip
        self.store = store
        self.js = js
        self.nc = nc
        self.names = names
        self.ledger_name = ledger_name
        self.durable = durable
        self.forwarded = 0

    async def start(self) -> Any:
        return await self.nc.subscribe(
            max_deliveries_subject(self.names, self.durable), cb=self._on_advisory
        )

    async def _on_advisory(self, msg: Any) -> None:
        try:
            advisory = json.loads(msg.data)
            stream_seq = int(advisory["stream_seq"])
            deliveries = int(advisory.get("deliveries", 0))
            stored = await self.js.get_msg(self.names.stream, stream_seq)
            index = int(str(stored.subject).rsplit(".", 1)[1])
            try:
                await self.js.publish(self.names.dead_letter_subject(index), stored.data)
            except Exception as error:
                if not is_already_published(error):
                    raise
            await asyncio.to_thread(
                self.store.note_dead_letter, self.ledger_name, index, stream_seq, deliveries
            )
            self.forwarded += 1
            log.warning("dead letter: index %d after %d deliveries", index, deliveries)
        except Exception as error:  # an advisory we cannot act on is logged, never fatal
            log.error("dead-letter forwarding failed: %s", reason_of(error))


async def run_platform(
    consumer: PlatformConsumer, forwarder: DeadLetterForwarder, *, duplicate_window: float = 120.0
) -> None:
    await ensure_streams(consumer.js, consumer.names, duplicate_window=duplicate_window)
    await forwarder.start()
    await consumer.run()
