"""The read-model store's tables, and how its rows are read back (``adapters/readmodels.py``;
docs/read-models.md describes each column)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date
from typing import Any, NamedTuple

from ledger.case_listing import CaseSummary
from ledger.ratings.rectification import Stage
from ledger.read_models import DEADLINES, SUMMARIES, CaseDays, CaseLeg, Leg, RatedCase

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS readmodel_tracking ("
    "projection TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    f"INSERT INTO readmodel_tracking VALUES ('{SUMMARIES}', 0) ON CONFLICT DO NOTHING",
    f"INSERT INTO readmodel_tracking VALUES ('{DEADLINES}', 0) ON CONFLICT DO NOTHING",
    "CREATE TABLE IF NOT EXISTS readmodel_cases ("
    "case_id TEXT PRIMARY KEY, opened_index BIGINT NOT NULL UNIQUE, state TEXT NOT NULL, "
    "item TEXT NOT NULL, channel TEXT NOT NULL, home_body TEXT NOT NULL, "
    "intake_body TEXT NOT NULL, steps BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS readmodel_cases_state ON readmodel_cases (state, opened_index)",
    "CREATE INDEX IF NOT EXISTS readmodel_cases_item ON readmodel_cases (item, opened_index)",
    "CREATE TABLE IF NOT EXISTS readmodel_case_parties ("
    "party TEXT NOT NULL, case_id TEXT NOT NULL, opened_index BIGINT NOT NULL, "
    "state TEXT NOT NULL, item TEXT NOT NULL, PRIMARY KEY (party, case_id))",
    "CREATE INDEX IF NOT EXISTS readmodel_parties_order "
    "ON readmodel_case_parties (party, opened_index)",
    "CREATE INDEX IF NOT EXISTS readmodel_parties_state "
    "ON readmodel_case_parties (party, state, opened_index)",
    "CREATE INDEX IF NOT EXISTS readmodel_parties_item "
    "ON readmodel_case_parties (party, item, opened_index)",
    "CREATE INDEX IF NOT EXISTS readmodel_parties_case ON readmodel_case_parties (case_id)",
    "CREATE TABLE IF NOT EXISTS readmodel_case_counts ("
    "party TEXT NOT NULL, state TEXT NOT NULL, item TEXT NOT NULL, n BIGINT NOT NULL, "
    "PRIMARY KEY (party, state, item))",
    # A rated case's rating and a 差评's rectification; stages as JSON (read whole, never
    # queried). ``poor`` 1 for a 差评; a good rating has no stages and no closed_on.
    "CREATE TABLE IF NOT EXISTS readmodel_ratings ("
    "case_id TEXT PRIMARY KEY, item TEXT NOT NULL, body TEXT NOT NULL, level TEXT NOT NULL, "
    "poor INTEGER NOT NULL, rated TEXT NOT NULL, closed_on TEXT, reach TEXT NOT NULL, "
    "stages TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS readmodel_ratings_body ON readmodel_ratings (body, rated)",
    "CREATE INDEX IF NOT EXISTS readmodel_ratings_open "
    "ON readmodel_ratings (poor, closed_on, body)",
    "CREATE INDEX IF NOT EXISTS readmodel_ratings_rated ON readmodel_ratings (rated)",
    # A finished month's bulletin as computed from the ledger (not a projection: no position);
    # ``made_on`` says which registry (and bulletin format) it counted on.
    "CREATE TABLE IF NOT EXISTS readmodel_bulletins ("
    "month TEXT PRIMARY KEY, made_on TEXT NOT NULL, document TEXT NOT NULL)",
    # Its older version held only the 差评 (case_rectifications): derived data, dropped.
    "DROP TABLE IF EXISTS readmodel_rectifications",
    "DELETE FROM readmodel_tracking WHERE projection = 'case_rectifications'",
)

DATED_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS readmodel_case_dated ("
    "kind TEXT NOT NULL, case_id TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, "
    "started TEXT NOT NULL, deadline TEXT, allowed INTEGER NOT NULL, paused INTEGER NOT NULL, "
    "closed INTEGER NOT NULL, provisional INTEGER NOT NULL, reach TEXT NOT NULL, "
    "closed_on TEXT, on_time INTEGER, handling_days INTEGER, "
    "PRIMARY KEY (kind, case_id, name))",
    "CREATE INDEX IF NOT EXISTS readmodel_dated_due "
    "ON readmodel_case_dated (kind, closed, deadline, case_id)",
    "CREATE INDEX IF NOT EXISTS readmodel_dated_body_due "
    "ON readmodel_case_dated (kind, body, closed, deadline, case_id)",
)
# The legs a month's bulletin counts closed: made once the table has its current shape (an
# older one has no ``closed_on``), by the store's upgrade step.
DATED_CLOSED_INDEX = (
    "CREATE INDEX IF NOT EXISTS readmodel_dated_closed_on ON readmodel_case_dated (kind, closed_on)"
)

# Every case's days (``case_ratings``, ledger.read_models.CaseDays): the bulletin of the month
# under way reads the cases received or closed in it by date, and its rows' keys from the
# (body, item, received) index alone. Made by an upgrade step, not with the schema: a node
# whose ratings were followed before this table existed follows them again from index 0.
CASE_DAYS_TABLE = "readmodel_case_days"
CASE_DAYS_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {CASE_DAYS_TABLE} ("
    "case_id TEXT PRIMARY KEY, item TEXT NOT NULL, body TEXT NOT NULL, received TEXT NOT NULL, "
    "closed TEXT)",
    f"CREATE INDEX IF NOT EXISTS readmodel_days_received ON {CASE_DAYS_TABLE} (received)",
    f"CREATE INDEX IF NOT EXISTS readmodel_days_closed ON {CASE_DAYS_TABLE} (closed)",
)
# An older table (10 columns: no ``reach``; 11: no closing facts) is dropped and rebuilt.
DATED_COLUMNS = 14
# The columns a stored leg is read back from (:func:`leg_of`), table alias ``d``.
LEG_COLUMNS = (
    "d.case_id, d.name, d.body, d.started, d.deadline, d.allowed, d.paused, d.closed, "
    "d.provisional, d.reach, d.closed_on, d.on_time, d.handling_days"
)


class DatedTally(NamedTuple):
    """One body's or item's legs: open, overdue at "as of", closed, closed by their deadline,
    and the median working days of its closed decision legs (None: none closed)."""

    open: int
    overdue: int
    closed: int
    closed_on_time: int
    median_handling_days: float | None


def leg_of(row: Sequence[Any]) -> CaseLeg:
    """A stored leg from the columns ``LEG_COLUMNS`` names, in that order."""
    return CaseLeg(
        uuid.UUID(row[0]),
        Leg(
            name=row[1],
            body=row[2],
            started=date.fromisoformat(row[3]),
            deadline=None if row[4] is None else date.fromisoformat(row[4]),
            working_days_allowed=int(row[5]),
            working_days_paused=int(row[6]),
            closed=bool(row[7]),
            provisional=bool(row[8]),
            reach=date.fromisoformat(row[9]),
            closed_on=None if row[10] is None else date.fromisoformat(row[10]),
            on_time=None if row[11] is None else bool(row[11]),
            handling_days=None if row[12] is None else int(row[12]),
        ),
    )


RATED_COLUMNS = "case_id, item, body, level, rated, closed_on, stages"
# A case's days and its rating, if any (``r`` NULL): ``case_days_of`` and ``rated_case_of``.
DAYS_AND_RATING_COLUMNS = (
    "k.case_id, k.item, k.body, k.received, k.closed, "
    "r.case_id, r.item, r.body, r.level, r.rated, r.closed_on, r.stages"
)


def rated_case_of(row: Sequence[Any]) -> RatedCase:
    """A stored rating from the columns ``RATED_COLUMNS`` names, in that order."""
    return RatedCase(
        uuid.UUID(row[0]),
        row[1],
        row[2],
        row[3],
        date.fromisoformat(row[4]),
        None if row[5] is None else date.fromisoformat(row[5]),
        tuple(stage_of(stage) for stage in json.loads(row[6])),
    )


def case_days_of(row: Sequence[Any]) -> CaseDays:
    """A case's stored days from the columns ``DAYS_AND_RATING_COLUMNS`` names first."""
    return CaseDays(
        uuid.UUID(row[0]),
        row[1],
        row[2],
        date.fromisoformat(row[3]),
        None if row[4] is None else date.fromisoformat(row[4]),
    )


def stage_of(stored: Mapping[str, Any]) -> Stage:
    """A stage from its stored JSON (``Stage.as_dict``)."""
    ended = stored["ended"]
    return Stage(
        stored["name"],
        date.fromisoformat(stored["started"]),
        date.fromisoformat(stored["deadline"]),
        int(stored["working_days_allowed"]),
        None if ended is None else date.fromisoformat(ended),
        bool(stored["provisional"]),
    )


def summary_of_row(row: Sequence[Any], parties: frozenset[str]) -> CaseSummary:
    """A case summary from a ``readmodel_cases`` row read as (case_id, state, item, channel,
    home_body, intake_body, steps), and the case's parties."""
    return CaseSummary(
        case_id=uuid.UUID(row[0]),
        state=row[1],
        item=row[2],
        channel=row[3],
        home_body=row[4],
        intake_body=row[5],
        steps=int(row[6]),
        parties=parties,
    )


class StoreParts:
    """What the read-model store's mixins (kept bulletins, ratings) use of ``SqlStore`` and
    ``SqlReadModelStore``: the placeholder, a transaction, placeholders for a list."""

    _p: str

    def _tx(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _sql(self, statement: str) -> str:
        raise NotImplementedError

    def _in(self, values: Sequence[str]) -> str:
        raise NotImplementedError
