"""SM2 with SM3 through OpenSSL 3's libcrypto, called with ctypes.

The backend of :mod:`ledger.sm2` (``docs/envelope.md`` §3.2 says why this one). ctypes releases
the GIL for the whole of every foreign call, so verifications and signatures in several threads
run on several cores; gmalglib and gmssl-pyx hold it.

Only the bytes :mod:`ledger.sm2` has already checked reach this module (65-byte point on the
curve, 64-byte ``r || s`` in range): it does the OpenSSL calls and nothing else. Every call sets
the signer ID explicitly with ``EVP_PKEY_CTX_set1_id`` (OpenSSL 3's default ID is empty).

Objects: :class:`PublicKey` holds one parsed ``EVP_PKEY`` (from the SubjectPublicKeyInfo of the
point); :class:`PrivateKey` holds one from an RFC 5915 ``ECPrivateKey`` on the SM2 curve. Each
frees its ``EVP_PKEY`` when the Python object goes; a thread using one holds a reference to it,
so a cache may drop it at any time. Nonces are OpenSSL's (its DRBG, seeded by the OS).

:func:`libcrypto` loads the library once and checks that it signs and verifies SM2 with SM3 and
an explicit ID; if it cannot, :class:`OpenSslSm2Unavailable` says so (there is no fallback).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from typing import Final

SPKI_PREFIX: Final = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
# [0] { OID sm2 1.2.156.10197.1.301 }: the curve of an ECPrivateKey.
_CURVE_PARAMETER: Final = bytes.fromhex("a00a06082a811ccf5501822d")
_MAX_DER_SIGNATURE: Final = 72

_vp = ctypes.c_void_p
_bytes_p = ctypes.c_char_p


class OpenSslSm2Unavailable(RuntimeError):
    """libcrypto is missing, not OpenSSL 3, or has no SM2 / SM3."""


class _LibCrypto:
    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        lib.OpenSSL_version_num.argtypes = []
        lib.d2i_PUBKEY.restype = _vp
        lib.d2i_PUBKEY.argtypes = [_vp, ctypes.POINTER(_bytes_p), ctypes.c_long]
        lib.d2i_AutoPrivateKey.restype = _vp
        lib.d2i_AutoPrivateKey.argtypes = [_vp, ctypes.POINTER(_bytes_p), ctypes.c_long]
        lib.EVP_PKEY_is_a.restype = ctypes.c_int
        lib.EVP_PKEY_is_a.argtypes = [_vp, _bytes_p]
        lib.EVP_PKEY_free.restype = None
        lib.EVP_PKEY_free.argtypes = [_vp]
        lib.EVP_PKEY_get_octet_string_param.restype = ctypes.c_int
        lib.EVP_PKEY_get_octet_string_param.argtypes = [
            _vp,
            _bytes_p,
            _bytes_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_size_t),
        ]
        lib.EVP_MD_fetch.restype = _vp
        lib.EVP_MD_fetch.argtypes = [_vp, _bytes_p, _bytes_p]
        lib.EVP_MD_CTX_new.restype = _vp
        lib.EVP_MD_CTX_new.argtypes = []
        lib.EVP_MD_CTX_free.restype = None
        lib.EVP_MD_CTX_free.argtypes = [_vp]
        lib.EVP_MD_CTX_set_pkey_ctx.restype = None
        lib.EVP_MD_CTX_set_pkey_ctx.argtypes = [_vp, _vp]
        lib.EVP_PKEY_CTX_new_from_pkey.restype = _vp
        lib.EVP_PKEY_CTX_new_from_pkey.argtypes = [_vp, _vp, _bytes_p]
        lib.EVP_PKEY_CTX_free.restype = None
        lib.EVP_PKEY_CTX_free.argtypes = [_vp]
        lib.EVP_PKEY_CTX_set1_id.restype = ctypes.c_int
        lib.EVP_PKEY_CTX_set1_id.argtypes = [_vp, _bytes_p, ctypes.c_int]
        for init in (lib.EVP_DigestVerifyInit, lib.EVP_DigestSignInit):
            init.restype = ctypes.c_int
            init.argtypes = [_vp, _vp, _vp, _vp, _vp]
        lib.EVP_DigestVerify.restype = ctypes.c_int
        lib.EVP_DigestVerify.argtypes = [_vp, _bytes_p, ctypes.c_size_t, _bytes_p, ctypes.c_size_t]
        lib.EVP_DigestSign.restype = ctypes.c_int
        lib.EVP_DigestSign.argtypes = [
            _vp,
            _bytes_p,
            ctypes.POINTER(ctypes.c_size_t),
            _bytes_p,
            ctypes.c_size_t,
        ]
        lib.ERR_clear_error.restype = None
        lib.ERR_clear_error.argtypes = []
        if lib.OpenSSL_version_num() < 0x30000000:
            raise OpenSslSm2Unavailable("libcrypto is older than OpenSSL 3")
        # Fetched once: an EVP_MD from EVP_MD_fetch is shared by every thread, never freed.
        self.sm3 = lib.EVP_MD_fetch(None, b"SM3", None)
        if not self.sm3:
            lib.ERR_clear_error()
            raise OpenSslSm2Unavailable("libcrypto has no SM3")

    def digest_context(self, pkey: int, signer_id: bytes, *, sign: bool) -> tuple[int, int]:
        """(EVP_MD_CTX, EVP_PKEY_CTX) initialised for SM3 under ``signer_id``; the caller
        frees both with :meth:`free_context` (the MD context does not own the other)."""
        lib = self.lib
        md_ctx = lib.EVP_MD_CTX_new()
        pkey_ctx = lib.EVP_PKEY_CTX_new_from_pkey(None, pkey, None)
        if not md_ctx or not pkey_ctx:
            self.free_context(md_ctx, pkey_ctx)
            raise MemoryError("OpenSSL could not allocate an SM2 context")
        init = lib.EVP_DigestSignInit if sign else lib.EVP_DigestVerifyInit
        if lib.EVP_PKEY_CTX_set1_id(pkey_ctx, signer_id, len(signer_id)) != 1:
            self.free_context(md_ctx, pkey_ctx)
            raise OpenSslSm2Unavailable("OpenSSL refused the SM2 signer ID")
        lib.EVP_MD_CTX_set_pkey_ctx(md_ctx, pkey_ctx)
        if init(md_ctx, None, self.sm3, None, pkey) != 1:
            self.free_context(md_ctx, pkey_ctx)
            raise OpenSslSm2Unavailable("OpenSSL could not start an SM2 with SM3 operation")
        return md_ctx, pkey_ctx

    def free_context(self, md_ctx: int | None, pkey_ctx: int | None) -> None:
        self.lib.EVP_MD_CTX_free(md_ctx)
        self.lib.EVP_PKEY_CTX_free(pkey_ctx)
        self.lib.ERR_clear_error()


_lock = threading.Lock()
_loaded: _LibCrypto | None = None


def libcrypto() -> _LibCrypto:
    """OpenSSL 3's libcrypto, loaded and checked once per process."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is None:
            name = ctypes.util.find_library("crypto") or "libcrypto.so.3"
            try:
                loaded = _LibCrypto(ctypes.CDLL(name))
            except (OSError, AttributeError) as error:
                raise OpenSslSm2Unavailable(
                    f"cannot load OpenSSL 3's libcrypto ({name}): {error}"
                ) from error
            _self_test(loaded)
            _loaded = loaded
    return _loaded


def _self_test(crypto: _LibCrypto) -> None:
    """Sign and verify once with SM2, SM3 and an explicit ID; a wrong message must fail."""
    signer_id = b"1234567812345678"
    try:
        private = PrivateKey((1).to_bytes(32, "big"), signer_id, crypto)
        public = PublicKey(private.public_key, signer_id, crypto)
        signature = private.sign(b"tongban")
        works = public.verify(b"tongban", signature) and not public.verify(b"tongbaN", signature)
    except (ValueError, RuntimeError) as error:
        raise OpenSslSm2Unavailable(f"libcrypto cannot sign or verify SM2: {error}") from error
    if not works:
        raise OpenSslSm2Unavailable("libcrypto's SM2 verification failed its self-test")


class PublicKey:
    """An SM2 public key (65 bytes ``04 || X || Y``, already checked) parsed once."""

    def __init__(
        self, public_key: bytes, signer_id: bytes, crypto: _LibCrypto | None = None
    ) -> None:
        self._crypto = crypto or libcrypto()
        self._signer_id = signer_id
        spki = SPKI_PREFIX + public_key
        cursor = _bytes_p(spki)
        self._pkey: int | None = self._crypto.lib.d2i_PUBKEY(None, ctypes.byref(cursor), len(spki))
        if not self._pkey or self._crypto.lib.EVP_PKEY_is_a(self._pkey, b"SM2") != 1:
            self._crypto.lib.ERR_clear_error()
            raise ValueError("OpenSSL did not read the SM2 public key")

    def verify(self, message: bytes, der_signature: bytes) -> bool:
        md_ctx, pkey_ctx = self._crypto.digest_context(self._pkey or 0, self._signer_id, sign=False)
        try:
            result: int = self._crypto.lib.EVP_DigestVerify(
                md_ctx, der_signature, len(der_signature), message, len(message)
            )
        finally:
            self._crypto.free_context(md_ctx, pkey_ctx)
        return result == 1

    def __del__(self) -> None:
        pkey, self._pkey = getattr(self, "_pkey", None), None
        if pkey:
            self._crypto.lib.EVP_PKEY_free(pkey)


class PrivateKey:
    """An SM2 private key d (32 bytes, 1 ≤ d ≤ n − 2, already checked) held by OpenSSL."""

    def __init__(
        self, private_key: bytes, signer_id: bytes, crypto: _LibCrypto | None = None
    ) -> None:
        self._crypto = crypto or libcrypto()
        self._signer_id = signer_id
        body = b"\x02\x01\x01\x04\x20" + private_key + _CURVE_PARAMETER
        der = b"\x30" + bytes([len(body)]) + body
        cursor = _bytes_p(der)
        lib = self._crypto.lib
        self._pkey: int | None = lib.d2i_AutoPrivateKey(None, ctypes.byref(cursor), len(der))
        if not self._pkey or lib.EVP_PKEY_is_a(self._pkey, b"SM2") != 1:
            lib.ERR_clear_error()
            raise ValueError("OpenSSL did not read the SM2 private key")
        point = ctypes.create_string_buffer(65)
        size = ctypes.c_size_t(0)
        if lib.EVP_PKEY_get_octet_string_param(self._pkey, b"pub", point, 65, size) != 1:
            lib.ERR_clear_error()
            raise ValueError("OpenSSL did not derive the SM2 public key")
        self.public_key = point.raw[: size.value]

    def sign(self, message: bytes) -> bytes:
        """The DER signature (``SEQUENCE { INTEGER r, INTEGER s }``) of ``message``."""
        md_ctx, pkey_ctx = self._crypto.digest_context(self._pkey or 0, self._signer_id, sign=True)
        out = ctypes.create_string_buffer(_MAX_DER_SIGNATURE)
        size = ctypes.c_size_t(_MAX_DER_SIGNATURE)
        try:
            result = self._crypto.lib.EVP_DigestSign(
                md_ctx, out, ctypes.byref(size), message, len(message)
            )
        finally:
            self._crypto.free_context(md_ctx, pkey_ctx)
        if result != 1:
            raise RuntimeError("OpenSSL could not make an SM2 signature")
        return out.raw[: size.value]

    def __del__(self) -> None:
        pkey, self._pkey = getattr(self, "_pkey", None), None
        if pkey:
            self._crypto.lib.EVP_PKEY_free(pkey)


def der_signature(signature: bytes) -> bytes:
    """The DER ``SEQUENCE { INTEGER r, INTEGER s }`` of a 64-byte ``r || s``."""

    def integer(value: bytes) -> bytes:
        value = value.lstrip(b"\x00") or b"\x00"
        if value[0] & 0x80:
            value = b"\x00" + value
        return b"\x02" + bytes([len(value)]) + value

    body = integer(signature[:32]) + integer(signature[32:])
    return b"\x30" + bytes([len(body)]) + body


def raw_signature(der: bytes) -> bytes:
    """The 64-byte ``r || s`` of a DER signature OpenSSL made; ValueError if it is not
    exactly ``SEQUENCE { INTEGER r, INTEGER s }`` with two positive integers of ≤ 32 bytes."""
    values: list[int] = []
    if len(der) < 8 or der[0] != 0x30 or der[1] != len(der) - 2:
        raise ValueError("not a DER SM2 signature")
    at = 2
    for _ in range(2):
        if at + 2 > len(der) or der[at] != 0x02:
            raise ValueError("not a DER SM2 signature")
        size = der[at + 1]
        value = der[at + 2 : at + 2 + size]
        if size == 0 or len(value) != size or value[0] & 0x80 or len(value.lstrip(b"\x00")) > 32:
            raise ValueError("not a DER SM2 signature")
        values.append(int.from_bytes(value, "big"))
        at += 2 + size
    if at != len(der):
        raise ValueError("not a DER SM2 signature")
    return values[0].to_bytes(32, "big") + values[1].to_bytes(32, "big")
