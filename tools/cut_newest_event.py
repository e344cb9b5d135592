"""Play the insider: delete the newest object's rows from a node's SQLite ledger.

For the transparency walkthrough (``docs/walkthroughs/witnesses.md``) only: it shows that
cutting off the newest event is reported by ``tongban audit verify`` (``missing_from_tree``),
refused by the node's next checkpoint (``rollback``: it never signs a tree that does not extend
its last one) and by the witnesses.

    python3 tools/cut_newest_event.py var/sc
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path


def cut_newest_event(data_dir: Path) -> int:
    """Delete the newest ledger row and its event row; return the ledger index removed."""
    with sqlite3.connect(data_dir / "ledger.sqlite3") as db:
        index, stream, version = db.execute(
            "SELECT ledger_index, originator_id, originator_version FROM stored_ledger "
            "ORDER BY ledger_index DESC LIMIT 1"
        ).fetchone()
        db.execute(
            "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?",
            (stream, version),
        )
        db.execute("DELETE FROM stored_ledger WHERE ledger_index = ?", (index,))
    return int(index)


if __name__ == "__main__":
    print(f"deleted ledger index {cut_newest_event(Path(sys.argv[1]))}")
