"""The vault's two ciphers: AES-256-GCM (profile ``international``) and SM4-GCM (GB/T 32907
with GCM, profile ``guomi``), behind one ``encrypt``/``decrypt`` interface.

A row records its cipher by the length of its wrapped data key: an AES-256 data key (32 bytes)
wraps to 12 + 32 + 16 = 60 bytes, an SM4 data key (16 bytes) to 12 + 16 + 16 = 44, so a vault
whose node moved from one profile to the other still reads every row it holds.

The SM4 key that wraps data keys is derived from the node's 32-byte master key file:
``SM3("tongban/vault/sm4-master-key/v1" || 0x00 || master key)[:16]``.
"""

from __future__ import annotations

from typing import Final, Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.sm2 import sm3

AES_256_GCM: Final = "aes-256-gcm"
SM4_GCM: Final = "sm4-gcm"
VAULT_CIPHERS: Final = (AES_256_GCM, SM4_GCM)
DATA_KEY_BYTES: Final = {AES_256_GCM: 32, SM4_GCM: 16}
_TAG_BYTES: Final = 16
_NONCE_BYTES: Final = 12
_SM4_MASTER_LABEL: Final = b"tongban/vault/sm4-master-key/v1\x00"


class Aead(Protocol):
    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class Sm4Gcm:
    """SM4-GCM with AESGCM's interface: ciphertext || 16-byte tag; ``InvalidTag`` on forgery."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("an SM4 key is 16 bytes")
        self._key = key

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        encryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        if associated_data:
            encryptor.authenticate_additional_data(associated_data)
        return encryptor.update(data) + encryptor.finalize() + encryptor.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        tag = data[-_TAG_BYTES:]
        decryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, tag)).decryptor()
        if associated_data:
            decryptor.authenticate_additional_data(associated_data)
        return decryptor.update(data[:-_TAG_BYTES]) + decryptor.finalize()


def data_cipher(name: str, key: bytes) -> Aead:
    return Sm4Gcm(key) if name == SM4_GCM else AESGCM(key)


def master_cipher(name: str, master_key: bytes) -> Aead:
    if name == SM4_GCM:
        return Sm4Gcm(sm3(_SM4_MASTER_LABEL + master_key)[:16])
    return AESGCM(master_key)


def cipher_of_wrapped_data_key(wrapped: bytes) -> str:
    """Which cipher a row was written with, from its wrapped data key's length."""
    if len(wrapped) == _NONCE_BYTES + DATA_KEY_BYTES[SM4_GCM] + _TAG_BYTES:
        return SM4_GCM
    return AES_256_GCM
