"""A node's crypto profile (``TONGBAN_CRYPTO_PROFILE``): which suite its new keys use, which
cipher its vault encrypts with, and which suites it accepts from others (``docs/keys.md``).

- ``international``: new keys (the node key, ``keys generate``, the demo) ``ed25519-sha256``;
  vault AES-256-GCM;
- ``guomi``: new keys ``sm2-sm3`` (SM2 with SM3, signer ID 1234567812345678); vault SM4-GCM;
- both accept objects of both suites, unless ``TONGBAN_ACCEPT_FOREIGN_SUITES=false``: then only
  the profile's own suite, and an object of the other is refused ``unsupported_suite``. Suites
  are enabled per process (:func:`ledger.suites.enable_suites`): a process serves one node.

The profile and the node's own keys never disagree: ``tongban init`` takes the profile of the
region root's suite unless one is chosen, and refuses a chosen one of the other suite; a node
whose ``node.key`` is not of its profile's suite is refused when opened for writing and by
``tongban serve`` (:func:`check_node_key`), before it signs a receipt or a checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final, Literal

from adapters.keyfiles import NODE_KEY_FILE, key_file_suite
from adapters.settings import NODE_FILE, Settings
from adapters.vault_ciphers import AES_256_GCM, SM4_GCM
from ledger.sm2 import SM2_SM3, require_backend
from ledger.sm2_openssl import OpenSslSm2Unavailable
from ledger.suites import DEFINED_SUITES, ED25519_SHA256, enable_suites

INTERNATIONAL: Final = "international"
GUOMI: Final = "guomi"
PROFILE_ENV: Final = "TONGBAN_CRYPTO_PROFILE"
ProfileName = Literal["international", "guomi"]
# The profile whose own keys are of each suite.
_PROFILE_OF_SUITE: Final[dict[str, ProfileName]] = {ED25519_SHA256: INTERNATIONAL, SM2_SM3: GUOMI}


class CryptoUnavailable(ValueError):
    """The node accepts ``sm2-sm3`` and this machine's OpenSSL cannot do SM2."""


class ProfileMismatch(ValueError):
    """A node's keys are of one suite and its crypto profile makes the other's."""


def profile_of_suite(suite: str) -> ProfileName:
    """``guomi`` for ``sm2-sm3``, ``international`` for ``ed25519-sha256``."""
    return _PROFILE_OF_SUITE[suite]


def profile_origin(settings: Settings) -> str:
    """Where ``settings.crypto_profile`` came from, for error messages."""
    if PROFILE_ENV in os.environ:
        return f"{PROFILE_ENV}={os.environ[PROFILE_ENV]}"
    if (settings.data_dir / NODE_FILE).exists():
        return f"recorded in {settings.data_dir / NODE_FILE}"
    return "the default"


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
    """Enable the suites the profile accepts in this process; the profile.

    :class:`CryptoUnavailable` if the profile accepts ``sm2-sm3`` and OpenSSL 3's libcrypto
    cannot sign and verify SM2 here: refused at start, never a silent fallback."""
    profile = crypto_profile(settings)
    check_sm2_backend(profile)
    enable_suites(profile.accepted_suites)
    return profile


def check_sm2_backend(profile: CryptoProfile) -> None:
    """Refuse (:class:`CryptoUnavailable`) a profile accepting ``sm2-sm3`` on a machine whose
    libcrypto has no SM2 (``ledger.sm2`` signs and verifies through OpenSSL 3)."""
    if SM2_SM3 not in profile.accepted_suites:
        return
    try:
        require_backend()
    except OpenSslSm2Unavailable as error:
        advice = (
            "install it, or set TONGBAN_ACCEPT_FOREIGN_SUITES=false to refuse sm2-sm3 objects"
            if profile.key_suite != SM2_SM3
            else "install it: a guomi node signs with SM2"
        )
        raise CryptoUnavailable(
            f"crypto profile {profile.name} accepts sm2-sm3, which needs OpenSSL 3's libcrypto "
            f"with SM2 and SM3 (Debian: libssl3): {error}; {advice}"
        ) from error


def check_node_key(settings: Settings) -> None:
    """Refuse (:class:`ProfileMismatch`) a ``node.key`` whose suite is not the profile's.

    The node key signs every receipt and checkpoint: a ``guomi`` node with an Ed25519 node key
    (or an ``international`` one with an SM2 key) would sign in a suite its profile does not
    claim. A missing key is no mismatch: the node makes one of its profile's suite."""
    path = settings.data_dir / NODE_KEY_FILE
    if not path.exists():
        return
    suite = key_file_suite(path)
    profile = crypto_profile(settings)
    if suite != profile.key_suite:
        made = profile_of_suite(suite)
        raise ProfileMismatch(
            f"{path} is an {suite} key, but this node's crypto profile is {profile.name} "
            f"({profile_origin(settings)}), whose node key is {profile.key_suite}: the node "
            f"was made {made}; set {PROFILE_ENV}={made} (or unset it), or, to move the node "
            f"to {profile.name}, move {NODE_KEY_FILE} aside and run `tongban init "
            f"--crypto-profile {profile.name}` with the region's current root key, which "
            f"must then be {profile.key_suite} (docs/keys.md §8)"
        )
