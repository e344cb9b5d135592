"""The 收件 page lists the items a body may receive and through which channels
(``ledger.workflow.entitlement.receivable_channels``): exactly those ``check_received`` lets
that body receive, for every item of the packaged catalog and every body of the test world."""

from __future__ import annotations

import uuid

import pytest

from ledger.catalog import load_catalog
from ledger.envelope import ZERO_HASH, build_event, parse_event
from ledger.errors import LedgerError
from ledger.workflow import check_received
from ledger.workflow.entitlement import receivable_channels
from tests.support.cases import (
    BODY_ORGS,
    LEDGER,
    REGION,
    body_view,
    fake_catalogs,
    fake_entitlement,
    packaged_version,
)
from tests.support.world import seeded

SIGNER = seeded("officer/receivable")
HOME = "510104-RS"  # a county handler of 人力资源社会保障 covering 510104


def _received_by(body_id: str, item: str, channel: str, coordination: str) -> bool:
    home = HOME if channel == "proxy" else body_id
    # a place the home body covers (the page leaves the jurisdiction to the clerk)
    division = str(BODY_ORGS[home][1]["division"])
    jurisdiction = division if division.startswith("51") else "510104"
    body = {
        "item": item,
        "channel": channel,
        "coordination": coordination,
        "catalog_version": packaged_version(),
        "applicant": {"ref": "ap_" + "a" * 26, "commitments": {"name": bytes(32)}},
        "materials": [{"name": "申请表", "sha256": bytes(32)}],
        "home_body": home,
        "jurisdiction": jurisdiction,
        "origin_bodies": ["320105-RS"] if coordination == "joint" else [],
    }
    envelope = parse_event(
        build_event(
            SIGNER,
            ledger=LEDGER,
            case_id=uuid.uuid4(),
            seq=1,
            event_type="received",
            time=1,
            body_id=body_id,
            officer_id="o-1",
            prev=ZERO_HASH,
            body=body,
        )
    )
    try:
        check_received(envelope, fake_catalogs(), fake_entitlement())
    except LedgerError:
        return False
    return True


# The home and origin bodies of the world handle 人力资源社会保障 items only: on those, whether
# the step passes depends on the receiving body alone.
HR_ITEMS = [
    item
    for item in load_catalog(REGION).items
    if "人力资源社会保障" in (item.sector, *item.cooperating_sectors)
]


@pytest.mark.parametrize("body_id", sorted(BODY_ORGS))
def test_the_channels_listed_are_those_the_received_step_allows(body_id: str) -> None:
    region, org = BODY_ORGS[body_id]
    view = body_view(body_id, region, org)
    for item in HR_ITEMS:
        listed = receivable_channels(view, item)
        for channel in item.channels:
            allowed = _received_by(body_id, item.item_key, channel, item.coordination)
            assert (channel in listed) == allowed, (body_id, item.item_key, channel)


def test_each_kind_of_body_is_listed_something_and_not_everything() -> None:
    listed = {
        body_id: {
            (item.item_key, channel)
            for item in HR_ITEMS
            for channel in receivable_channels(body_view(body_id, *BODY_ORGS[body_id]), item)
        }
        for body_id in BODY_ORGS
    }
    assert ("510000/2/23", "proxy") in listed["320105-ZWFW"]  # another region's window
    assert ("510000/2/23", "proxy") in listed["510000-ZWFW"]  # the region's own window
    assert ("510000/1/5", "online") in listed[HOME]  # a handler receives online
    assert not any(channel == "proxy" for _, channel in listed[HOME])
    assert listed["320105-RS"] == set()  # another region's handler
    assert any(item.status != "active" for item in HR_ITEMS)  # and none of those is listed
