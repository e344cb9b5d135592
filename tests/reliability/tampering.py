"""Tampering with a stored ledger, one change at a time, straight in its tables.

The tables are the recorders' (``adapters/sqlite.py``, ``adapters/postgres.py``): eventsourcing's
``stored_events`` (stream, seq, topic, msgpack state ``{envelope, received_at}``) and the ledger
index ``stored_ledger`` (ledger index, stream, seq, event hash, receipt). A tampering is a set
of rows to delete and rows to put in their place; :meth:`RawTables.tampered` applies and commits
it, lets the caller audit, then puts the original rows back byte for byte.

Each kind of tampering knows where ``docs/threat-model.md`` ("Detection scope") says the audit
reports it: the places (case or registry stream, seq; ``("", 0)`` for whole-ledger findings)
and reasons it must find, and the places and reasons it may also report. Anything else is a
false alarm.
"""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgpack
import psycopg

from adapters.keyfiles import read_key
from ledger.audit import AuditReport, Finding, auditor_for
from ledger.envelope import Envelope, parse_event, seal
from ledger.keys import KeyRecord, parse_key_record, registry_stream_id
from ledger.receipts import make_receipt, parse_receipt
from ledger.suites import Ed25519Signer, Signer, SoftwareSigner

Place = tuple[str, int]  # (stream id as text, seq); ("", 0) for the whole ledger
LEDGER: Place = ("", 0)
ANY = frozenset({"*"})  # any reason


@dataclass(frozen=True)
class EventRow:
    rowid: int  # SQLite rowid / PostgreSQL notification_id, restored as they were
    stream: uuid.UUID
    seq: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class IndexRow:
    index: int
    stream: uuid.UUID
    seq: int
    event_hash: bytes
    receipt: bytes


@dataclass
class Tampering:
    """Rows to replace (``None``: delete) and what the audit must and may report."""

    kind: str
    label: str
    events: dict[tuple[uuid.UUID, int], EventRow | None] = field(default_factory=dict)
    indexes: dict[int, IndexRow | None] = field(default_factory=dict)
    must: list[tuple[Place, frozenset[str]]] = field(default_factory=list)
    may: dict[Place, frozenset[str]] = field(default_factory=dict)
    streams: set[uuid.UUID] = field(default_factory=set)  # the streams to audit
    checkpoint_note: str | None = None  # replaces the stored checkpoint's note
    reset_tree: bool = False  # the tree tables emptied too (the audit never reads them)

    def expect(self, place: Place, *reasons: str) -> None:
        self.must.append((place, frozenset(reasons)))
        self.allow(place, *reasons)

    def allow(self, place: Place, *reasons: str) -> None:
        self.may[place] = self.may.get(place, frozenset()) | frozenset(reasons)

    def misses(self, findings: Sequence[Finding]) -> list[str]:
        """What the audit got wrong: expectations unmet, findings not allowed."""
        found = [((f.case_id, f.seq), f.reason) for f in findings]
        wrong = []
        for place, reasons in self.must:
            if not any(p == place and r in reasons for p, r in found):
                wrong.append(f"missing {sorted(reasons)} at {place}")
        for place, reason in found:
            allowed = self.may.get(place, frozenset())
            if reason not in allowed and "*" not in allowed:
                wrong.append(f"unexpected {reason} at {place}")
        return wrong


# -- the stored tables ---------------------------------------------------------------------


class RawTables:
    """The ledger's tables through a connection of the test's own (not the node's)."""

    def __init__(self, conn: Any, *, postgres: bool):
        self.conn = conn
        self.postgres = postgres
        self.rowid = "notification_id" if postgres else "rowid"
        # eventsourcing names PostgreSQL tables after the application, SQLite's "stored_…"
        self.prefix = "tongban_" if postgres else "stored_"

    @classmethod
    def sqlite(cls, path: Path) -> RawTables:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA synchronous = OFF")  # a throwaway test ledger: no fsync per change
        return cls(conn, postgres=False)

    @classmethod
    def postgresql(cls, url: str, schema: str) -> RawTables:
        conn = psycopg.connect(url)
        conn.execute(f'SET search_path TO "{schema}"')
        conn.commit()
        return cls(conn, postgres=True)

    def close(self) -> None:
        self.conn.close()

    def _sql(self, text: str) -> str:
        text = text.replace("stored_", self.prefix)
        return text.replace("?", "%s") if self.postgres else text

    def _sid(self, stream: uuid.UUID) -> Any:
        return stream if self.postgres else stream.hex

    def _execute(self, text: str, params: Sequence[Any] = ()) -> list[Any]:
        cursor = self.conn.execute(self._sql(text), tuple(params))
        return list(cursor.fetchall()) if cursor.description else []

    def event_rows(self) -> list[EventRow]:
        return [
            EventRow(row[0], uuid.UUID(str(row[1])), row[2], row[3], bytes(row[4]))
            for row in self._execute(
                f"SELECT {self.rowid}, originator_id, originator_version, topic, state "
                "FROM stored_events ORDER BY originator_id, originator_version"
            )
        ]

    def index_rows(self) -> list[IndexRow]:
        return [
            IndexRow(row[0], uuid.UUID(str(row[1])), row[2], bytes(row[3]), bytes(row[4]))
            for row in self._execute(
                "SELECT ledger_index, originator_id, originator_version, event_hash, receipt "
                "FROM stored_ledger ORDER BY ledger_index"
            )
        ]

    def update_object(
        self, stream: uuid.UUID, seq: int, state: bytes, event_hash: bytes, receipt: bytes
    ) -> None:
        """Rewrite one stored object in place: its state, and its index row's hash and receipt."""
        where = "WHERE originator_id = ? AND originator_version = ?"
        self._execute(
            f"UPDATE stored_events SET state = ? {where}", (state, self._sid(stream), seq)
        )
        self._execute(
            f"UPDATE stored_ledger SET event_hash = ?, receipt = ? {where}",
            (event_hash, receipt, self._sid(stream), seq),
        )
        self.conn.commit()

    def checkpoints(self) -> dict[int, str]:
        return dict(self._execute("SELECT size, note FROM stored_checkpoints"))

    def _set_note(self, size: int, note: str) -> None:
        self._execute("UPDATE stored_checkpoints SET note = ? WHERE size = ?", (note, size))

    def _tree(self) -> tuple[list[Any], list[Any]]:
        state = self._execute("SELECT size, frontier, last_hash FROM stored_tree")
        return state, self._execute("SELECT level, idx, hash FROM stored_subtrees")

    def _put_tree(self, state: list[Any], subtrees: list[Any]) -> None:
        self._execute("DELETE FROM stored_subtrees")
        for size, frontier, last_hash in state:
            self._execute(
                "UPDATE stored_tree SET size = ?, frontier = ?, last_hash = ?",
                (size, bytes(frontier), bytes(last_hash)),
            )
        for level, idx, node in subtrees:
            self._execute("INSERT INTO stored_subtrees VALUES (?, ?, ?)", (level, idx, bytes(node)))

    def fingerprint(self) -> tuple[list[EventRow], list[IndexRow]]:
        self.conn.commit()
        return self.event_rows(), self.index_rows()

    def _put(
        self,
        events: dict[tuple[uuid.UUID, int], EventRow | None],
        indexes: dict[int, IndexRow | None],
    ) -> None:
        for stream, seq in events:
            self._execute(
                "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?",
                (self._sid(stream), seq),
            )
        for index in indexes:
            self._execute("DELETE FROM stored_ledger WHERE ledger_index = ?", (index,))
        for event in events.values():
            if event is not None:
                self._execute(
                    f"INSERT INTO stored_events ({self.rowid}, originator_id, "
                    "originator_version, topic, state) VALUES (?, ?, ?, ?, ?)",
                    (event.rowid, self._sid(event.stream), event.seq, event.topic, event.state),
                )
        for entry in indexes.values():
            if entry is not None:
                self._execute(
                    "INSERT INTO stored_ledger VALUES (?, ?, ?, ?, ?)",
                    (
                        entry.index,
                        self._sid(entry.stream),
                        entry.seq,
                        entry.event_hash,
                        entry.receipt,
                    ),
                )
        self.conn.commit()

    @contextmanager
    def tampered(self, tampering: Tampering, model: LedgerModel) -> Iterator[None]:
        """Apply ``tampering`` (committed, so the node's own connections see it), then undo it."""
        original_events = {key: model.events.get(key) for key in tampering.events}
        original_indexes = {index: model.by_index.get(index) for index in tampering.indexes}
        tree = self._tree() if tampering.reset_tree else None
        try:
            if tampering.checkpoint_note is not None:
                self._set_note(model.checkpoint_size, tampering.checkpoint_note)
            if tree is not None:
                self._put_tree([(0, b"", b"")], [])
            self._put(tampering.events, tampering.indexes)
            yield
        finally:
            self.conn.rollback()
            if tampering.checkpoint_note is not None:
                self._set_note(model.checkpoint_size, model.checkpoint_note)
            if tree is not None:
                self._put_tree(*tree)
            self._put(original_events, original_indexes)


# -- the ledger as stored, read once -------------------------------------------------------


def decode_state(state: bytes) -> tuple[bytes, int]:
    decoded = msgpack.unpackb(state, raw=False)
    return decoded["envelope"], decoded["received_at"]


def encode_state(envelope: bytes, received_at: int) -> bytes:
    return msgpack.packb({"envelope": envelope, "received_at": received_at}, use_bin_type=True)  # type: ignore[no-any-return]


@dataclass
class LedgerModel:
    """The untouched ledger: every row, parsed, with the keys needed to re-sign."""

    ledger_name: str
    events: dict[tuple[uuid.UUID, int], EventRow]
    by_index: dict[int, IndexRow]
    index_of: dict[tuple[uuid.UUID, int], IndexRow]
    cases: dict[uuid.UUID, list[Envelope]]  # case id → envelopes in seq order
    registry: dict[uuid.UUID, list[KeyRecord]]
    node: SoftwareSigner
    officers: dict[tuple[str, str], SoftwareSigner]  # (body, officer) → key
    steps_of: dict[tuple[str, str], list[tuple[uuid.UUID, int]]]  # (body, officer) → steps
    checkpoint_size: int  # the one stored checkpoint, over the whole ledger
    checkpoint_note: str

    @classmethod
    def load(
        cls, raw: RawTables, data_dir: Path, ledger_name: str, regions: Sequence[str]
    ) -> LedgerModel:
        events = {(row.stream, row.seq): row for row in raw.event_rows()}
        indexes = raw.index_rows()
        registries = {registry_stream_id(region) for region in regions}
        cases: dict[uuid.UUID, list[Envelope]] = {}
        registry: dict[uuid.UUID, list[KeyRecord]] = {}
        steps_of: dict[tuple[str, str], list[tuple[uuid.UUID, int]]] = {}
        for (stream, _seq), row in sorted(events.items()):
            envelope, _ = decode_state(row.state)
            if stream in registries:
                registry.setdefault(stream, []).append(parse_key_record(envelope))
                continue
            parsed = parse_event(envelope)
            cases.setdefault(stream, []).append(parsed)
            steps_of.setdefault((parsed.body_id, parsed.officer_id), []).append(
                (stream, parsed.seq)
            )
        index = json.loads((data_dir / "demo-keys" / "index.json").read_text())
        officers = {
            (body["body_id"], officer["officer_id"]): read_key(data_dir / officer["key_file"])
            for body in index["bodies"]
            for officer in body["officers"]
        }
        ((checkpoint_size, checkpoint_note),) = raw.checkpoints().items()
        return cls(
            checkpoint_size=checkpoint_size,
            checkpoint_note=checkpoint_note,
            ledger_name=ledger_name,
            events=events,
            by_index={row.index: row for row in indexes},
            index_of={(row.stream, row.seq): row for row in indexes},
            cases=cases,
            registry=registry,
            node=read_key(data_dir / "node.key"),
            officers=officers,
            steps_of=steps_of,
        )

    def touches_registry(self, t: Tampering) -> bool:
        touched = {stream for stream, _ in t.events}
        touched |= {self.by_index[i].stream for i in t.indexes if i in self.by_index}
        return bool(touched & set(self.registry))

    @property
    def max_index(self) -> int:
        return max(self.by_index)

    def received_at(self, stream: uuid.UUID, seq: int) -> int:
        return decode_state(self.events[(stream, seq)].state)[1]

    def receipt(self, row: IndexRow, event_hash: bytes, **changes: Any) -> bytes:
        return resigned_receipt(self.node, row.receipt, event_hash, **changes)


def resigned_receipt(node: Signer, receipt: bytes, event_hash: bytes, **changes: Any) -> bytes:
    """``receipt`` for another object hash (and other ``changes``), re-signed with the node
    key: what an attacker holding ``node.key`` can do."""
    old = parse_receipt(receipt)
    fields = {
        "ledger": old.ledger,
        "index": old.index,
        "event_hash": event_hash,
        "stream_id": old.stream_id,
        "seq": old.seq,
        "time": old.time,
        **changes,
    }
    return make_receipt(node, **fields)


def resealed(envelope: Envelope | KeyRecord, signer: SoftwareSigner, **changes: Any) -> bytes:
    """The object's content with ``changes``, signed by ``signer``."""
    content = {k: v for k, v in envelope.signed.content.items() if k not in {"v", "suite", "kid"}}
    return seal({**content, **changes}, signer)


def _s(stream: uuid.UUID) -> str:
    return str(stream)


# -- the kinds of tampering ----------------------------------------------------------------


def kinds_first_round(rng: random.Random) -> list[str]:
    """Every kind of :attr:`Tamperer.KINDS` once, in an order drawn from ``rng`` (popped from
    the end)."""
    return rng.sample([name for name, _ in Tamperer.KINDS], len(Tamperer.KINDS))


class Tamperer:
    """Draws tamperings of every kind the threat model lists, from a seeded RNG."""

    # kind (a method) and its weight in the draw
    KINDS = (
        ("flip_event_byte", 14),
        ("flip_receipt_byte", 8),
        ("flip_registry_byte", 2),
        ("delete_event_row", 5),
        ("delete_index_row", 3),
        ("delete_middle_event", 5),
        ("delete_case_newest", 4),
        ("delete_ledger_newest", 2),
        ("drop_case", 3),
        ("drop_case_renumbered_node", 1),
        ("swap_in_case", 6),
        ("swap_across_cases", 4),
        ("swap_with_index", 4),
        ("duplicate_new_seq", 4),
        ("duplicate_over_step", 4),
        ("resign_wrong_body_key", 5),
        ("resign_wrong_body_key_node", 5),
        ("replace_valid_step_node", 5),
        ("replace_key_record_node", 2),
        ("retopic_event", 6),
        ("retopic_registry", 2),
        ("flip_checkpoint_byte", 3),
    )
    TREE_RESET_SHARE = 0.1  # of all tamperings, also done with the tree tables emptied

    def __init__(self, model: LedgerModel, rng: random.Random):
        self.m = model
        self.rng = rng
        self._first_round = kinds_first_round(rng)
        self.case_ids = sorted(model.cases)
        self.multi_step = [c for c in self.case_ids if len(model.cases[c]) >= 3]
        newest = model.by_index[model.max_index]
        self.newest_case = newest.stream
        # officer_certified records of officers who signed steps: every step is a consequence
        registry_stream = registry_stream_id(model.ledger_name.rsplit("/", 1)[-1])
        self.home_registry = registry_stream
        self.officer_records = [
            record
            for record in model.registry[registry_stream]
            if record.type == "officer_certified"
            and (record.body["body_id"], record.body["officer_id"]) in model.steps_of
        ]

    def next_kind(self) -> str:
        """Every kind once first, in a seeded order, then by weight: a matrix of at least as
        many tamperings as kinds tries each (by weight alone, a kind of weight 1 was left out
        of 400 draws about one seed in fifty)."""
        if self._first_round:
            return self._first_round.pop()
        names, weights = zip(*self.KINDS, strict=True)
        return str(self.rng.choices(names, weights)[0])

    def draw(self) -> Tampering:
        maker: Callable[[], Tampering] = getattr(self, self.next_kind())
        tampering = maker()
        if self.rng.random() < self.TREE_RESET_SHARE:
            # The audit recomputes every root from the rows: resetting the tree changes nothing.
            tampering.reset_tree = True
            tampering.label += ", tree tables reset"
        return tampering

    # -- helpers -----------------------------------------------------------------------------

    def _case(self, min_steps: int = 1) -> uuid.UUID:
        pool = self.multi_step if min_steps >= 3 else self.case_ids
        while True:
            case = self.rng.choice(pool)
            if len(self.m.cases[case]) >= min_steps:
                return case

    def _step(self, min_steps: int = 1) -> tuple[uuid.UUID, int, int]:
        case = self._case(min_steps)
        n = len(self.m.cases[case])
        return case, self.rng.randint(1, n), n

    def _later_may(self, t: Tampering, case: uuid.UUID, after: int, *reasons: str) -> None:
        for seq in range(after + 1, len(self.m.cases[case]) + 1):
            t.allow((_s(case), seq), *reasons)

    def _put_state(self, t: Tampering, case: uuid.UUID, seq: int, state: bytes) -> None:
        t.events[(case, seq)] = replace(self.m.events[(case, seq)], state=state)

    # -- flips -----------------------------------------------------------------------------

    def flip_event_byte(self) -> Tampering:
        case, seq, n = self._step()
        row = self.m.events[(case, seq)]
        envelope, _ = decode_state(row.state)
        state = bytearray(row.state)
        at = self.rng.randrange(len(state))
        state[at] ^= 1 << self.rng.randrange(8)
        start = row.state.find(envelope)
        where = (_s(case), seq)
        if start <= at < start + len(envelope) - 64:
            t = Tampering("flip_event_byte", f"content byte {at - start} of {where}")
            # Unreadable, or read as other content: its hash, or (seq/case bytes) its place
            t.expect(where, "malformed", "unsupported_suite", "bad_hash", "broken_link")
            t.may[where] = ANY
            t.allow((_s(case), seq + 1), "broken_link", "illegal_step")
            self._later_may(t, case, seq + 1, "illegal_step")
        elif start + len(envelope) - 64 <= at < start + len(envelope):
            t = Tampering("flip_event_byte", f"signature byte of {where}")
            t.expect(where, "bad_hash")
            t.expect(where, "bad_signature")
            if seq < n:
                t.expect((_s(case), seq + 1), "broken_link")
        else:
            t = Tampering("flip_event_byte", f"state byte {at} (outside the envelope) of {where}")
            # the map or the receipt time: unreadable, or a time the receipt contradicts
            t.expect(where, "malformed", "bad_receipt")
            t.may[where] = ANY
            self._later_may(t, case, seq, "illegal_step")
        t.events[(case, seq)] = replace(row, state=bytes(state))
        t.streams.add(case)
        return t

    def flip_receipt_byte(self) -> Tampering:
        index = self.rng.randint(1, self.m.max_index)
        row = self.m.by_index[index]
        receipt = bytearray(row.receipt)
        receipt[self.rng.randrange(len(receipt))] ^= 1 << self.rng.randrange(8)
        t = Tampering("flip_receipt_byte", f"receipt of ledger index {index}")
        t.indexes[index] = replace(row, receipt=bytes(receipt))
        t.expect((_s(row.stream), row.seq), "bad_receipt")
        if row.stream != self.home_registry and row.stream in self.m.cases:
            t.streams.add(row.stream)
        return t

    def _officer_consequences(self, t: Tampering, record: KeyRecord) -> None:
        """Every step of the officer whose certification is broken: ``unknown_key``."""
        officer = (record.body["body_id"], record.body["officer_id"])
        for case, seq in self.m.steps_of[officer]:
            t.expect((_s(case), seq), "unknown_key")
            t.streams.add(case)

    def flip_registry_byte(self) -> Tampering:
        record = self.rng.choice(self.officer_records)
        row = self.m.events[(self.home_registry, record.seq)]
        envelope, _ = decode_state(row.state)
        start = row.state.find(envelope)
        state = bytearray(row.state)
        at = start + self.rng.randrange(len(envelope))
        state[at] ^= 1 << self.rng.randrange(8)
        where = (_s(self.home_registry), record.seq)
        t = Tampering("flip_registry_byte", f"byte {at - start} of key record {where}")
        t.events[(self.home_registry, record.seq)] = replace(row, state=bytes(state))
        t.expect(
            where, "malformed", "unsupported_suite", "bad_hash", "broken_link", "bad_signature"
        )
        t.may[where] = ANY
        t.allow((where[0], record.seq + 1), "broken_link")
        self._officer_consequences(t, record)
        return t

    # -- deletions -------------------------------------------------------------------------

    def delete_event_row(self) -> Tampering:
        case, seq, _ = self._step()
        t = Tampering("delete_event_row", f"event row of ({case}, {seq}), its index row kept")
        t.events[(case, seq)] = None
        t.expect((_s(case), seq), "seq_gap")
        t.streams.add(case)
        return t

    def delete_index_row(self) -> Tampering:
        case, seq, _ = self._step()
        row = self.m.index_of[(case, seq)]
        t = Tampering("delete_index_row", f"index row {row.index} of ({case}, {seq}), event kept")
        t.indexes[row.index] = None
        t.expect((_s(case), seq), "index_gap")
        self._ledger_gaps(t)
        t.streams.add(case)
        return t

    def _delete_with_index(self, t: Tampering, case: uuid.UUID, seq: int) -> None:
        index = self.m.index_of[(case, seq)].index
        t.events[(case, seq)] = None
        t.indexes[index] = None

    def _ledger_gaps(self, t: Tampering) -> None:
        """Deleted index rows: ``index_gap`` unless they are the newest; always missing from
        the checkpoint of the whole ledger."""
        deleted = {i for i, row in t.indexes.items() if row is None}
        t.expect(LEDGER, "missing_from_tree")
        remaining_top = max(set(self.m.by_index) - deleted)
        if any(i < remaining_top for i in deleted):
            t.expect(LEDGER, "index_gap")

    def delete_middle_event(self) -> Tampering:
        case = self._case(3)
        seq = self.rng.randint(1, len(self.m.cases[case]) - 1)
        t = Tampering("delete_middle_event", f"({case}, {seq}) and its index row")
        self._delete_with_index(t, case, seq)
        t.expect((_s(case), seq), "seq_gap")
        self._ledger_gaps(t)
        t.streams.add(case)
        return t

    def delete_case_newest(self) -> Tampering:
        case = self._case()
        seq = len(self.m.cases[case])
        t = Tampering("delete_case_newest", f"newest step ({case}, {seq}) and its index row")
        self._delete_with_index(t, case, seq)
        self._ledger_gaps(t)
        t.streams.add(case)
        return t

    def delete_ledger_newest(self) -> Tampering:
        row = self.m.by_index[self.m.max_index]
        t = Tampering(
            "delete_ledger_newest", f"the ledger's newest object ({row.stream}, {row.seq})"
        )
        self._delete_with_index(t, row.stream, row.seq)
        t.expect(LEDGER, "missing_from_tree")
        t.streams.add(row.stream)
        return t

    def drop_case(self) -> Tampering:
        case = self.newest_case if self.rng.random() < 0.2 else self._case()
        t = Tampering("drop_case", f"every row of case {case}")
        for seq in range(1, len(self.m.cases[case]) + 1):
            self._delete_with_index(t, case, seq)
        self._ledger_gaps(t)
        t.streams.add(case)
        return t

    def drop_case_renumbered_node(self) -> Tampering:
        """A case dropped, the later indexes moved down to keep the index dense, and their
        receipts re-signed with the node key: only the checkpoint still counts the rows."""
        # a case of the last 200 indexes: fewer receipts to re-sign, and still not the tail
        late = [c for c in self.case_ids if self.m.index_of[(c, 1)].index > self.m.max_index - 200]
        case = self.rng.choice(late)
        t = Tampering("drop_case_renumbered_node", f"case {case} dropped, indexes renumbered")
        dropped = sorted(
            self.m.index_of[(case, s)].index for s in range(1, len(self.m.cases[case]) + 1)
        )
        for seq in range(1, len(self.m.cases[case]) + 1):
            self._delete_with_index(t, case, seq)
        shift = 0
        for index in range(dropped[0], self.m.max_index + 1):
            if index in dropped:
                shift += 1
                continue
            row = self.m.by_index[index]
            moved = index - shift
            t.indexes.setdefault(index, None)
            t.indexes[moved] = replace(
                row, index=moved, receipt=self.m.receipt(row, row.event_hash, index=moved)
            )
        t.expect(LEDGER, "missing_from_tree")
        t.streams.add(case)
        return t

    # -- reordering and copies -------------------------------------------------------------

    def _swap_states(
        self, t: Tampering, a: tuple[uuid.UUID, int], b: tuple[uuid.UUID, int]
    ) -> None:
        first, second = self.m.events[a], self.m.events[b]
        t.events[a] = replace(first, state=second.state)
        t.events[b] = replace(second, state=first.state)
        for case, seq in (a, b):
            t.expect((_s(case), seq), "broken_link")
            t.expect((_s(case), seq), "bad_receipt")
            t.allow((_s(case), seq), "illegal_step")
            # the next step no longer links; the workflow replay may go astray from here on
            self._later_may(t, case, seq, "broken_link", "illegal_step")
            t.streams.add(case)

    def swap_in_case(self) -> Tampering:
        case = self._case(3)
        first, second = sorted(self.rng.sample(range(1, len(self.m.cases[case]) + 1), 2))
        t = Tampering("swap_in_case", f"({case}, {first}) <-> ({case}, {second}), event rows")
        self._swap_states(t, (case, first), (case, second))
        for seq in (first, second):
            if seq + 1 <= len(self.m.cases[case]) and seq + 1 not in (first, second):
                t.expect((_s(case), seq + 1), "broken_link")
        return t

    def _two_places(self) -> tuple[tuple[uuid.UUID, int], tuple[uuid.UUID, int]]:
        """Steps of two different cases, both first steps or both later ones (each row
        keeps its topic, which a case's first row and its later rows differ in)."""
        if self.rng.random() < 0.3:
            a, b = self.rng.sample(self.case_ids, 2)
            return (a, 1), (b, 1)
        a, b = self.rng.sample(self.multi_step, 2)
        return (
            (a, self.rng.randint(2, len(self.m.cases[a]))),
            (b, self.rng.randint(2, len(self.m.cases[b]))),
        )

    def swap_across_cases(self) -> Tampering:
        (a, sa), (b, sb) = self._two_places()
        t = Tampering("swap_across_cases", f"({a}, {sa}) <-> ({b}, {sb}), event rows")
        self._swap_states(t, (a, sa), (b, sb))
        for case, seq in ((a, sa), (b, sb)):
            if seq < len(self.m.cases[case]):
                t.expect((_s(case), seq + 1), "broken_link")
        return t

    def swap_with_index(self) -> Tampering:
        """Two objects of a case trade places in the ledger order, receipts and all."""
        case = self._case(3)
        first, second = sorted(self.rng.sample(range(1, len(self.m.cases[case]) + 1), 2))
        t = Tampering(
            "swap_with_index", f"({case}, {first}) <-> ({case}, {second}) with index rows"
        )
        self._swap_states(t, (case, first), (case, second))
        one, two = self.m.index_of[(case, first)], self.m.index_of[(case, second)]
        t.indexes[one.index] = replace(one, event_hash=two.event_hash, receipt=two.receipt)
        t.indexes[two.index] = replace(two, event_hash=one.event_hash, receipt=one.receipt)
        t.expect(LEDGER, "root_mismatch")
        return t

    def duplicate_new_seq(self) -> Tampering:
        """A step copied into another case as its next seq (no index row can be added: the
        index's event hashes are unique)."""
        source, seq, _ = self._step()
        target = self.rng.choice([c for c in self.rng.sample(self.case_ids, 3) if c != source])
        new_seq = len(self.m.cases[target]) + 1
        row = self.m.events[(source, seq)]
        t = Tampering("duplicate_new_seq", f"({source}, {seq}) copied to ({target}, {new_seq})")
        t.events[(target, new_seq)] = EventRow(
            10_000_000 + self.rng.randrange(1_000_000),
            target,
            new_seq,
            "tongban.case.step",
            row.state,
        )
        where = (_s(target), new_seq)
        # signed for another place; without a receipt or index row of its own
        t.expect(where, "broken_link")
        t.expect(where, "index_gap")
        t.allow(where, "illegal_step")
        t.streams.add(target)
        return t

    def duplicate_over_step(self) -> Tampering:
        """A step copied over another case's step (a first step over a first step)."""
        (source, sseq), (target, tseq) = self._two_places()
        n = len(self.m.cases[target])
        t = Tampering("duplicate_over_step", f"({source}, {sseq}) copied over ({target}, {tseq})")
        self._put_state(t, target, tseq, self.m.events[(source, sseq)].state)
        where = (_s(target), tseq)
        t.expect(where, "broken_link")
        t.expect(where, "bad_receipt")
        t.allow(where, "illegal_step")
        if tseq < n:
            t.expect((_s(target), tseq + 1), "broken_link")
        self._later_may(t, target, tseq, "broken_link", "illegal_step")
        t.streams.add(target)
        return t

    # -- re-signing ------------------------------------------------------------------------

    def _other_officer(self, body_id: str) -> tuple[tuple[str, str], SoftwareSigner]:
        others = sorted(k for k in self.m.officers if k[0] != body_id)
        key = self.rng.choice(others)
        return key, self.m.officers[key]

    def _replace_step(
        self, t: Tampering, case: uuid.UUID, seq: int, envelope: bytes, node_key: bool
    ) -> None:
        _, received_at = decode_state(self.m.events[(case, seq)].state)
        self._put_state(t, case, seq, encode_state(envelope, received_at))
        if node_key:
            row = self.m.index_of[(case, seq)]
            new_hash = parse_event(envelope).hash
            t.indexes[row.index] = replace(
                row, event_hash=new_hash, receipt=self.m.receipt(row, new_hash)
            )
        t.streams.add(case)

    def resign_wrong_body_key(self) -> Tampering:
        case, seq, n = self._step()
        step = self.m.cases[case][seq - 1]
        _, signer = self._other_officer(step.body_id)
        t = Tampering(
            "resign_wrong_body_key", f"({case}, {seq}) re-signed by another body's officer"
        )
        self._replace_step(t, case, seq, resealed(step, signer), node_key=False)
        t.expect((_s(case), seq), "bad_hash")
        t.expect((_s(case), seq), "uncertified_officer")
        if seq < n:
            t.expect((_s(case), seq + 1), "broken_link")
        return t

    def resign_wrong_body_key_node(self) -> Tampering:
        case, seq, n = self._step()
        step = self.m.cases[case][seq - 1]
        _, signer = self._other_officer(step.body_id)
        t = Tampering(
            "resign_wrong_body_key_node",
            f"({case}, {seq}) re-signed by another body's officer, receipt re-signed",
        )
        self._replace_step(t, case, seq, resealed(step, signer), node_key=True)
        t.expect((_s(case), seq), "uncertified_officer")
        t.expect(LEDGER, "root_mismatch")
        if seq < n:
            t.expect((_s(case), seq + 1), "broken_link")
        return t

    def replace_valid_step_node(self) -> Tampering:
        """The rightful officer's validly signed variant of a step (another claimed time),
        with a receipt re-signed by the node key: only the checkpoint shows it."""
        case, seq, n = self._step()
        step = self.m.cases[case][seq - 1]
        signer = self.m.officers[(step.body_id, step.officer_id)]
        t = Tampering("replace_valid_step_node", f"({case}, {seq}) replaced by a valid variant")
        self._replace_step(t, case, seq, resealed(step, signer, time=step.time - 1), node_key=True)
        t.expect(LEDGER, "root_mismatch")
        if seq < n:
            t.expect((_s(case), seq + 1), "broken_link")
        return t

    def replace_key_record_node(self) -> Tampering:
        """An officer certification replaced by one the attacker signed, receipt re-signed."""
        record = self.rng.choice(self.officer_records)
        attacker = Ed25519Signer.from_seed(self.rng.randbytes(32))
        raw = resealed(record, attacker, body={**record.body, "public_key": attacker.public_key})
        where = (_s(self.home_registry), record.seq)
        t = Tampering("replace_key_record_node", f"key record {where} replaced")
        _, received_at = decode_state(self.m.events[(self.home_registry, record.seq)].state)
        self._put_state(t, self.home_registry, record.seq, encode_state(raw, received_at))
        row = self.m.index_of[(self.home_registry, record.seq)]
        new_hash = parse_key_record(raw).hash
        t.indexes[row.index] = replace(
            row, event_hash=new_hash, receipt=self.m.receipt(row, new_hash)
        )
        t.expect(where, "unknown_key", "bad_signature")
        t.allow((where[0], record.seq + 1), "broken_link")
        t.expect(LEDGER, "root_mismatch")
        self._officer_consequences(t, record)
        return t

    def flip_checkpoint_byte(self) -> Tampering:
        """A bit of the checkpoint's text or of the node's signature line (a witness's
        cosignature is checked by whoever counts cosignatures, not by the audit)."""
        note = self.m.checkpoint_note
        body_end = note.index("\n\n")
        own = note.index(f"\u2014 {self.m.ledger_name} ", body_end)
        own_end = note.index("\n", own)
        span = list(range(0, body_end)) + list(range(own, own_end))
        while True:
            at = self.rng.choice(span)
            flipped = chr(ord(note[at]) ^ (1 << self.rng.randrange(5)))
            if flipped != "\x00":
                break
        t = Tampering("flip_checkpoint_byte", f"character {at} of the checkpoint note")
        t.checkpoint_note = note[:at] + flipped + note[at + 1 :]
        t.expect(LEDGER, "bad_checkpoint")
        return t

    # -- topics ----------------------------------------------------------------------------

    TOPICS = (
        "tongban.case.opened",
        "tongban.case.step",
        "tongban.registry.established",
        "tongban.registry.recorded",
        "tongban.license.issued",
        "tongban.license.status",
        "tongban.nothing",
        "ledger.domain:Case.Created",
    )

    def retopic_event(self) -> Tampering:
        case, seq, _ = self._step()
        row = self.m.events[(case, seq)]
        topic = self.rng.choice([x for x in self.TOPICS if x != row.topic])
        t = Tampering("retopic_event", f"({case}, {seq}) topic {row.topic} -> {topic}")
        t.events[(case, seq)] = replace(row, topic=topic)
        t.expect((_s(case), seq), "malformed")
        t.streams.add(case)
        return t

    def retopic_registry(self) -> Tampering:
        record = self.rng.choice(self.officer_records)
        row = self.m.events[(self.home_registry, record.seq)]
        topic = self.rng.choice([x for x in self.TOPICS if x != row.topic])
        where = (_s(self.home_registry), record.seq)
        t = Tampering("retopic_registry", f"key record {where} topic -> {topic}")
        t.events[(self.home_registry, record.seq)] = replace(row, topic=topic)
        t.expect(where, "malformed")
        self._officer_consequences(t, record)
        return t


# -- auditing ------------------------------------------------------------------------------


class StreamAudit:
    """What ``verify_ledger`` runs, minus the streams nothing touched: the registries, the
    given streams and the whole-ledger checks (dense index, stored checkpoints).

    The registries are rebuilt for every tampering that touched them; otherwise the registry
    rebuilt once from the untouched ledger (where it has no finding) serves again.
    """

    def __init__(self, app: Any):
        self.app = app
        self.clean = auditor_for(app)
        self.clean.load_registry()
        assert self.clean.findings == [], self.clean.findings

    def __call__(self, streams: set[uuid.UUID], *, fresh_registry: bool) -> list[Finding]:
        auditor = auditor_for(self.app) if fresh_registry else self.clean
        if fresh_registry:
            auditor.load_registry()
        mark = 0 if fresh_registry else len(auditor.findings)
        report = AuditReport()
        for stream in sorted(streams):
            auditor.check_rows(self.app.store.select_stream_rows(stream), report)
        auditor.check_indexes(self.app.store.iter_indexes())
        auditor.check_checkpoint(self.app.store)
        found = list(auditor.findings[mark:])
        del auditor.findings[mark:]
        return found
