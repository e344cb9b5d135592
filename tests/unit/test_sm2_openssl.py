"""The OpenSSL backend of the sm2-sm3 suite (ledger/sm2_openssl.py): agreement with gmalglib
both ways, threads sharing cached keys, keys freed, DER conversion, and a machine whose
libcrypto has no SM2 refused at start."""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from gmalglib.sm2 import SM2

from adapters.crypto_profile import CryptoUnavailable, apply_crypto_profile
from adapters.settings import Settings
from ledger import sm2_openssl
from ledger.errors import LedgerError
from ledger.sm2 import (
    SM2_SIGNER_ID,
    N,
    Sm2Signer,
    Sm2Sm3,
    _verifier,
    check_signature,
    message_digest,
    sm3,
)
from ledger.sm2_openssl import PrivateKey, der_signature, raw_signature
from ledger.suites import enable_suites


def test_openssl_and_gmalglib_agree_both_ways() -> None:
    for size in (0, 1, 31, 64, 357, 1000):
        signer = Sm2Signer.generate()  # gmalglib signs
        message = os.urandom(size)
        theirs = signer.sign(message)
        Sm2Sm3().verify(signer.public_key, message, theirs)  # OpenSSL verifies gmalglib's
        with pytest.raises(LedgerError):
            Sm2Sm3().verify(signer.public_key, message + b"\x00", theirs)
        openssl = PrivateKey(signer.private_seed(), SM2_SIGNER_ID)
        assert openssl.public_key == signer.public_key  # one public key from d
        ours = raw_signature(openssl.sign(message))  # OpenSSL, its own nonce
        check_signature(ours)
        assert SM2(pk=signer.public_key, uid=SM2_SIGNER_ID).verify(message, ours)
        assert not SM2(pk=signer.public_key, uid=b"").verify(message, ours)
        Sm2Sm3().verify(signer.public_key, message, ours)


def test_z_a_is_gmalglibs() -> None:
    signer = Sm2Signer.generate()
    entity = bytes(SM2(pk=signer.public_key, uid=SM2_SIGNER_ID).get_entity_info())
    assert message_digest(signer.public_key, b"M") == sm3(entity + b"M")


def test_the_library_handle_is_a_cdll_which_releases_the_gil() -> None:
    # ctypes.PyDLL would hold the GIL during each call; CDLL releases it.
    library = sm2_openssl.libcrypto().lib
    assert type(library) is ctypes.CDLL


def test_threads_share_cached_keys_and_each_gets_its_own_answer() -> None:
    signers = [Sm2Signer.generate() for _ in range(3)]
    message = b"tongban/event/v1\x00" + bytes(32)
    signatures = [signer.sign(message) for signer in signers]

    def check(index: int) -> bool:
        signer = signers[index % 3]
        signature = signatures[index % 3] if index % 2 else signatures[(index + 1) % 3]
        try:
            Sm2Sm3().verify(signer.public_key, message, signature)
        except LedgerError:
            return False
        return True

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(check, range(120)))
    assert results == [index % 2 == 1 for index in range(120)]
    keys = [PrivateKey(signer.private_seed(), SM2_SIGNER_ID) for signer in signers]
    with ThreadPoolExecutor(4) as pool:  # OpenSSL signing in threads: every signature verifies
        made = list(pool.map(lambda index: raw_signature(keys[index % 3].sign(message)), range(30)))
    for index, signature in enumerate(made):
        Sm2Sm3().verify(signers[index % 3].public_key, message, signature)
    assert len(set(made)) == 30


def test_a_key_dropped_from_the_cache_while_in_use_still_verifies() -> None:
    signer = Sm2Signer.generate()
    message = b"m"
    held = _verifier(signer.public_key)
    _verifier.cache_clear()
    assert held.verify(message, der_signature(signer.sign(message)))
    assert _verifier(signer.public_key) is not held


def test_parsed_keys_are_freed_when_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    library = sm2_openssl.libcrypto().lib
    real_free = library.EVP_PKEY_free
    freed: list[int] = []

    def free(pkey: Any) -> None:
        freed.append(pkey)
        real_free(pkey)

    monkeypatch.setattr(library, "EVP_PKEY_free", free)
    private = PrivateKey(Sm2Signer.generate().private_seed(), SM2_SIGNER_ID)
    public = sm2_openssl.PublicKey(private.public_key, SM2_SIGNER_ID)
    pointers = [pointer for pointer in (public._pkey, private._pkey) if pointer]
    assert len(pointers) == 2
    assert public.verify(b"m", private.sign(b"m"))
    del public, private
    assert sorted(freed) == sorted(pointers)


@pytest.mark.parametrize(
    "signature",
    [
        bytes(31) + b"\x01" + bytes(31) + b"\x02",  # one-byte r and s
        (N - 1).to_bytes(32, "big") + (2**255).to_bytes(32, "big"),  # high bits: 33-byte INTEGERs
        (0x7F << 248).to_bytes(32, "big") + (1).to_bytes(32, "big"),
    ],
)
def test_der_round_trip(signature: bytes) -> None:
    der = der_signature(signature)
    assert raw_signature(der) == signature
    assert len(der) == 2 + sum(2 + len(part) for part in _integers(der))


def _integers(der: bytes) -> list[bytes]:
    first = der[4 : 4 + der[3]]
    second = der[6 + der[3] :]
    return [first, second]


@pytest.mark.parametrize(
    "der",
    [
        b"",
        b"\x31\x06\x02\x01\x01\x02\x01\x01",  # SET, not SEQUENCE
        b"\x30\x07\x02\x01\x01\x02\x01\x01",  # length says 7, holds 6
        b"\x30\x06\x02\x01\x81\x02\x01\x01",  # negative r
        b"\x30\x06\x02\x01\x01\x04\x01\x01",  # OCTET STRING s
        b"\x30\x09\x02\x01\x01\x02\x01\x01\x02\x01\x01",  # a third INTEGER
        b"\x30\x26\x02\x21\x01" + bytes(32) + b"\x02\x01\x01",  # r of 33 significant bytes
    ],
)
def test_raw_signature_refuses_what_is_not_a_der_signature(der: bytes) -> None:
    with pytest.raises(ValueError, match="not a DER SM2 signature"):
        raw_signature(der)


def test_openssl_signs_with_the_smallest_and_largest_private_keys() -> None:
    for d in (1, N - 2):
        key = PrivateKey(d.to_bytes(32, "big"), SM2_SIGNER_ID)
        assert key.public_key == bytes(SM2.get_pk(d.to_bytes(32, "big")))
        Sm2Sm3().verify(key.public_key, b"x", raw_signature(key.sign(b"x")))


def test_a_machine_without_sm2_in_libcrypto_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sm2_openssl, "_loaded", None)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libcrypto-without-sm2.so.3")
    try:
        with pytest.raises(CryptoUnavailable, match=r"libcrypto-without-sm2\.so\.3") as refused:
            apply_crypto_profile(Settings(crypto_profile="guomi"))
        assert "a guomi node signs with SM2" in str(refused.value)
        with pytest.raises(CryptoUnavailable, match="TONGBAN_ACCEPT_FOREIGN_SUITES=false"):
            apply_crypto_profile(Settings())  # international, accepting sm2-sm3 objects
        # An international node refusing foreign suites does not need it.
        profile = apply_crypto_profile(Settings(accept_foreign_suites=False))
        assert profile.accepted_suites == {"ed25519-sha256"}
    finally:
        enable_suites({"ed25519-sha256", "sm2-sm3"})
