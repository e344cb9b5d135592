"""The log side of transparency on both backends (contract tests).

``TransparencyContract`` holds every test; the SQLite and PostgreSQL classes below provide the
``world`` (``make_world`` on that backend), ``raw`` (tampering around the application) and
``settings`` (to reopen the same ledger as another process would).
"""

from __future__ import annotations

import base64
import logging
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
import pytest
from fastapi.testclient import TestClient

from adapters.access import open_access_store
from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from api.app import create_app
from api.cli import main
from ledger import merkle
from ledger.application import LedgerApplication
from ledger.audit import INTEGRITY, verify_ledger
from ledger.envelope import parse_event
from ledger.keys import NODE
from ledger.notes import cosign, parse_checkpoint, parse_note, verify_note
from ledger.receipts import make_receipt, parse_receipt
from ledger.transparency import NotAnExtension, TreeError, TreeKeeper, TreeState
from ledger.workflow import SignedCoreOnly
from tests.integration.ledger_contract import PostgresRawStore, RawStore, SQLiteRawStore, found
from tests.support.world import World, iter_cases, make_world, seeded


def all_leaves(app: LedgerApplication) -> list[bytes]:
    return [merkle.leaf_hash(h) for _, h in app.store.ledger_hashes(0, 10**9)]  # type: ignore[attr-defined]


def count_reads(app: LedgerApplication) -> list[int]:
    """Spy on the ledger rows the tree reads: the returned list holds the count."""
    store: Any = app.recorder
    read = [0]
    original = store.ledger_hashes

    def spy(after_index: int, limit: int) -> list[tuple[int, bytes]]:
        rows: list[tuple[int, bytes]] = original(after_index, limit)
        read[0] += len(rows)
        return rows

    store.ledger_hashes = spy
    return read


class TransparencyContract:
    """What every backend must do for the tree, checkpoints, proofs and their audit."""

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError

    def reopen(self, world: World, settings: Settings) -> LedgerApplication:
        return open_ledger(settings, clock=world.clock, workflow=SignedCoreOnly())

    # -- the tree ------------------------------------------------------------------------------

    def test_incremental_root_after_appends_and_a_restart(
        self, world: World, settings: Settings
    ) -> None:
        app = world.app
        for _ in range(5):
            list(iter_cases(world, 6, 4))
            size = app.extend_tree()
            assert size == app.store.max_index()
            assert app.tree_root(size) == merkle.root_of(all_leaves(app))
        list(iter_cases(world, 3, 3))
        restarted = self.reopen(world, settings)
        try:
            reads = count_reads(restarted)
            new_size = restarted.extend_tree()
            assert new_size == size + 9
            assert reads[0] == 1 + 9  # the stored last leaf checked, then only the new rows
            assert restarted.tree_root(new_size) == merkle.root_of(all_leaves(restarted))
        finally:
            restarted.close()

    def test_inclusion_proofs_verify_against_checkpoints(self, world: World) -> None:
        app = world.app
        rng = random.Random(3)
        for _ in range(3):
            list(iter_cases(world, 8, 3))
            note = app.issue_checkpoint()
            checkpoint = parse_checkpoint(note.text)
            for index in rng.sample(range(1, checkpoint.size + 1), 10):
                proof = app.inclusion_proof(index, checkpoint.size)
                merkle.verify_inclusion(
                    app.leaf_hash(index), index - 1, checkpoint.size, proof, checkpoint.root
                )

    def test_the_leaf_is_the_receipts_event_hash(self, world: World) -> None:
        _, done = world.append_case(world.officers["rs-001"], 2)
        world.app.extend_tree()  # leaves and proofs are answered up to the tree size only
        receipt = parse_receipt(done[-1].receipt)
        assert world.app.leaf_hash(done[-1].index) == merkle.leaf_hash(receipt.event_hash)

    def test_consistency_proofs_between_checkpoints_verify(self, world: World) -> None:
        app = world.app
        notes = []
        for cases in (1, 5, 17):
            list(iter_cases(world, cases, 2))
            notes.append(parse_checkpoint(app.issue_checkpoint().text))
        for old in notes:
            for new in notes:
                if old.size <= new.size:
                    proof = app.consistency_proof(old.size, new.size)
                    merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
        assert app.checkpoint_at(notes[0].size) is not None
        assert app.checkpoint_at(notes[0].size + 1) is None

    def test_two_workers_extend_concurrently(self, world: World, settings: Settings) -> None:
        list(iter_cases(world, 40, 5))
        workers = [self.reopen(world, settings) for _ in range(2)]
        for worker in workers:  # small steps, so the two really interleave
            worker.tree.batch = 7
        errors: list[BaseException] = []

        def extend(app: LedgerApplication) -> None:
            try:
                app.extend_tree()
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        try:
            threads = [threading.Thread(target=extend, args=(w,)) for w in workers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not errors
            size = world.app.store.max_index()
            expected = merkle.root_of(all_leaves(world.app))
            for app in (world.app, *workers):
                assert app.tree.size() == size
                assert app.tree_root(size) == expected
            # The subtree cache they wrote together serves correct proofs.
            note = parse_checkpoint(workers[0].issue_checkpoint().text)
            for index in (1, 100, size):
                merkle.verify_inclusion(
                    world.app.leaf_hash(index),
                    index - 1,
                    size,
                    world.app.inclusion_proof(index, size),
                    note.root,
                )
        finally:
            for worker in workers:
                worker.close()

    def test_the_checkpoint_verifies_under_the_registrys_node_key(self, world: World) -> None:
        app = world.app
        empty = parse_checkpoint(app.issue_checkpoint().text)
        assert (empty.size, empty.root) == (app.store.max_index(), app.tree_root(empty.size))
        list(iter_cases(world, 2, 2))
        note = app.issue_checkpoint()
        [node_key] = [k for k in app.registry.keys.values() if k.role == NODE]
        verify_note(note, app.ledger_name, node_key.public_key)
        checkpoint = parse_checkpoint(note.text)
        assert checkpoint.origin == app.ledger_name == "tongban/510000"
        assert app.latest_checkpoint() == note
        assert parse_note(note.render()) == note

    def test_checkpoints_follow_the_policy_after_appends(self, world: World) -> None:
        app = world.app
        assert app.latest_checkpoint() is None
        world.clock.advance(61)
        world.append_case(world.officers["rs-001"], 1)
        first = app.latest_checkpoint()
        assert first is not None
        assert parse_checkpoint(first.text).size == app.store.max_index()
        world.append_case(world.officers["rs-001"], 1)
        assert app.latest_checkpoint() == first  # neither 60 s nor 1000 events since

    def test_cosignatures_are_stored(self, world: World) -> None:
        app = world.app
        note = app.issue_checkpoint()
        size = parse_checkpoint(note.text).size
        signature = cosign(note.text, "witness/320000", seeded("witness"), 1_767_225_600)
        merged = app.add_cosignatures(size, [signature, signature])
        assert merged.signatures == (*note.signatures, signature)
        assert app.checkpoint_at(size) == merged == app.latest_checkpoint()

    # -- the audit ------------------------------------------------------------------------------

    def test_an_untouched_ledger_has_no_findings(self, world: World) -> None:
        list(iter_cases(world, 5, 3))
        world.app.issue_checkpoint()
        list(iter_cases(world, 2, 3))  # events after the checkpoint are fine
        report = verify_ledger(world.app)
        assert report.findings == []

    def test_deleting_the_newest_event_after_a_checkpoint(
        self, world: World, raw: RawStore
    ) -> None:
        case_id, _ = world.append_case(world.officers["rs-001"], 3)
        size = parse_checkpoint(world.app.issue_checkpoint().text).size
        raw.delete(case_id, 3)  # both tables: the audit's other checks see nothing amiss
        report = verify_ledger(world.app)
        assert found(report) == {("", 0, "missing_from_tree")}
        assert report.findings[0].kind == INTEGRITY
        assert f"ledger index {size} missing" in report.findings[0].detail
        assert report.exit_code == 1

    def test_rewriting_an_event_changes_the_root(self, world: World, raw: RawStore) -> None:
        officer = world.officers["rs-001"]
        case_id, done = world.append_case(officer, 2)
        world.app.issue_checkpoint()
        # An insider with the officer's and the node's keys rewrites the newest step: new
        # bytes, a matching event hash and a re-signed receipt. Only the tree notices.
        forged = world.event(officer, case_id, 2, done[0].head.event_hash, "noted", {"x": 1})
        state = msgpack.unpackb(raw.state(case_id, 2), raw=False)
        state["envelope"] = forged
        raw.set_state(case_id, 2, msgpack.packb(state, use_bin_type=True))
        receipt = parse_receipt(raw.receipt(case_id, 2))
        forged_hash = parse_event(forged).hash
        assert world.app.node_signer is not None
        reissued = make_receipt(
            world.app.node_signer,
            ledger=receipt.ledger,
            index=receipt.index,
            event_hash=forged_hash,
            stream_id=receipt.stream_id,
            seq=receipt.seq,
            time=receipt.time,
        )
        raw.set_ledger_row(case_id, 2, event_hash=forged_hash, receipt=reissued)
        report = verify_ledger(world.app)
        assert found(report) == {("", 0, "root_mismatch")}
        assert report.exit_code == 1

    def test_a_forged_checkpoint_is_a_bad_checkpoint(self, world: World, raw: RawStore) -> None:
        world.append_case(world.officers["rs-001"], 2)
        note = world.app.issue_checkpoint()
        size = parse_checkpoint(note.text).size
        # A root swapped under the node's signature: the signature no longer verifies.
        root_line = note.text.splitlines()[2]
        forged = note.render().replace(root_line, base64.b64encode(bytes(32)).decode())
        table = raw.ledger.replace("_ledger", "_checkpoints")
        raw.run(f"UPDATE {table} SET note = ? WHERE size = ?", (forged, size))
        report = verify_ledger(world.app)
        assert found(report) == {("", 0, "bad_checkpoint")}

    def test_a_cut_then_regrowth_is_caught_at_the_earlier_checkpoint(
        self, world: World, raw: RawStore
    ) -> None:
        """A signed at 9, indexes 8-9 cut and re-used: the node refuses to sign the smaller
        tree and then the regrown one (neither extends A); B signed only by the operator's
        explicit override agrees with the rows, A does not, and the audit compares the rows
        against every stored checkpoint."""
        app = world.app
        case_id, _ = world.append_case(world.officers["rs-001"], 3)
        a = parse_checkpoint(app.issue_checkpoint().text)
        raw.delete(case_id, 3)
        raw.delete(case_id, 2)
        with pytest.raises(NotAnExtension) as refused:
            app.issue_checkpoint()
        assert (refused.value.reason, refused.value.size) == ("rollback", a.size - 2)
        list(iter_cases(world, 2, 3))
        with pytest.raises(NotAnExtension) as refused:
            app.issue_checkpoint()
        assert refused.value.reason == "not_an_extension"
        b = parse_checkpoint(app.issue_checkpoint(accept_rollback=a.size).text)
        assert b.size > a.size and b.root == merkle.root_of(all_leaves(app))
        report = verify_ledger(app)
        assert found(report) == {("", 0, "root_mismatch")}
        [finding] = report.findings
        assert finding.detail.endswith(f"checkpoint of size {a.size}")

    def test_every_stored_checkpoint_must_be_signed(self, world: World, raw: RawStore) -> None:
        world.append_case(world.officers["rs-001"], 2)
        note = world.app.issue_checkpoint()
        size = parse_checkpoint(note.text).size
        world.append_case(world.officers["rs-001"], 2)
        world.app.issue_checkpoint()  # the largest: untouched
        root_line = note.text.splitlines()[2]
        forged = note.render().replace(root_line, base64.b64encode(bytes(32)).decode())
        table = raw.ledger.replace("_ledger", "_checkpoints")
        raw.run(f"UPDATE {table} SET note = ? WHERE size = ?", (forged, size))
        report = verify_ledger(world.app)
        assert found(report) == {("", 0, "bad_checkpoint")}
        assert f"size {size}" in report.findings[0].detail

    def test_a_reused_last_index_rebuilds_the_tree(self, world: World, raw: RawStore) -> None:
        """Index 9 cut, re-used by a new object: the node refuses to sign (the tree does not
        extend A); signed by the operator's override, the checkpoint is provable from the rows
        (the saved tree is not trusted over them), and the audit reports the old checkpoint."""
        app = world.app
        case_id, _ = world.append_case(world.officers["rs-001"], 3)
        a = parse_checkpoint(app.issue_checkpoint().text)
        raw.delete(case_id, 3)
        world.append_case(world.officers["zw-001"], 3)  # index a.size is re-used
        with pytest.raises(NotAnExtension) as refused:
            app.issue_checkpoint()
        assert refused.value.reason == "not_an_extension"
        assert refused.value.signed == app.checkpoint_at(a.size).render()  # type: ignore[union-attr]
        b = parse_checkpoint(app.issue_checkpoint(accept_rollback=a.size).text)
        assert (b.size, b.root) == (a.size + 2, merkle.root_of(all_leaves(app)))
        for index in range(a.size - 1, b.size + 1):
            proof = app.inclusion_proof(index, b.size)
            merkle.verify_inclusion(app.leaf_hash(index), index - 1, b.size, proof, b.root)
        assert found(verify_ledger(app)) == {("", 0, "root_mismatch")}

    def test_the_node_refuses_two_trees_of_one_size(self, world: World, raw: RawStore) -> None:
        app = world.app
        case_id, _ = world.append_case(world.officers["rs-001"], 3)
        note = app.issue_checkpoint()
        raw.delete(case_id, 3)
        world.append_case(world.officers["zw-001"], 1)  # the same size, another last leaf
        with pytest.raises(TreeError) as raised:
            app.issue_checkpoint()
        assert raised.value.reason == "fork"
        assert (
            app.latest_checkpoint() == note == app.checkpoint_at(parse_checkpoint(note.text).size)
        )

    def test_a_worker_extending_meanwhile_is_not_taken_for_lost_rows(
        self, world: World, caplog: pytest.LogCaptureFixture
    ) -> None:
        app = world.app
        list(iter_cases(world, 3, 3))
        app.extend_tree()
        store: Any = app.recorder

        class Racing:
            """Worker A's view: worker B appends and extends between A's reads."""

            fired = False

            def __getattr__(self, name: str) -> Any:
                return getattr(store, name)

            def _race(self) -> None:
                if not Racing.fired:
                    Racing.fired = True
                    world.append_case(world.officers["rs-001"], 1)
                    app.extend_tree()

            def max_index(self) -> int:
                found: int = store.max_index()
                self._race()
                return found

            def load_tree_state(self) -> TreeState:
                found: TreeState = store.load_tree_state()
                self._race()
                return found

        with caplog.at_level(logging.WARNING, "tongban.transparency"):
            size = TreeKeeper(Racing(), app.ledger_name).extend()
        assert size == app.store.max_index() == app.tree.size()
        assert not caplog.records
        assert app.tree_root(size) == merkle.root_of(all_leaves(app))

    # -- the API --------------------------------------------------------------------------------

    @pytest.fixture
    def api(self, world: World, settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
        list(iter_cases(world, 6, 3))
        world.app.close()
        access = open_access_store(
            settings.database_url, settings.data_dir, schema=settings.database_schema or None
        )
        now = datetime.now(UTC)
        tokens = {
            kind: access.create_token(kind, kind, now=now)[0] for kind in ("admin", "auditor")
        }
        access.close()
        app = create_app(settings)
        try:
            with TestClient(app) as client:
                yield client, tokens
        finally:
            app.state.services.ledger.close()

    def test_api_checkpoint_and_proofs(self, api: tuple[TestClient, dict[str, str]]) -> None:
        client, tokens = api
        assert client.get("/audit/checkpoint").status_code == 404
        assert client.post("/audit/checkpoint").status_code == 401
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        auditor = {"Authorization": f"Bearer {tokens['auditor']}"}
        assert client.post("/audit/checkpoint", headers=auditor).status_code == 403
        issued = client.post("/audit/checkpoint", headers=admin)
        assert issued.status_code == 200
        assert issued.headers["content-type"].startswith("text/plain")
        latest = client.get("/audit/checkpoint")  # no token: checkpoints are public
        assert latest.status_code == 200 and latest.text == issued.text
        checkpoint = parse_checkpoint(parse_note(latest.text).text)
        size = checkpoint.size

        answer = client.get("/audit/proof/inclusion", params={"event": 7, "size": size})
        assert answer.status_code == 200
        body = answer.json()
        assert (body["index"], body["size"]) == (7, size)
        merkle.verify_inclusion(
            base64.b64decode(body["leaf_hash"]),
            6,
            size,
            [base64.b64decode(p) for p in body["proof"]],
            checkpoint.root,
        )
        answer = client.get("/audit/proof/consistency", params={"from": 5, "to": size})
        assert answer.status_code == 200
        body = answer.json()
        assert (body["from"], body["to"]) == (5, size)
        # A size with no checkpoint is fine: its root comes from the proof's own verification.
        merkle.verify_consistency(
            5,
            size,
            [base64.b64decode(p) for p in body["proof"]],
            merkle.root_of(all_leaves_of(client)[:5]),
            checkpoint.root,
        )

    def test_api_proofs_never_grow_the_tree(
        self, api: tuple[TestClient, dict[str, str]], raw: RawStore
    ) -> None:
        """Public GETs answer up to the persisted tree size only: they write nothing, and
        read no rows past the tree (not even with an index gap there)."""
        client, _ = api
        ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
        tree = ledger.tree.size()
        newest = ledger.store.max_index()
        assert tree < newest  # appends alone do not grow the tree before a checkpoint is due
        raw.run("DELETE FROM {ledger} WHERE ledger_index = ?", (newest - 1,))
        reads = count_reads(ledger)
        for path, params, field in (
            ("/audit/proof/inclusion", {"event": 1, "size": newest}, "size"),
            ("/audit/proof/consistency", {"from": 1, "to": newest}, "to"),
        ):
            answer = client.get(path, params=params)
            assert answer.status_code == 422
            assert (answer.json()["field"], answer.json()["reason"]) == (field, "out_of_range")
        assert reads[0] == 0 and ledger.tree.size() == tree
        if tree > 0:
            answer = client.get("/audit/proof/inclusion", params={"event": 1, "size": tree})
            assert answer.status_code == 200

    @pytest.mark.parametrize(
        ("path", "params", "field"),
        [
            ("/audit/proof/inclusion", {"event": 9, "size": 8}, "event"),
            ("/audit/proof/inclusion", {"event": 1, "size": 10**6}, "size"),
            ("/audit/proof/inclusion", {"event": 0, "size": 8}, "event"),
            ("/audit/proof/inclusion", {"event": "x", "size": 8}, "event"),
            ("/audit/proof/inclusion", {"event": 1}, "size"),
            ("/audit/proof/consistency", {"from": 9, "to": 8}, "from"),
            ("/audit/proof/consistency", {"from": 1, "to": 10**6}, "to"),
            ("/audit/proof/consistency", {"from": 0, "to": 8}, "from"),
        ],
    )
    def test_api_bad_parameters_are_422(
        self,
        api: tuple[TestClient, dict[str, str]],
        path: str,
        params: dict[str, Any],
        field: str,
    ) -> None:
        client, _ = api
        answer = client.get(path, params=params)
        assert answer.status_code == 422
        assert answer.json()["field"] == field


def all_leaves_of(client: TestClient) -> list[bytes]:
    services = client.app.state.services  # type: ignore[attr-defined]
    return all_leaves(services.ledger)


class TestSQLiteTransparency(TransparencyContract):
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return Settings(data_dir=tmp_path)

    @pytest.fixture
    def world(self, tmp_path: Path) -> Iterator[World]:
        world = make_world(tmp_path, workflow=SignedCoreOnly())
        yield world
        world.app.close()

    @pytest.fixture
    def raw(self, world: World, tmp_path: Path) -> RawStore:
        return SQLiteRawStore(tmp_path / "ledger.sqlite3")


@pytest.mark.postgres
class TestPostgresTransparency(TransparencyContract):
    @pytest.fixture
    def settings(self, tmp_path: Path, postgres_url: str, postgres_schema: str) -> Settings:
        return Settings(
            data_dir=tmp_path, database_url=postgres_url, database_schema=postgres_schema
        )

    @pytest.fixture
    def world(self, tmp_path: Path, postgres_url: str, postgres_schema: str) -> Iterator[World]:
        world = make_world(
            tmp_path, database_url=postgres_url, schema=postgres_schema, workflow=SignedCoreOnly()
        )
        yield world
        world.app.close()

    @pytest.fixture
    def raw(self, world: World, postgres_url: str, postgres_schema: str) -> RawStore:
        return PostgresRawStore(postgres_url, postgres_schema)


def test_cli_issues_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Registry records only: the CLI audits under the real workflow.
    world = make_world(tmp_path, workflow=SignedCoreOnly())
    size = world.app.store.max_index()
    world.app.close()
    assert main(["audit", "checkpoint", "--data-dir", str(tmp_path)]) == 0
    note = parse_note(capsys.readouterr().out)
    checkpoint = parse_checkpoint(note.text)
    assert (checkpoint.origin, checkpoint.size) == ("tongban/510000", size)
    assert main(["audit", "verify", "--data-dir", str(tmp_path)]) == 0
