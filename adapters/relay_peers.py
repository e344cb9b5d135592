"""``peers.json`` in the data directory: the other regions' nodes this node relays to or from.

::

    {"peers": [{"ledger": "tongban/510000", "url": "http://127.0.0.1:8001",
                "public_key": "<hex: that node's key>",
                "witnesses": [{"name": "tongban/320000/witness", "public_key": "<hex>"}],
                "min_cosignatures": null}]}

A window node relays a step for ``ledger`` to ``url``; a home node accepts relayed steps and
peer reads from a node whose peer request (``tongban/peer-request/v1``) is signed by the
``public_key`` configured for its ledger. ``witnesses`` (optional) are the peer's witnesses
whose cosignatures the monitor requires before it relies on a checkpoint (``min_cosignatures``
of them; null: a majority). A missing file is no peer at all. The file is read
at each use, so an edit applies without a restart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.filemodes import write_private_text
from ledger.notes import Witness

PEERS_FILE = "peers.json"


class PeerConfigError(ValueError):
    """``peers.json`` does not parse, or a value is refused."""


@dataclass(frozen=True)
class PeerNode:
    ledger: str
    url: str
    public_key: bytes
    # The peer's witnesses whose cosignatures the monitor requires on its checkpoints, and
    # how many (None: a majority of them); none configured: its own signature suffices.
    witnesses: tuple[Witness, ...] = ()
    min_cosignatures: int | None = None

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "ledger": self.ledger,
            "url": self.url,
            "public_key": self.public_key.hex(),
        }
        if self.witnesses:
            document["witnesses"] = [
                {"name": w.name, "public_key": w.public_key.hex()} for w in self.witnesses
            ]
            document["min_cosignatures"] = self.min_cosignatures
        return document


def _key(value: object, where: str) -> bytes:
    try:
        key = bytes.fromhex(str(value))
    except ValueError as error:
        raise PeerConfigError(f"{where} is hex") from error
    if len(key) != 32:
        raise PeerConfigError(f"{where} is an Ed25519 key (64 hex)")
    return key


def _peer(raw: object, where: str) -> PeerNode:
    if not isinstance(raw, dict):
        raise PeerConfigError(f"{where} is an object")
    ledger, url, key = raw.get("ledger"), raw.get("url"), raw.get("public_key")
    if not isinstance(ledger, str) or not ledger or any(c.isspace() for c in ledger):
        raise PeerConfigError(f"{where}.ledger is a ledger name, e.g. tongban/510000")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise PeerConfigError(f"{where}.url is http(s)://host[:port]")
    public_key = _key(key, f"{where}.public_key")
    listed = raw.get("witnesses", [])
    if not isinstance(listed, list) or not all(
        isinstance(w, dict) and isinstance(w.get("name"), str) and w["name"] for w in listed
    ):
        raise PeerConfigError(f"{where}.witnesses is a list of {{name, public_key}}")
    witnesses = tuple(
        Witness(w["name"], _key(w.get("public_key"), f"{where}.witnesses[{n}].public_key"))
        for n, w in enumerate(listed)
    )
    k = raw.get("min_cosignatures")
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 0):
        raise PeerConfigError(f"{where}.min_cosignatures is null (a majority) or a number >= 0")
    return PeerNode(ledger, url.rstrip("/"), public_key, witnesses, k)


def load_peers(data_dir: Path) -> dict[str, PeerNode]:
    """``ledger name → peer`` from the data directory's ``peers.json`` (empty without one)."""
    path = data_dir / PEERS_FILE
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise PeerConfigError(f"{path}: {error}") from error
    peers = raw.get("peers") if isinstance(raw, dict) else None
    if not isinstance(peers, list):
        raise PeerConfigError(f'{path}: holds {{"peers": [...]}}')
    found = [_peer(peer, f"peers[{n}]") for n, peer in enumerate(peers)]
    return {peer.ledger: peer for peer in found}


def save_peer(data_dir: Path, peer: PeerNode) -> Path:
    """Add ``peer`` to ``peers.json`` (replacing one of the same ledger), atomically."""
    peers = load_peers(data_dir)
    peers[peer.ledger] = _peer(peer.as_json(), "peer")
    path = data_dir / PEERS_FILE
    document = {"peers": [p.as_json() for p in peers.values()]}
    write_private_text(path, json.dumps(document, indent=1) + "\n")
    return path
