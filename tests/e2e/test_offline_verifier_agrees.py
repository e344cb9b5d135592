"""Two implementations of ``docs/license-offline.md`` give one verdict: the node's
(``POST /licenses/verify``, the reference) and the public check page's in-browser verifier
(``api/static/offline-verify.js``, written from the documents), run by Node on the node's own
keys, trust list and status list. Texts: licenses issued, revoked and suspended on the node,
the same altered at several places or re-encoded with the signature kept, and every text of
``compact-negative.json``. Every field of the verdict agrees but where the status came from:
the node asks its own ledger (``online``), the page its cached list (``status_list``)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.application import now_micros
from tests.e2e.test_public_pages import extended
from tests.support import licenses
from tests.support.api_node import ApiNode, api_node

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "license-offline"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiNode]:
    with api_node(tmp_path_factory.mktemp("offline-agrees")) as made:
        licenses.enable_licenses(made)
        yield made


def _texts(node: ApiNode) -> dict[str, str]:
    texts = {}
    for case in json.loads((VECTORS / "compact-negative.json").read_text())["cases"]:
        texts[f"vector {case['name']}"] = case["text"]
    texts["vector compact"] = json.loads((VECTORS / "compact.json").read_text())["expected"]["text"]
    issued = licenses.issue(node)
    texts["issued"] = issued.compact
    for action in ("revoke", "suspend"):
        changed = licenses.issue(node)
        event = licenses.status_event(node, changed.identifier, action)
        answer = node.post(f"/licenses/{changed.identifier}/{action}", "home", event)
        assert answer.status_code == 201, answer.text
        texts[action] = changed.compact
        texts[f"{action} and altered"] = extended(changed.compact)
    text = issued.compact
    for at in (10, 60, 200, 400, len(text) - 5):
        texts[f"altered at {at}"] = text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]
    texts["truncated"] = text[:-3]
    texts["altered and signature kept"] = extended(text)
    return texts


def _browser_verdicts(node: ApiNode, texts: dict[str, str]) -> dict[str, Any]:
    executable = shutil.which("node")
    assert executable, "Node.js (20 or later) is needed (.ci/run installs it)"
    given = {
        "keys": node.get("/keys").json()["keys"],
        "trust_lists": [base64.b64encode(node.get("/trust-list").content).decode()],
        "status_lists": [base64.b64encode(node.get("/status-lists/510000-1").content).decode()],
        "now": now_micros(),
        "texts": texts,
    }
    done = subprocess.run(
        [executable, str(ROOT / "tests" / "js" / "offline-verdicts.mjs")],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    verdicts: dict[str, Any] = json.loads(done.stdout)
    return verdicts


def test_the_browser_verifier_and_the_node_agree(node: ApiNode) -> None:
    texts = _texts(node)
    browser = _browser_verdicts(node, texts)
    for name, text in texts.items():
        theirs = node.client.post("/licenses/verify", json={"license": text}).json()
        ours = browser[name]
        for field in ("valid", "primary", "failed", "trust_lists", "online_detail"):
            assert ours[field] == theirs[field], (name, field, ours[field], theirs[field])
        if theirs["status_source"] == "online":
            assert ours["status_source"] == "status_list", name
        else:
            assert ours["status_source"] == theirs["status_source"], name
    reasons = {reason for name in texts for reason in browser[name]["failed"]}
    assert {"malformed", "unsupported_suite", "bad_check_character", "bad_signature"} <= reasons
    assert {"unknown_issuer", "revoked", "suspended"} <= reasons
    assert browser["issued"]["valid"] is True
