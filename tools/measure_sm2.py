"""Measure SM2 libraries from PyPI side by side (``docs/envelope.md`` §3.2): signatures and
verifications per second of one 49-byte signing input, signer ID 1234567812345678 where the
library lets it be set, with pyca/cryptography's Ed25519 as the same-run baseline.

    python tools/measure_sm2.py [--seconds 2]

Needs no Tongban module, so it runs in a scratch venv holding the candidates
(``pip install gmalglib gmssl-pyx tongsuopy cryptography``); a candidate not installed is
reported as such. Each figure is the best of three rounds (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

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
    "gmalglib": gmalglib_ops,
    "gmssl-pyx": gmssl_pyx_ops,
    "tongsuopy": tongsuopy_ops,
    "Ed25519 (pyca/cryptography, baseline)": ed25519_ops,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per figure (default 2)")
    args = parser.parse_args()
    print("| library | signer ID settable | signatures/s | verifications/s |")
    print("|---|---|---:|---:|")
    for name, make in CANDIDATES.items():
        try:
            sign, verify, settable = make()
        except ImportError:
            print(f"| {name} | not installed | | |")
            continue
        print(
            f"| {name} | {settable} | {rate(sign, args.seconds):,.0f} "
            f"| {rate(verify, args.seconds):,.0f} |"
        )


if __name__ == "__main__":
    main()
