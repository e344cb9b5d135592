"""``transparency.json`` in the data directory: whom this node witnesses, and who witnesses it.

::

    {
     "witness_name": "tongban/320000/witness",
     "witnessed_logs": [{"origin": "tongban/510000", "public_key": "<hex>",
                         "pinned_checkpoint": "<the log's signed checkpoint note>"}],
     "witnesses": [{"name": "tongban/320000/witness", "url": "https://.../witness",
                    "public_key": "<hex>"}],
     "min_cosignatures": null
    }

``witnessed_logs`` are the logs this node cosigns for (its witness answers 404 to any other
origin); ``witnesses`` are the nodes this node pushes its own checkpoints to, ``url`` being
the prefix before ``/add-checkpoint``. The witness signs with the node's own key
(``node.key``) under ``witness_name`` (default ``tongban/<region>/witness``). A missing file
is an empty configuration.

``pinned_checkpoint`` is where the witness starts on that log (no trust on first use): the
log's checkpoint its operator obtained when adding it, ``""`` for a log declared new, absent
(older files) for none, and the witness then refuses the log until it is pinned.
``min_cosignatures`` is what ``verify-bundle`` demands of this node's ``witnesses``:
``null`` (the default) a majority of them, ``0`` none at all (said in the verdict).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.filemodes import write_private_text
from ledger.errors import LedgerError
from ledger.notes import Witness
from ledger.suites import check_public_key, suite_of_public_key
from ledger.witness import WitnessError, pinned_checkpoint

TRANSPARENCY_FILE = "transparency.json"


class TransparencyConfigError(ValueError):
    """The file does not parse, or a value is refused."""


def default_witness_name(region: str) -> str:
    return f"tongban/{region}/witness"


def _public_key(value: object, where: str) -> bytes:
    try:
        key = bytes.fromhex(str(value))
    except ValueError as error:
        raise TransparencyConfigError(f"{where}: public_key is hex") from error
    try:
        check_public_key(suite_of_public_key(key), key)
    except LedgerError:
        raise TransparencyConfigError(
            f"{where}: public_key is an Ed25519 key (32 bytes, 64 hex) or an SM2 key "
            "(65 bytes 04 || X || Y, 130 hex)"
        ) from None
    return key


def _name(value: object, where: str) -> str:
    # Note key names hold no space and no plus (C2SP signed-note).
    if not isinstance(value, str) or not value or any(c.isspace() or c == "+" for c in value):
        raise TransparencyConfigError(f"{where}: a name is non-empty, without spaces or '+'")
    return value


def _check_pin(origin: str, public_key: bytes, note: str, where: str) -> None:
    try:
        pinned_checkpoint(note, origin, public_key)
    except WitnessError as error:
        raise TransparencyConfigError(f"{where}: {error.detail}") from error


@dataclass(frozen=True)
class WitnessedLog:
    origin: str
    public_key: bytes
    pinned_checkpoint: str | None = None  # a signed note; "" for a new log; None: not pinned


@dataclass(frozen=True)
class WitnessPeer:
    name: str
    url: str
    public_key: bytes

    @property
    def witness(self) -> Witness:
        return Witness(self.name, self.public_key)


@dataclass
class TransparencyConfig:
    witness_name: str
    witnessed_logs: list[WitnessedLog] = field(default_factory=list)
    witnesses: list[WitnessPeer] = field(default_factory=list)
    min_cosignatures: int | None = None  # None: a majority of ``witnesses``

    def log_keys(self) -> dict[str, bytes]:
        """``origin → public key`` of every log this node witnesses."""
        return {log.origin: log.public_key for log in self.witnessed_logs}

    def pinned_checkpoints(self) -> dict[str, str]:
        """``origin → pinned checkpoint note`` ("" for a new log) of every pinned log."""
        return {
            log.origin: log.pinned_checkpoint
            for log in self.witnessed_logs
            if log.pinned_checkpoint is not None
        }

    def witness_keys(self) -> list[Witness]:
        return [peer.witness for peer in self.witnesses]

    def add_log(self, origin: str, public_key: bytes, pinned_checkpoint: str) -> None:
        """Witness ``origin`` under ``public_key`` from ``pinned_checkpoint`` (a checkpoint
        note the log signed, or "" for a new log), replacing what was configured before."""
        _name(origin, "origin")
        if pinned_checkpoint:
            _check_pin(origin, public_key, pinned_checkpoint, "pinned_checkpoint")
        self.witnessed_logs = [log for log in self.witnessed_logs if log.origin != origin]
        self.witnessed_logs.append(WitnessedLog(origin, public_key, pinned_checkpoint))

    def add_witness(self, name: str, url: str, public_key: bytes) -> None:
        """Push checkpoints to witness ``name`` at ``url`` (replacing an entry of that name)."""
        _name(name, "name")
        if not url.startswith(("http://", "https://")):
            raise TransparencyConfigError("a witness URL is http(s)://host/prefix")
        self.witnesses = [peer for peer in self.witnesses if peer.name != name]
        self.witnesses.append(WitnessPeer(name, url.rstrip("/"), public_key))

    def as_json(self) -> dict[str, Any]:
        return {
            "witness_name": self.witness_name,
            "witnessed_logs": [
                {"origin": log.origin, "public_key": log.public_key.hex()}
                | (
                    {"pinned_checkpoint": log.pinned_checkpoint}
                    if log.pinned_checkpoint is not None
                    else {}
                )
                for log in self.witnessed_logs
            ],
            "witnesses": [
                {"name": p.name, "url": p.url, "public_key": p.public_key.hex()}
                for p in self.witnesses
            ],
            "min_cosignatures": self.min_cosignatures,
        }


def parse_transparency_config(raw: object, *, region: str) -> TransparencyConfig:
    if not isinstance(raw, dict):
        raise TransparencyConfigError("transparency.json holds one JSON object")
    logs = raw.get("witnessed_logs", [])
    peers = raw.get("witnesses", [])
    k = raw.get("min_cosignatures")
    if not isinstance(logs, list) or not isinstance(peers, list):
        raise TransparencyConfigError("witnessed_logs and witnesses are lists")
    if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 0):
        raise TransparencyConfigError("min_cosignatures is null (a majority) or a number >= 0")
    config = TransparencyConfig(
        _name(raw.get("witness_name") or default_witness_name(region), "witness_name"),
        min_cosignatures=k,
    )
    for n, log in enumerate(logs):
        where = f"witnessed_logs[{n}]"
        if not isinstance(log, dict):
            raise TransparencyConfigError(f"{where} is an object")
        origin = _name(log.get("origin"), where)
        public_key = _public_key(log.get("public_key"), where)
        pin = log.get("pinned_checkpoint")
        if pin is not None and not isinstance(pin, str):
            raise TransparencyConfigError(f"{where}: pinned_checkpoint is a signed note or ''")
        if pin:
            _check_pin(origin, public_key, pin, f"{where}.pinned_checkpoint")
        config.witnessed_logs.append(WitnessedLog(origin, public_key, pin))
    for n, peer in enumerate(peers):
        where = f"witnesses[{n}]"
        if not isinstance(peer, dict) or not isinstance(peer.get("url"), str):
            raise TransparencyConfigError(f"{where} is an object with a url")
        config.witnesses.append(
            WitnessPeer(
                _name(peer.get("name"), where),
                peer["url"].rstrip("/"),
                _public_key(peer.get("public_key"), where),
            )
        )
    return config


def load_transparency_config(data_dir: Path, *, region: str) -> TransparencyConfig:
    """The data directory's ``transparency.json`` (defaults when there is none)."""
    path = data_dir / TRANSPARENCY_FILE
    if not path.exists():
        return TransparencyConfig(default_witness_name(region))
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise TransparencyConfigError(f"{path}: {error}") from error
    return parse_transparency_config(raw, region=region)


def save_transparency_config(data_dir: Path, config: TransparencyConfig) -> Path:
    """Write ``transparency.json`` atomically (a serving node may be reading it)."""
    path = data_dir / TRANSPARENCY_FILE
    write_private_text(path, json.dumps(config.as_json(), ensure_ascii=False, indent=1) + "\n")
    return path
