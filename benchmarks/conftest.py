"""Benchmarks report ratios against a baseline measured in the same run.

Each benchmark names its figure with ``record(figure, baseline=..., ops=..., note=...)``:
``ops`` is how many operations one timed round performs (a batch of 80 appends by 8 writers
counts 80), so a figure's throughput is ``ops / median round time``. Figures that are not a
throughput (peak memory) or cannot be measured (no endpoint yet) are added with ``row(...)``;
a benchmark skipped (PostgreSQL unreachable) is listed with its one-line reason.

At the end of the session one table prints every figure, its same-run baseline, the ratio of
their median throughputs and a note, and the rows are written as JSON to
``var/bench/results.json``.

PostgreSQL figures read ``TONGBAN_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``); each uses fresh schemas, dropped afterwards.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

DEFAULT_TEST_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

_RESULTS: dict[str, dict[str, Any]] = {}
_ROWS: list[dict[str, Any]] = []  # rows that are not a benchmark's throughput


def row(figure: str, value: str, *, baseline: str = "", ratio: str = "", note: str = "") -> None:
    """Add a table row that is not a throughput: N/A with its reason, or a memory figure."""
    _ROWS.append(
        {"figure": figure, "value": value, "baseline": baseline, "ratio": ratio, "note": note}
    )


@pytest.fixture
def record(benchmark: Any) -> Callable[..., None]:
    """``record(figure, baseline=None, ops=1, note="")`` names what this benchmark measures;
    ``baseline`` may list several (a row each)."""

    def name(
        figure: str, *, baseline: str | list[str] | None = None, ops: int = 1, note: str = ""
    ) -> None:
        benchmark.extra_info["figure"] = figure
        benchmark.extra_info["ops_per_round"] = ops
        entry = _RESULTS.setdefault(figure, {})
        entry.update(benchmark=benchmark, ops=ops, note=note)
        if baseline is not None:
            entry["baselines"] = [baseline] if isinstance(baseline, str) else baseline

    return name


def add_note(figure: str, note: str) -> None:
    """Append to a recorded figure's note (WAL flushes measured after the run, say)."""
    entry = _RESULTS.setdefault(figure, {})
    entry["note"] = "; ".join(n for n in (entry.get("note", ""), note) if n)


# -- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A reachable PostgreSQL URL, or skip with a one-line reason."""
    url = os.environ.get("TONGBAN_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as error:
        pytest.skip(f"PostgreSQL unreachable at {url}: {str(error).strip().splitlines()[0]}")
    return url


@pytest.fixture(scope="module")
def new_schema(postgres_url: str) -> Iterator[Callable[[str], str]]:
    """``new_schema(prefix)`` creates an empty schema; all are dropped after the module."""
    made: list[str] = []

    def make(prefix: str) -> str:
        schema = f"b_{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        made.append(schema)
        return schema

    yield make
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for schema in made:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


class WalMeter:
    """WAL flushes between two readings of ``pg_stat_wal.wal_sync`` (cluster-wide).

    ``wal_sync`` counts the fsyncs (here fdatasync) of WAL by any process; a commit with
    ``synchronous_commit = on`` needs one unless another commit's flush covered it. An idle
    backend may hold its counters for up to 10 s, one that exits publishes them: close the
    measured connections before ``per_event``. Anything else writing to the same cluster in
    the window (autovacuum, other sessions) is counted too.
    """

    def __init__(self, url: str):
        self.url = url
        self.start = self._read()

    def _read(self) -> tuple[int, int]:
        time.sleep(1.2)
        with psycopg.connect(self.url, autocommit=True) as conn:
            found = conn.execute("SELECT wal_sync, wal_write FROM pg_stat_wal").fetchone()
        assert found is not None
        return int(found[0]), int(found[1])

    def per_event(self, events: int) -> str:
        end = self._read()
        syncs, writes = end[0] - self.start[0], end[1] - self.start[1]
        return f"WAL fsyncs/event {syncs / events:.2f} (writes {writes / events:.2f}, n={events})"


# -- the table --------------------------------------------------------------------------------


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and report.when in {"setup", "call"}:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        row(report.nodeid.split("::")[-1], "skipped", note=reason.removeprefix("Skipped: "))


def _rows() -> list[dict[str, Any]]:
    rows = []
    for figure, entry in _RESULTS.items():
        bench = entry.get("benchmark")
        if bench is None or bench.stats is None or not bench.stats.stats.data:
            continue
        median = bench.stats.stats.median
        per_s = entry["ops"] / median
        for n, baseline in enumerate(entry.get("baselines", [""])):
            out: dict[str, Any] = {
                "figure": figure if n == 0 else f"  (same {figure.split()[0]})",
                "median_round_s": median,
                "ops_per_round": entry["ops"],
                "per_s": per_s,
                "value": f"{per_s:,.0f}/s",
                "baseline": baseline,
                "ratio": "",
                "note": entry.get("note", "") if n == 0 else "",
            }
            base = _RESULTS.get(baseline, {})
            if base.get("benchmark") is not None and base["benchmark"].stats.stats.data:
                base_per_s = base["ops"] / base["benchmark"].stats.stats.median
                out["baseline_per_s"] = base_per_s
                out["ratio_value"] = per_s / base_per_s
                out["ratio"] = f"{per_s / base_per_s:.3f}x"
            elif baseline:
                out["baseline"] = f"{baseline} (not measured)"
            rows.append(out)
    return rows + _ROWS


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    rows = _rows()
    if not rows:
        return
    out = Path("var/bench/results.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    rows = _rows()
    if not rows:
        return
    w = max(len(r["figure"]) for r in rows)
    b = max([len(r["baseline"]) for r in rows] + [8])
    write = terminalreporter.write_line
    write("")
    write("Medians (throughput = ops per round / median round time); ratio = figure / baseline")
    write(f"{'figure':<{w}}  {'median':>12}  {'baseline':<{b}}  {'base median':>12}  {'ratio':>8}")
    for r in rows:
        base = f"{r['baseline_per_s']:,.0f}/s" if "baseline_per_s" in r else ""
        write(
            f"{r['figure']:<{w}}  {r['value']:>12}  {r['baseline']:<{b}}  {base:>12}  "
            f"{r['ratio']:>8}  {r['note']}"
        )
    write("written to var/bench/results.json")
