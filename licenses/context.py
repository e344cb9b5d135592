"""What every part of the license service shares: the ledger, the ports, this node's region
and its injected clock and randomness, and the lookups each part makes (``licenses.service``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ledger.application import LedgerApplication
from ledger.domain import License
from ledger.envelope import Envelope, parse_event
from ledger.license_events import license_stream_id
from ledger.receipts import parse_receipt
from licenses.errors import LicenseError, LicenseNotFound, LicenseRefused
from licenses.identifiers import parse_identifier
from licenses.ports import Fetch, HolderSecrets, LicenseStore

__all__ = ["DEFAULT_STATUS_LIST_LIFETIME", "ServiceContext"]

#: How long a published status list speaks (docs/license-offline.md §1.4 suggests a day).
DEFAULT_STATUS_LIST_LIFETIME: Final = 24 * 3600 * 1_000_000


@dataclass
class ServiceContext:
    """One node's license setting, shared (not copied) by the service's parts: a ``fetch`` set
    later is seen by all of them."""

    ledger: LedgerApplication
    store: LicenseStore
    holders: HolderSecrets
    region: str
    fetch: Fetch | None = None
    lifetime: int = DEFAULT_STATUS_LIST_LIFETIME
    randbelow: Callable[[int], int] = secrets.randbelow
    token_hex: Callable[[int], str] = secrets.token_hex

    def clock(self) -> int:
        return self.ledger.clock()

    def own_list(self, list_id: str) -> bool:
        """Whether ``list_id`` is one of this node's lists (``<region>-<n>``, n ≥ 1)."""
        prefix, _, number = list_id.rpartition("-")
        return prefix == self.region and number.isdigit() and not number.startswith("0")

    @staticmethod
    def check_identifier(identifier: str) -> None:
        """A mistyped identifier is bad input (422), not an unknown license (404)."""
        try:
            parse_identifier(identifier)
        except LicenseError as error:
            raise LicenseRefused("malformed", str(error), field="identifier") from None

    def stream(self, identifier: str) -> License:
        stream: object = self.ledger.repository.get(license_stream_id(identifier))
        assert isinstance(stream, License)
        return stream

    def issued_event(self, identifier: str) -> tuple[Envelope, int]:
        """The ``license_issued`` envelope and its receipt time (the issuance moment)."""
        self.check_identifier(identifier)
        entries = self.ledger.stream_entries(license_stream_id(identifier))
        if not entries:
            raise LicenseNotFound("unknown_license", f"no license {identifier}", field="identifier")
        return parse_event(entries[0].envelope), parse_receipt(entries[0].receipt).time
