"""Keys through the ledger application and the audit, on SQLite and PostgreSQL.

``tests/unit/test_keys.py`` drives the registry's rules directly; here the same rules are
exercised end to end: records appended (or refused) by the node, events signed and stored,
and the audit rebuilding everything from the stored rows:

- a revoked key's events received at or after ``compromised_since`` are flagged even when the
  signer back-dated their claimed time, and refused once the revocation is stored;
- a rotated key's (officer, body, root) earlier events still verify, and the old key signs
  nothing new;
- a key record not signed by the region root is refused and leaves the ledger unchanged, and
  one slipped into the tables is reported by the audit with every step it would vouch for;
- a root rotation signed by the old root alone (no proof by the new root, or a wrong one) is
  refused, and so is one signed by the new root alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from ledger.audit import INTEGRITY, POLICY, AuditReport, verify_ledger
from ledger.errors import LedgerError
from ledger.keys import build_key_record, parse_key_record, registry_stream_id, sign_rotation_proof
from ledger.suites import Signer, SoftwareSigner
from ledger.workflow import SignedCoreOnly
from tests.reliability.tampering import RawTables, encode_state, resigned_receipt
from tests.support.world import JIANGSU, World, make_world, seeded, seeded_in

SECOND = 1_000_000
REGION = "510000"
REGISTRY = registry_stream_id(REGION)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """``(database URL, schema)``: SQLite in the test's directory, or a private schema."""
    if request.param == "sqlite":
        return "", None
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("postgres_schema")


@pytest.fixture(params=["ed25519-sha256", "sm2-sm3"])
def suite(request: pytest.FixtureRequest) -> str:
    """The suite of Sichuan's keys: every lifecycle rule holds on an SM2 ledger too."""
    return str(request.param)


@pytest.fixture
def world(tmp_path: Path, database: tuple[str, str | None], suite: str) -> World:
    url, schema = database
    return make_world(
        tmp_path,
        database_url=url,
        schema=schema,
        with_jiangsu=True,
        workflow=SignedCoreOnly(),
        suite=suite,
    )


@pytest.fixture
def tables(tmp_path: Path, database: tuple[str, str | None]) -> Iterator[RawTables]:
    url, schema = database
    raw = (
        RawTables.postgresql(url, schema)
        if schema
        else RawTables.sqlite(tmp_path / "ledger.sqlite3")
    )
    yield raw
    raw.close()


def audit(world: World) -> list[tuple[str, int, str, str]]:
    report: AuditReport = verify_ledger(world.app)
    return [(f.case_id, f.seq, f.reason, f.kind) for f in report.findings]


def refused(world: World, append: Any, raw: bytes) -> LedgerError:
    """``append(raw)`` is refused and stores nothing."""
    before = world.app.store.max_index()
    with pytest.raises(LedgerError) as error:
        append(raw)
    assert world.app.store.max_index() == before
    return error.value


def record(world: World, signer: Signer, record_type: str, body: dict[str, Any]) -> bytes:
    """The next record of this region's registry, signed by ``signer``."""
    world.app.refresh_registry()
    seq, prev = world.app.registry.head(REGION)
    return build_key_record(
        signer,
        region=REGION,
        seq=seq + 1,
        prev=prev,
        record_type=record_type,
        time=world.clock.now,
        body=body,
    )


def key_body(signer: SoftwareSigner, valid_from: int) -> dict[str, Any]:
    return {
        "public_key": signer.public_key,
        "key_suite": signer.suite,
        "valid_from": valid_from,
    }


# -- revocation ----------------------------------------------------------------------------


def test_a_revoked_keys_back_dated_events_are_flagged_and_then_refused(world: World) -> None:
    rs = world.officers["rs-001"]
    case, done = world.append_case(rs, 2)  # before the theft: stays valid
    world.clock.advance(60)
    compromised_since = world.clock.now
    world.clock.advance(60)
    # The thief claims a time before the theft (within the claim tolerance); the node judges
    # the key at its own receipt time, after compromised_since.
    back_dated = world.event(
        rs, case, 3, done[-1].head.event_hash, "noted", time=compromised_since - 30 * SECOND
    )
    stolen = world.app.append_event(back_dated)
    assert stolen.created
    world.clock.advance(10)
    world.clerk.revoke(
        world.body_keys["510104-RS"], rs.signer.key_id, compromised_since=compromised_since
    )
    assert audit(world) == [(str(case), 3, "key_revoked", POLICY)]

    # After the revocation the key is refused, however far back the signer dates the step.
    fresh = world.event(rs, uuid.uuid4(), 1, bytes(32), "received", time=compromised_since - SECOND)
    assert refused(world, world.app.append_event, fresh).reason == "key_revoked"
    next_step = world.event(rs, case, 4, stolen.head.event_hash, "noted", time=world.clock.now)
    assert refused(world, world.app.append_event, next_step).reason == "key_revoked"
    # The body's other officers, and the officer's earlier steps, are unaffected.
    world.add_officer("510104-RS", "rs-002")
    world.append_case(world.officers["rs-002"], 2)
    assert audit(world) == [(str(case), 3, "key_revoked", POLICY)]

    # The root repudiates the thief's step: the finding is resolved, the audit passes.
    world.clerk.resolve_finding(
        world.root, case_id=str(case), seq=3, reason="key_revoked", resolution="repudiated"
    )
    report = verify_ledger(world.app)
    assert [f.resolution for f in report.findings] == ["repudiated"]
    assert report.exit_code == 0


# -- rotation ------------------------------------------------------------------------------


def test_rotated_keys_old_events_still_verify_and_the_old_keys_sign_nothing_new(
    world: World,
) -> None:
    rs = world.officers["rs-001"]
    old_case, _ = world.append_case(rs, 3)
    world.clock.advance(60)
    # officer key rotated by its body
    new_officer = seeded_in(world.suite, "reliability/rs-001/2")
    world.clerk.certify_officer(
        world.body_keys["510104-RS"],
        "510104-RS",
        "rs-001",
        new_officer.public_key,
        valid_from=world.clock.now,
    )
    world.clock.advance(1)
    late = world.event(rs, uuid.uuid4(), 1, bytes(32), "received")
    assert refused(world, world.app.append_event, late).reason == "key_not_valid_at_time"
    rotated = type(rs)(rs.body_id, rs.officer_id, new_officer)
    new_case, _ = world.append_case(rotated, 2)
    # body key rotated by the root: officers it certified keep their certificates
    new_body = seeded_in(world.suite, "reliability/body/510104-RS/2")
    world.clerk.rotate_body_key(world.root, "510104-RS", new_body.public_key)
    world.clock.advance(1)
    newcomer = seeded_in(world.suite, "reliability/rs-003")
    by_old_body = record(
        world,
        world.body_keys["510104-RS"],
        "officer_certified",
        {**key_body(newcomer, world.clock.now), "body_id": "510104-RS", "officer_id": "rs-003"},
    )
    assert refused(world, world.app.append_key_record, by_old_body).reason == (
        "key_not_valid_at_time"
    )
    world.append_case(rotated, 2)
    # root rotated (with the new root's proof): bodies the old root registered stay
    new_root = seeded_in(world.suite, "reliability/root/510000/2")
    world.clerk.rotate_root(world.root, new_root, valid_from=world.clock.now)
    world.clock.advance(1)
    body = seeded_in(world.suite, "reliability/body/new")
    registered = {**key_body(body, world.clock.now), "body_id": "510105-RS", "name": "n", "org": {}}
    stale_root = record(world, world.root, "body_registered", registered)
    assert refused(world, world.app.append_key_record, stale_root).reason in {
        "key_not_valid_at_time",
        "not_entitled",
    }
    world.app.append_key_record(record(world, new_root, "body_registered", registered))
    world.append_case(world.officers["zw-001"], 2)

    assert audit(world) == []  # every event, old keys' included, verifies
    assert {e.seq for e in world.app.stream_entries(old_case)} == {1, 2, 3}
    assert {e.seq for e in world.app.stream_entries(new_case)} == {1, 2}


# -- records not signed by the region root -------------------------------------------------


@pytest.mark.parametrize("signer_name", ["body", "officer", "node", "other_root", "stranger"])
@pytest.mark.parametrize(
    "record_type", ["body_registered", "body_key_rotated", "node_key_certified", "root_rotated"]
)
def test_a_record_only_the_root_may_sign_is_refused_from_anyone_else(
    world: World, signer_name: str, record_type: str
) -> None:
    world.append_case(world.officers["rs-001"], 2)
    signers = {
        "body": world.body_keys["510104-RS"],
        "officer": world.officers["rs-001"].signer,
        "node": world.app.node_signer,
        "other_root": seeded(f"root/{JIANGSU}"),  # trusted, for its own region only
        "stranger": seeded_in(world.suite, "reliability/stranger"),
    }
    signer = signers[signer_name]
    assert signer is not None
    new = seeded_in(world.suite, "reliability/new-key")
    bodies: dict[str, dict[str, Any]] = {
        "body_registered": {"body_id": "510199-X", "name": "x", "org": {}},
        "body_key_rotated": {"body_id": "510104-RS"},
        "node_key_certified": {"node_id": "node-2"},
        "root_rotated": {
            "proof": sign_rotation_proof(
                new, region=REGION, old_kid=world.root.key_id, valid_from=world.clock.now
            )
        },
    }
    body = {**key_body(new, world.clock.now), **bodies[record_type]}
    head = world.app.registry.head(REGION)
    error = refused(world, world.app.append_key_record, record(world, signer, record_type, body))
    assert error.reason in {"not_entitled", "unknown_key"}
    world.app.refresh_registry()
    assert world.app.registry.head(REGION) == head
    assert world.app.registry.regions[REGION].root_kid == world.root.key_id
    assert audit(world) == []


def _replace_stored_record(world: World, tables: RawTables, seq: int, raw: bytes) -> None:
    """What a DBA holding ``node.key`` can do: a record's bytes, hash and receipt."""
    app = world.app
    entry = app.store.select_entry(REGISTRY, seq)
    assert entry is not None and app.node_signer is not None
    received_at = msgpack.unpackb(entry.envelope)["received_at"]
    new_hash = parse_key_record(raw).hash
    receipt = resigned_receipt(app.node_signer, entry.receipt, new_hash)
    tables.update_object(REGISTRY, seq, encode_state(raw, received_at), new_hash, receipt)


def test_a_stored_body_record_not_signed_by_the_root_is_reported_with_what_it_vouches_for(
    world: World, tables: RawTables
) -> None:
    zw_case, _ = world.append_case(world.officers["zw-001"], 2)
    rs_case, _ = world.append_case(world.officers["rs-001"], 2)
    # record 4 registers 510000-ZWFW (tests/support/world.py); re-signed by another body's key
    entry = world.app.store.select_entry(REGISTRY, 4)
    assert entry is not None
    original = parse_key_record(msgpack.unpackb(entry.envelope)["envelope"])
    assert original.type == "body_registered" and original.body["body_id"] == "510000-ZWFW"
    content = {k: v for k, v in original.signed.content.items() if k not in {"v", "suite", "kid"}}
    forged = build_key_record(
        world.body_keys["510104-RS"],
        region=content["region"],
        seq=content["seq"],
        prev=content["prev"],
        record_type=content["type"],
        time=content["time"],
        body=content["body"],
    )
    _replace_stored_record(world, tables, 4, forged)
    found = audit(world)
    assert (str(REGISTRY), 4, "not_entitled", INTEGRITY) in found
    # every step an officer of that body signed is unknown; the other body's are untouched
    assert {(seq, reason) for c, seq, reason, _ in found if c == str(zw_case)} == {
        (1, "unknown_key"),
        (2, "unknown_key"),
    }
    assert not [f for f in found if f[0] == str(rs_case)]
    assert ("", 0, "root_mismatch", INTEGRITY) not in found  # no checkpoint was issued


# -- root rotation -------------------------------------------------------------------------


def test_a_root_rotation_needs_the_new_roots_proof_and_the_old_roots_signature(
    world: World,
) -> None:
    case, _ = world.append_case(world.officers["rs-001"], 2)
    new_root = seeded_in(world.suite, "reliability/root/510000/3")
    valid_from = world.clock.now
    body = key_body(new_root, valid_from)
    proof = sign_rotation_proof(
        new_root, region=REGION, old_kid=world.root.key_id, valid_from=valid_from
    )
    by_old_root_only = [
        ({**body}, "malformed"),  # no proof at all
        (  # the "proof" signed by the old root itself
            {
                **body,
                "proof": sign_rotation_proof(
                    world.root, region=REGION, old_kid=world.root.key_id, valid_from=valid_from
                ),
            },
            "bad_signature",
        ),
        (  # a proof by the new root for another validity
            {
                **body,
                "proof": sign_rotation_proof(
                    new_root, region=REGION, old_kid=world.root.key_id, valid_from=valid_from + 1
                ),
            },
            "bad_signature",
        ),
    ]
    for rotation, reason in by_old_root_only:
        raw = record(world, world.root, "root_rotated", rotation)
        assert refused(world, world.app.append_key_record, raw).reason == reason
    # signed by the new root alone, with its valid proof: the new root is no key here yet
    raw = record(world, new_root, "root_rotated", {**body, "proof": proof})
    assert refused(world, world.app.append_key_record, raw).reason == "unknown_key"
    world.app.refresh_registry()
    assert world.app.registry.regions[REGION].root_kid == world.root.key_id
    # the old root is still the root: it registers a body
    world.clerk.register_body(
        world.root, "510106-RS", "r", seeded_in(world.suite, "b/510106").public_key
    )
    # both together: accepted, and the ledger audits clean
    world.clerk.rotate_root(world.root, new_root, valid_from=world.clock.now)
    world.app.refresh_registry()
    assert world.app.registry.regions[REGION].root_kid == new_root.key_id
    assert audit(world) == []
    assert len(world.app.stream_entries(case)) == 2


# -- moving to another suite -----------------------------------------------------------------


def test_a_region_moves_from_ed25519_to_sm2_by_rotation(
    tmp_path: Path, database: tuple[str, str | None]
) -> None:
    """A body, its officer and then the root move from Ed25519 to SM2 by ordinary records:
    the chains mix suites, the old keys' events stay valid and the audit is clean."""
    url, schema = database
    world = make_world(tmp_path, database_url=url, schema=schema, workflow=SignedCoreOnly())
    rs = world.officers["rs-001"]
    assert rs.signer.suite == "ed25519-sha256"
    old_case, old_steps = world.append_case(rs, 2)
    world.clock.advance(60)
    sm2_body = seeded_in("sm2-sm3", "migration/body/510104-RS")
    world.clerk.rotate_body_key(world.root, "510104-RS", sm2_body.public_key)
    world.clock.advance(1)
    sm2_officer = seeded_in("sm2-sm3", "migration/rs-001")
    world.clerk.certify_officer(
        sm2_body, "510104-RS", "rs-001", sm2_officer.public_key, valid_from=world.clock.now
    )
    world.clock.advance(1)
    moved = type(rs)(rs.body_id, rs.officer_id, sm2_officer)
    # The case goes on under the SM2 key: its prev is the Ed25519 event's SHA-256 hash.
    appended = world.app.append_event(
        world.event(moved, old_case, 3, old_steps[-1].head.event_hash, "noted")
    )
    assert appended.created
    new_case, _ = world.append_case(moved, 2)
    # The root itself moves: the Ed25519 root signs, the SM2 root consents (SM3 proof).
    sm2_root = seeded_in("sm2-sm3", "migration/root/510000")
    world.clerk.rotate_root(world.root, sm2_root, valid_from=world.clock.now)
    world.clock.advance(1)
    world.clerk.register_body(
        sm2_root, "510106-RS", "r", seeded_in("sm2-sm3", "migration/510106").public_key
    )
    world.app.refresh_registry()
    assert world.app.registry.regions[REGION].root_kid == sm2_root.key_id
    suites = {key.suite for key in world.app.registry.keys.values()}
    assert suites == {"ed25519-sha256", "sm2-sm3"}
    assert audit(world) == []
    assert [e.seq for e in world.app.stream_entries(old_case)] == [1, 2, 3]
    assert [e.seq for e in world.app.stream_entries(new_case)] == [1, 2]
