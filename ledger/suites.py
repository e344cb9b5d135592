"""Signature suites and the ``Signer`` protocol.

A suite fixes a signature algorithm and a hash: ``ed25519-sha256``, and ``sm2-sm3`` (GB/T 32918
with SM3, required for a commercial-cryptography assessment; :mod:`ledger.sm2`), a name the
formats admitted from day one, so adding it changed no other byte. A suite name no node
implements is refused with reason ``unsupported_suite``.

What a signature covers is always ``context || 0x00 || digest(content)``: the context string
(``tongban/event/v1``, ``tongban/receipt/v1``, ...) keeps a signature of one kind of object from
being replayed as another.

The node never holds an officer's or a department's private key: callers sign with a
:class:`Signer` they hold (a software key here; a hardware token or PKCS#11 module elsewhere).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import EnvelopeRejected
from ledger.sm2 import SM2_SM3, Sm2Signer, Sm2Sm3
from ledger.sm2 import check_public_key as check_sm2_public_key

ED25519_SHA256 = "ed25519-sha256"
# Suites the formats define; a node may implement only some of them.
DEFINED_SUITES = frozenset({ED25519_SHA256, SM2_SM3})


class UnsupportedSuite(EnvelopeRejected):
    reason = "unsupported_suite"


class BadSignature(EnvelopeRejected):
    reason = "bad_signature"


@runtime_checkable
class Signer(Protocol):
    """Something that signs with a private key the caller holds."""

    @property
    def suite(self) -> str: ...

    @property
    def public_key(self) -> bytes: ...

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


class Suite(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def digest_size(self) -> int: ...

    def digest(self, data: bytes) -> bytes: ...

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None: ...


@lru_cache(maxsize=4096)
def _ed25519_key(public_key: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public_key)


@dataclass(frozen=True)
class Ed25519Sha256:
    name: str = ED25519_SHA256
    digest_size: int = 32  # also the length of ``prev``

    def digest(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        """Raise :class:`BadSignature` unless ``signature`` is valid."""
        try:
            _ed25519_key(public_key).verify(signature, message)
        except (InvalidSignature, ValueError) as error:
            raise BadSignature("signature does not verify", field="signature") from error


_IMPLEMENTED: dict[str, Suite] = {ED25519_SHA256: Ed25519Sha256(), SM2_SM3: Sm2Sm3()}
# Suites a key may be generated in, with the software signer of each.
SOFTWARE_SIGNERS: dict[str, type[Ed25519Signer] | type[Sm2Signer]] = {}


def generate_signer(suite: str = ED25519_SHA256) -> SoftwareSigner:
    """A new software key of ``suite`` (:class:`UnsupportedSuite` for another name)."""
    if suite not in SOFTWARE_SIGNERS:
        raise UnsupportedSuite(f"no software keys of suite {suite!r}", field="suite")
    return SOFTWARE_SIGNERS[suite].generate()


def signer_from_seed(suite: str, seed: bytes) -> SoftwareSigner:
    """The software key of ``suite`` held as 32 private bytes (key files, demo keys)."""
    if suite not in SOFTWARE_SIGNERS:
        raise UnsupportedSuite(f"no software keys of suite {suite!r}", field="suite")
    return SOFTWARE_SIGNERS[suite].from_seed(seed)


# The suites this process accepts: all it implements, unless the node's crypto profile
# accepts only its own (``adapters/crypto_profile.py``).
_enabled: set[str] = set(_IMPLEMENTED)


def enable_suites(names: frozenset[str] | set[str]) -> None:
    """Accept exactly the suites ``names`` (of those implemented) in this process."""
    _enabled.clear()
    _enabled.update(name for name in names if name in _IMPLEMENTED)


def get_suite(name: object) -> Suite:
    """The implementation of suite ``name``, or :class:`UnsupportedSuite`."""
    if isinstance(name, str) and name in _enabled:
        return _IMPLEMENTED[name]
    if isinstance(name, str) and name in _IMPLEMENTED:
        raise UnsupportedSuite(
            f"suite {name!r} is not accepted by this node's crypto profile", field="suite"
        )
    # A name that is not text (a list, a map) is unknown, not a crash: it comes from bytes
    # anyone can send.
    if isinstance(name, str) and name in DEFINED_SUITES:
        raise UnsupportedSuite(f"suite {name!r} is defined but not enabled here", field="suite")
    raise UnsupportedSuite(f"unknown suite {name!r}", field="suite")


_PUBLIC_KEY_SIZES = {32: ED25519_SHA256, 65: SM2_SM3}


def suite_of_public_key(public_key: bytes) -> str:
    """The suite a raw public key belongs to, by its length (32: Ed25519, 65: SM2 04||X||Y):
    the two encodings never share a length."""
    if len(public_key) not in _PUBLIC_KEY_SIZES:
        raise UnsupportedSuite(
            f"a {len(public_key)}-byte public key belongs to no suite", field="public_key"
        )
    return _PUBLIC_KEY_SIZES[len(public_key)]


def check_public_key(suite: str, public_key: bytes) -> None:
    """Refuse a public key that is not a valid key of ``suite`` (a ``bad_signature`` error)."""
    get_suite(suite)
    if suite == SM2_SM3:
        check_sm2_public_key(public_key)
    elif len(public_key) != 32:
        raise BadSignature("an Ed25519 public key is 32 bytes", field="public_key")


def key_id(suite: str, public_key: bytes) -> str:
    """A key's id: first 16 bytes of the suite digest of ``suite || 0x00 || public key``, hex."""
    return get_suite(suite).digest(suite.encode() + b"\x00" + public_key)[:16].hex()


def signing_input(context: str, suite: Suite, content: bytes) -> bytes:
    """The bytes a signature covers: ``context || 0x00 || digest(content)``."""
    return context.encode("utf-8") + b"\x00" + suite.digest(content)


class Ed25519Signer:
    """A software Ed25519 key: for tests, demos and tools, never stored by the node."""

    suite = ED25519_SHA256

    def __init__(self, private_key: Ed25519PrivateKey):
        self._private_key = private_key
        self.public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id(ED25519_SHA256, self.public_key)

    @classmethod
    def generate(cls) -> Ed25519Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Ed25519Signer:
        """The key whose 32-byte private seed is ``seed`` (test vectors, demo keys)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def private_seed(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        return self._private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign(self, message: bytes) -> bytes:
        return self._private_key.sign(message)


SOFTWARE_SIGNERS.update({ED25519_SHA256: Ed25519Signer, SM2_SM3: Sm2Signer})
# A key held in software by its holder, of either suite.
SoftwareSigner = Ed25519Signer | Sm2Signer
