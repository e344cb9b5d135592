"""Use grants (``tongban/license-grant/v1``, docs/license.md §12.3): shape, signature, admission."""

from __future__ import annotations

from typing import Any

import pytest

from ledger import canonical
from ledger.envelope import seal
from licenses.grant import GrantRejected, build_grant, parse_grant
from licenses.identifiers import make_identifier
from tests.support.world import seeded

NODE = seeded("node/510000")
LICENSE = make_identifier("11100000TB0000010H001", "11510104MB0000123N", "ABC123").text
NOW = 1_767_225_600_000_000


def _grant(**changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "grant_id": "0123456789abcdef0123456789abcdef",
        "license": LICENSE,
        "ledger": "tongban/510000",
        "audience_region": "320000",
        "audience_body": "",
        "scope": ["face", "metadata"],
        "purpose": "就业登记核验",
        "issued_at": NOW,
        "expires_at": NOW + 1_000,
        "uses": 1,
    }
    fields.update(changes)
    return build_grant(NODE, **fields)


def _reseal(raw: bytes, **changes: Any) -> bytes:
    content = canonical.decode(canonical.decode(raw)[0])
    content.update(changes)
    for name in ("v", "suite", "kid"):
        content.pop(name)
    return seal(content, NODE)


def test_a_grant_round_trips_with_its_scope_in_canonical_order() -> None:
    grant = parse_grant(_grant())
    grant.verify(NODE.public_key)
    assert grant.scope == ("metadata", "face")
    assert (grant.audience_region, grant.audience_body, grant.uses) == ("320000", "", 1)
    grant.admits(LICENSE, "320000", None, NOW)
    grant.admits(LICENSE, "320000", "320105-ZWFW", NOW + 999)


@pytest.mark.parametrize(
    ("identifier", "region", "body", "now", "reason"),
    [
        ("other", "320000", None, NOW, "wrong_license"),
        (LICENSE, "440000", None, NOW, "wrong_audience"),
        (LICENSE, "320000", None, NOW + 1_000, "grant_expired"),
    ],
)
def test_admission_refusals(
    identifier: str, region: str, body: str | None, now: int, reason: str
) -> None:
    with pytest.raises(GrantRejected) as refused:
        parse_grant(_grant()).admits(identifier, region, body, now)
    assert refused.value.reason == reason


def test_a_grant_for_one_body_admits_no_other() -> None:
    grant = parse_grant(_grant(audience_body="320105-ZWFW"))
    grant.admits(LICENSE, "320000", "320105-ZWFW", NOW)
    with pytest.raises(GrantRejected) as refused:
        grant.admits(LICENSE, "320000", None, NOW)  # a peer token is not that body
    assert refused.value.reason == "wrong_audience"


def test_signatures_under_another_key_are_refused() -> None:
    grant = parse_grant(_grant())
    with pytest.raises(GrantRejected) as refused:
        grant.verify(seeded("another node").public_key)
    assert refused.value.reason == "wrong_key"
    content, signature = canonical.decode(_grant())
    flipped = canonical.encode([content, bytes([signature[0] ^ 1]) + signature[1:]])
    with pytest.raises(GrantRejected) as refused:
        parse_grant(flipped).verify(NODE.public_key)
    assert refused.value.reason == "bad_signature"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "XYZ"}, "id"),
        ({"license": "1.2.156.3005.2.bad"}, "license"),
        ({"ledger": " bad"}, "ledger"),
        ({"audience": {"region": "32000", "body": ""}}, "audience.region"),
        ({"audience": {"region": "320000"}}, "audience"),
        ({"audience": {"region": "320000", "body": "no spaces"}}, "audience.body"),
        ({"scope": ["face", "metadata"]}, "scope"),
        ({"scope": []}, "scope"),
        ({"scope": ["everything"]}, "scope"),
        ({"purpose": ""}, "purpose"),
        ({"expires_at": NOW}, "expires_at"),
        ({"uses": 0}, "uses"),
        ({"uses": True}, "uses"),
        ({"extra": 1}, "extra"),
    ],
)
def test_malformed_grants_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(GrantRejected) as refused:
        parse_grant(_reseal(_grant(), **changes))
    assert (refused.value.reason, refused.value.field) == ("malformed", field)


def test_a_grant_holds_no_personal_data() -> None:
    content = canonical.decode(canonical.decode(_grant())[0])
    assert "11010519491231002X" not in repr(content)
    assert set(content) == {
        "v", "suite", "ctx", "kid", "id", "license", "ledger", "audience", "scope", "purpose",
        "issued_at", "expires_at", "uses",
    }  # fmt: skip
