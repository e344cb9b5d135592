"""A case's state, rebuilt from its accepted steps: where it is and who is on it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ledger.envelope import Envelope
from ledger.errors import LedgerError, StepNotAllowed
from ledger.workflow.fields import check_body
from ledger.workflow.table import (
    CORRECTABLE_STATES,
    RATEABLE_STATES,
    RATING_STEP_TYPES,
    RATING_TRANSITIONS,
    START,
    TRANSITIONS,
    UNRATED,
    Transition,
)


@dataclass(frozen=True)
class CaseState:
    """Where a case is and who is on it; rebuilt from its steps."""

    state: str = START
    item: str = ""
    channel: str = ""
    coordination: str = ""
    catalog_version: str = ""
    jurisdiction: str = ""
    intake_body: str = ""
    home_body: str = ""
    origin_bodies: tuple[str, ...] = ()
    co_handled_by: frozenset[str] = frozenset()
    extended_days: int = 0  # working days of approved extensions since the last acceptance
    steps_by_body: Mapping[int, str] = field(default_factory=dict)  # seq -> body that took it
    rating: str = UNRATED  # the rating state (table.RATING_TRANSITIONS)
    rating_code: bytes = b""  # the commitment to the slip's rating code, if received has one

    def allowed_steps(self) -> list[str]:
        """The table steps possible next from here (for this channel and coordination)."""
        steps = [
            t.step
            for t in TRANSITIONS
            if t.state == self.state
            and (
                self.state == START
                or (self.channel in t.channels and self.coordination in t.coordinations)
            )
        ]
        if self.state in CORRECTABLE_STATES:
            steps.append("corrected")
        return list(dict.fromkeys(steps))

    def transition(self, step: str) -> Transition:
        for t in TRANSITIONS:
            if (
                t.state == self.state
                and t.step == step
                and (
                    self.state == START
                    or (self.channel in t.channels and self.coordination in t.coordinations)
                )
            ):
                return t
        allowed = ", ".join(self.allowed_steps()) or "none (the case is closed)"
        raise StepNotAllowed(
            f"step {step!r} is not allowed in state {self.state!r}; allowed next: {allowed}",
            field="type",
        )

    def rating_transition(self, step: str) -> Transition:
        """The rating table's transition for ``step`` (``rated:…`` and the rectification)."""
        if step.startswith("rated:") and self.state not in RATEABLE_STATES:
            raise StepNotAllowed(
                f"a case is rated after its result was delivered or it was refused; it is in "
                f"state {self.state!r}",
                field="type",
            )
        for t in RATING_TRANSITIONS:
            if t.state == self.rating and t.step == step:
                return t
        allowed = [t.step for t in RATING_TRANSITIONS if t.state == self.rating]
        if step.startswith("rated:") and self.rating != UNRATED:
            why = "the case was already rated (once per case; the slip's code is used up)"
        else:
            why = f"rating state {self.rating!r} allows next: {', '.join(allowed) or 'none'}"
        raise StepNotAllowed(f"step {step!r} is not allowed: {why}", field="type")

    def actor_bodies(self, actor: str) -> tuple[str, ...]:
        """The bodies that may act as ``actor`` on this case now."""
        if actor == "intake":
            return (self.intake_body,)
        if actor == "window":
            return (self.intake_body,) if self.channel == "proxy" else ()
        if actor == "home":
            return (self.home_body,)
        if actor == "rater":
            return tuple(dict.fromkeys((self.intake_body, self.home_body)))
        if actor == "origin":
            return tuple(b for b in self.origin_bodies if b not in self.co_handled_by)
        return ()


def _opened(envelope: Envelope) -> CaseState:
    body = envelope.body
    return CaseState(
        state="received",
        item=body["item"],
        channel=body["channel"],
        coordination=body["coordination"],
        catalog_version=body["catalog_version"],
        jurisdiction=body["jurisdiction"],
        intake_body=envelope.body_id,
        home_body=body["home_body"],
        origin_bodies=tuple(body.get("origin_bodies", [])),
        steps_by_body={envelope.seq: envelope.body_id},
        rating_code=body.get("rating_code", b""),
    )


def advance(state: CaseState, envelope: Envelope) -> CaseState:
    """The state after a step already accepted (no entitlement checks: replaying stored steps).

    A step the table does not allow leaves the state as it was; the audit reports it.
    """
    try:
        step = check_body(envelope.type, envelope.body)
        if state.state == START:
            return _opened(envelope) if step == "received" else state
        taken = {**state.steps_by_body, envelope.seq: envelope.body_id}
        if step == "corrected":
            return replace(state, steps_by_body=taken)
        if envelope.type in RATING_STEP_TYPES:
            return replace(state, rating=state.rating_transition(step).next, steps_by_body=taken)
        new = replace(state, state=state.transition(step).next, steps_by_body=taken)
    except LedgerError:  # a step the rules refuse (only SignedCoreOnly stores one)
        return state
    if step == "transferred":
        new = replace(new, home_body=envelope.body["to_body"])
    elif step == "reopened":
        # A reopened joint case is co-handled afresh by its origin bodies.
        new = replace(new, co_handled_by=frozenset(), extended_days=0)
    elif step == "extended":
        new = replace(new, extended_days=state.extended_days + envelope.body["working_days"])
    elif step == "co_handled":
        new = replace(new, co_handled_by=state.co_handled_by | {envelope.body_id})
    return new
