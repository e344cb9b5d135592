"""Key files on disk: 32-byte Ed25519 seeds, hex encoded, readable by their owner only.

The node keeps only its own ledger key here. Root, body and officer keys belong to their
holders; the CLI reads them from files the holder points it at and never copies them.
"""

from __future__ import annotations

import json
from pathlib import Path

from adapters.atomic import write_atomically
from adapters.filemodes import UnsafePermissions, refuse_if_others_can_write, write_private_text
from ledger.suites import Ed25519Signer


class KeyFileError(ValueError):
    pass


def _refuse_if_others_can_write(path: Path, what: str) -> None:
    # Whoever may replace a key or the trust roots can make this node sign or accept what
    # they like: such a file is refused, never used.
    try:
        refuse_if_others_can_write(path, what)
    except UnsafePermissions as error:
        raise KeyFileError(str(error)) from error


def write_key(path: Path, signer: Ed25519Signer) -> None:
    """Create the key file (0600) whole or not at all; ``FileExistsError`` if there is one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, signer.private_seed().hex() + "\n", mode=0o600, overwrite=False)


def read_key(path: Path | str) -> Ed25519Signer:
    path = Path(path)
    _refuse_if_others_can_write(path, "key file")
    try:
        seed = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as error:
        raise KeyFileError(f"{path}: not a readable hex key file ({error})") from error
    if len(seed) != 32:
        raise KeyFileError(f"{path}: an Ed25519 key file holds 32 bytes, found {len(seed)}")
    return Ed25519Signer.from_seed(seed)


def load_or_create_key(path: Path) -> Ed25519Signer:
    if path.exists():
        return read_key(path)
    signer = Ed25519Signer.generate()
    try:
        write_key(path, signer)
    except FileExistsError:  # another process created it first
        return read_key(path)
    return signer


def read_trusted_roots(path: Path) -> dict[str, bytes]:
    """``trust.json``: ``{"<region>": "<root public key hex>"}``; missing file → empty."""
    if not path.exists():
        return {}
    _refuse_if_others_can_write(path, "trust file")
    try:
        raw = json.loads(path.read_text())
        return {str(region): bytes.fromhex(key) for region, key in raw.items()}
    except (ValueError, AttributeError) as error:
        raise KeyFileError(f"{path}: not a trust file ({error})") from error


def write_trusted_roots(path: Path, roots: dict[str, bytes]) -> None:
    text = json.dumps({region: key.hex() for region, key in sorted(roots.items())}, indent=1)
    write_private_text(path, text + "\n")
