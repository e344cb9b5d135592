"""``TongbanClient``: a department's client of a node, signing with a key it holds.

It reads the case head, builds and signs the envelope with the caller's :class:`Signer`, posts
the exact bytes, and after a timeout re-posts *the same bytes* (safe: appends are idempotent).
On 409 it raises :class:`Conflict` carrying the new head: whether to sign again on the new state
is the officer's decision, never automatic. A 503 (the node's database is down) is retried
the same way, after the node's ``Retry-After`` (capped at ``max_wait``).

Errors::

    ClientError
    ├── Refused      the node answered 4xx with a problem (status, reason, field, detail)
    │   └── Conflict another step holds that seq; ``head`` is the case's head now
    ├── Unavailable  the node answered 5xx (503 ``database_unavailable``: retry later with
    │                the same bytes; whether they were stored is known only then)
    └── Unreachable  no answer after the retries
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ledger.application import now_micros
from ledger.envelope import ZERO_HASH, build_event
from ledger.errors import Head
from ledger.ratings.code import code_commitment
from ledger.receipts import Receipt, parse_receipt
from ledger.suites import Signer

MSGPACK = "application/msgpack"


class ClientError(Exception):
    pass


class Refused(ClientError):
    def __init__(self, status: int, problem: Mapping[str, Any]):
        self.status = status
        self.problem = dict(problem)
        self.reason = str(problem.get("reason", ""))
        self.field = problem.get("field")
        super().__init__(f"{status} {self.reason}: {problem.get('detail', '')}")


class Conflict(Refused):
    @property
    def head(self) -> Head:
        head = self.problem["head"]
        return Head(int(head["seq"]), bytes.fromhex(head["hash"]))


class Unavailable(ClientError):
    def __init__(self, status: int, problem: Mapping[str, Any], retry_after: float | None):
        self.status = status
        self.problem = dict(problem)
        self.reason = str(problem.get("reason", ""))
        self.retry_after = retry_after
        super().__init__(f"{status} {self.reason or 'server error'}: {problem.get('detail', '')}")


class Queued(ClientError):
    """A step for another region's ledger that the node keeps without its home node's
    receipt: ``state`` ``queued`` (the home node could not be reached: delivered later) or
    ``held`` (it refused the node's authentication: delivered once an operator fixed that);
    never re-signed (docs/relay.md)."""

    def __init__(self, document: Mapping[str, Any]):
        self.document = dict(document)
        self.relay: dict[str, Any] = dict(document.get("relay") or {})
        self.state = str(document.get("state", "queued"))
        super().__init__(str(document.get("detail", self.state)))

    @property
    def relay_receipt(self) -> bytes:
        return base64.b64decode(self.relay.get("relay_receipt", ""))


class Unreachable(ClientError):
    pass


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        problem = response.json()
    except ValueError:
        return {"detail": response.text}
    return problem if isinstance(problem, dict) else {"detail": response.text}


# A relayed case's read fails with these when its home node cannot be read (docs/relay.md).
HOME_UNREADABLE = ("peer_unreachable", "peer_unauthenticated")


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None  # absent, or an HTTP date: no advice


@dataclass(frozen=True)
class StepResult:
    case_id: uuid.UUID
    seq: int
    index: int
    created: bool
    head: Head
    receipt: Receipt
    envelope: bytes


class TongbanClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        signer: Signer,
        *,
        body_id: str,
        officer_id: str,
        timeout: float = 10.0,
        retries: int = 2,
        max_wait: float = 2.0,
        transport: httpx.BaseTransport | None = None,
        clock: Any = now_micros,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )
        self.signer = signer
        self.body_id = body_id
        self.officer_id = officer_id
        self.retries = retries
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep
        self._node: dict[str, Any] | None = None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> TongbanClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                # Back off a little: a node restarting or a database coming back needs time.
                wait = min(self.max_wait, 0.2 * 2 ** (attempt - 1))
                if isinstance(last, Unavailable) and last.retry_after is not None:
                    wait = min(self.max_wait, last.retry_after)
                self.sleep(wait)
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.TransportError as error:  # includes timeouts
                last = error
                continue
            if response.status_code == 503:
                last = Unavailable(503, _problem(response), _retry_after(response))
                continue
            if response.status_code == 409:
                raise Conflict(409, _problem(response))
            if response.status_code >= 500:
                raise Unavailable(response.status_code, _problem(response), None)
            if response.status_code >= 400:
                raise Refused(response.status_code, _problem(response))
            return response
        if isinstance(last, Unavailable):
            raise last
        # The full URL: a wrong --server, host or port is what a user most often needs to see.
        raise Unreachable(
            f"{method} {str(self.http.base_url).rstrip('/')}{url}: no answer after "
            f"{self.retries + 1} tries ({last})"
        )

    def http_json(
        self, method: str, url: str, body: Any = None, *, headers: Mapping[str, str] | None = None
    ) -> Any:
        """A request with an optional JSON body; the JSON answer (None when empty)."""
        kwargs: dict[str, Any] = {"headers": dict(headers or {})}
        if body is not None:
            kwargs["json"] = body
        response = self._send(method, url, **kwargs)
        return response.json() if response.content else None

    def post_signed(self, url: str, raw: bytes) -> Any:
        """Post exact signed bytes (``application/msgpack``); the JSON answer."""
        return self._send("POST", url, content=raw, headers={"Content-Type": MSGPACK}).json()

    def node(self) -> dict[str, Any]:
        """The node's ledger name and region (cached)."""
        if self._node is None:
            self._node = self._send("GET", "/health").json()
        return self._node

    def post_envelope(self, case_id: uuid.UUID, seq: int, raw: bytes) -> StepResult:
        """Post exact signed bytes; a timeout re-posts the very same bytes."""
        url = "/cases" if seq == 1 else f"/cases/{case_id}/events"
        response = self._send("POST", url, content=raw, headers={"Content-Type": MSGPACK})
        answer = response.json()
        if response.status_code == 202:
            raise Queued(answer)
        return StepResult(
            case_id=uuid.UUID(answer["case_id"]),
            seq=answer["seq"],
            index=answer["index"],
            created=answer["created"],
            head=Head(answer["head"]["seq"], bytes.fromhex(answer["head"]["hash"])),
            receipt=parse_receipt(base64.b64decode(answer["receipt"])),
            envelope=raw,
        )

    def sign(
        self,
        case_id: uuid.UUID,
        seq: int,
        prev: bytes,
        step_type: str,
        body: Mapping[str, Any],
        *,
        ledger: str | None = None,
    ) -> bytes:
        """Sign a step for ``ledger`` (default: the node's own; a case homed in another
        region names its home ledger, and the node relays it there)."""
        return build_event(
            self.signer,
            ledger=ledger or self.node()["ledger"],
            case_id=case_id,
            seq=seq,
            event_type=step_type,
            time=self.clock(),
            body_id=self.body_id,
            officer_id=self.officer_id,
            prev=prev,
            body=body,
        )

    # -- what a window or a department does --------------------------------------------------

    def register_applicant(self, data: Mapping[str, str]) -> dict[str, Any]:
        """Store the applicant's personal data at the home node: ``{ref, commitments}``."""
        answer = self._send("POST", "/applicants", json=dict(data)).json()
        return {
            "ref": answer["ref"],
            "commitments": {k: base64.b64decode(v) for k, v in answer["commitments"].items()},
        }

    def catalog_item(self, item_key: str) -> tuple[dict[str, Any], str]:
        """The item and the catalog version the node serves it under."""
        parts = item_key.split("/")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"item {item_key!r}: write REGION/BATCH/NUMBER, e.g. 510000/2/23")
        region, batch, seq = parts
        response = self._send("GET", f"/catalog/{region}/{batch}/{seq}")
        return response.json(), response.headers["Catalog-Version"]

    def receive(
        self,
        item_key: str,
        channel: str,
        applicant: Mapping[str, str],
        *,
        home_body: str,
        jurisdiction: str,
        materials: Sequence[tuple[str, bytes]],
        origin_bodies: Sequence[str] = (),
        case_id: uuid.UUID | None = None,
        rating_code: str | None = None,
        ledger: str | None = None,
    ) -> StepResult:
        """Open a case: store the applicant at the node, then sign and post ``received``.

        The case's ledger is ``ledger``, else the item's region's (``tongban/<region>``) when
        that is not the node's own region: the node then relays the step and the applicant
        to that region's node.
        ``rating_code``: the one-time code printed on the receipt slip; its commitment is
        signed (docs/envelope.md §5.5), the code itself never leaves this client."""
        item, version = self.catalog_item(item_key)
        if ledger is not None:
            # Checked before the applicant is stored: a wrong ledger refused afterwards would
            # leave the record at the node for nothing.
            check_case_ledger(ledger, item_key, self.node())
        stored = self.register_applicant(applicant)
        body = {
            "item": item_key,
            "channel": channel,
            "coordination": item["coordination"],
            "catalog_version": version,
            "applicant": stored,
            "materials": [{"name": name, "sha256": digest} for name, digest in materials],
            "home_body": home_body,
            "jurisdiction": jurisdiction,
            "origin_bodies": list(origin_bodies),
        }
        case_id = case_id or uuid.uuid4()
        if rating_code is not None:
            body["rating_code"] = code_commitment(case_id, rating_code)
        region = item_key.split("/")[0]
        if ledger is None and region != self.node().get("region"):
            ledger = f"tongban/{region}"
        raw = self.sign(case_id, 1, ZERO_HASH, "received", body, ledger=ledger)
        return self.post_envelope(case_id, 1, raw)

    def head(self, case_id: uuid.UUID) -> Head:
        case = self._send("GET", f"/cases/{case_id}").json()
        return Head(case["head"]["seq"], bytes.fromhex(case["head"]["hash"]))

    def step(self, case_id: uuid.UUID, step_type: str, body: Mapping[str, Any]) -> StepResult:
        """Sign ``step_type`` on the case's current head, for the case's ledger, and post it.

        A case homed in another region whose home node cannot be read (down, or refusing the
        node's authentication) is signed on the newest step the node relayed of it (its
        relay queue, ``GET /relay?case=``), and the node queues it: :class:`Queued` says so
        (``signed_on``). Should the home node have moved on meanwhile, the step meets a
        conflict on delivery and is shown with the home head, never re-signed."""
        try:
            case = self._send("GET", f"/cases/{case_id}").json()
        except Unavailable as error:
            if error.reason not in HOME_UNREADABLE:
                raise
            return self._step_on_relayed_head(case_id, step_type, body, error)
        head = Head(case["head"]["seq"], bytes.fromhex(case["head"]["hash"]))
        ledger = case.get("ledger") or None
        raw = self.sign(case_id, head.seq + 1, head.event_hash, step_type, body, ledger=ledger)
        return self.post_envelope(case_id, head.seq + 1, raw)

    def _step_on_relayed_head(
        self,
        case_id: uuid.UUID,
        step_type: str,
        body: Mapping[str, Any],
        unreadable: Unavailable,
    ) -> StepResult:
        rows = self.relayed(case_id=case_id)
        known = [r for r in rows if r["state"] in ("queued", "held", "accepted")]
        if not known:
            raise unreadable  # nothing relayed of this case here: no head to sign on
        newest = max(known, key=lambda r: int(r["seq"]))
        seq, prev = int(newest["seq"]) + 1, bytes.fromhex(newest["event_hash"])
        raw = self.sign(case_id, seq, prev, step_type, body, ledger=newest["home_ledger"])
        try:
            return self.post_envelope(case_id, seq, raw)
        except Queued as queued:
            queued.document["signed_on"] = (
                f"seq {newest['seq']} ({newest['state']}), the newest step this node relayed "
                f"of the case: its home node could not be read ({unreadable.reason})"
            )
            raise

    def relayed(
        self, state: str | None = None, *, case_id: uuid.UUID | None = None
    ) -> list[dict[str, Any]]:
        """The steps this node relayed for the caller's body (``GET /relay``), optionally of
        one state or one case."""
        params = {"state": state} if state else {}
        if case_id is not None:
            params["case"] = str(case_id)
        steps: list[dict[str, Any]] = self._send("GET", "/relay", params=params).json()["steps"]
        return steps

    def case(
        self, case_id: uuid.UUID, *, personal: bool = False, purpose: str = ""
    ) -> dict[str, Any]:
        params = {"personal": "true", "purpose": purpose} if personal else {}
        result: dict[str, Any] = self._send("GET", f"/cases/{case_id}", params=params).json()
        return result


def check_case_ledger(ledger: str, item_key: str, node: Mapping[str, Any]) -> None:
    """Refuse a ``ledger`` a case of ``item_key`` cannot live in, saying why (ValueError):
    a case lives in the ledger of its item's region, ``tongban/<region>``."""
    region = item_key.split("/")[0]
    home = f"tongban/{region}"
    if ledger == home:
        return
    own = node.get("ledger")
    if ledger.rpartition("/")[0] != "tongban" or not ledger.rpartition("/")[2].isdigit():
        why = f"{ledger!r} is not a ledger name (tongban/<6-digit region>)"
    elif ledger == own:
        why = f"{ledger} is this node's own ledger"
    else:
        why = f"{ledger} is region {ledger.rpartition('/')[2]}'s"
    raise ValueError(
        f"--ledger {ledger}: {why}, but item {item_key} is region {region}'s and its cases "
        f"live in {home}; leave --ledger out: the step is then signed for {home}, which "
        f"this node ({own}) relays to when its peers.json names it (`tongban relay add-peer`)"
    )
