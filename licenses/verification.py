"""The service-level verify: a presented license (full document or compact form) judged for
use in this region now, against the trust lists held here, the status list kept of its issuer
and, online, the issuer's status asked of this ledger or of the issuing region's node."""

from __future__ import annotations

from collections.abc import Callable

from ledger.errors import reason_of
from licenses.compact import CompactLicense, CompactRejected, decode_compact
from licenses.context import ServiceContext
from licenses.document import InvalidLicense, LicenseDocument, parse_license
from licenses.errors import LicenseNotFound, StatusUnanswered
from licenses.ports import HeldTrustLists
from licenses.status import LicenseStatus, SignedStatusList, StatusListRejected, parse_status_list
from licenses.status_lists import StatusLists
from licenses.trust_lists import TrustLists
from licenses.verify import Verdict, verify_license

__all__ = ["Verification"]


def _decoded(presented: bytes | str) -> CompactLicense | LicenseDocument | None:
    """The presented license decoded, or None when it does not decode."""
    try:
        return decode_compact(presented) if isinstance(presented, str) else parse_license(presented)
    except (CompactRejected, InvalidLicense):
        return None


class Verification:
    """Verdicts on presented licenses."""

    def __init__(
        self, ctx: ServiceContext, status_lists: StatusLists, trust_lists: TrustLists
    ) -> None:
        self.ctx = ctx
        self.status_lists = status_lists
        self.trust_lists = trust_lists
        self._status_cache: tuple[bytes, SignedStatusList] | None = None

    def _online_status(
        self, held: HeldTrustLists, max_age: int | None = None
    ) -> Callable[[str, int], LicenseStatus | None]:
        """The status of an entry from its issuer: this node's ledger for its own lists, else
        the issuing region's node (its URL held with its trust list in ``held``)."""

        def ask(list_id: str, index: int) -> LicenseStatus | None:
            own = self.status_lists.own_status(list_id, index)
            if own is not None or self.ctx.own_list(list_id):
                return own
            issuer = list_id.rpartition("-")[0]
            region = held.get(issuer)
            url = region[2] if region else None
            if url is None:
                raise StatusUnanswered(f"no node URL is held for region {issuer}")
            if self.ctx.fetch is None:
                raise StatusUnanswered("this node asks no other node online")
            where = f"{url.rstrip('/')}/status-lists/{list_id}"
            try:
                kept = self.status_lists.keep_peer_status_list(self.ctx.fetch(where))
            except (OSError, StatusListRejected, ValueError) as error:
                raise StatusUnanswered(f"{where}: {reason_of(error)}") from error
            now = self.ctx.clock()
            if list_id != kept.list_id or now >= kept.valid_until:
                raise StatusUnanswered(f"{where} served an expired or other list")
            # The peer served a list older than the verifier accepts: no answer from it.
            if max_age is not None and now - kept.issued_at > max_age:
                raise StatusUnanswered(f"{where} served a list older than the maximum age")
            return kept.status_at(index)

        return ask

    def verify(
        self,
        presented: bytes | str,
        *,
        holder_code: str | None = None,
        online: bool = True,
        max_status_age: int | None = None,
    ) -> Verdict:
        """The verdict on a presented license for use in this region now; ``max_status_age``
        (µs) is the oldest status list (by ``issued_at``) the caller accepts."""
        decoded = _decoded(presented)
        list_id = (
            None
            if decoded is None
            else decoded.status_list_id
            if isinstance(decoded, CompactLicense)
            else decoded.status.list
        )
        held, status_raw = self.ctx.store.verification_inputs(list_id)
        if status_raw is None and list_id is not None and self.ctx.own_list(list_id):
            # One of this node's own lists: it holds what it published (the newest version,
            # as GET /status-lists served it; offline, nothing is signed anew for the check).
            published = self.ctx.store.latest_status_list(list_id)
            status_raw = published[1] if published is not None else None
        trust = self.trust_lists.trust_store_of(held)
        own = trust.get(self.ctx.region)
        if own is None:
            raise LicenseNotFound(
                "no_trust_list",
                f"region {self.ctx.region} has published no trust list: it recognizes nothing yet",
            )
        return verify_license(
            presented if decoded is None else decoded,  # undecodable: it says why
            trust=trust,
            recognition=own,
            status=self._parsed_status_list(status_raw) if status_raw else None,
            now=self.ctx.clock(),
            holder_code=holder_code,
            online_status=self._online_status(held, max_status_age) if online else None,
            max_status_age=max_status_age,
        )

    def _parsed_status_list(self, raw: bytes) -> SignedStatusList:
        """A kept peer list (verified when kept), parsed once per version held."""
        cached = self._status_cache
        if cached is not None and cached[0] == raw:
            return cached[1]
        parsed = parse_status_list(raw)
        self._status_cache = (raw, parsed)
        return parsed
