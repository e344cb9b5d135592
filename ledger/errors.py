"""Errors of the ledger package.

    LedgerError
    ├── MalformedEncoding          bytes are not canonical msgpack of the expected shape
    ├── EnvelopeRejected           a well-formed envelope the ledger refuses; ``reason`` says why
    │   └── StepNotAllowed         the workflow does not allow this step now
    ├── ConflictError              another envelope already holds this seq; carries the head
    ├── UnknownCase                no case with that id
    ├── NotCaughtUp                a read model has not reached the asked ledger index yet
    ├── IndexBeyondHead            an asked ledger index no object holds yet
    └── RegistryError              a key or organization record is refused

Every refusal carries a machine-readable ``reason`` (the documented reason codes) and the
``field`` it concerns, so the API can answer "which field, why" without parsing messages.
"""

from __future__ import annotations

from dataclasses import dataclass


class LedgerError(Exception):
    """Base of every error the ledger raises."""

    reason: str = "ledger_error"

    def __init__(self, detail: str, *, reason: str | None = None, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason
        self.field = field


class MalformedEncoding(LedgerError):
    """The bytes are not canonical msgpack, or not of the documented shape."""

    reason = "malformed"


class EnvelopeRejected(LedgerError):
    """A well-formed envelope the ledger refuses (bad signature, unknown key, ...)."""

    reason = "rejected"


class StepNotAllowed(EnvelopeRejected):
    """The case's workflow does not allow this step in its current state."""

    reason = "illegal_step"


@dataclass(frozen=True)
class Head:
    """The newest event of a stream: its seq and event hash (zero hash when empty)."""

    seq: int
    event_hash: bytes


class ConflictError(LedgerError):
    """A different envelope already holds this seq; ``head`` is the stream's current head."""

    reason = "conflict"

    def __init__(self, detail: str, *, head: Head):
        super().__init__(detail)
        self.head = head


class UnknownCase(LedgerError):
    reason = "unknown_case"


class NotCaughtUp(LedgerError):
    """A listing could not reach the ``min_index`` a reader asked for in time (HTTP 503)."""

    reason = "not_caught_up"


class IndexBeyondHead(LedgerError):
    """A reader asked for a ledger index beyond the ledger's head: no receipt carries it (a
    receipt is given only once its index is committed), so waiting would not help (HTTP 422)."""

    reason = "beyond_head"


class RegistryError(LedgerError):
    """A key or organization record is refused."""

    reason = "registry_error"


def reason_of(error: BaseException) -> str:
    """An exception as a log line or message reads it: its type always, its text when it has
    one (``TimeoutError()`` and many broker errors have none, which logged as an empty reason)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
