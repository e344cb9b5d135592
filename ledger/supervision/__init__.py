"""Supervision: working-day calendars, time limits and the deadlines of a case's legs.

- :mod:`~ledger.calendars`: :class:`CalendarYear` (a signed year of holidays and
  make-up workdays), :class:`CalendarBook` (every published year), :class:`WorkingCalendar`
  (one place's working days; weekends only, *provisional*, in unpublished years);
- :mod:`~ledger.supervision.time_limits`: the limit of each leg (catalog, statutory defaults
  for 行政许可, the region's :class:`ServiceStandard`);
- :mod:`~ledger.supervision.legs`: :func:`case_legs` (steps → :class:`Leg` list) and
  :func:`judge` (a leg's status at an "as of" date).

Everything is derived from signed facts, so an auditor recomputes any deadline
(docs/supervision.md is normative).
"""

from ledger.calendars import (
    CHINA,
    CalendarBook,
    CalendarError,
    CalendarYear,
    Count,
    DateCalendar,
    WorkingCalendar,
    china_date,
    division_covers,
)
from ledger.supervision.legs import (
    DUE_SOON_DAYS,
    LEG_STATES,
    PAUSED_STATES,
    STATUSES,
    Leg,
    StepFact,
    case_legs,
    judge,
)
from ledger.supervision.time_limits import (
    ADMINISTRATIVE_LICENSE,
    LEGAL_LIMIT_NOT_SOURCED,
    ServiceStandard,
    limits_for,
    statutory_limits,
)

__all__ = [
    "ADMINISTRATIVE_LICENSE",
    "CHINA",
    "DUE_SOON_DAYS",
    "LEGAL_LIMIT_NOT_SOURCED",
    "LEG_STATES",
    "PAUSED_STATES",
    "STATUSES",
    "CalendarBook",
    "CalendarError",
    "CalendarYear",
    "Count",
    "DateCalendar",
    "Leg",
    "ServiceStandard",
    "StepFact",
    "WorkingCalendar",
    "case_legs",
    "china_date",
    "division_covers",
    "judge",
    "limits_for",
    "statutory_limits",
]
