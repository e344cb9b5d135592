"""A node's crypto profile (``TONGBAN_CRYPTO_PROFILE``): which suite its new keys use, which
cipher its vault encrypts with, and which suites it accepts from others (``docs/keys.md``).

- ``international``: new keys (the node key, ``keys generate``, the demo) ``ed25519-sha256``;
  vault AES-256-GCM;
- ``guomi``: new keys ``sm2-sm3`` (SM2 with SM3, signer ID 1234567812345678); vault SM4-GCM;
- both accept objects of both suites, unless ``TONGBAN_ACCEPT_FOREIGN_SUITES=false``: then only
  the profile's own suite, and an object of the other is refused ``unsupported_suite``. Suites
  are enabled per process (:func:`ledger.suites.enable_suites`): a process serves one node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from adapters.settings import Settings
from adapters.vault_ciphers import AES_256_GCM, SM4_GCM
from ledger.sm2 import SM2_SM3
from ledger.suites import DEFINED_SUITES, ED25519_SHA256, enable_suites

INTERNATIONAL: Final = "international"
GUOMI: Final = "guomi"


@dataclass(frozen=True)
class CryptoProfile:
    name: str
    key_suite: str
    vault_cipher: str
    accepted_suites: frozenset[str]


def crypto_profile(settings: Settings) -> CryptoProfile:
    guomi = settings.crypto_profile == GUOMI
    own = SM2_SM3 if guomi else ED25519_SHA256
    return CryptoProfile(
        name=settings.crypto_profile,
        key_suite=own,
        vault_cipher=SM4_GCM if guomi else AES_256_GCM,
        accepted_suites=DEFINED_SUITES if settings.accept_foreign_suites else frozenset({own}),
    )


def apply_crypto_profile(settings: Settings) -> CryptoProfile:
    """Enable the suites the profile accepts in this process; the profile."""
    profile = crypto_profile(settings)
    enable_suites(profile.accepted_suites)
    return profile
