"""Listing cases: the port every listing reads through, and today's implementation.

``GET /cases``, ``tongban case list`` and the service's listing rules (``ledger.access``) read
case *summaries* through :class:`CaseListing`, never aggregates. The port is shaped for a
projection kept beside the ledger: a summary holds only what a listing shows
or filters on, cases come in ledger order (the ledger index of the step that opened them),
:attr:`CaseQuery.after` continues after a case id (a key that stays put as cases are added),
and every answer says which ledger index it reflects (:attr:`CaseSummaries.as_of`: a
projection may lag the ledger; today's implementation reflects at least that index).

:class:`ReplayedCaseListing` rebuilds every case from its events on every call (tests, and a
node opened without read models); a node lists through the projection kept beside the ledger,
``ledger.read_models.ProjectedCaseListing`` (``docs/read-models.md``). Both honour
:attr:`CaseQuery.min_index`.

:func:`parties` is the rule of who is *on* a case (``ledger.access`` lets them read it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from ledger.domain import Case
from ledger.errors import IndexBeyondHead, UnknownCase


def parties(case: Case) -> frozenset[str]:
    """The bodies on a case: intake, home (now and before), origins, and every step's body."""
    flow = case.flow
    return frozenset(
        {
            flow.intake_body,
            flow.home_body,
            *flow.origin_bodies,
            *(body for _, _, body, _ in case.steps),
        }
        - {""}
    )


@dataclass(frozen=True)
class CaseSummary:
    """What a listing shows of one case."""

    case_id: uuid.UUID
    state: str
    item: str
    channel: str
    home_body: str
    intake_body: str
    steps: int  # the case's newest seq
    parties: frozenset[str]

    @classmethod
    def of(cls, case: Case) -> CaseSummary:
        flow = case.flow
        return cls(
            case_id=case.id,
            state=flow.state,
            item=flow.item,
            channel=flow.channel,
            home_body=flow.home_body,
            intake_body=flow.intake_body,
            steps=case.version,
            parties=parties(case),
        )


@dataclass(frozen=True)
class CaseQuery:
    """Which cases, and which page of them. Filters left None admit every case."""

    body: str | None = None  # only cases this body is a party to
    state: str | None = None  # workflow state (docs/workflows.md)
    item: str | None = None  # catalog item key, e.g. 510000/1/8
    after: uuid.UUID | None = None  # only cases opened after this one (ledger order)
    offset: int = 0  # matching cases skipped (after ``after``)
    limit: int | None = None  # at most this many; None: all
    min_index: int = 0  # answer only once the listing reflects at least this ledger index

    def admits(self, summary: CaseSummary) -> bool:
        return (
            (self.body is None or self.body in summary.parties)
            and (self.state is None or summary.state == self.state)
            and (self.item is None or summary.item == self.item)
        )


@dataclass(frozen=True)
class CaseSummaries:
    """One page of a listing."""

    cases: tuple[CaseSummary, ...]
    total: int  # cases matching the filters, over every page (``after`` and paging aside)
    as_of: int  # the ledger index the listing reflects


class CaseListing(Protocol):
    """The read port of case listings (``ledger.access`` and the CLI declare what they need
    of a listing here)."""

    def list_cases(self, query: CaseQuery) -> CaseSummaries:
        """The cases ``query`` admits, in ledger order; raises
        :class:`~ledger.errors.UnknownCase` (field ``after``) when ``after`` names no case."""
        ...


class LedgerHead(Protocol):
    """The one thing a listing reads of the store: the ledger index it reflects."""

    def max_index(self) -> int: ...


class CaseSource(Protocol):
    """What :class:`ReplayedCaseListing` reads of the ledger (``LedgerApplication``)."""

    @property
    def store(self) -> LedgerHead: ...

    def case_ids(self) -> list[uuid.UUID]: ...

    def get_case(self, case_id: uuid.UUID) -> Case: ...


class ReplayedCaseListing:
    """:class:`CaseListing` that rebuilds every case on every call (no state of its own)."""

    def __init__(self, ledger: CaseSource):
        self.ledger = ledger

    def list_cases(self, query: CaseQuery) -> CaseSummaries:
        # Read before the cases: the listing then holds at least everything up to it.
        as_of = self.ledger.store.max_index()
        if query.min_index > as_of:
            raise IndexBeyondHead(
                f"the ledger holds index {as_of}; no object has index {query.min_index} yet",
                field="min_index",
            )
        case_ids = self.ledger.case_ids()
        start = 0
        if query.after is not None:
            if query.after not in case_ids:
                raise UnknownCase(f"no case {query.after}", field="after")
            start = case_ids.index(query.after) + 1
        matching: list[CaseSummary] = []
        total = 0
        for position, case_id in enumerate(case_ids):
            summary = CaseSummary.of(self.ledger.get_case(case_id))
            if query.admits(summary):
                total += 1
                if position >= start:
                    matching.append(summary)
        end = None if query.limit is None else query.offset + query.limit
        return CaseSummaries(tuple(matching[query.offset : end]), total, as_of)
