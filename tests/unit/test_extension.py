"""延期: an extension is signed by the body's head, within the pinned item's legal maximum."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ledger.catalog import load_catalog
from ledger.errors import LedgerError, StepNotAllowed
from ledger.keys import CatalogVersions
from ledger.workflow import Entitlement, NotEntitled
from tests.support.cases import (
    BODY_ORGS,
    COMBOS,
    REGION,
    UnitCase,
    amended_catalog,
    body_view,
    drive,
    graph,
    shortest_paths,
)

ONLINE = COMBOS[0]
PERMIT = ({"item": ONLINE.item, "field": "item_type", "value": "行政许可"},)
PERMIT_COMBO = replace(ONLINE, catalog_changes=PERMIT)


def entitlement(head: bool) -> Entitlement:
    views = {b: body_view(b, region, org) for b, (region, org) in BODY_ORGS.items()}
    return Entitlement(views.get, REGION, lambda kid: head)


def accepted_case(combo: object = PERMIT_COMBO, *, head: bool = True) -> UnitCase:
    catalogs = CatalogVersions([load_catalog(REGION), amended_catalog(list(PERMIT))])
    case = UnitCase(combo, catalogs, entitlement(head))  # type: ignore[arg-type]
    drive(case, shortest_paths(graph("online", "single"))["accepted"])
    return case


def extend(case: UnitCase, days: int, approval: str = "head_of_body") -> None:
    body = {"working_days": days, "approval": approval, "reason": "需现场核查"}
    case.take(case.combo.home, "extended", body)


def refusal(error: pytest.ExceptionInfo[LedgerError]) -> tuple[str, str | None]:
    return error.value.reason, error.value.field


def test_head_extends_a_permit_up_to_the_legal_ten_days() -> None:
    case = accepted_case()
    extend(case, 6)
    extend(case, 4)
    assert (case.state, case.flow.extended_days) == ("accepted", 10)
    with pytest.raises(StepNotAllowed) as error:
        extend(case, 1)
    assert refusal(error) == ("illegal_step", "body.working_days")
    assert "legal maximum 10" in error.value.detail


def test_an_officer_who_is_not_the_head_may_not_extend() -> None:
    case = accepted_case(head=False)
    with pytest.raises(NotEntitled) as error:
        extend(case, 5)
    assert refusal(error) == ("not_entitled", "kid")


def test_a_permit_extension_is_the_heads_not_the_governments() -> None:
    case = accepted_case()
    with pytest.raises(StepNotAllowed) as error:
        extend(case, 5, approval="government")
    assert refusal(error) == ("illegal_step", "body.approval")


def test_an_item_without_a_legal_limit_has_no_extension() -> None:
    catalogs = CatalogVersions([load_catalog(REGION)])
    case = UnitCase(ONLINE, catalogs, entitlement(True))
    drive(case, shortest_paths(graph("online", "single"))["accepted"])
    with pytest.raises(StepNotAllowed) as error:
        extend(case, 5)
    assert "legal limit not sourced" in error.value.detail
