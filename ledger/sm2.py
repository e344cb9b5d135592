"""The ``sm2-sm3`` suite: SM2 signatures (GB/T 32918.2) over SM3 digests (GB/T 32905).

Encodings (``docs/envelope.md`` §3.2): a public key is the 65-byte uncompressed point
``04 || X || Y``; a signature is 64 bytes ``r || s``, each 32 bytes big-endian. Fixed widths
leave no second spelling of one signature, which matters because the object hash covers the
signature bytes.

The signer's distinguishing identifier (Z_A of GB/T 32918.2 §5.5) is always
:data:`SM2_SIGNER_ID`, the GM/T 0009 default ``1234567812345678``, passed explicitly to the
library on every call: libraries disagree on their default (OpenSSL 3's is empty), and a
signature made under one ID does not verify under another.

Before the library sees a key or a signature this module refuses, itself: a key that is not
65 bytes starting ``04`` (so the point at infinity, which has no such encoding, and compressed
points), coordinates ≥ p, a point off the curve (the cofactor is 1, so a point on the curve is
in the group); r or s outside [1, n−1] and (r + s) mod n = 0 (GB/T 32918.2 §7.1 B1, B2, B5).

Signing goes through :class:`ledger.suites.Signer`, so a certified cryptographic module can
take the place of the software key: :class:`Sm2DigestModule` is the port a GM/T 0018 SDF
server cipher machine (``SDF_InternalSign_ECC``) or a GM/T 0016 SKF USB key
(``SKF_ECCSignData``) fills; both sign the 32-byte e = SM3(Z_A || M) that
:func:`message_digest` computes, and :class:`Sm2ModuleSigner` turns their (r, s) into this
suite's bytes.

Signatures are verified by OpenSSL 3's libcrypto (:mod:`ledger.sm2_openssl`), called through
ctypes, which releases the GIL during each call, so threads verify on every core. A process
whose libcrypto cannot do SM2 refuses to start a node that accepts ``sm2-sm3``
(:func:`require_backend`); there is no fallback. Signatures are made, and SM3 computed, by
gmalglib (C, nonces from ``/dev/urandom``): it signed 3.5–4.8x faster than OpenSSL 3.0 where
measured, and an append signs once (its receipt) for one verification. ``docs/envelope.md``
§3.2 gives the figures for both choices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import gmalglib
from gmalglib.sm2 import SM2

from ledger import sm2_openssl
from ledger.errors import EnvelopeRejected

SM2_SM3 = "sm2-sm3"
# GM/T 0009's default distinguishing identifier: 16 ASCII bytes, ENTL = 128 bits.
SM2_SIGNER_ID = b"1234567812345678"

# The SM2 curve of GB/T 32918.5 (sm2p256v1).
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

PUBLIC_KEY_SIZE = 65
SIGNATURE_SIZE = 64
PRIVATE_KEY_SIZE = 32


class BadSm2Key(EnvelopeRejected):
    reason = "bad_signature"


class BadSm2Signature(EnvelopeRejected):
    reason = "bad_signature"


def sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905) of ``data``: 32 bytes."""
    return bytes(gmalglib.sm3_digest(data))


def check_public_key(public_key: bytes) -> tuple[int, int]:
    """The point (x, y) that ``public_key`` encodes, or :class:`BadSm2Key` saying why not."""
    if len(public_key) != PUBLIC_KEY_SIZE or public_key[0] != 0x04:
        raise BadSm2Key(
            "an SM2 public key is 65 bytes 04 || X || Y (no infinity, no compressed form)",
            field="public_key",
        )
    x = int.from_bytes(public_key[1:33], "big")
    y = int.from_bytes(public_key[33:], "big")
    if x >= P or y >= P:
        raise BadSm2Key("an SM2 public key coordinate is not below p", field="public_key")
    if (y * y - (x * x * x + A * x + B)) % P != 0:
        raise BadSm2Key("the SM2 public key is not a point of the curve", field="public_key")
    return x, y


def check_signature(signature: bytes) -> tuple[int, int]:
    """(r, s) of a 64-byte ``r || s``, or :class:`BadSm2Signature` (GB/T 32918.2 B1, B2, B5)."""
    if len(signature) != SIGNATURE_SIZE:
        raise BadSm2Signature(
            f"an SM2 signature is 64 bytes r || s, got {len(signature)}", field="signature"
        )
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (1 <= r < N and 1 <= s < N):
        raise BadSm2Signature("SM2 r or s is outside [1, n-1]", field="signature")
    if (r + s) % N == 0:
        raise BadSm2Signature("SM2 (r + s) mod n is 0 (GB/T 32918.2 B5)", field="signature")
    return r, s


def sm2_key_id(public_key: bytes) -> str:
    """The key id of ``docs/envelope.md`` §3.3 under ``sm2-sm3``."""
    return sm3(SM2_SM3.encode() + b"\x00" + public_key)[:16].hex()


def require_backend() -> None:
    """Load OpenSSL's libcrypto and check that it signs and verifies SM2 with SM3 under an
    explicit ID, or raise :class:`ledger.sm2_openssl.OpenSslSm2Unavailable` saying what is
    missing. Called when a node that accepts ``sm2-sm3`` starts, so it fails then and not on
    its first signature."""
    sm2_openssl.libcrypto()


# Parsed keys (each an OpenSSL EVP_PKEY, freed when dropped from the cache and unused).
@lru_cache(maxsize=4096)
def _verifier(public_key: bytes) -> sm2_openssl.PublicKey:
    check_public_key(public_key)
    return sm2_openssl.PublicKey(public_key, SM2_SIGNER_ID)


@lru_cache(maxsize=4096)
def _z_a(public_key: bytes) -> bytes:
    """Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A), GB/T 32918.2 §5.5."""
    check_public_key(public_key)
    parts = [(len(SM2_SIGNER_ID) * 8).to_bytes(2, "big"), SM2_SIGNER_ID]
    parts += [value.to_bytes(32, "big") for value in (A, B, GX, GY)]
    return sm3(b"".join(parts) + public_key[1:])


def message_digest(public_key: bytes, message: bytes) -> bytes:
    """e = SM3(Z_A || M) with Z_A under :data:`SM2_SIGNER_ID`: what a module signs."""
    return sm3(_z_a(bytes(public_key)) + message)


@dataclass(frozen=True)
class Sm2Sm3:
    name: str = SM2_SM3
    digest_size: int = 32

    def digest(self, data: bytes) -> bytes:
        return sm3(data)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        """Raise a ``bad_signature`` rejection unless ``signature`` is valid."""
        verifier = _verifier(bytes(public_key))
        check_signature(signature)
        if not verifier.verify(message, sm2_openssl.der_signature(signature)):
            raise BadSm2Signature("signature does not verify", field="signature")


class Sm2Signer:
    """A software SM2 key: for tests, demos, tools and nodes without a cipher machine."""

    suite = SM2_SM3

    def __init__(self, private_key: bytes, *, nonce_source: Callable[[int], bytes] | None = None):
        """``nonce_source`` (bytes of a length) replaces ``/dev/urandom`` for the nonce k:
        only for fixed test vectors, never for a key anyone relies on."""
        if len(private_key) != PRIVATE_KEY_SIZE or not SM2.is_sk_valid(private_key):
            raise ValueError("an SM2 private key is 32 bytes d with 1 <= d <= n - 2")
        self._private_key = bytes(private_key)
        self._sm2 = (
            SM2(sk=self._private_key, uid=SM2_SIGNER_ID)
            if nonce_source is None
            else SM2(sk=self._private_key, uid=SM2_SIGNER_ID, rnd_fn=nonce_source)
        )
        self.public_key = bytes(SM2.get_pk(self._private_key))
        self.key_id = sm2_key_id(self.public_key)

    @classmethod
    def generate(cls) -> Sm2Signer:
        private_key, _ = SM2(uid=SM2_SIGNER_ID).generate_keypair()
        return cls(bytes(private_key))

    @classmethod
    def from_seed(
        cls, seed: bytes, *, nonce_source: Callable[[int], bytes] | None = None
    ) -> Sm2Signer:
        """The key of 32 seed bytes (key files, test vectors, demo keys): d = seed mod
        (n - 2) + 1, always a valid private key, and d itself for any valid d."""
        d = int.from_bytes(seed, "big")
        if not 1 <= d <= N - 2:
            d = d % (N - 2) + 1
        return cls(d.to_bytes(32, "big"), nonce_source=nonce_source)

    def private_seed(self) -> bytes:
        """The 32-byte private key d (what key files hold)."""
        return self._private_key

    def sign(self, message: bytes) -> bytes:
        return bytes(self._sm2.sign(message))


class Sm2DigestModule(Protocol):
    """A cryptographic module holding an SM2 private key (GM/T 0018 SDF, GM/T 0016 SKF).

    ``sign_digest`` signs e (32 bytes, :func:`message_digest`) and returns (r, s)."""

    @property
    def public_key(self) -> bytes: ...

    def sign_digest(self, digest: bytes) -> tuple[int, int]: ...


class Sm2ModuleSigner:
    """A :class:`ledger.suites.Signer` whose key stays in a module: Tongban computes
    e = SM3(Z_A || M) and encodes the module's (r, s) as 64 bytes."""

    suite = SM2_SM3

    def __init__(self, module: Sm2DigestModule):
        check_public_key(module.public_key)
        self._module = module
        self.public_key = bytes(module.public_key)
        self.key_id = sm2_key_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        r, s = self._module.sign_digest(message_digest(self.public_key, message))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        check_signature(signature)
        return signature
