"""The node's metrics: one place every part of the node registers with; Prometheus text out.

What is counted (``docs/operations.md``, Metrics, lists every name):

- per request: ``tongban_http_request_duration_seconds`` (a histogram by method, **route
  template**, status class), appends and refusals on the append routes by outcome and reason
  (``api/metrics.py`` records them);
- ``tongban_group_commit_size``: objects written per database transaction
  (``ledger/groupcommit.py``'s batches);
- ``tongban_reads_total``: reads of the read-only port by reader and by where they went;
- at each scrape: replication lag (``pg_stat_replication`` on a primary, the read standby's
  replay lag), the ledger's newest index, and every gauge another part registered with
  :func:`register_gauge` (projection lag, outbox lag).

Labels take only values the code bounds: route templates (never paths), reasons from the
error classes, reader names, standby names the operator configured. No personal data.

Several workers (``tongban serve --workers N``): ``serve`` gives them one fresh directory in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode), so a scrape, whichever
worker answers it, sums the counters and histograms of all of them. Scrape-time gauges are read
by the worker that answers (each reads the same database). Two node processes (two ``serve``
commands) are two scrape targets, told apart by Prometheus's ``instance`` label: sum them in
PromQL (``sum without (instance) (rate(tongban_appends_total[5m]))``).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = [
    "APPENDS",
    "CONTENT_TYPE",
    "GROUP_COMMIT_SIZE",
    "READS",
    "REFUSALS",
    "REQUEST_SECONDS",
    "bounded_reason",
    "exposition",
    "register_gauge",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# prometheus_client chooses file-backed values when a metric is created, so at this import:
# a process that imported us before `serve` set the directory stays single-process.
_MULTIPROCESS = MULTIPROCESS_ENV in os.environ

REQUEST_SECONDS = Histogram(
    "tongban_http_request_duration_seconds",
    "HTTP requests by method, route template and status class, by duration",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
APPENDS = Counter(
    "tongban_appends",
    "Objects the node acknowledged, by append route and outcome (created, replayed)",
    ["route", "outcome"],
)
REFUSALS = Counter(
    "tongban_refusals",
    "Appends the node refused, by append route and the problem's reason",
    ["route", "reason"],
)
GROUP_COMMIT_SIZE = Histogram(
    "tongban_group_commit_size",
    "Objects written per database transaction (group commit batches)",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
READS = Counter(
    "tongban_reads",
    "Reads of the read-only connection port, by reader and source (standby, primary)",
    ["reader", "source"],
)

_REASON = re.compile(r"[a-z][a-z0-9_]{0,47}")


def bounded_reason(reason: object) -> str:
    """``reason`` as a label value: the codes our errors carry, else ``other`` (a label never
    takes a value a client could choose freely)."""
    if isinstance(reason, str) and _REASON.fullmatch(reason):
        return reason
    return "other"


#: A scrape-time reading: one value, or values by label tuple.
Reading = Callable[[], float | Mapping[tuple[str, ...], float] | None]


class _ScrapeGauges(Collector):
    """Gauges read when scraped, from the functions registered with :func:`register_gauge`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gauges: dict[str, tuple[str, tuple[str, ...], Reading]] = {}

    def register(
        self, name: str, documentation: str, labels: tuple[str, ...], read: Reading
    ) -> None:
        with self._lock:
            self._gauges[name] = (documentation, labels, read)

    def unregister(self, name: str) -> None:
        with self._lock:
            self._gauges.pop(name, None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            gauges = dict(self._gauges)
        for name, (documentation, labels, read) in sorted(gauges.items()):
            try:
                value = read()
            except Exception:  # a failing reading drops its gauge, not the scrape
                continue
            if value is None:
                continue
            family = GaugeMetricFamily(name, documentation, labels=list(labels))
            if isinstance(value, Mapping):
                for label_values, number in sorted(value.items()):
                    family.add_metric(list(label_values), float(number))
            else:
                family.add_metric([], float(value))
            yield family


_SCRAPE_GAUGES = _ScrapeGauges()
if not _MULTIPROCESS:  # in multiprocess mode each scrape builds a registry
    REGISTRY.register(_SCRAPE_GAUGES)


def register_gauge(
    name: str, documentation: str, read: Reading, *, labels: tuple[str, ...] = ()
) -> None:
    """Expose ``read()`` as the gauge ``name`` at every scrape (a later registration of the
    same name replaces it). ``read`` returns a number, a mapping of label values (a tuple
    matching ``labels``) to numbers, or None (nothing to show now); it should be cheap (one
    query at most) and its label values bounded. For projection and outbox lag, say:
    ``register_gauge("tongban_projection_lag_events", "...", lambda: head - projected)``."""
    _SCRAPE_GAUGES.register(name, documentation, labels, read)


def unregister_gauge(name: str) -> None:
    """Stop exposing ``name`` (a node without the thing it measures shows no gauge)."""
    _SCRAPE_GAUGES.unregister(name)


def exposition() -> bytes:
    """Every metric in Prometheus text format, summed over the workers in multiprocess mode."""
    if _MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(_SCRAPE_GAUGES)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def primary_replication(datastore: Any) -> dict[tuple[str, ...], float] | None:
    """Replay lag in seconds of each standby streaming from this primary, by its
    ``application_name`` (``pg_stat_replication``; needs ``pg_monitor``), or None if none."""
    with datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(
            "SELECT application_name AS name, "
            "COALESCE(EXTRACT(EPOCH FROM replay_lag), 0)::float8 AS lag "
            "FROM pg_stat_replication"
        )
        rows = curs.fetchall()
    if not rows:
        return None
    return {(str(row["name"])[:64] or "unnamed",): float(row["lag"]) for row in rows}
