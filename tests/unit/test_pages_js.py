"""The officers' pages' signing code (``api/static/``) is plain JavaScript: its own tests
(``tests/js/``, ``node --test``) run here, so CI runs them. They rebuild every envelope and
login vector with the pages' own codec and WebCrypto, and refuse every negative one; the public
check page's in-browser verifier (``offline-verify.js``) runs over every license-offline and
license vector."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_pages_signing_code_passes_its_vector_tests() -> None:
    node = shutil.which("node")
    assert node, "Node.js (20 or later) is needed to test api/static/ (.ci/run installs it)"
    done = subprocess.run(
        [node, "--test", str(ROOT / "tests" / "js")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    counts = dict(re.findall(r"^# (pass|fail|skipped|todo|cancelled) (\d+)$", report, re.M))
    assert counts.get("fail") == "0" and counts.get("skipped") == "0", report
    assert counts.get("todo") == "0" and counts.get("cancelled") == "0", report
    # every vector file gives at least one test; none was silently left out
    vectors = len(list((ROOT / "tests/vectors/envelope").glob("*.json")))
    vectors += len(list((ROOT / "tests/vectors/login").glob("*.json")))
    vectors += len(list((ROOT / "tests/vectors/license").glob("*.json")))
    offline = json.loads((ROOT / "tests/vectors/license-offline/compact-negative.json").read_text())
    vectors += len(offline["cases"])
    assert int(counts["pass"]) >= vectors, report
