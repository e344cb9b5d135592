"""The bodies' electronic seals a node holds for its officers' pages (``docs/pages.md``,
"License issuance"): each a license key (``license_key_certified``, ``docs/license.md`` §5.1)
in a key file the operator puts at ``<data dir>/license-keys/<body id>.key``.

A seal signs license documents and their compact (QR) form; it is never sent anywhere. As a
电子印章 signature server holds a body's seal (GB/T 38540), the node signs with it only for an
officer of that body who signed the ``license_issued`` event with their own key. Since the
seal signs what the public trusts, its file is refused when anyone but the node's user may
read or write it (mode 0600), stricter than other key files, which others may not write.
The file is read at each use, so an operator adds, replaces or removes a seal without a restart.

Errors::

    SealKeyError (ValueError)   the file is unsafe or unreadable: what, where, how to fix it
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Final

from adapters.filemodes import UnsafePermissions, refuse_if_others_can_write
from adapters.keyfiles import PASSPHRASE_ENV, KeyFileError, read_key
from ledger.suites import SoftwareSigner

__all__ = ["SEAL_DIRECTORY", "SealKeyError", "read_seal", "seal_path"]

SEAL_DIRECTORY: Final = "license-keys"
# A body id (docs/keys.md): no slash and no leading dot, so a path made of it stays inside.
_BODY_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_OTHERS: Final = stat.S_IRWXG | stat.S_IRWXO


class SealKeyError(ValueError):
    """A seal key file that cannot be used (unsafe mode, unreadable, not a key)."""


def seal_path(data_dir: Path, body_id: str) -> Path:
    """Where the operator puts ``body_id``'s seal key."""
    if not _BODY_ID.fullmatch(body_id):
        raise SealKeyError(f"{body_id!r} is not a body id")
    return data_dir / SEAL_DIRECTORY / f"{body_id}.key"


def read_seal(data_dir: Path, body_id: str) -> SoftwareSigner | None:
    """``body_id``'s seal key, or ``None`` when this node holds none for it.

    A passphrase-protected file is read with ``TONGBAN_KEY_PASSPHRASE``; never asked on a
    terminal (a request must not wait for one).
    """
    path = seal_path(data_dir, body_id)
    try:
        refuse_if_others_can_write(path.parent, "seal key directory")
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None
    except UnsafePermissions as error:
        raise SealKeyError(str(error)) from None
    if mode & _OTHERS:
        raise SealKeyError(
            f"{path}: this seal key file has mode {mode:04o}, so users other than its owner "
            f"may read or write it; refusing to use it (chmod 600 {path})"
        )
    try:
        return read_key(path, passphrase=os.environ.get(PASSPHRASE_ENV) or "")
    except KeyFileError as error:
        raise SealKeyError(str(error)) from None
