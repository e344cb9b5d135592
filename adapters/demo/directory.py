"""The directory guard: demo data never enters a real node's directory."""

from __future__ import annotations

from pathlib import Path

from adapters.bootstrap import NODE_KEY_FILE, TRUST_FILE
from adapters.demo.errors import NotADemoDirectory
from adapters.vault import MASTER_KEY_FILE, VAULT_SQLITE_FILE

DEMO_MARKER = "DEMO"

_MARKER_TEXT = """\
DEMO DATA DIRECTORY — created by `tongban demo`.

Everything here is fake: keys derived from a public seed, invented applicants (测试人员NNNN)
with computed ID numbers, cases that never happened. Never trust these roots on a real node,
never copy this ledger, vault or key into one. Delete the directory to rebuild the demo.
"""

# Files that make a directory a node; finding one without the marker means "real node".
_NODE_FILES = ("ledger.sqlite3", NODE_KEY_FILE, TRUST_FILE, MASTER_KEY_FILE, VAULT_SQLITE_FILE)


def _check_directory(data_dir: Path) -> None:
    if not data_dir.exists():
        return
    if not data_dir.is_dir():
        raise NotADemoDirectory(f"{data_dir} is not a directory")
    content = sorted(p.name for p in data_dir.iterdir())
    if not content:
        return
    if DEMO_MARKER not in content:
        node_files = [name for name in content if name in _NODE_FILES]
        what = f"node files ({', '.join(node_files)})" if node_files else "other files"
        raise NotADemoDirectory(
            f"refusing to write demo data into {data_dir}: it holds {what} and no {DEMO_MARKER} "
            "marker, so it may be a real node; choose a new or empty directory"
        )
    if set(content) - {DEMO_MARKER}:
        raise NotADemoDirectory(
            f"{data_dir} already holds a demo; delete the directory to build it again"
        )
