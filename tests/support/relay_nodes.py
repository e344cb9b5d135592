"""Two provinces, two live nodes on loopback: Sichuan (510000, the home of the cases) and
Jiangsu (320000, the window its clerks work through).

Sichuan's node is :func:`tests.support.world.make_world` with Jiangsu's root and bodies in its
registry (so it can check their signatures on relayed steps). Jiangsu's node holds its own
root, node key, window ``320105-ZWFW`` and officer ``js-001`` (the same seeded keys). Each
names the other in ``peers.json``; the Jiangsu clerk holds a token of Jiangsu's node only.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.access import open_access_store
from adapters.bootstrap import open_ledger
from adapters.keyfiles import read_key, write_key, write_trusted_roots
from adapters.relay_peers import PeerNode, save_peer
from adapters.settings import Settings
from api.client import TongbanClient
from ledger.admin import RegistryClerk
from ledger.workflow import CaseWorkflow
from tests.support.live import ServerProcess
from tests.support.world import (
    JIANGSU,
    START,
    Clock,
    World,
    make_world,
    register_jiangsu_bodies,
    seeded,
)

SC_LEDGER, JS_LEDGER = "tongban/510000", "tongban/320000"
WINDOW, CLERK = "320105-ZWFW", "js-001"
APPLICANT = {
    "name": "欧阳明远",
    "id_number": "11010519491231002X",
    "phone": "13912345678",
}


def jiangsu_window_node(data_dir: Path, world: World) -> None:
    """Jiangsu's node: its root, node key, window and handler (``world`` gets their keys)."""
    js_root = seeded(f"root/{JIANGSU}")
    Settings(data_dir=data_dir, region=JIANGSU).record_region()
    write_trusted_roots(data_dir / "trust.json", {JIANGSU: js_root.public_key})
    app = open_ledger(Settings(data_dir=data_dir, region=JIANGSU), clock=Clock())
    clerk = RegistryClerk(app, JIANGSU)
    clerk.establish_root(js_root, valid_from=START)
    assert app.node_signer is not None
    clerk.certify_node(js_root, app.node_signer.public_key, "node-1", valid_from=START)
    register_jiangsu_bodies(clerk, js_root, world)
    app.close()


def body_token(data_dir: Path, body_id: str) -> str:
    settings = Settings(data_dir=data_dir)
    store = open_access_store(settings.resolved_database_url(), data_dir)
    try:
        return store.create_token("body", body_id, now=datetime.now(UTC))[0]
    finally:
        store.close()


def admin_token(data_dir: Path) -> str:
    settings = Settings(data_dir=data_dir)
    store = open_access_store(settings.resolved_database_url(), data_dir)
    try:
        return store.create_token("admin", "admin", now=datetime.now(UTC))[0]
    finally:
        store.close()


def node_public_key(data_dir: Path) -> bytes:
    return read_key(data_dir / "node.key").public_key


@dataclass
class Provinces:
    world: World  # Sichuan's ledger world (its officers, and Jiangsu's, with their keys)
    sichuan: ServerProcess
    jiangsu: ServerProcess
    clerk_token: str  # a token of Jiangsu's node for its window
    tmp: Path

    @property
    def sc_dir(self) -> Path:
        return self.sichuan.data_dir

    @property
    def js_dir(self) -> Path:
        return self.jiangsu.data_dir

    def clerk(self, **kwargs: Any) -> TongbanClient:
        """The Jiangsu clerk's client of Jiangsu's node (the only node they talk to)."""
        return TongbanClient(
            self.jiangsu.url,
            self.clerk_token,
            self.world.officers[CLERK].signer,
            body_id=WINDOW,
            officer_id=CLERK,
            **kwargs,
        )

    def clerk_key_file(self) -> Path:
        path = self.tmp / "js-001.key"
        if not path.exists():
            write_key(path, self.world.officers[CLERK].signer)
        return path

    def receive(self, client: TongbanClient, case_id: uuid.UUID | None = None) -> Any:
        return client.receive(
            "510000/2/23",
            "proxy",
            APPLICANT,
            home_body="510104-RS",
            jurisdiction="510104",
            materials=[("申请表", hashlib.sha256(b"form").digest())],
            case_id=case_id,
        )


@contextmanager
def two_provinces(tmp: Path, env: dict[str, str] | None = None) -> Iterator[Provinces]:
    """Both nodes served (Jiangsu's delivery loop off unless ``env`` turns it on)."""
    sc_dir, js_dir = tmp / "sichuan", tmp / "jiangsu"
    sc_dir.mkdir()
    js_dir.mkdir()
    world = make_world(sc_dir, workflow=CaseWorkflow(), with_jiangsu=True)
    world.app.close()
    jiangsu_window_node(js_dir, world)
    clerk_token = body_token(js_dir, WINDOW)
    base = {"TONGBAN_RELAY_DELIVER_SECONDS": "0", **(env or {})}
    sichuan = ServerProcess(sc_dir, {**base, "TONGBAN_REGION": "510000"})
    jiangsu = ServerProcess(js_dir, {**base, "TONGBAN_REGION": JIANGSU})
    try:
        sichuan.start()
        jiangsu.start()
        save_peer(js_dir, PeerNode(SC_LEDGER, sichuan.url, node_public_key(sc_dir)))
        save_peer(sc_dir, PeerNode(JS_LEDGER, jiangsu.url, node_public_key(js_dir)))
        yield Provinces(world, sichuan, jiangsu, clerk_token, tmp)
    finally:
        jiangsu.stop()
        sichuan.stop()
