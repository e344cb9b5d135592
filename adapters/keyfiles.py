"""Key files on disk: 32-byte Ed25519 seeds, hex encoded, readable by their owner only.

The node keeps only its own ledger key here. Root, body and officer keys belong to their
holders; the CLI reads them from files the holder points it at and never copies them.

A holder's key (a region root, above all) may instead be protected by a passphrase: a PEM
``ENCRYPTED PRIVATE KEY`` (PKCS #8, PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, as
``cryptography``'s ``BestAvailableEncryption`` writes it; ``openssl pkey`` reads it too).
:func:`read_key` reads either form; the passphrase comes from the caller, else
``TONGBAN_KEY_PASSPHRASE``, else a prompt on the terminal.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    load_pem_private_key,
)

from adapters.atomic import write_atomically
from adapters.filemodes import UnsafePermissions, refuse_if_others_can_write, write_private_text
from ledger.suites import Ed25519Signer

# A node's data directory: its ledger key, and the regions' root keys it trusts.
NODE_KEY_FILE = "node.key"
TRUST_FILE = "trust.json"


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


def read_key(path: Path | str, passphrase: str | None = None) -> Ed25519Signer:
    path = Path(path)
    _refuse_if_others_can_write(path, "key file")
    try:
        text = path.read_text()
    except (OSError, ValueError) as error:
        raise KeyFileError(f"{path}: not a readable hex key file ({error})") from error
    if text.startswith(PEM_BEGIN):
        return _read_pem_key(path, text.encode(), passphrase)
    try:
        seed = bytes.fromhex(text.strip())
    except (OSError, ValueError) as error:
        raise KeyFileError(f"{path}: not a readable hex key file ({error})") from error
    if len(seed) != 32:
        raise KeyFileError(f"{path}: an Ed25519 key file holds 32 bytes, found {len(seed)}")
    return Ed25519Signer.from_seed(seed)


PEM_BEGIN = "-----BEGIN "
PASSPHRASE_ENV = "TONGBAN_KEY_PASSPHRASE"


def key_passphrase(path: Path, *, confirm: bool = False) -> str:
    """The passphrase of ``path``: ``TONGBAN_KEY_PASSPHRASE``, else asked on the terminal
    (twice with ``confirm``); a :class:`KeyFileError` when neither is there."""
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise KeyFileError(
            f"{path}: its passphrase is needed: set {PASSPHRASE_ENV} or run on a terminal "
            "to be asked"
        )
    passphrase = getpass.getpass(f"passphrase of {path}: ")
    if confirm and getpass.getpass(f"passphrase of {path} again: ") != passphrase:
        raise KeyFileError(f"{path}: the two passphrases differ")
    if not passphrase:
        raise KeyFileError(f"{path}: the passphrase is empty")
    return passphrase


def write_encrypted_key(path: Path, signer: Ed25519Signer, passphrase: str) -> None:
    """Write ``signer`` as a passphrase-encrypted PKCS #8 PEM file (mode 0600, never over
    an existing file)."""
    pem = Ed25519PrivateKey.from_private_bytes(signer.private_seed()).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(passphrase.encode())
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, pem, mode=0o600, overwrite=False)


def _read_pem_key(path: Path, pem: bytes, passphrase: str | None) -> Ed25519Signer:
    encrypted = b"ENCRYPTED" in pem.split(b"\n", 1)[0]
    password = None
    if encrypted:
        password = (passphrase if passphrase is not None else key_passphrase(path)).encode()
    try:
        key = load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as error:
        # cryptography gives no distinct error for a wrong passphrase: decryption fails.
        why = "wrong passphrase, or not a PKCS #8 key" if encrypted else str(error)
        raise KeyFileError(f"{path}: cannot read the key ({why})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return Ed25519Signer(key)


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
