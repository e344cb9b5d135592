"""Measure SM2 libraries side by side (``docs/envelope.md`` §3.2): signatures and
verifications per second of one 49-byte signing input, signer ID 1234567812345678 where the
library lets it be set, with pyca/cryptography's Ed25519 as the same-run baseline. Verification
is measured in one thread and in two threads at once (total of both): a library that holds the
GIL gets no more from two threads than from one.

    python tools/measure_sm2.py [--seconds 2]

Run from the repository's root: the OpenSSL candidate is Tongban's own ctypes backend
(``ledger/sm2_openssl.py``, OpenSSL 3's libcrypto); the others come from PyPI
(``pip install gmalglib gmssl-pyx tongsuopy cryptography``); a candidate not installed is
reported as such. Each figure is the best of three rounds (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

SIGNER_ID = b"1234567812345678"
MESSAGE = b"tongban/event/v1\x00" + os.urandom(32)


def rate(operation: Callable[[], object], seconds: float) -> float:
    best = 0.0
    for _ in range(3):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            for _ in range(20):
                operation()
            count += 20
        best = max(best, count / elapsed)
    return best


def rate_2_threads(operation: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Operations per second of two threads running ``operation`` at once (best of three), and
    the process's CPU time over wall time in that round: above 1 only if both threads ran at
    the same moment, which a library holding the GIL never allows."""

    def run(counts: list[int], slot: int, start: float) -> None:
        while time.perf_counter() - start < seconds / 3:
            for _ in range(20):
                operation()
            counts[slot] += 20

    best, cpu_share = 0.0, 0.0
    for _ in range(3):
        counts = [0, 0]
        cpu = time.process_time()
        start = time.perf_counter()
        threads = [threading.Thread(target=run, args=(counts, slot, start)) for slot in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - start
        if sum(counts) / wall > best:
            best, cpu_share = sum(counts) / wall, (time.process_time() - cpu) / wall
    return best, cpu_share


def openssl_ops() -> tuple[Callable[[], object], Callable[[], object], str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ledger.sm2_openssl import PrivateKey, PublicKey

    signer = PrivateKey(os.urandom(31).rjust(32, b"\x00"), SIGNER_ID)
    verifier = PublicKey(signer.public_key, SIGNER_ID)
    signature = signer.sign(MESSAGE)
    assert verifier.verify(MESSAGE, signature)
    return (lambda: signer.sign(MESSAGE)), (lambda: verifier.verify(MESSAGE, signature)), "yes"


def gmalglib_ops() -> tuple[Callable[[], object], Callable[[], object], str]:
    from gmalglib.sm2 import SM2

    private_key, public_key = SM2(uid=SIGNER_ID).generate_keypair()
    signer, verifier = SM2(sk=private_key, uid=SIGNER_ID), SM2(pk=public_key, uid=SIGNER_ID)
    signature = signer.sign(MESSAGE)
    assert verifier.verify(MESSAGE, signature)
    return (lambda: signer.sign(MESSAGE)), (lambda: verifier.verify(MESSAGE, signature)), "yes"


def gmssl_pyx_ops() -> tuple[Callable[[], object], Callable[[], object], str]:
    import gmssl_pyx

    public_key, private_key = gmssl_pyx.sm2_key_generate()
    signature = gmssl_pyx.sm2_sign(private_key, public_key, MESSAGE, signer_id=SIGNER_ID)
    assert gmssl_pyx.sm2_verify(public_key, MESSAGE, signature, signer_id=SIGNER_ID)
    return (
        lambda: gmssl_pyx.sm2_sign(private_key, public_key, MESSAGE, signer_id=SIGNER_ID),
        lambda: gmssl_pyx.sm2_verify(public_key, MESSAGE, signature, signer_id=SIGNER_ID),
        "yes",
    )


def tongsuopy_ops() -> tuple[Callable[[], object], Callable[[], object], str]:
    from tongsuopy.crypto import hashes
    from tongsuopy.crypto.asymciphers import ec

    key = ec.generate_private_key(ec.SM2())
    algorithm = ec.ECDSA(hashes.SM3())
    signature = key.sign(MESSAGE, algorithm)
    public = key.public_key()
    public.verify(signature, MESSAGE, algorithm)
    return (
        lambda: key.sign(MESSAGE, algorithm),
        lambda: public.verify(signature, MESSAGE, algorithm),
        "no (library default only)",
    )


def ed25519_ops() -> tuple[Callable[[], object], Callable[[], object], str]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    signature, public = key.sign(MESSAGE), key.public_key()
    return (lambda: key.sign(MESSAGE)), (lambda: public.verify(signature, MESSAGE)), "n/a"


CANDIDATES = {
    "OpenSSL 3 libcrypto (ctypes, ledger/sm2_openssl.py)": openssl_ops,
    "gmalglib": gmalglib_ops,
    "gmssl-pyx": gmssl_pyx_ops,
    "tongsuopy": tongsuopy_ops,
    "Ed25519 (pyca/cryptography, baseline)": ed25519_ops,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per figure (default 2)")
    args = parser.parse_args()
    print(
        "| library | signer ID settable | signatures/s | verifications/s "
        "| verifications/s, 2 threads | CPU/wall, 2 threads |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for name, make in CANDIDATES.items():
        try:
            sign, verify, settable = make()
        except (ImportError, OSError):
            print(f"| {name} | not installed | | | | |")
            continue
        threaded, cpu_share = rate_2_threads(verify, args.seconds)
        print(
            f"| {name} | {settable} | {rate(sign, args.seconds):,.0f} "
            f"| {rate(verify, args.seconds):,.0f} | {threaded:,.0f} | {cpu_share:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
