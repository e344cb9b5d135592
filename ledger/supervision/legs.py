"""The deadline engine: from a case's steps to its legs, each with a deadline and a status.

Pure: :func:`case_legs` reads the steps (their table step, receipt time and body), the limits
of the case's pinned catalog item (:func:`ledger.supervision.time_limits.limits_for`) and the
case's :class:`~ledger.calendars.WorkingCalendar`; :func:`judge` turns a stored
:class:`Leg` into a status at an "as of" instant. docs/supervision.md is normative.

A *leg* is a run of states during which one body owes the next step (states below); it opens
with the step that enters the run and closes with the step that leaves it:

==============  =================================================  ==========================
leg             states                                             paused in
==============  =================================================  ==========================
``check``       ``received``                                       —
``mail``        ``checked``, ``to_home``, ``to_home_problem``      —
``acceptance``  ``at_home``                                        —
``decision``    ``accepted``, ``suspended``                        ``suspended``
``delivery``    ``decided`` and the states of the result's way     —
==============  =================================================  ==========================

Supplement rounds lie between legs (a supplement notice closes ``check`` or ``acceptance``;
the supplemented file opens a new one), so the applicant's time is never counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ledger.calendars import WorkingCalendar, china_date
from ledger.catalog_limits import LegTimeLimit
from ledger.workflow.table import START, TRANSITIONS

__all__ = [
    "DUE_SOON_DAYS",
    "LEG_STATES",
    "PAUSED_STATES",
    "STATUSES",
    "Leg",
    "StepFact",
    "case_legs",
    "judge",
    "state_after",
]

LEG_STATES: Mapping[str, frozenset[str]] = {
    "check": frozenset({"received"}),
    "mail": frozenset({"checked", "to_home", "to_home_problem"}),
    "acceptance": frozenset({"at_home"}),
    "decision": frozenset({"accepted", "suspended"}),
    "delivery": frozenset(
        {
            "decided",
            "to_applicant",
            "to_applicant_problem",
            "to_window",
            "to_window_problem",
            "at_window",
        }
    ),
}
PAUSED_STATES = frozenset({"suspended"})
STATUSES = ("on_time", "due_soon", "overdue", "closed_on_time", "closed_late", "provisional")
#: An open leg is ``due_soon`` when its deadline is at most this many working days away.
DUE_SOON_DAYS = 2


@dataclass(frozen=True)
class StepFact:
    """What the engine reads of one stored step: signed facts only."""

    seq: int
    step: str  # the table step, e.g. ``decided:approved`` (docs/workflows.md)
    received_at: int  # the node's receipt time, microseconds since the epoch
    body: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Leg:
    """One leg of a case, as stored by read models: everything but the status, which depends
    on the moment it is asked (:func:`judge`). Dates are China (+08:00) dates."""

    name: str
    started: dt.date
    opened_by: int  # seq of the step that opened the leg
    deadline: dt.date  # the promised limit, pauses and extensions included
    working_days_allowed: int  # promised days plus approved extensions
    working_days_paused: int
    legal_deadline: dt.date | None  # None: no legal limit sourced for this item and leg
    legal_basis: str
    legal_days_allowed: int | None = None  # the legal limit plus approved extensions
    pauses: tuple[tuple[dt.date, dt.date], ...] = ()  # (pausing date, resuming date)
    closed: dt.date | None = None  # the date of the step that closed the leg
    closed_by: int | None = None
    paused_since: dt.date | None = None  # an open pause (the deadline then moves daily)
    extended_days: int = 0
    deemed_from_arrival: bool = False  # Art. 32: accepted from arrival, no timely notice
    provisional: bool = False  # counted through a year with no published calendar

    def handling_days(self, calendar: WorkingCalendar) -> int | None:
        """Working days a closed decision leg took, pauses excluded (the supervisors' and
        the bulletin's "handling days"); None for other legs and open ones."""
        if self.name != "decision" or self.closed is None:
            return None
        worked: int = calendar.working_days(self.started, self.closed).value
        return worked - self.working_days_paused

    @property
    def stands_still(self) -> bool:
        """Open and paused before its deadline day: no deadline runs until it resumes. Paused
        on that day or later, no working day is left: it keeps its deadline and is overdue
        after it, paused or not (:func:`judge`)."""
        return (
            self.closed is None
            and self.paused_since is not None
            and self.paused_since < self.deadline
        )

    @property
    def beyond_legal_limit(self) -> bool:
        """Closed after, or still open past, the legal limit; judged without "as of" only for
        closed legs (:func:`judge` gives the open ones)."""
        if self.legal_deadline is None or self.closed is None:
            return False
        return self.closed > self.legal_deadline

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("started", "deadline", "legal_deadline", "closed", "paused_since"):
            value = data[name]
            data[name] = value.isoformat() if value is not None else None
        data["pauses"] = [[a.isoformat(), b.isoformat()] for a, b in self.pauses]
        return data


def _next_state(state: str, step: str, channel: str, coordination: str) -> str:
    if step == "corrected":
        return state
    for t in TRANSITIONS:
        fits = state == START or (channel in t.channels and coordination in t.coordinations)
        if t.state == state and t.step == step and fits:
            return t.next
    return state  # a step the table refuses leaves the state (the audit reports it)


def state_after(steps: Sequence[StepFact], *, channel: str, coordination: str) -> str:
    """The workflow state the steps lead to (as the table has it; refused steps change none)."""
    state = START
    for fact in sorted(steps, key=lambda s: s.seq):
        state = _next_state(state, fact.step, channel, coordination)
    return state


def _leg_of(state: str) -> str | None:
    return next((name for name, states in LEG_STATES.items() if state in states), None)


@dataclass
class _Open:
    name: str
    started: dt.date
    opened_by: int
    pauses: list[tuple[dt.date, dt.date]] = field(default_factory=list)
    paused_since: dt.date | None = None
    extended_days: int = 0
    deemed_from_arrival: bool = False


def _finish(
    leg: _Open,
    limit: LegTimeLimit,
    calendar: WorkingCalendar,
    closed: tuple[dt.date, int] | None,
) -> Leg:
    pauses = list(leg.pauses)
    paused_days = sum(calendar.working_days(a, b).value for a, b in pauses)
    allowed = limit.promised_days + leg.extended_days
    deadline = calendar.add_working_days(leg.started, allowed, pauses)
    legal, legal_allowed = None, None
    provisional = deadline.provisional
    if limit.legal_days is not None:
        legal_allowed = limit.legal_days + leg.extended_days
        counted = calendar.add_working_days(leg.started, legal_allowed, pauses)
        legal, provisional = counted.value, provisional or counted.provisional
    if leg.paused_since is not None:
        # Still paused: the clock stops after the pausing date, so count to there.
        provisional = provisional or not calendar.published(leg.paused_since)
    return Leg(
        name=leg.name,
        started=leg.started,
        opened_by=leg.opened_by,
        deadline=deadline.value,
        working_days_allowed=allowed,
        working_days_paused=paused_days,
        legal_deadline=legal,
        legal_basis=limit.legal_basis if limit.legal_days is not None else "",
        legal_days_allowed=legal_allowed,
        pauses=tuple(pauses),
        closed=closed[0] if closed else None,
        closed_by=closed[1] if closed else None,
        paused_since=leg.paused_since,
        extended_days=leg.extended_days,
        deemed_from_arrival=leg.deemed_from_arrival,
        provisional=provisional,
    )


def case_legs(
    steps: Sequence[StepFact],
    *,
    channel: str,
    coordination: str,
    limits: Mapping[str, LegTimeLimit],
    calendar: WorkingCalendar,
) -> list[Leg]:
    """Every leg of a case, in the order they opened (docs/supervision.md §4)."""
    legs: list[Leg] = []
    state = START
    current: _Open | None = None
    last_arrival: tuple[dt.date, int] | None = None  # when the file last reached the home body
    for fact in sorted(steps, key=lambda s: s.seq):
        day = china_date(fact.received_at)
        after = _next_state(state, fact.step, channel, coordination)
        if current is not None and fact.step == "extended":
            current.extended_days += int(fact.body.get("working_days", 0))
        name = _leg_of(after)
        if current is not None and name == current.name and after != state:
            # Within the leg: a pause starts or ends.
            if after in PAUSED_STATES and current.paused_since is None:
                current.paused_since = day
            elif after not in PAUSED_STATES and current.paused_since is not None:
                current.pauses.append((current.paused_since, day))
                current.paused_since = None
        elif current is not None and name != current.name:
            if current.paused_since is not None:  # left the leg while paused (withdrawn)
                current.pauses.append((current.paused_since, day))
                current.paused_since = None
            legs.append(_finish(current, limits[current.name], calendar, (day, fact.seq)))
            current = None
        if current is None and name is not None and after != state:
            current = _Open(name, day, fact.seq)
            if name == "acceptance":
                last_arrival = (day, fact.seq)
            if name == "decision" and last_arrival is not None and legs:
                _deemed_acceptance(current, legs[-1], last_arrival)
        state = after
    if current is not None:
        legs.append(_finish(current, limits[current.name], calendar, None))
    return legs


def _deemed_acceptance(decision: _Open, acceptance: Leg, arrival: tuple[dt.date, int]) -> None:
    """Art. 32: no supplement notice within the acceptance leg's legal limit (5 working days
    of arrival) → accepted from arrival, so the decision leg starts at the arrival when
    ``accepted`` came later. Items without a legal acceptance limit start at ``accepted``."""
    if acceptance.name != "acceptance" or acceptance.closed_by != decision.opened_by:
        return
    if acceptance.legal_deadline is None or acceptance.closed is None:
        return
    if acceptance.closed > acceptance.legal_deadline:
        decision.started, decision.deemed_from_arrival = arrival[0], True


def judge(leg: Leg, as_of: dt.date, calendar: WorkingCalendar) -> tuple[str, bool]:
    """A leg's status and ``beyond_legal_limit`` flag at the China date ``as_of``.

    Closed legs: ``closed_on_time`` / ``closed_late`` against the promised deadline. Open legs:
    ``overdue`` after the deadline, ``due_soon`` within :data:`DUE_SOON_DAYS` working days of
    it, else ``on_time``; ``provisional`` replaces ``on_time`` and ``due_soon`` when the
    deadline rests on an unpublished year (an overdue leg stays overdue: today is known). A
    paused leg's deadline moves with every working day of the pause, so it is judged with the
    pause counted up to ``as_of``.
    """
    if leg.closed is not None:
        status = "closed_on_time" if leg.closed <= leg.deadline else "closed_late"
        return status, leg.beyond_legal_limit
    deadline, legal = leg.deadline, leg.legal_deadline
    provisional = leg.provisional
    if leg.paused_since is not None and as_of > leg.paused_since:
        pauses = (*leg.pauses, (leg.paused_since, as_of))
        moved = calendar.add_working_days(leg.started, leg.working_days_allowed, pauses)
        deadline, provisional = moved.value, provisional or moved.provisional
        if leg.legal_days_allowed is not None:
            legal = calendar.add_working_days(leg.started, leg.legal_days_allowed, pauses).value
    beyond = legal is not None and as_of > legal
    if as_of > deadline:
        return "overdue", beyond
    if provisional:
        return "provisional", beyond
    if leg.paused_since is None and calendar.working_days(as_of, deadline).value <= DUE_SOON_DAYS:
        return "due_soon", beyond
    return "on_time", beyond
