"""Generate the report-message test vectors in ``tests/vectors/report/`` (docs/reporting.md).

    .venv/bin/python tools/make_report_vectors.py            # (re)write the files
    .venv/bin/python tools/make_report_vectors.py --check    # exit 1 if one would change

One ten-step online case on an in-memory Sichuan ledger with fixed keys (seeded), a fixed
clock and a fixed case id: every key record and every case step becomes the message
``tongban outbox`` publishes for its index, byte for byte (Ed25519 is deterministic).

- ``messages.json``: each message as published (``message``: its exact UTF-8 JSON), its
  subject, kind, and the region's root public key a platform starts from.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script too

from adapters.outbox import StreamNames, report_builder
from ledger.workflow import CaseWorkflow
from tests.support.world import make_memory_world
from tools import vectorkit

OUT = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "report"
CASE_ID = uuid.UUID("0193a7c2-5f1e-7c3a-9b2d-4e5f60718293")


def messages_vector() -> dict[str, Any]:
    world = make_memory_world(workflow=CaseWorkflow())
    world.online_case(CASE_ID)
    builder = report_builder(world.app)
    names = StreamNames(world.region)
    messages = []
    for entry in world.app.entries_after(0, 10_000):
        message = builder.message(entry)
        messages.append(
            {
                "index": message.index,
                "subject": names.subject(message.index),
                "kind": message.kind,
                "message": message.to_bytes().decode(),
            }
        )
    world.app.close()
    return {
        "description": "every index of one online case's ledger, as tongban outbox publishes it",
        "region": world.region,
        "ledger": world.app.ledger_name,
        "root_public_key": world.root.public_key.hex(),
        "stream": names.stream,
        "messages": messages,
    }


def main(argv: list[str] | None = None) -> int:
    return vectorkit.run(
        argv,
        description=(__doc__ or "").splitlines()[0],
        out=OUT,
        vectors=lambda: {"messages.json": messages_vector()},
    )


if __name__ == "__main__":
    sys.exit(main())
