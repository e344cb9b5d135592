"""Defects the tamper matrix found in the audit, each pinned by a deterministic case.

A ten-step online case under the real workflow, on SQLite, tampered in its tables:

- one missing or unreadable step made every later step of its case an ``illegal_step`` too
  (the replay went on from a state that skipped the step): now only the gap is reported;
- an event row without an index row was also ``unknown_key`` ("registered after this event
  was accepted", against index 0): now only ``index_gap``;
- an unreadable key record was reported with the parser's own reason (``wrong_context``, not
  a documented audit reason): now ``malformed``;
- a stored envelope whose ``suite`` is not text (a list) crashed the audit (``TypeError`` in
  ``get_suite``, reached by every parser of signed objects, the node's and the license
  verifier's included): now ``unsupported_suite``;
- a stored checkpoint whose signature line was re-encoded (base64 with non-zero padding bits,
  the same signature bytes) passed as the node's: now ``bad_checkpoint`` (notes refuse
  non-canonical base64, ``docs/transparency.md``);
- a key record naming another region in a registry stream crashed the audit (``KeyError``)
  for an untrusted region, and moved the other region's registry for a trusted one: now
  ``malformed`` at the record, and nothing else moves.
"""

from __future__ import annotations

import base64
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest

from ledger import canonical
from ledger.audit import verify_ledger
from ledger.errors import LedgerError
from ledger.keys import registry_stream_id
from ledger.notes import NoteError, parse_checkpoint, parse_note
from ledger.persistence import AllowlistMapper
from ledger.workflow import CaseWorkflow, SignedCoreOnly
from tests.support.world import JIANGSU, World, make_world

HOME = registry_stream_id("510000")
RS_001_RECORD = 5  # officer_certified of rs-001 (tests/support/world.py's order)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path, workflow=CaseWorkflow(), with_jiangsu=True)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "ledger.sqlite3")
    yield conn
    conn.close()


def findings(world: World) -> list[tuple[str, int, str]]:
    return [(f.case_id, f.seq, f.reason) for f in verify_ledger(world.app).findings]


def _where(stream: uuid.UUID, seq: int) -> tuple[str, int]:
    return stream.hex, seq


def test_a_missing_step_is_one_seq_gap_not_illegal_steps_after_it(
    world: World, db: sqlite3.Connection
) -> None:
    case = world.online_case()
    assert findings(world) == []
    db.execute(
        "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?",
        _where(case, 3),
    )
    db.commit()
    assert findings(world) == [(str(case), 3, "seq_gap")]


def test_a_step_deleted_with_its_index_row_is_one_seq_gap(
    world: World, db: sqlite3.Connection
) -> None:
    case = world.online_case()
    for table in ("stored_events", "stored_ledger"):
        db.execute(
            f"DELETE FROM {table} WHERE originator_id = ? AND originator_version = ?",
            _where(case, 1),
        )
    db.commit()
    assert sorted(findings(world)) == [("", 0, "index_gap"), (str(case), 1, "seq_gap")]


def test_a_retopicked_step_is_malformed_and_nothing_after_it(
    world: World, db: sqlite3.Connection
) -> None:
    case = world.online_case()
    db.execute(
        "UPDATE stored_events SET topic = 'tongban.case.opened' "
        "WHERE originator_id = ? AND originator_version = ?",
        _where(case, 4),
    )
    db.commit()
    assert findings(world) == [(str(case), 4, "malformed")]


def test_an_event_without_index_row_is_index_gap_only(world: World, db: sqlite3.Connection) -> None:
    case = world.online_case()
    db.execute(
        "DELETE FROM stored_ledger WHERE originator_id = ? AND originator_version = ?",
        _where(case, 10),
    )
    db.commit()
    # the newest index: no gap in the dense index, only the row's own missing index
    assert findings(world) == [(str(case), 10, "index_gap")]


def _record_state(db: sqlite3.Connection, seq: int) -> tuple[bytes, int]:
    (state,) = db.execute(
        "SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = ?",
        _where(HOME, seq),
    ).fetchone()
    decoded = msgpack.unpackb(state, raw=False)
    return decoded["envelope"], decoded["received_at"]


def _store_record(db: sqlite3.Connection, seq: int, envelope: bytes, received_at: int) -> None:
    state = msgpack.packb({"envelope": envelope, "received_at": received_at}, use_bin_type=True)
    db.execute(
        "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
        (state, *_where(HOME, seq)),
    )
    db.commit()


def test_an_unreadable_key_record_is_malformed(world: World, db: sqlite3.Connection) -> None:
    case = world.online_case()
    envelope, received_at = _record_state(db, RS_001_RECORD)
    assert envelope.count(b"tongban/key/v1") == 1
    _store_record(
        db, RS_001_RECORD, envelope.replace(b"tongban/key/v1", b"tongban/kez/v1"), received_at
    )
    found = findings(world)
    assert (str(HOME), RS_001_RECORD, "malformed") in found
    assert "wrong_context" not in {reason for _, _, reason in found}
    # the officer it certified is unknown: every step rs-001 signed
    assert {(seq, reason) for c, seq, reason in found if c == str(case)} == {
        (seq, "unknown_key") for seq in range(1, 11)
    }


@pytest.mark.parametrize("region", ["999999", JIANGSU])
def test_a_key_record_naming_another_region_is_malformed(
    world: World, db: sqlite3.Connection, region: str
) -> None:
    world.online_case()
    envelope, received_at = _record_state(db, RS_001_RECORD)
    marker = b"\xa6region\xa6510000"
    assert envelope.count(marker) == 1
    _store_record(
        db,
        RS_001_RECORD,
        envelope.replace(marker, b"\xa6region\xa6" + region.encode()),
        received_at,
    )
    found = findings(world)  # no KeyError
    assert (str(HOME), RS_001_RECORD, "malformed") in found
    # Jiangsu's registry, and the records of this region after it, are untouched
    registry_findings = {
        (c, seq) for c, seq, _ in found if c in {str(HOME), str(registry_stream_id(JIANGSU))}
    }
    assert registry_findings == {(str(HOME), RS_001_RECORD)}


def test_a_suite_that_is_not_text_is_unsupported_not_a_crash(
    world: World, db: sqlite3.Connection
) -> None:
    case = world.online_case()
    (state,) = db.execute(
        "SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = ?",
        _where(case, 2),
    ).fetchone()
    decoded = msgpack.unpackb(state, raw=False)
    content, signature = canonical.decode(decoded["envelope"])
    fields = {**canonical.decode(content), "suite": ["ed25519-sha256"]}
    envelope = canonical.encode([canonical.encode(fields), signature])
    db.execute(
        "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
        (
            msgpack.packb({"envelope": envelope, "received_at": decoded["received_at"]}),
            *_where(case, 2),
        ),
    )
    db.commit()
    assert findings(world) == [(str(case), 2, "unsupported_suite")]
    with pytest.raises(LedgerError) as refused:
        world.app.append_event(envelope)
    assert refused.value.reason == "unsupported_suite"


def _non_canonical(encoded: str) -> str:
    """The same bytes, base64 with a padding bit set in the last data character."""
    last = encoded.rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    value = alphabet.index(last[-1]) | 1  # the lowest bit is a padding bit before "="
    text = last[:-1] + alphabet[value] + encoded[len(last) :]
    assert text != encoded and base64.b64decode(text) == base64.b64decode(encoded)
    return text


def test_a_checkpoint_re_encoded_with_padding_bits_is_bad_checkpoint(
    world: World, db: sqlite3.Connection
) -> None:
    world.online_case()
    note = world.app.issue_checkpoint()
    assert findings(world) == []
    text = note.render()
    line = next(x for x in text.splitlines() if x.startswith(f"\u2014 {world.app.ledger_name} "))
    name, _, encoded = line.rpartition(" ")
    assert encoded.endswith("=")  # 4 + 64 bytes: one padding character, two padding bits
    db.execute(
        "UPDATE stored_checkpoints SET note = ?",
        (text.replace(line, f"{name} {_non_canonical(encoded)}"),),
    )
    db.commit()
    assert findings(world) == [("", 0, "bad_checkpoint")]
    with pytest.raises(NoteError):
        parse_note(text.replace(line, f"{name} {_non_canonical(encoded)}"))
    root_line = note.text.splitlines()[2]
    with pytest.raises(NoteError):
        parse_checkpoint(note.text.replace(root_line, _non_canonical(root_line)))


def test_the_auditor_takes_the_region_from_the_ledger_name(
    world: World, db: sqlite3.Connection
) -> None:
    """An auditor given no home region trusted every region's node keys: a receipt re-signed
    by Jiangsu's node key (valid in Jiangsu's own registry) passed on Sichuan's ledger."""
    from ledger.admin import RegistryClerk
    from ledger.audit import Auditor
    from ledger.receipts import make_receipt, parse_receipt
    from tests.support.world import START, seeded

    js_node = seeded(f"node/{JIANGSU}")
    appended = RegistryClerk(world.app, JIANGSU).certify_node(
        seeded(f"root/{JIANGSU}"), js_node.public_key, "js-node-1", valid_from=START
    )
    index = appended.index
    (raw,) = db.execute(
        "SELECT receipt FROM stored_ledger WHERE ledger_index = ?", (index,)
    ).fetchone()
    receipt = parse_receipt(raw)
    forged = make_receipt(
        js_node,
        ledger=receipt.ledger,
        index=receipt.index,
        event_hash=receipt.event_hash,
        stream_id=receipt.stream_id,
        seq=receipt.seq,
        time=receipt.time,
    )
    with db:
        db.execute("UPDATE stored_ledger SET receipt = ? WHERE ledger_index = ?", (forged, index))
    app = world.app
    mapper = app.mapper
    assert isinstance(mapper, AllowlistMapper)
    auditor = Auditor(
        app.store,
        mapper,
        ledger_name=app.ledger_name,
        trusted_roots=app.trusted_roots,
        workflow=SignedCoreOnly(),
    )
    auditor.load_registry()
    assert [(f.seq, f.reason) for f in auditor.findings] == [(receipt.seq, "bad_receipt")]
    with pytest.raises(LedgerError) as raised:
        Auditor(
            app.store,
            mapper,
            ledger_name=app.ledger_name,
            trusted_roots=app.trusted_roots,
            home_region=JIANGSU,
            workflow=SignedCoreOnly(),
        )
    assert raised.value.reason == "wrong_region"
