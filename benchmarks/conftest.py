"""Benchmarks report ratios against a baseline measured in the same run.

Each benchmark is tagged with ``benchmark.extra_info["figure"]`` and, for baselines,
``["baseline_of"]``. At the end of the session a table prints every figure, its baseline, the
ratio of their median throughputs, and writes it as JSON to ``var/bench/results.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

_RESULTS: dict[str, dict[str, Any]] = {}


@pytest.fixture
def record(benchmark: Any, request: pytest.FixtureRequest) -> Any:
    """``record(name, baseline=None)`` names what this benchmark measures."""

    def name(figure: str, *, baseline: str | None = None) -> None:
        benchmark.extra_info["figure"] = figure
        _RESULTS.setdefault(figure, {})["benchmark"] = benchmark
        if baseline is not None:
            _RESULTS[figure]["baseline"] = baseline

    return name


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    rows = []
    for figure, entry in _RESULTS.items():
        stats = entry["benchmark"].stats
        if stats is None:
            continue
        median = stats.stats.median
        row: dict[str, Any] = {"figure": figure, "median_s": median, "per_s": 1 / median}
        baseline = _RESULTS.get(entry.get("baseline", ""), {}).get("benchmark")
        if baseline is not None and baseline.stats is not None:
            row["baseline"] = entry["baseline"]
            row["baseline_per_s"] = 1 / baseline.stats.stats.median
            row["ratio"] = row["per_s"] / row["baseline_per_s"]
        rows.append(row)
    if not rows:
        return
    out = Path("var/bench/results.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1) + "\n")
    print("\n\nfigure                               per second   baseline                    ratio")
    for row in rows:
        ratio = f"{row['ratio']:.2f}x" if "ratio" in row else "(baseline)"
        print(f"{row['figure']:<36} {row['per_s']:>10.0f}   {row.get('baseline', ''):<26} {ratio}")
    print(f"written to {out}")
