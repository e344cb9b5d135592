"""The worklist's 待本部门办理 list, read from the case summaries in one query.

A body's cases that wait for its step, from ``readmodel_case_parties`` joined with
``readmodel_cases``, in ledger order.

"Waits for" is the workflow's actor rule (``ledger.workflow.awaiting.AWAITED``): the body is
the case's intake body and the pair (state, channel) is one the intake body acts in, or its
home body likewise. The filter is on the cases table's columns only, so the query walks the
body's ``(party, opened_index)`` index in order and stops after the page: no sort of the
body's cases (tested on the query plan, ``tests/integration/test_read_models.py``).
"""

from __future__ import annotations

from typing import Any

from adapters.readmodel_rows import StoreParts, summary_of_row
from ledger.case_listing import CaseSummary
from ledger.workflow.awaiting import AWAITED

_COLUMNS = "c.case_id, c.state, c.item, c.channel, c.home_body, c.intake_body, c.steps"


def _pairs(role: str) -> list[str]:
    return sorted(f"{state}/{channel}" for state, channel in AWAITED[role])


class AwaitedCases(StoreParts):
    """The read-model store's awaited cases (a mixin of ``SqlReadModelStore``)."""

    def awaiting_summaries(
        self, body_id: str, *, offset: int = 0, limit: int = 50
    ) -> list[CaseSummary]:
        """At most ``limit`` cases (after ``offset`` of them) waiting for a step of
        ``body_id``, in ledger order. No total: counting would read every case of the body;
        ask for ``limit + 1`` to know whether a next page exists."""
        intake, home = _pairs("intake"), _pairs("home")
        pair = "(c.state || '/' || c.channel)"
        params: list[Any] = [body_id, body_id, *intake, body_id, *home, limit, offset]
        with self._tx() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {_COLUMNS} FROM readmodel_case_parties p "
                    "JOIN readmodel_cases c ON c.case_id = p.case_id "
                    "WHERE p.party = ? AND ("
                    f"(c.intake_body = ? AND {pair} IN ({self._in(intake)})) OR "
                    f"(c.home_body = ? AND {pair} IN ({self._in(home)}))) "
                    "ORDER BY p.opened_index LIMIT ? OFFSET ?"
                ),
                params,
            )
            rows = cur.fetchall()
        # A body on these cases as intake or home body is a party of each; the other parties
        # are not read (a summary's parties serve access rules, not this page).
        return [summary_of_row(row, frozenset({row[4], row[5]})) for row in rows]
