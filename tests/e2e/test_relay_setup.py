"""What a new user setting two nodes up meets (review-relay.md): registry records imported
while a node serves, a wrong peer key, an unreachable peer, a mistyped data directory and a
mistyped ``add-peer``. Two live nodes on loopback (``tests.support.relay_nodes``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.bootstrap import open_ledger
from adapters.settings import Settings
from api.client import Refused, TongbanClient
from ledger.admin import RegistryClerk
from tests.e2e.test_relay import relay_rows
from tests.support.relay_nodes import (
    SC_LEDGER,
    Provinces,
    body_token,
    two_provinces,
)
from tests.support.world import JIANGSU, START, Clock, Officer, seeded

NEW_WINDOW, NEW_CLERK = "320106-ZWFW", "js-009"
WINDOW_ORG = {
    "division": "320106",
    "level": "county",
    "sector": "政务服务",
    "roles": ["cross_province_window"],
}


def register_new_window(data_dir: Path, region: str) -> Officer:
    """Jiangsu's window ``320106-ZWFW`` and its officer, in the registry of the node at
    ``data_dir`` (its region ``region``), by another process than the one serving it."""
    js_root = seeded(f"root/{JIANGSU}")
    body_key = seeded(f"body/{NEW_WINDOW}")
    officer = seeded(f"officer/{NEW_WINDOW}/{NEW_CLERK}")
    app = open_ledger(Settings(data_dir=data_dir, region=region), clock=Clock())
    try:
        clerk = RegistryClerk(app, JIANGSU)
        clerk.register_body(
            js_root, NEW_WINDOW, "南京市鼓楼区政务服务中心", body_key.public_key,
            org=WINDOW_ORG, valid_from=START,
        )  # fmt: skip
        clerk.certify_officer(body_key, NEW_WINDOW, NEW_CLERK, officer.public_key, valid_from=START)
    finally:
        app.close()
    return Officer(NEW_WINDOW, NEW_CLERK, officer)


def new_clerk(p: Provinces, officer: Officer) -> TongbanClient:
    token = body_token(p.js_dir, NEW_WINDOW)
    return TongbanClient(
        p.jiangsu.url, token, officer.signer, body_id=NEW_WINDOW, officer_id=NEW_CLERK, retries=0
    )


def test_a_window_body_imported_while_the_home_node_serves_is_seen_without_a_restart(
    tmp_path: Path,
) -> None:
    with two_provinces(tmp_path) as p:
        officer = register_new_window(p.js_dir, JIANGSU)
        with new_clerk(p, officer) as client:
            # Sichuan does not know the body yet: the refusal names the real cause and field.
            with pytest.raises(Refused) as refused:
                p.receive(client)
            assert refused.value.status == 422
            assert refused.value.reason == "unknown_body"
            assert refused.value.field == "actor.body"
            assert "not in this node's registry" in refused.value.problem["detail"]
            (row,) = [r for r in relay_rows(p) if r["body"] == NEW_WINDOW]
            assert row["state"] == "refused" and "(field actor.body)" in row["detail"]

            # Imported into Sichuan's registry while it serves: the next step is accepted.
            register_new_window(p.sc_dir, "510000")
            opened = p.receive(client)
            assert opened.receipt.ledger == SC_LEDGER
            assert client.case(opened.case_id)["head"]["seq"] == 1
