"""Generate the login-proof test vectors in ``tests/vectors/login/`` (``docs/login.md``).

    .venv/bin/python tools/make_login_vectors.py            # (re)write the vector files
    .venv/bin/python tools/make_login_vectors.py --check    # exit 1 if a file would change

The officer is the envelope vectors' (``tests/vectors/envelope/``: officer ``rs-001`` of body
``510104-RS``, certified by record ``key-officer-certified``), so a verifier rebuilds the key
registry from those records first. Every key, nonce and time is fixed and Ed25519 signatures
are deterministic: the output is the same byte for byte on every run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script too

from ledger import canonical
from ledger.envelope import EVENT_CONTEXT, open_signed, seal
from ledger.login import LOGIN_CONTEXT, Challenge, build_login, login_signing_input
from ledger.suites import Ed25519Signer, get_suite, signing_input
from tools import vectorkit
from tools.vectorkit import seed, signer_json, to_json

OUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "login"

SECOND = 1_000_000
ISSUED_AT = 1_767_232_800_000_000  # 2026-01-01T02:00:00Z, after the officer's certification
ORIGIN = "https://tongban.sc.gov.example:8443"
BODY_ID = "510104-RS"
OFFICER_ID = "rs-001"
OFFICER_SEED = seed("tongban-vector-officer")
OTHER_SEED = seed("tongban-vector-officer-laptop")
OFFICER = Ed25519Signer.from_seed(OFFICER_SEED)
CHALLENGE = Challenge(
    origin=ORIGIN,
    nonce=bytes(range(0xA0, 0xB0)),
    issued_at=ISSUED_AT,
    expires_at=ISSUED_AT + 120 * SECOND,
)
CHECK = {"origin": ORIGIN, "now": ISSUED_AT + 5 * SECOND}


def _content(**change: Any) -> dict[str, Any]:
    content = {
        "ctx": LOGIN_CONTEXT,
        "origin": CHALLENGE.origin,
        "nonce": CHALLENGE.nonce,
        "issued_at": CHALLENGE.issued_at,
        "expires_at": CHALLENGE.expires_at,
        "body_id": BODY_ID,
        "officer_id": OFFICER_ID,
    }
    content.update(change)
    return {key: value for key, value in content.items() if value is not None}


def _negative(name: str, description: str, raw: bytes, reason: str, **check: Any) -> dict[str, Any]:
    return {
        "name": name,
        "valid": False,
        "kind": "login",
        "context": LOGIN_CONTEXT,
        "description": description,
        "signer": signer_json("officer", OFFICER_SEED),
        "proof": raw.hex(),
        "check": {**CHECK, **check},
        "reason": reason,
    }


def _resigned_with(signer: Ed25519Signer, content: dict[str, Any], context: str) -> bytes:
    """``content`` signed by ``signer`` but naming the officer's kid (a forged signature)."""
    full = {**content, "v": 1, "suite": OFFICER.suite, "kid": OFFICER.key_id}
    content_bytes = canonical.encode(full)
    signature = signer.sign(signing_input(context, get_suite(OFFICER.suite), content_bytes))
    return canonical.encode([content_bytes, signature])


def all_vectors() -> dict[str, dict[str, Any]]:
    raw = build_login(CHALLENGE, OFFICER, body_id=BODY_ID, officer_id=OFFICER_ID)
    signed = open_signed(raw, context=LOGIN_CONTEXT)
    valid = {
        "name": "login-valid",
        "valid": True,
        "kind": "login",
        "context": LOGIN_CONTEXT,
        "description": "Officer rs-001 of body 510104-RS answers the challenge below. Rebuild "
        "the key registry from tests/vectors/envelope/key-*.json, then verify the proof as the "
        "node at check.origin at time check.now.",
        "signer": signer_json("officer", OFFICER_SEED),
        "challenge": CHALLENGE.as_json(),
        "check": CHECK,
        "content": to_json(signed.content),
        "expected": {
            "content": signed.content_bytes.hex(),
            "signing_input": login_signing_input(raw).hex(),
            "signature": signed.signature.hex(),
            "proof": raw.hex(),
        },
    }
    event_shaped = seal({**_content(), "ctx": EVENT_CONTEXT}, OFFICER)
    negatives = [
        _negative(
            "login-wrong-origin",
            "The valid proof, presented to a node at another origin.",
            raw,
            "wrong_origin",
            origin="https://tongban.js.gov.example",
        ),
        _negative(
            "login-expired",
            "The valid proof, presented when the challenge has expired (now = expires_at).",
            raw,
            "challenge_expired",
            now=CHALLENGE.expires_at,
        ),
        _negative(
            "login-event-context",
            "The login fields signed under tongban/event/v1: the signing input an event's "
            "context gives is never a login's.",
            event_shaped,
            "wrong_context",
        ),
        _negative(
            "login-short-nonce",
            "A nonce of 15 bytes (at least 16 are required).",
            seal(_content(nonce=CHALLENGE.nonce[:15]), OFFICER),
            "malformed",
        ),
        _negative(
            "login-long-lifetime",
            "expires_at more than five minutes after issued_at.",
            seal(_content(expires_at=ISSUED_AT + 301 * SECOND), OFFICER),
            "malformed",
        ),
        _negative(
            "login-unknown-field",
            "An extra field (a login proof holds exactly the fields of docs/login.md §2).",
            seal(_content(case="00000000-0000-4000-8000-000000000000"), OFFICER),
            "malformed",
        ),
        _negative(
            "login-missing-officer",
            "No officer_id.",
            seal(_content(officer_id=None), OFFICER),
            "malformed",
        ),
        _negative(
            "login-bad-signature",
            "Signed by another key while naming the officer's kid.",
            _resigned_with(Ed25519Signer.from_seed(OTHER_SEED), _content(), LOGIN_CONTEXT),
            "bad_signature",
        ),
        _negative(
            "login-replayed",
            "The valid proof a second time: its nonce was used up by the first.",
            raw,
            "unknown_challenge",
            nonce_used=True,
        ),
    ]
    return {f"{vector['name']}.json": vector for vector in [valid, *negatives]}


def main(argv: list[str] | None = None) -> int:
    return vectorkit.run(argv, description=__doc__.splitlines()[0], out=OUT, vectors=all_vectors)


if __name__ == "__main__":
    sys.exit(main())
