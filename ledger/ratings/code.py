"""The one-time rating code (评价码) printed on the receipt slip (``docs/envelope.md`` §5.5).

The applicant holds no key, so a rating made with the code is signed by the node; the code is
what binds that signature to the applicant. The officer's client draws the code when it signs
``received`` and prints it on the slip; the ledger never holds it:

- ``received.body.rating_code`` holds the **commitment** ``SHA-256(proof)``;
- a node-signed ``rated`` step holds the **proof**
  ``SHA-256("tongban/rating-code/v1" || 00 || case id || 00 || code)``, which only someone who
  had the code could have given the node, and which any verifier checks against the
  commitment. One rating per case, so the code is used once.

A code is 16 characters of Crockford base32 (80 random bits), printed in groups of four.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

from ledger.errors import MalformedEncoding

CODE_CONTEXT = b"tongban/rating-code/v1"
CODE_LENGTH = 16
# Crockford's base32: no I, L, O, U, so a code read aloud or typed is hard to get wrong.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READ_AS = {"O": "0", "I": "1", "L": "1"}


def new_rating_code() -> str:
    """A fresh code, ``XXXX-XXXX-XXXX-XXXX``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalize_code(text: str, *, field: str = "code") -> str:
    """The 16 characters of a code as typed: case, hyphens and spaces ignored, O read as 0 and
    I, L as 1. Anything else is refused (``malformed``, naming ``field``)."""
    cleaned = "".join(ch for ch in text.upper() if ch not in "- ")
    cleaned = "".join(_READ_AS.get(ch, ch) for ch in cleaned)
    if len(cleaned) != CODE_LENGTH or any(ch not in ALPHABET for ch in cleaned):
        raise MalformedEncoding(
            f"{field} must be {CODE_LENGTH} characters of Crockford base32 (as printed on the "
            "receipt slip, hyphens optional)",
            field=field,
        )
    return cleaned


def code_proof(case_id: uuid.UUID, code: str) -> bytes:
    """What a node-signed ``rated`` step carries: proof that the rater had the code."""
    normalized = normalize_code(code)
    data = CODE_CONTEXT + b"\x00" + str(case_id).encode() + b"\x00" + normalized.encode()
    return hashlib.sha256(data).digest()


def code_commitment_of_proof(proof: bytes) -> bytes:
    return hashlib.sha256(proof).digest()


def code_commitment(case_id: uuid.UUID, code: str) -> bytes:
    """What ``received.body.rating_code`` carries."""
    return code_commitment_of_proof(code_proof(case_id, code))
