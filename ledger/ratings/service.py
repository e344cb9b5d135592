"""Ratings the node signs: an applicant's rating with the receipt slip's one-time code.

The applicant holds no key and no API token; the code is the credential. The node checks it
against the commitment the case's ``received`` step carries (through the workflow, so the audit
replays the same check), signs the ``rated`` step with its node key under the reserved officer
id ``node`` and the rated (home) body, and appends it like any other step.

Wrong codes are limited per case (:class:`CodeAttempts`): after ``limit`` wrong codes within
``window`` the case's code channel refuses every attempt, right or wrong, until the window has
passed (``too_many_attempts``), so 80 bits of code cannot be guessed online either. The count
is kept in the node process (a node with several workers allows ``limit`` per worker).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from ledger.access import Forbidden
from ledger.application import Appended, LedgerApplication
from ledger.domain import Case
from ledger.envelope import build_event
from ledger.errors import ConflictError, EnvelopeRejected
from ledger.keys import NODE_OFFICER
from ledger.ratings.code import code_commitment_of_proof, code_proof
from ledger.workflow import CaseState
from ledger.workflow.fields import NODE_SIGNED_CHANNELS
from ledger.workflow.rules import BadRatingCode

MAX_WRONG_CODES = 5
LOCKOUT_MICROS = 15 * 60 * 1_000_000


class TooManyAttempts(EnvelopeRejected):
    """Too many wrong codes for this case lately: wait and try again."""

    reason = "too_many_attempts"

    def __init__(self, detail: str, *, retry_after: int):
        super().__init__(detail, field="code")
        self.retry_after = retry_after  # seconds


class CodeAttempts:
    """Wrong codes per case within a sliding window (microsecond clock injected)."""

    def __init__(
        self,
        clock: Callable[[], int],
        *,
        limit: int = MAX_WRONG_CODES,
        window: int = LOCKOUT_MICROS,
    ):
        self.clock, self.limit, self.window = clock, limit, window
        self._wrong: dict[uuid.UUID, list[int]] = {}
        self._lock = threading.Lock()

    def check(self, case_id: uuid.UUID) -> None:
        now = self.clock()
        with self._lock:
            recent = [t for t in self._wrong.get(case_id, []) if now - t < self.window]
            self._wrong[case_id] = recent
            if len(recent) >= self.limit:
                wait = (recent[0] + self.window - now) // 1_000_000 + 1
                raise TooManyAttempts(
                    f"{self.limit} wrong codes for this case; try again in {wait} s",
                    retry_after=wait,
                )

    def wrong(self, case_id: uuid.UUID) -> None:
        with self._lock:
            self._wrong.setdefault(case_id, []).append(self.clock())


class RatingService:
    """Node-signed ratings over a ledger (see the module docstring)."""

    def __init__(self, app: LedgerApplication, attempts: CodeAttempts | None = None):
        self.app = app
        self.attempts = attempts or CodeAttempts(app.clock)

    def case_with_code(self, case_id: uuid.UUID, code: str) -> Case:
        """The case, once ``code`` is shown to be its slip's code: what the applicant's
        progress page (``/pages/progress``) reads. A wrong code counts against the same
        per-case limit as a rating's (``too_many_attempts``); a case whose ``received`` step
        carries no code cannot be read with one (``bad_rating_code``, field ``code``)."""
        self.attempts.check(case_id)
        case = self.app.get_case(case_id)  # ``UnknownCase``: as the rating route, 404 first
        proof = code_proof(case_id, code)  # ``MalformedEncoding`` (field ``code``)
        if not case.flow.rating_code or code_commitment_of_proof(proof) != case.flow.rating_code:
            self.attempts.wrong(case_id)
            raise BadRatingCode("the code is not this case's receipt slip code", field="code")
        return case

    def rate_with_code(
        self,
        case_id: uuid.UUID,
        *,
        code: str,
        level: str,
        channel: str = "online",
        comment: str | None = None,
    ) -> Appended:
        """Sign and append the applicant's rating; refusals name the field (``code`` for a
        wrong or used code)."""
        if channel not in NODE_SIGNED_CHANNELS:
            raise EnvelopeRejected(
                f"a rating with the slip's code comes in online or by code, not {channel!r}",
                reason="malformed",
                field="channel",
            )
        signer = self.app.node_signer
        if signer is None:
            raise EnvelopeRejected("this node was opened read-only", reason="read_only")
        self.attempts.check(case_id)
        case = self.app.get_case(case_id)  # ``UnknownCase``: 404 before any code is judged
        body: dict[str, Any] = {
            "level": level,
            "channel": channel,
            "code_proof": code_proof(case_id, code),
        }
        if comment:
            body["comment"] = comment
        conflict: ConflictError | None = None
        for _ in range(3):  # an officer's step may take the next seq first: build again
            head = self.app.head(case_id)
            raw = build_event(
                signer,
                ledger=self.app.ledger_name,
                case_id=case_id,
                seq=head.seq + 1,
                event_type="rated",
                time=max(self.app.clock(), case.last_received_at),
                body_id=case.flow.home_body,
                officer_id=NODE_OFFICER,
                prev=head.event_hash,
                body=body,
            )
            try:
                return self.app.append_event(raw)
            except BadRatingCode as error:
                self.attempts.wrong(case_id)
                raise BadRatingCode(error.detail, field="code") from None
            except ConflictError as error:
                conflict = error
                case = self.app.get_case(case_id)
        assert conflict is not None
        raise conflict


def check_follow_up_reader(reader_kind: str, reader_subject: str, flow: CaseState) -> None:
    """A follow-up call (回访) reads the applicant's contact data: only the rated (home) body,
    only while the rectification waits for it. The read itself is logged by
    :meth:`ledger.access.CaseAccess.read_applicant`."""
    if reader_kind != "body" or reader_subject != flow.home_body:
        raise Forbidden("only the rated (home) body follows up with the applicant")
    if flow.rating != "following_up":
        raise Forbidden(
            f"the case's rectification is not waiting for a follow-up (rating state "
            f"{flow.rating!r})"
        )
