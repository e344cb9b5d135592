"""Audit a ledger in a fresh process; print its peak memory as JSON (for P8).

``python -m benchmarks.audit_peak DATA_DIR DATABASE_URL SCHEMA``: opens the ledger read-only,
runs ``verify_ledger`` under ``tracemalloc`` and reports the traced peak of the audit itself
and the process's ``ru_maxrss`` (interpreter and imports included).
"""

from __future__ import annotations

import json
import resource
import sys
import tracemalloc
from pathlib import Path

from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from ledger.audit import verify_ledger


def main() -> None:
    data_dir, url, schema = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = open_ledger(Settings(data_dir=data_dir, database_url=url), schema=schema, read_only=True)
    tracemalloc.start()
    report = verify_ledger(app)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "events": report.events,
                "findings": len(report.findings),
                "traced_peak_bytes": peak,
                "maxrss_kib": maxrss_kib,
            }
        )
    )


if __name__ == "__main__":
    main()
