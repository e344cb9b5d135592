"""The key registry's rules: who may sign which record, and when a key is valid.

Most tests drive :class:`ledger.keys.KeyRegistry` directly (no database); the last ones go
through the ledger application on SQLite, where the registry is rebuilt from stored records.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from ledger import canonical
from ledger.audit import verify_ledger
from ledger.envelope import KEY_RECORD_CONTEXT, ZERO_HASH, seal
from ledger.errors import ConflictError, LedgerError, MalformedEncoding
from ledger.keys import (
    BODY_FIELDS,
    RECORD_TYPES,
    KeyRegistry,
    build_key_record,
    parse_key_record,
    rotation_proof_input,
    sign_rotation_proof,
)
from ledger.workflow import SignedCoreOnly
from tests.support.key_registry import SECOND, RegistryFeeder, key
from tests.support.world import START, Officer, World, make_memory_world, make_world, seeded

REGION = "510000"
OTHER_REGION = "320000"
ROOT = seeded("unit/root/510000")
OTHER_ROOT = seeded("unit/root/320000")
BODY = seeded("unit/body/A")
BODY_B = seeded("unit/body/B")
OFFICER = seeded("unit/officer/A/a1")
OFFICER_B = seeded("unit/officer/B/b1")


class Registry(RegistryFeeder):
    """A KeyRegistry fed with records built on the fly; receipt time and index are explicit."""

    def __init__(self) -> None:
        super().__init__(
            KeyRegistry({REGION: ROOT.public_key, OTHER_REGION: OTHER_ROOT.public_key}),
            REGION,
        )


@pytest.fixture
def reg() -> Registry:
    """Region 510000 with a root, bodies A and B, officers a1 (of A) and b1 (of B)."""
    r = Registry()
    r.add(ROOT, "root_established", key(ROOT))
    r.add(ROOT, "body_registered", {**key(BODY), "body_id": "A", "name": "body A"})
    r.add(ROOT, "body_registered", {**key(BODY_B), "body_id": "B", "name": "body B"})
    r.add(BODY, "officer_certified", {**key(OFFICER), "body_id": "A", "officer_id": "a1"})
    r.add(BODY_B, "officer_certified", {**key(OFFICER_B), "body_id": "B", "officer_id": "b1"})
    return r


# -- the root ----------------------------------------------------------------------------------


def test_the_first_record_must_establish_the_configured_root() -> None:
    r = Registry()
    impostor = seeded("unit/impostor")
    assert r.refused(impostor, "root_established", key(impostor)).reason == "untrusted_root"
    refused = r.refused(impostor, "root_established", key(ROOT))  # right key, wrong signer
    assert (refused.reason, refused.field) == ("not_entitled", "kid")  # keys.md §3
    assert r.refused(ROOT, "body_registered", {**key(BODY), "body_id": "A", "name": "A"})
    r.add(ROOT, "root_established", key(ROOT))
    assert r.registry.head(REGION)[0] == 1


def test_records_of_a_region_not_trusted_are_refused() -> None:
    r = Registry()
    stranger = seeded("unit/root/440000")
    raw = build_key_record(
        stranger,
        region="440000",
        seq=1,
        prev=ZERO_HASH,
        record_type="root_established",
        time=START,
        body=key(stranger),
    )
    with pytest.raises(LedgerError) as refused:
        r.registry.check(parse_key_record(raw), START)
    assert (refused.value.reason, refused.value.field) == ("untrusted_region", "region")
    assert "440000" not in r.registry.regions


def test_registry_records_are_chained_like_events(reg: Registry) -> None:
    body = {**key(seeded("unit/body/C")), "body_id": "C", "name": "C"}
    seq = reg.registry.head(REGION)[0]
    assert reg.refused(ROOT, "body_registered", body, seq=seq + 2).reason == "seq_gap"
    assert reg.refused(ROOT, "body_registered", body, seq=seq).reason == "conflict"
    assert reg.refused(ROOT, "body_registered", body, prev=bytes(32)).reason == "broken_link"
    reg.add(ROOT, "body_registered", body)
    assert reg.registry.head(REGION)[0] == seq + 1


def test_check_is_a_dry_run(reg: Registry) -> None:
    record = reg.record(ROOT, "body_registered", {**key(BODY_B), "body_id": "Z", "name": "Z"})
    before = (reg.registry.head(REGION), dict(reg.registry.keys), dict(reg.registry.bodies))
    with pytest.raises(LedgerError):  # the key is already registered (to body B)
        reg.registry.check(record, reg.now)
    fresh = reg.record(
        ROOT, "body_registered", {**key(seeded("unit/z")), "body_id": "Z", "name": "Z"}
    )
    reg.registry.check(fresh, reg.now)
    assert (reg.registry.head(REGION), reg.registry.keys, reg.registry.bodies) == (
        before[0],
        before[1],
        before[2],
    )


def test_a_key_is_registered_once(reg: Registry) -> None:
    refused = reg.refused(
        BODY, "officer_certified", {**key(OFFICER_B), "body_id": "A", "officer_id": "a2"}
    )
    assert (refused.reason, refused.field) == ("duplicate_key", "body.public_key")


def test_bodies_are_registered_once_and_need_valid_identifiers(reg: Registry) -> None:
    again = {**key(seeded("unit/a2")), "body_id": "A", "name": "again"}
    assert reg.refused(ROOT, "body_registered", again).field == "body.body_id"
    bad = {**key(seeded("unit/a3")), "body_id": "has space", "name": "x"}
    refused = reg.refused(ROOT, "body_registered", bad)
    assert (refused.reason, refused.field) == ("malformed", "body.body_id")


# -- entitlement -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record_type", "body"),
    [
        ("body_registered", {**key(seeded("unit/c")), "body_id": "C", "name": "C"}),
        ("body_key_rotated", {**key(seeded("unit/c")), "body_id": "A"}),
        ("node_key_certified", {**key(seeded("unit/node")), "node_id": "node-9"}),
        (
            "finding_resolved",
            {"case": "x", "seq": 1, "reason": "key_revoked", "resolution": "ratified"},
        ),
    ],
)
def test_root_records_signed_by_a_body_key_are_not_entitled(
    reg: Registry, record_type: str, body: dict[str, Any]
) -> None:
    refused = reg.refused(BODY, record_type, body)
    assert (refused.reason, refused.field) == ("not_entitled", "kid")


def test_officers_are_certified_only_by_a_key_of_their_own_body(reg: Registry) -> None:
    newcomer = {**key(seeded("unit/a9")), "body_id": "A", "officer_id": "a9"}
    assert reg.refused(BODY_B, "officer_certified", newcomer).reason == "not_entitled"
    assert reg.refused(ROOT, "officer_certified", newcomer).reason == "not_entitled"
    assert reg.refused(OFFICER, "officer_certified", newcomer).reason == "not_entitled"
    reg.add(BODY, "officer_certified", newcomer)


def test_who_may_revoke_what(reg: Registry) -> None:
    officer_b = {"kid": OFFICER_B.key_id, "compromised_since": reg.now, "reason": ""}
    assert reg.refused(BODY, "key_revoked", officer_b).reason == "not_entitled"  # other body
    body_a = {"kid": BODY.key_id, "compromised_since": reg.now, "reason": ""}
    assert reg.refused(BODY, "key_revoked", body_a).reason == "not_entitled"  # not itself
    assert reg.refused(OFFICER, "key_revoked", body_a).reason == "not_entitled"
    assert reg.refused(BODY, "key_revoked", {**body_a, "kid": "00" * 16}).reason == "unknown_key"
    reg.add(BODY_B, "key_revoked", officer_b)  # a body revokes its own officer
    reg.add(ROOT, "key_revoked", body_a)  # the root revokes a body key


def test_a_root_cannot_revoke_another_regions_keys(reg: Registry) -> None:
    reg.add(OTHER_ROOT, "root_established", key(OTHER_ROOT), region=OTHER_REGION)
    target = {"kid": OFFICER.key_id, "compromised_since": reg.now, "reason": ""}
    refused = reg.refused(OTHER_ROOT, "key_revoked", target, region=OTHER_REGION)
    assert refused.reason == "not_entitled"


def test_findings_are_ratified_or_repudiated(reg: Registry) -> None:
    case_id = str(uuid.UUID(int=7))
    finding = {"case": case_id, "seq": 3, "reason": "key_revoked"}
    refused = reg.refused(ROOT, "finding_resolved", {**finding, "resolution": "ignored"})
    assert (refused.reason, refused.field) == ("malformed", "body.resolution")
    reg.add(ROOT, "finding_resolved", {**finding, "resolution": "repudiated", "note": "n"})
    resolved = reg.registry.resolutions[(case_id, 3, "key_revoked")]
    assert (resolved.resolution, resolved.note) == ("repudiated", "n")


# -- validity in time --------------------------------------------------------------------------


def test_officer_key_lookups(reg: Registry) -> None:
    at = reg.now
    assert reg.registry.officer_key_at(OFFICER.key_id, at, body_id="A", officer_id="a1").kid
    with pytest.raises(LedgerError) as wrong_body:
        reg.registry.officer_key_at(OFFICER.key_id, at, body_id="B", officer_id="a1")
    with pytest.raises(LedgerError) as wrong_officer:
        reg.registry.officer_key_at(OFFICER.key_id, at, body_id="A", officer_id="a2")
    with pytest.raises(LedgerError) as unknown:
        reg.registry.officer_key_at("00" * 16, at, body_id="A", officer_id="a1")
    with pytest.raises(LedgerError) as too_early:
        reg.registry.officer_key_at(OFFICER.key_id, START - 1, body_id="A", officer_id="a1")
    with pytest.raises(LedgerError) as body_key:  # a body key is not an officer's
        reg.registry.officer_key_at(BODY.key_id, at, body_id="A", officer_id="")
    assert [e.value.reason for e in (wrong_body, wrong_officer, unknown, too_early, body_key)] == [
        "uncertified_officer",
        "uncertified_officer",
        "unknown_key",
        "key_not_valid_at_time",
        "uncertified_officer",
    ]
    with pytest.raises(LedgerError) as not_node:
        reg.registry.node_key_at(OFFICER.key_id, at)
    assert not_node.value.reason == "unknown_key"


def test_officer_rotation_ends_the_old_key_at_the_new_keys_valid_from(reg: Registry) -> None:
    switch = reg.now + 10 * SECOND
    new = seeded("unit/officer/A/a1/2")
    reg.add(BODY, "officer_certified", {**key(new, switch), "body_id": "A", "officer_id": "a1"})
    lookup = reg.registry.officer_key_at
    lookup(OFFICER.key_id, switch - 1, body_id="A", officer_id="a1")
    with pytest.raises(LedgerError, match="not valid"):
        lookup(OFFICER.key_id, switch, body_id="A", officer_id="a1")
    with pytest.raises(LedgerError, match="not valid"):
        lookup(new.key_id, switch - 1, body_id="A", officer_id="a1")
    assert lookup(new.key_id, switch, body_id="A", officer_id="a1").kid == new.key_id
    assert reg.registry.officers[("A", "a1", "")] == new.key_id


def test_an_officer_may_hold_a_valid_key_per_device(reg: Registry) -> None:
    """A second device adds a key beside the first; certifying the same device again rotates
    only that device's key; revoking one device's key leaves the others valid."""
    laptop = seeded("unit/officer/A/a1/laptop")
    usb = seeded("unit/officer/A/a1/usb")
    for signer, device in ((laptop, "laptop"), (usb, "usb-key")):
        officer = {**key(signer), "body_id": "A", "officer_id": "a1", "device": device}
        reg.add(BODY, "officer_certified", officer)
    lookup = reg.registry.officer_key_at
    later = reg.now + 10 * SECOND
    for signer in (OFFICER, laptop, usb):
        assert lookup(signer.key_id, later, body_id="A", officer_id="a1").kid == signer.key_id

    laptop_2 = seeded("unit/officer/A/a1/laptop/2")
    rotated = {**key(laptop_2, later), "body_id": "A", "officer_id": "a1", "device": "laptop"}
    reg.add(BODY, "officer_certified", rotated)
    with pytest.raises(LedgerError, match="not valid"):
        lookup(laptop.key_id, later, body_id="A", officer_id="a1")
    for signer in (OFFICER, usb, laptop_2):
        assert lookup(signer.key_id, later, body_id="A", officer_id="a1").kid == signer.key_id

    reg.add(BODY, "key_revoked", {"kid": usb.key_id, "compromised_since": later, "reason": ""})
    with pytest.raises(LedgerError) as revoked:
        lookup(usb.key_id, later, body_id="A", officer_id="a1")
    assert revoked.value.reason == "key_revoked"
    assert lookup(OFFICER.key_id, later, body_id="A", officer_id="a1").kid == OFFICER.key_id
    assert reg.registry.officers[("A", "a1", "laptop")] == laptop_2.key_id


@pytest.mark.parametrize("device", ["", "bad device", 7])
def test_a_device_name_is_an_identifier(reg: Registry, device: object) -> None:
    officer = {**key(seeded("unit/a8")), "body_id": "A", "officer_id": "a8", "device": device}
    refused = reg.refused(BODY, "officer_certified", officer)
    assert refused.field == "body.device"


def test_revocation_starts_at_compromised_since_and_only_moves_earlier(reg: Registry) -> None:
    since = reg.now + 5 * SECOND
    revoke = {"kid": OFFICER.key_id, "compromised_since": since, "reason": "lost token"}
    reg.add(BODY, "key_revoked", revoke)
    lookup = reg.registry.officer_key_at
    lookup(OFFICER.key_id, since - 1, body_id="A", officer_id="a1")
    with pytest.raises(LedgerError) as revoked:
        lookup(OFFICER.key_id, since, body_id="A", officer_id="a1")
    assert revoked.value.reason == "key_revoked"
    info = reg.registry.keys[OFFICER.key_id]
    assert info.revoked_at_index == reg.index
    reg.add(ROOT, "key_revoked", {**revoke, "compromised_since": since + 100 * SECOND})
    assert reg.registry.keys[OFFICER.key_id].compromised_since == since  # never later
    reg.add(ROOT, "key_revoked", {**revoke, "compromised_since": since - SECOND})
    assert reg.registry.keys[OFFICER.key_id].compromised_since == since - SECOND


def test_a_revoked_key_signs_no_more_records(reg: Registry) -> None:
    reg.add(ROOT, "key_revoked", {"kid": BODY.key_id, "compromised_since": reg.now, "reason": ""})
    newcomer = {**key(seeded("unit/a7")), "body_id": "A", "officer_id": "a7"}
    assert reg.refused(BODY, "officer_certified", newcomer).reason == "key_revoked"


def test_officers_certified_by_a_body_key_after_its_compromise_are_uncertified(
    reg: Registry,
) -> None:
    late = seeded("unit/officer/A/late")
    reg.now += 10 * SECOND
    compromised_since = reg.now  # before the next certification's receipt time
    reg.add(BODY, "officer_certified", {**key(late), "body_id": "A", "officer_id": "late"})
    revoke = {"kid": BODY.key_id, "compromised_since": compromised_since, "reason": ""}
    reg.add(ROOT, "key_revoked", revoke)
    at = reg.now
    reg.registry.officer_key_at(OFFICER.key_id, at, body_id="A", officer_id="a1")  # before
    with pytest.raises(LedgerError) as uncertified:
        reg.registry.officer_key_at(late.key_id, at, body_id="A", officer_id="late")
    assert uncertified.value.reason == "uncertified_officer"


def test_body_key_rotation(reg: Registry) -> None:
    new_body = seeded("unit/body/A/2")
    reg.add(ROOT, "body_key_rotated", {**key(new_body, reg.now), "body_id": "A"})
    assert reg.registry.bodies["A"].current_kid == new_body.key_id
    newcomer = {**key(seeded("unit/a5")), "body_id": "A", "officer_id": "a5"}
    assert reg.refused(BODY, "officer_certified", newcomer).reason == "key_not_valid_at_time"
    reg.add(new_body, "officer_certified", newcomer)
    # Officers certified by the old key keep their certificates.
    reg.registry.officer_key_at(OFFICER.key_id, reg.now, body_id="A", officer_id="a1")
    unknown = reg.refused(ROOT, "body_key_rotated", {**key(seeded("unit/q")), "body_id": "Q"})
    assert unknown.reason == "unknown_body"


def test_root_rotation_needs_both_roots(reg: Registry) -> None:
    new_root = seeded("unit/root/510000/2")
    valid_from = reg.now + SECOND
    body = {**key(new_root, valid_from)}
    proof = sign_rotation_proof(new_root, region=REGION, old_kid=ROOT.key_id, valid_from=valid_from)
    wrong = seeded("unit/wrong").sign(
        rotation_proof_input(REGION, ROOT.key_id, new_root.public_key, valid_from)
    )
    assert reg.refused(ROOT, "root_rotated", {**body, "proof": wrong}).reason == "bad_signature"
    stale = sign_rotation_proof(new_root, region=REGION, old_kid=ROOT.key_id, valid_from=START)
    assert reg.refused(ROOT, "root_rotated", {**body, "proof": stale}).reason == "bad_signature"
    assert reg.refused(BODY, "root_rotated", {**body, "proof": proof}).reason == "not_entitled"
    reg.add(ROOT, "root_rotated", {**body, "proof": proof})
    assert reg.registry.regions[REGION].root_kid == new_root.key_id
    assert reg.registry.keys[ROOT.key_id].valid_until == valid_from
    body_c = {**key(seeded("unit/c")), "body_id": "C", "name": "C"}
    refused = reg.refused(ROOT, "body_registered", body_c)
    assert refused.reason in {"key_not_valid_at_time", "not_entitled"}
    reg.add(new_root, "body_registered", body_c)


def test_the_old_root_is_not_entitled_before_a_future_rotation_takes_effect(reg: Registry) -> None:
    new_root = seeded("unit/root/510000/3")
    valid_from = reg.now + 3600 * SECOND  # takes effect in an hour
    proof = sign_rotation_proof(new_root, region=REGION, old_kid=ROOT.key_id, valid_from=valid_from)
    reg.add(ROOT, "root_rotated", {**key(new_root, valid_from), "proof": proof})
    body_c = {**key(seeded("unit/c")), "body_id": "C", "name": "C"}
    # Still within its validity, but no longer the region's root.
    assert reg.refused(ROOT, "body_registered", body_c).reason == "not_entitled"


# -- record shape ------------------------------------------------------------------------------


def test_key_record_shape_is_checked() -> None:
    def sealed(**content: Any) -> bytes:
        base = {"ctx": KEY_RECORD_CONTEXT, "region": REGION, "seq": 1, "prev": ZERO_HASH}
        base.update({"type": "root_established", "time": START, "body": key(ROOT)})
        base.update(content)
        return seal(base, ROOT)

    parse_key_record(sealed())
    for bad, field in [
        (sealed(type="key_forged"), "type"),
        (sealed(seq=0), "seq"),
        (sealed(seq=True), "seq"),
        (sealed(prev="00"), "prev"),
        (sealed(body=[]), "body"),
        (sealed(ctx="tongban/event/v1"), "ctx"),
    ]:
        with pytest.raises(LedgerError) as refused:
            parse_key_record(bad)
        assert refused.value.field == field
    with pytest.raises(MalformedEncoding):
        parse_key_record(canonical.encode([b"\x80", b""]) + b"\x00")


# -- through the application, in memory (a second worker: on SQLite) ------------------------


@pytest.fixture
def world() -> World:
    return make_memory_world(workflow=SignedCoreOnly())  # in memory: no database file


@pytest.fixture
def sqlite_world(tmp_path: Path) -> World:
    return make_world(tmp_path, workflow=SignedCoreOnly())  # a second worker opens its database


def test_key_records_replay_and_conflict_like_events(world: World) -> None:
    seq, prev = world.app.registry.head(REGION)
    newcomer = seeded("unit/app/rs-009")
    raw = build_key_record(
        world.body_keys["510104-RS"],
        region=REGION,
        seq=seq + 1,
        prev=prev,
        record_type="officer_certified",
        time=world.clock.now,
        body={**key(newcomer), "body_id": "510104-RS", "officer_id": "rs-009"},
    )
    first = world.app.append_key_record(raw)
    world.clock.advance(10)
    again = world.app.append_key_record(raw)
    assert (again.created, again.receipt, again.index) == (False, first.receipt, first.index)
    other = build_key_record(
        world.root,
        region=REGION,
        seq=seq + 1,
        prev=prev,
        record_type="node_key_certified",
        time=world.clock.now,
        body={**key(seeded("unit/node-2")), "node_id": "node-2"},
    )
    with pytest.raises(ConflictError) as conflict:
        world.app.append_key_record(other)
    assert conflict.value.head.seq == seq + 1


def test_another_worker_sees_new_certifications(sqlite_world: World, tmp_path: Path) -> None:
    world = sqlite_world
    second = open_ledger(
        Settings(data_dir=tmp_path, region=REGION), clock=world.clock, workflow=SignedCoreOnly()
    )
    newcomer = seeded("unit/app/zw-002")
    world.clerk.certify_officer(
        world.body_keys["510000-ZWFW"], "510000-ZWFW", "zw-002", newcomer.public_key
    )
    officer = Officer("510000-ZWFW", "zw-002", newcomer)
    raw = world.event(officer, uuid.uuid4(), 1, ZERO_HASH)
    assert second.append_event(raw).created  # refreshed on the unknown key
    assert world.app.append_event(raw).created is False


def test_a_rotation_back_dated_by_its_valid_from_does_not_condemn_accepted_events(
    world: World,
) -> None:
    """A rotation whose ``valid_from`` lies in the past ends the old key retroactively.

    Events the old key signed and the node accepted (with receipts) before the rotation
    record then fail the audit as *integrity* findings on an untouched ledger. Only a
    revocation may condemn the past, and then as a policy finding.
    """
    rs = world.officers["rs-001"]
    world.append_case(rs, 2)
    world.clock.advance(60)
    new_key = seeded("unit/app/rs-001/2")
    world.clerk.certify_officer(
        world.body_keys["510104-RS"], "510104-RS", "rs-001", new_key.public_key, valid_from=START
    )
    report = verify_ledger(world.app)
    assert report.integrity_findings == [], report.findings


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
def test_each_record_type_holds_exactly_its_documented_fields(record_type: str) -> None:
    """keys.md §2 and §3: "exactly these fields". A field of another type, or one no type
    has, is ``malformed`` at parsing, naming the field: no record has a second spelling."""
    content = {
        "ctx": KEY_RECORD_CONTEXT,
        "region": "510000",
        "seq": 2,
        "prev": ZERO_HASH,
        "type": record_type,
        "time": START,
        "body": {"stray": 1},
    }
    with pytest.raises(MalformedEncoding) as refused:
        parse_key_record(seal(content, ROOT))
    assert refused.value.field == "body.stray"
    with pytest.raises(MalformedEncoding) as refused:
        parse_key_record(seal({**content, "body": {}, "note": "x"}, ROOT))
    assert refused.value.field == "note"
    assert set(BODY_FIELDS) == RECORD_TYPES


@pytest.mark.parametrize(
    ("change", "field"), [({"prev": bytes(31)}, "prev"), ({"time": -1}, "time")]
)
def test_a_short_prev_or_a_negative_time_is_malformed(change: dict[str, Any], field: str) -> None:
    content = {
        "ctx": KEY_RECORD_CONTEXT,
        "region": "510000",
        "seq": 1,
        "prev": ZERO_HASH,
        "type": "root_established",
        "time": START,
        "body": key(ROOT),
        **change,
    }
    with pytest.raises(MalformedEncoding) as refused:
        parse_key_record(seal(content, ROOT))
    assert refused.value.field == field
