"""The rectification of a poor rating (差评整改): its stages, allowed working days and deadlines.

A 差评 opens the rectification; each stage runs from the receipt time of the step that opened
it to the step that ends it, and has its own deadline:

- ``verify`` (核实): from ``rated`` (差评) to ``rectification_verified``, 3 working days;
- ``rectify`` (整改): from ``rectification_verified:upheld`` to ``rectified``, 15;
- ``follow_up`` (回访): from ``rectified`` (or ``…:not_upheld``) to ``followed_up``, 5;
- ``close`` (办结): from ``followed_up`` to ``rectification_closed``, 2 (defaults).

The allowed days are data (``rectification_limits.json``, per region), counted on a
:class:`~ledger.ratings.calendar.WorkingDayCalendar`. A stage is *late* when it ended after its
deadline, or is still open at an "as of" date past it; that is computed when asked, never
stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources

from ledger.envelope import Envelope
from ledger.ratings.calendar import WorkingDayCalendar, china_date
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
        }


def rectification_stages(
    steps: Iterable[tuple[Envelope, int]],
    limits: Mapping[str, int],
    calendar: WorkingDayCalendar,
) -> list[Stage]:
    """The stages of a case's rectification from its steps ``(envelope, receipt time)`` in
    order: empty when the case has no 差评."""
    stages: list[Stage] = []
    open_stage: tuple[str, date] | None = None
    for envelope, received_at in steps:
        day = china_date(received_at)
        if open_stage is not None and _ENDS.get(envelope.type) == open_stage[0]:
            name, started = open_stage
            deadline = calendar.add_working_days(started, limits[name])
            stages.append(Stage(name, started, deadline, limits[name], day))
            open_stage = None
        opened = _opens(envelope)
        if opened is not None:
            open_stage = (opened, day)
    if open_stage is not None:
        name, started = open_stage
        deadline = calendar.add_working_days(started, limits[name])
        stages.append(Stage(name, started, deadline, limits[name], None))
    return stages
