"""License keys in the key registry: ``license_key_certified`` and ``license_key_at``."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.errors import LedgerError
from ledger.keys import LICENSE, KeyRegistry
from tests.support.key_registry import SECOND, RegistryFeeder, key
from tests.support.world import START, seeded

REGION = "510000"
OTHER_REGION = "320000"
ROOT = seeded("license-keys/root/510000")
OTHER_ROOT = seeded("license-keys/root/320000")
BODY = seeded("license-keys/body/A")
OTHER_BODY = seeded("license-keys/body/J")
OFFICER = seeded("license-keys/officer/a1")
LICENSE_KEY = seeded("license-keys/license/A/1")
LICENSE_KEY_2 = seeded("license-keys/license/A/2")


class Registry(RegistryFeeder):
    """A KeyRegistry fed with records built on the fly; receipt time and index are explicit."""

    def __init__(self) -> None:
        super().__init__(
            KeyRegistry(
                {REGION: ROOT.public_key, OTHER_REGION: OTHER_ROOT.public_key}, home_region=REGION
            ),
            REGION,
        )


@pytest.fixture
def reg() -> Registry:
    """510000 with body A (officer a1); 320000 with body J."""
    r = Registry()
    r.add(ROOT, "root_established", key(ROOT))
    r.add(ROOT, "body_registered", {**key(BODY), "body_id": "A", "name": "body A"})
    r.add(BODY, "officer_certified", {**key(OFFICER), "body_id": "A", "officer_id": "a1"})
    r.add(OTHER_ROOT, "root_established", key(OTHER_ROOT), OTHER_REGION)
    r.add(
        OTHER_ROOT,
        "body_registered",
        {**key(OTHER_BODY), "body_id": "J", "name": "body J"},
        OTHER_REGION,
    )
    return r


def reason_of(call: Any) -> tuple[str, str | None]:
    with pytest.raises(LedgerError) as refused:
        call()
    return refused.value.reason, refused.value.field


def test_the_root_certifies_a_license_key_of_its_body(reg: Registry) -> None:
    reg.add(ROOT, "license_key_certified", {**key(LICENSE_KEY), "body_id": "A"})
    info = reg.registry.license_key_at(LICENSE_KEY.key_id, reg.now, body_id="A")
    assert (info.role, info.owner, info.region, info.valid_until) == (LICENSE, "A", REGION, None)
    assert info.certified_by == ROOT.key_id
    assert info.registered_index == reg.index
    # Without body_id any body's license key is answered.
    assert reg.registry.license_key_at(LICENSE_KEY.key_id, reg.now).kid == LICENSE_KEY.key_id


def test_only_the_current_root_certifies_license_keys(reg: Registry) -> None:
    body = {**key(LICENSE_KEY), "body_id": "A"}
    for signer in (BODY, OFFICER):
        refused = reg.refused(signer, "license_key_certified", body)
        assert (refused.reason, refused.field) == ("not_entitled", "kid")


def test_the_body_must_be_of_the_records_region(reg: Registry) -> None:
    unknown = reg.refused(ROOT, "license_key_certified", {**key(LICENSE_KEY), "body_id": "Z"})
    assert (unknown.reason, unknown.field) == ("unknown_body", "body.body_id")
    # Jiangsu's root cannot certify a key for a Sichuan body, nor Sichuan's for Jiangsu's.
    foreign = reg.refused(
        OTHER_ROOT, "license_key_certified", {**key(LICENSE_KEY), "body_id": "A"}, OTHER_REGION
    )
    assert foreign.reason == "unknown_body"
    assert (
        reg.refused(ROOT, "license_key_certified", {**key(LICENSE_KEY), "body_id": "J"}).reason
        == "unknown_body"
    )


@pytest.mark.parametrize(
    ("body", "reason", "field"),
    [
        ({"body_id": "A", "name": "x"}, "malformed", "body.name"),
        ({"body_id": "A", "valid_until": START}, "malformed", "body.valid_until"),
        # one spelling for a body field, whatever is wrong with it (it had two)
        ({"body_id": "A", "valid_until": "never"}, "malformed", "body.valid_until"),
        ({"body_id": "has space"}, "malformed", "body.body_id"),
        ({"body_id": "A", "key_suite": "rsa-sha1"}, "unsupported_suite", "suite"),
        ({}, "malformed", "body.body_id"),
    ],
)
def test_license_key_record_shape(
    reg: Registry, body: dict[str, Any], reason: str, field: str
) -> None:
    try:
        refused = reg.refused(ROOT, "license_key_certified", {**key(LICENSE_KEY), **body})
    except LedgerError as error:  # an unknown body field: refused as soon as it is parsed
        refused = error
    assert (refused.reason, refused.field) == (reason, field)


def test_a_license_key_is_registered_once_and_is_no_other_key(reg: Registry) -> None:
    reg.add(ROOT, "license_key_certified", {**key(LICENSE_KEY), "body_id": "A"})
    again = reg.refused(ROOT, "license_key_certified", {**key(LICENSE_KEY), "body_id": "A"})
    assert again.reason == "duplicate_key"
    officer = reg.refused(
        BODY, "officer_certified", {**key(LICENSE_KEY), "body_id": "A", "officer_id": "a2"}
    )
    assert officer.reason == "duplicate_key"
    # A license key signs licenses only: not registry records, not case events.
    assert (
        reg.refused(
            LICENSE_KEY, "body_registered", {**key(seeded("x")), "body_id": "B", "name": "B"}
        ).reason
        == "not_entitled"
    )
    assert reason_of(
        lambda: reg.registry.officer_key_at(
            LICENSE_KEY.key_id, reg.now, body_id="A", officer_id="a1"
        )
    ) == ("uncertified_officer", "kid")
    assert reason_of(lambda: reg.registry.node_key_at(LICENSE_KEY.key_id, reg.now))[0] == (
        "unknown_key"
    )


def test_a_body_may_hold_several_license_keys(reg: Registry) -> None:
    reg.add(ROOT, "license_key_certified", {**key(LICENSE_KEY), "body_id": "A"})
    reg.add(ROOT, "license_key_certified", {**key(LICENSE_KEY_2), "body_id": "A"})
    for signer in (LICENSE_KEY, LICENSE_KEY_2):
        assert reg.registry.license_key_at(signer.key_id, reg.now, body_id="A")


def test_license_key_at_reasons(reg: Registry) -> None:
    until = START + 100 * SECOND
    reg.add(
        ROOT,
        "license_key_certified",
        {**key(LICENSE_KEY, START + 5 * SECOND), "body_id": "A", "valid_until": until},
    )
    lookup = reg.registry.license_key_at
    kid = LICENSE_KEY.key_id
    assert lookup(kid, START + 5 * SECOND, body_id="A").kid == kid
    assert lookup(kid, until - 1, body_id="A").kid == kid
    assert reason_of(lambda: lookup("00" * 16, until - 1)) == ("unknown_key", "kid")
    assert reason_of(lambda: lookup(OFFICER.key_id, until - 1)) == ("unknown_key", "kid")
    assert reason_of(lambda: lookup(BODY.key_id, until - 1)) == ("unknown_key", "kid")
    assert reason_of(lambda: lookup(kid, until - 1, body_id="J")) == ("unknown_key", "kid")
    assert reason_of(lambda: lookup(kid, START + 5 * SECOND - 1)) == (
        "key_not_valid_at_time",
        "kid",
    )
    assert reason_of(lambda: lookup(kid, until)) == ("key_not_valid_at_time", "kid")


def test_key_revoked_works_on_license_keys(reg: Registry) -> None:
    reg.add(ROOT, "license_key_certified", {**key(LICENSE_KEY), "body_id": "A"})
    since = reg.now + 10 * SECOND
    revoke = {"kid": LICENSE_KEY.key_id, "compromised_since": since, "reason": "lost token"}
    # Like any key of a body, only the root revokes it (the body revokes only its officers).
    assert reg.refused(BODY, "key_revoked", revoke).reason == "not_entitled"
    assert reg.refused(OTHER_ROOT, "key_revoked", revoke, OTHER_REGION).reason == "not_entitled"
    reg.add(ROOT, "key_revoked", revoke)
    lookup = reg.registry.license_key_at
    assert lookup(LICENSE_KEY.key_id, since - 1, body_id="A")
    assert reason_of(lambda: lookup(LICENSE_KEY.key_id, since)) == ("key_revoked", "kid")
    assert reg.registry.key(LICENSE_KEY.key_id).revoked_at_index == reg.index


def test_a_license_key_certified_by_a_compromised_root_is_revoked(reg: Registry) -> None:
    reg.add(ROOT, "license_key_certified", {**key(LICENSE_KEY), "body_id": "A"})
    certified_at = reg.now
    # The root revokes itself as compromised since before it certified the license key.
    reg.add(ROOT, "key_revoked", {"kid": ROOT.key_id, "compromised_since": certified_at})
    refused = reason_of(lambda: reg.registry.license_key_at(LICENSE_KEY.key_id, certified_at))
    assert refused == ("key_revoked", "kid")


def test_other_regions_license_keys_are_answered(reg: Registry) -> None:
    foreign = seeded("license-keys/license/J/1")
    reg.add(OTHER_ROOT, "license_key_certified", {**key(foreign), "body_id": "J"}, OTHER_REGION)
    info = reg.registry.license_key_at(foreign.key_id, reg.now, body_id="J")
    assert (info.region, info.owner) == (OTHER_REGION, "J")
