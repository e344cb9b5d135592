"""A :class:`ledger.keys.KeyRegistry` fed key records built on the fly, for the registry's
unit tests: receipt time and index are explicit, and a refusal must leave it unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.errors import LedgerError
from ledger.keys import KeyRecord, KeyRegistry, build_key_record, parse_key_record
from ledger.suites import Ed25519Signer
from tests.support.world import START

SECOND = 1_000_000


def key(signer: Ed25519Signer, valid_from: int = START, **more: Any) -> dict[str, Any]:
    """A key record body's key fields (plus ``more``)."""
    return {
        "public_key": signer.public_key,
        "key_suite": "ed25519-sha256",
        "valid_from": valid_from,
        **more,
    }


class RegistryFeeder:
    """Builds, checks and applies records on ``registry``; ``region`` is the default chain."""

    def __init__(self, registry: KeyRegistry, region: str) -> None:
        self.registry = registry
        self.region = region
        self.index = 0
        self.now = START

    def record(
        self,
        signer: Ed25519Signer,
        record_type: str,
        body: dict[str, Any],
        region: str | None = None,
        *,
        seq: int | None = None,
        prev: bytes | None = None,
    ) -> KeyRecord:
        region = region or self.region
        head_seq, head = self.registry.head(region)
        raw = build_key_record(
            signer,
            region=region,
            seq=head_seq + 1 if seq is None else seq,
            prev=head if prev is None else prev,
            record_type=record_type,
            time=self.now,
            body=body,
        )
        return parse_key_record(raw)

    def add(
        self,
        signer: Ed25519Signer,
        record_type: str,
        body: dict[str, Any],
        region: str | None = None,
        **kw: Any,
    ) -> None:
        record = self.record(signer, record_type, body, region, **kw)
        self.now += SECOND
        self.index += 1
        self.registry.check(record, self.now)
        self.registry.apply(record, self.now, self.index)

    def refused(
        self,
        signer: Ed25519Signer,
        record_type: str,
        body: dict[str, Any],
        region: str | None = None,
        **kw: Any,
    ) -> LedgerError:
        """The record is refused by both ``check`` and ``apply``, and changes nothing."""
        chain = region or self.region
        before = (dict(self.registry.keys), self.registry.head(chain))
        record = self.record(signer, record_type, body, region, **kw)
        with pytest.raises(LedgerError) as refused:
            self.registry.check(record, self.now + SECOND)
        with pytest.raises(LedgerError):
            self.registry.apply(record, self.now + SECOND, self.index + 1)
        assert (dict(self.registry.keys), self.registry.head(chain)) == before
        return refused.value
