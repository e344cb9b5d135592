"""What the platform checks of each report message before it applies it (docs/reporting.md §4).

The platform pins root keys only: the reporting region's and those of the other regions whose
officers sign in this ledger (a cross-province window's). It learns every other key from the
key records the node publishes (kind ``key``, in index order), each checked by the registry
from its region's root down, and then checks every message:

1. its receipt: a ``tongban/receipt/v1`` signed by a node key of the region valid at the
   receipt time, naming this message's ledger, index, stream, seq and the envelope's hash;
2. its envelope: a case or license event signed by an officer key certified for the body and
   officer it names, valid at the receipt time; or a key record the registry accepts;
3. its record: no field the envelope decides (case, step, time, handler) contradicts it.

The receipts of a region's first records are signed by the node key those records go on to
certify: such a receipt is held and checked as soon as the node key is known.

Errors: any :class:`ledger.errors.LedgerError` (reason, field) means "do not apply".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ledger.envelope import KEY_RECORD_CONTEXT, parse_event
from ledger.errors import MalformedEncoding
from ledger.keys import KeyRegistry, UnknownKey, parse_key_record
from ledger.receipts import Receipt, parse_receipt
from ledger.reporting import ReportMessage, check_record, signed_context


@dataclass(frozen=True)
class VerifiedReport:
    message: ReportMessage
    receipt_time: int


class ReportVerifier:
    """Checks messages of one region's ledger in index order; ``verify`` raises or returns."""

    def __init__(self, trusted_roots: Mapping[str, bytes], *, region: str, ledger_name: str):
        self.region = region
        self.ledger_name = ledger_name
        self.registry = KeyRegistry(trusted_roots, home_region=region)
        self._held: list[tuple[Receipt, ReportMessage]] = []

    def verify(self, message: ReportMessage) -> VerifiedReport:
        if message.ledger != self.ledger_name:
            raise MalformedEncoding(
                f"message of ledger {message.ledger!r}, expected {self.ledger_name!r}",
                field="ledger",
            )
        receipt = parse_receipt(message.receipt)
        self._check_receipt_fields(receipt, message)
        if signed_context(message.envelope) == KEY_RECORD_CONTEXT:
            if message.kind != "key" or message.record is not None:
                raise MalformedEncoding(
                    "a key record's message is kind key, no record", field="kind"
                )
            record = parse_key_record(message.envelope)
            if record.hash != receipt.event_hash:
                raise MalformedEncoding("receipt names another object", field="receipt.event")
            self.registry.apply(record, receipt.time, message.index)
            self._check_or_hold(receipt, message)
            self._check_held()
            return VerifiedReport(message, receipt.time)
        envelope = parse_event(message.envelope)
        if envelope.hash != receipt.event_hash:
            raise MalformedEncoding("receipt names another object", field="receipt.event")
        if envelope.ledger != self.ledger_name:
            raise MalformedEncoding("envelope names another ledger", field="envelope.ledger")
        self._check_receipt_signature(receipt)
        key = self.registry.officer_key_at(
            envelope.key_id, receipt.time, body_id=envelope.body_id, officer_id=envelope.officer_id
        )
        envelope.signed.verify(key.public_key)
        check_record(message, envelope)
        return VerifiedReport(message, receipt.time)

    @property
    def held(self) -> int:
        """Receipts of key records not yet checked (their node key not yet certified)."""
        return len(self._held)

    def _check_receipt_fields(self, receipt: Receipt, message: ReportMessage) -> None:
        for name, ok in (
            ("ledger", receipt.ledger == message.ledger),
            ("index", receipt.index == message.index),
            ("stream", receipt.stream_id == message.stream),
            ("seq", receipt.seq == message.seq),
        ):
            if not ok:
                raise MalformedEncoding(f"receipt.{name} differs from the message", field=name)

    def _check_receipt_signature(self, receipt: Receipt) -> None:
        node_key = self.registry.node_key_at(receipt.key_id, receipt.time)
        receipt.signed.verify(node_key.public_key)

    def _check_or_hold(self, receipt: Receipt, message: ReportMessage) -> None:
        try:
            self._check_receipt_signature(receipt)
        except UnknownKey:
            if receipt.key_id in self.registry.keys:
                raise  # known, and not a node key of this region
            self._held.append((receipt, message))

    def _check_held(self) -> None:
        held, self._held = self._held, []
        for receipt, message in held:
            self._check_or_hold(receipt, message)
