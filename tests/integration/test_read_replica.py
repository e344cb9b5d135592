"""The read-only connection port against a real streaming standby (adapters/reads.py).

A private primary and a hot standby made by ``pg_basebackup -R`` (tests/support/pgreplica.py),
both run as the ``postgres`` OS user on ports of their own. The standby's replay is paused to
hold it behind the primary without waiting on a clock: a reader that tolerates lag reads the
stale standby, a caller passing its own step's index (``Tongban-Min-Index``) still sees that
step (the primary answers), and a standby that is down never fails a read.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.reads import READERS
from tests.support.api_node import ApiNode, api_node
from tests.support.pgcluster import PrivateCluster, pg_cluster  # noqa: F401  (a fixture)
from tests.support.pgreplica import (
    pause_replay,
    resume_replay,
    streaming_standby,
    wait_caught_up,
)

pytestmark = pytest.mark.postgres


def _steps(node: ApiNode, case_id: uuid.UUID, min_index: int = 0) -> list[str]:
    headers = node.headers("home")
    if min_index:
        headers["Tongban-Min-Index"] = str(min_index)
    answer = node.client.get(f"/cases/{case_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return [step["step"] for step in answer.json()["timeline"]]


def _indexes(node: ApiNode) -> list[int]:
    answer = node.get("/audit/events", "auditor", limit=1000)
    assert answer.status_code == 200, answer.text
    return [entry["index"] for entry in answer.json()["entries"]]


def test_readers_use_the_standby_within_what_they_tolerate(
    tmp_path: Path,
    pg_cluster: PrivateCluster,  # noqa: F811
) -> None:
    with (
        streaming_standby(pg_cluster) as standby,
        api_node(tmp_path, database_url=pg_cluster.url, read_database_url=standby.url) as node,
    ):
        reads = node.services.reads
        assert reads is not None
        reads.state_seconds = 0  # ask the standby at every read: the test steps its replay
        case_id = node.proxy_case()
        wait_caught_up(pg_cluster, standby)
        before = dict(reads.served)
        assert _steps(node, case_id)[-1] == "mailed:window_to_home"
        assert reads.served["standby"] == before["standby"] + 1, "a caught-up standby is read"
        head = max(_indexes(node))

        pause_replay(standby)
        arrived = node.step(case_id, "510104-RS", "arrived", {"note": ""})
        assert arrived.status_code == 201, arrived.text
        own_index = arrived.json()["index"]
        assert own_index == head + 1

        # The audit tolerates lag: it reads the standby, which lacks the new step...
        standby_reads = reads.served["standby"]
        assert max(_indexes(node)) == head
        assert reads.served["standby"] == standby_reads + 1
        # ...and a caller that passes its own step's index sees it: the primary answers.
        primary_reads = reads.served["primary"]
        assert _steps(node, case_id, min_index=own_index)[-1] == "arrived"
        assert reads.served["primary"] == primary_reads + 1
        # A proof of a size the standby lacks is the primary's to give.
        node.services.ledger.tree.extend()
        proof = node.get("/audit/proof/inclusion", event=own_index, size=own_index)
        assert proof.status_code == 200, proof.text

        resume_replay(standby)
        wait_caught_up(pg_cluster, standby)
        standby_reads = reads.served["standby"]
        assert _steps(node, case_id, min_index=own_index)[-1] == "arrived"
        assert max(_indexes(node)) == own_index
        assert reads.served["standby"] == standby_reads + 2, "caught up: the standby again"

        # /metrics shows the standby streaming from this primary and the read standby's lag.
        scraped = node.get("/metrics", "auditor")
        assert scraped.status_code == 200, scraped.text
        samples = {
            sample.name: sample
            for family in text_string_to_metric_families(scraped.text)
            for sample in family.samples
        }
        assert "tongban_replication_lag_seconds" in samples
        assert samples["tongban_read_standby_lag_seconds"].value >= 0

        standby.stop("immediate")
        reads.retry_seconds = 0
        assert _steps(node, case_id)[-1] == "arrived", "a standby down never fails a read"
        assert max(_indexes(node)) == own_index


def test_every_reader_states_its_staleness() -> None:
    assert set(READERS) == {"audit", "proofs", "read_models", "pages"}
    for name, staleness in READERS.items():
        assert staleness.max_lag_seconds >= 0, name
        assert staleness.why, name
