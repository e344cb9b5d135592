"""The rectification of a poor rating (差评整改): its stages, allowed working days and deadlines.

A 差评 opens the rectification; each stage runs from the receipt time of the step that opened
it to the step that ends it, and has its own deadline:

- ``verify`` (核实): from ``rated`` (差评) to ``rectification_verified``, 3 working days;
- ``rectify`` (整改): from ``rectification_verified:upheld`` to ``rectified``, 15;
- ``follow_up`` (回访): from ``rectified`` (or ``…:not_upheld``) to ``followed_up``, 5;
- ``close`` (办结): from ``followed_up`` to ``rectification_closed``, 2 (defaults).

The allowed days are data (``rectification_limits.json``, per region), counted on the
region's published working-day calendar for the case's place
(:class:`~ledger.calendars.WorkingCalendar`: holidays and 调休 make-up days; a deadline counted
through a year with no published calendar is ``provisional``, weekends only, never a silent
guess). A stage is *late* when it ended after its deadline, or is still open at an "as of" date
past it; that is computed when asked, never stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources

from ledger.calendars import WorkingCalendar, china_date
from ledger.envelope import Envelope
from ledger.workflow.fields import POOR_LEVELS

STAGES = ("verify", "rectify", "follow_up", "close")
# The stage each step ends and the stage it opens (None: ends the rectification).
_ENDS = {
    "rectification_verified": "verify",
    "rectified": "rectify",
    "followed_up": "follow_up",
    "rectification_closed": "close",
}


def _opens(envelope: Envelope) -> str | None:
    if envelope.type == "rated":
        return "verify" if envelope.body["level"] in POOR_LEVELS else None
    if envelope.type == "rectification_verified":
        return "rectify" if envelope.body["result"] == "upheld" else "follow_up"
    return {"rectified": "follow_up", "followed_up": "close"}.get(envelope.type)


def rectification_limits(region: str) -> Mapping[str, int]:
    """Working days allowed per stage in ``region`` (its own standard, else the default)."""
    data = json.loads(
        resources.files("ledger.ratings").joinpath("rectification_limits.json").read_text("utf-8")
    )
    limits = {**data["default"], **data["regions"].get(region, {})}
    return {stage: int(limits[stage]) for stage in STAGES}


@dataclass(frozen=True)
class Stage:
    name: str
    started: date
    deadline: date
    working_days_allowed: int
    ended: date | None
    provisional: bool = False  # counted through a year with no published calendar

    def late(self, as_of: date) -> bool:
        """Ended after its deadline, or still open past it on ``as_of``."""
        return (self.ended or as_of) > self.deadline

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "started": self.started.isoformat(),
            "deadline": self.deadline.isoformat(),
            "working_days_allowed": self.working_days_allowed,
            "ended": self.ended.isoformat() if self.ended else None,
            "provisional": self.provisional,
        }


def rectification_stages(
    steps: Iterable[tuple[Envelope, int]],
    limits: Mapping[str, int],
    calendar: WorkingCalendar,
) -> list[Stage]:
    """The stages of a case's rectification from its steps ``(envelope, receipt time)`` in
    order, counted on ``calendar`` (the case's place): empty when the case has no 差评."""

    def stage(name: str, started: date, ended: date | None) -> Stage:
        counted = calendar.add_working_days(started, limits[name])
        return Stage(name, started, counted.value, limits[name], ended, counted.provisional)

    stages: list[Stage] = []
    open_stage: tuple[str, date] | None = None
    for envelope, received_at in steps:
        day = china_date(received_at)
        if open_stage is not None and _ENDS.get(envelope.type) == open_stage[0]:
            stages.append(stage(*open_stage, day))
            open_stage = None
        opened = _opens(envelope)
        if opened is not None:
            open_stage = (opened, day)
    if open_stage is not None:
        stages.append(stage(*open_stage, None))
    return stages
