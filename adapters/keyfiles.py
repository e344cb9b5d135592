"""Key files on disk, readable by their owner only: an Ed25519 key is its 32-byte seed in hex;
an SM2 key (suite ``sm2-sm3``) is ``sm2-sm3 <hex of the 32-byte private key d>`` on one line,
so no file of one suite is ever read as a key of the other.

The node keeps only its own ledger key here. Root, body and officer keys belong to their
holders; the CLI reads them from files the holder points it at and never copies them.

A holder's key (a region root, above all) may instead be protected by a passphrase: a PEM
``ENCRYPTED PRIVATE KEY`` (PKCS #8, PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, as
``cryptography``'s ``BestAvailableEncryption`` writes it; ``openssl pkey`` reads it too).
:func:`read_key` reads either form; the passphrase comes from the caller, else
``TONGBAN_KEY_PASSPHRASE``, else a prompt on the terminal. An SM2 key under a passphrase is a
PEM ``TONGBAN ENCRYPTED SM2 KEY`` (``docs/keys.md``): scrypt (n = 2^15, r = 8, p = 1) derives a
16-byte key that seals d with SM4-GCM, the suite's own block cipher (pyca has no SM2 PKCS #8).
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import sys
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    load_pem_private_key,
)

from adapters.atomic import write_atomically
from adapters.filemodes import UnsafePermissions, refuse_if_others_can_write, write_private_text
from ledger.sm2 import SM2_SM3, Sm2Signer
from ledger.suites import ED25519_SHA256, Ed25519Signer, SoftwareSigner, generate_signer

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


def write_key(path: Path, signer: SoftwareSigner) -> None:
    """Create the key file (0600) whole or not at all; ``FileExistsError`` if there is one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = signer.private_seed().hex()
    if signer.suite == SM2_SM3:
        text = f"{SM2_SM3} {text}"
    write_atomically(path, text + "\n", mode=0o600, overwrite=False)


def read_key(path: Path | str, passphrase: str | None = None) -> SoftwareSigner:
    path = Path(path)
    _refuse_if_others_can_write(path, "key file")
    try:
        text = path.read_text()
    except (OSError, ValueError) as error:
        raise KeyFileError(f"{path}: not a readable hex key file ({error})") from error
    if text.startswith(SM2_PEM_BEGIN):
        return _read_encrypted_sm2_key(path, text, passphrase)
    if text.startswith(PEM_BEGIN):
        return _read_pem_key(path, text.encode(), passphrase)
    if text.startswith(SM2_SM3 + " "):
        try:
            private_key = bytes.fromhex(text[len(SM2_SM3) + 1 :].strip())
            return Sm2Signer(private_key)
        except ValueError as error:
            raise KeyFileError(f"{path}: not a readable SM2 key file ({error})") from None
    try:
        seed = bytes.fromhex(text.strip())
    except (OSError, ValueError) as error:
        raise KeyFileError(f"{path}: not a readable hex key file ({error})") from error
    if len(seed) != 32:
        raise KeyFileError(f"{path}: an Ed25519 key file holds 32 bytes, found {len(seed)}")
    return Ed25519Signer.from_seed(seed)


PEM_BEGIN = "-----BEGIN "


def key_file_suite(path: Path) -> str:
    """The suite of the key in ``path``, told from the file's form alone (nothing is
    decrypted, no passphrase asked): ``sm2-sm3`` for an SM2 key file, else ``ed25519-sha256``."""
    try:
        text = path.read_text()
    except (OSError, ValueError) as error:
        raise KeyFileError(f"{path}: not a readable key file ({error})") from error
    if text.startswith(SM2_PEM_BEGIN) or text.startswith(SM2_SM3 + " "):
        return SM2_SM3
    return ED25519_SHA256


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


SM2_PEM_BEGIN = "-----BEGIN TONGBAN ENCRYPTED SM2 KEY-----"
SM2_PEM_END = "-----END TONGBAN ENCRYPTED SM2 KEY-----"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1


def _sm4_key(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=16, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(
        passphrase.encode()
    )


def _encrypted_sm2_pem(signer: Sm2Signer, passphrase: str) -> bytes:
    salt, nonce = os.urandom(16), os.urandom(12)
    encryptor = Cipher(algorithms.SM4(_sm4_key(passphrase, salt)), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(SM2_SM3.encode())
    sealed = encryptor.update(signer.private_seed()) + encryptor.finalize() + encryptor.tag
    body = base64.encodebytes(salt + nonce + sealed).decode()
    return f"{SM2_PEM_BEGIN}\n{body}{SM2_PEM_END}\n".encode()


def _read_encrypted_sm2_key(path: Path, text: str, passphrase: str | None) -> Sm2Signer:
    try:
        raw = base64.b64decode(text.split(SM2_PEM_BEGIN, 1)[1].split(SM2_PEM_END, 1)[0])
    except (ValueError, IndexError):
        raise KeyFileError(f"{path}: not a readable encrypted SM2 key") from None
    if len(raw) != 16 + 12 + 32 + 16:
        raise KeyFileError(f"{path}: not a readable encrypted SM2 key (length)")
    salt, nonce, sealed, tag = raw[:16], raw[16:28], raw[28:60], raw[60:]
    password = passphrase if passphrase is not None else key_passphrase(path)
    decryptor = Cipher(algorithms.SM4(_sm4_key(password, salt)), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(SM2_SM3.encode())
    try:
        private_key = decryptor.update(sealed) + decryptor.finalize()
    except InvalidTag:
        raise KeyFileError(f"{path}: cannot read the key (wrong passphrase)") from None
    return Sm2Signer(private_key)


def write_encrypted_key(path: Path, signer: SoftwareSigner, passphrase: str) -> None:
    """Write ``signer`` under a passphrase: PKCS #8 PEM for Ed25519, the SM2 form above for
    SM2 (mode 0600, never over an existing file)."""
    if isinstance(signer, Sm2Signer):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, _encrypted_sm2_pem(signer, passphrase), mode=0o600, overwrite=False)
        return
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


def load_or_create_key(path: Path, suite: str = ED25519_SHA256) -> SoftwareSigner:
    """The key in ``path``, or a new key of ``suite`` written there."""
    if path.exists():
        return read_key(path)
    signer = generate_signer(suite)
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
