"""An officer logs in as themselves: a login proof signed with their certified key.

The node hands out a challenge (its origin, a fresh nonce, when it was issued and until when it
may be answered); the officer's page builds the proof's content from it *itself* and signs it
like every signed object (docs/envelope.md §2) under its own context, ``tongban/login/v1``:
no other kind of object signs that context, so no event, receipt or key record signature is a
login, and no login signature is anything else. Normative: ``docs/login.md``; vectors in
``tests/vectors/login/``.

This module holds the format and the checks; which nonces were issued and which were used is
the node's (:class:`NonceBook`, a port), and so is the session a verified proof opens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.envelope import (
    SignedObject,
    SignedView,
    check_identifier,
    open_signed,
    require,
    seal,
)
from ledger.errors import EnvelopeRejected, MalformedEncoding
from ledger.keys import KeyRegistry
from ledger.suites import Signer, signing_input

LOGIN_CONTEXT = "tongban/login/v1"
MIN_NONCE_BYTES = 16
MAX_NONCE_BYTES = 64
MAX_LIFETIME = 300 * 1_000_000  # µs: a challenge is answered within five minutes
MAX_ORIGIN_LENGTH = 255
CHALLENGE_TEXT_PREFIX = "TBL1"
# An origin as browsers write it: no path, no white space, no quote (the page puts the
# challenge text in single quotes in the command it shows).
_NONCE_HEX = re.compile(f"(?:[0-9a-f]{{2}}){{{MIN_NONCE_BYTES},{MAX_NONCE_BYTES}}}")
_ORIGIN = re.compile(r"https?://[^\s/?#'\"\\]{1,240}")

#: A login proof's content holds exactly these fields (docs/login.md §2).
LOGIN_FIELDS = frozenset(
    {
        "v",
        "suite",
        "ctx",
        "kid",
        "origin",
        "nonce",
        "issued_at",
        "expires_at",
        "body_id",
        "officer_id",
    }
)


class LoginRefused(EnvelopeRejected):
    """A login proof this node does not accept; ``reason`` says why (docs/login.md §3)."""


@dataclass(frozen=True)
class Challenge:
    """What the node sends a page that wants to log in."""

    origin: str
    nonce: bytes
    issued_at: int  # µs since the epoch, the node's clock
    expires_at: int  # µs

    def as_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "nonce": self.nonce.hex(),
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    def as_text(self) -> str:
        """The challenge as one line an officer copies from the page into a terminal
        (docs/login.md §7): ``TBL1/<nonce hex>/<issued_at>/<expires_at>/<origin>``."""
        parts = (self.nonce.hex(), self.issued_at, self.expires_at, self.origin)
        return "/".join((CHALLENGE_TEXT_PREFIX, *map(str, parts)))

    @classmethod
    def from_text(cls, text: str) -> Challenge:
        """The challenge a page showed as text (:meth:`as_text`); :class:`MalformedEncoding`
        naming the part that is wrong. Surrounding white space (from the copying) is ignored."""
        parts = text.strip().split("/", 4)
        if len(parts) != 5 or parts[0] != CHALLENGE_TEXT_PREFIX:
            raise MalformedEncoding(
                f"a login challenge reads {CHALLENGE_TEXT_PREFIX}/<nonce>/<issued_at>/"
                "<expires_at>/<origin>",
                field="challenge",
            )
        _, nonce, issued_at, expires_at, origin = parts
        if not _NONCE_HEX.fullmatch(nonce):
            raise MalformedEncoding(
                f"nonce must be {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes in lowercase hex",
                field="nonce",
            )
        for name, value in (("issued_at", issued_at), ("expires_at", expires_at)):
            if not re.fullmatch(r"[1-9][0-9]{0,18}", value):
                raise MalformedEncoding(f"{name} must be microseconds since the epoch", field=name)
        if not _ORIGIN.fullmatch(origin):
            raise MalformedEncoding(
                "origin must be a page origin (scheme://host[:port])", field="origin"
            )
        challenge = cls(origin, bytes.fromhex(nonce), int(issued_at), int(expires_at))
        if not challenge.issued_at < challenge.expires_at <= challenge.issued_at + MAX_LIFETIME:
            raise MalformedEncoding(
                "expires_at must follow issued_at by at most five minutes", field="expires_at"
            )
        return challenge


@dataclass(frozen=True)
class LoginProof(SignedView):
    """A decoded login proof; its signature is checked by :func:`verify_login`."""

    signed: SignedObject
    origin: str
    nonce: bytes
    issued_at: int
    expires_at: int
    body_id: str
    officer_id: str


class NonceBook(Protocol):
    """The node's record of the challenges it issued: each nonce is answered at most once."""

    def consume(self, nonce: bytes, now: int) -> bool:
        """True once for a nonce this node issued that has not expired; False otherwise
        (unknown, used already, expired). Using it up is atomic: two proofs with one nonce
        cannot both be accepted."""
        ...


def build_login(challenge: Challenge, signer: Signer, *, body_id: str, officer_id: str) -> bytes:
    """The proof's exact bytes: what an officer's page builds and signs from ``challenge``."""
    content = {
        "ctx": LOGIN_CONTEXT,
        "origin": challenge.origin,
        "nonce": challenge.nonce,
        "issued_at": challenge.issued_at,
        "expires_at": challenge.expires_at,
        "body_id": body_id,
        "officer_id": officer_id,
    }
    return seal(content, signer)


def parse_login(raw: bytes) -> LoginProof:
    """Decode a login proof (docs/login.md §3 steps 1–2); refuse any other shape."""
    signed = open_signed(raw, context=LOGIN_CONTEXT)
    content = signed.content
    unknown = sorted(set(content) - LOGIN_FIELDS)
    if unknown:
        raise MalformedEncoding(f"unknown login fields {unknown}", field=unknown[0])
    origin = require(content, "origin", str)
    if not origin or len(origin) > MAX_ORIGIN_LENGTH or origin != origin.strip():
        raise MalformedEncoding("origin must be a page origin", field="origin")
    nonce = require(content, "nonce", bytes)
    if not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES:
        raise MalformedEncoding(
            f"nonce must be {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes", field="nonce"
        )
    issued_at = require(content, "issued_at", int)
    expires_at = require(content, "expires_at", int)
    if not issued_at < expires_at <= issued_at + MAX_LIFETIME:
        raise MalformedEncoding(
            "expires_at must follow issued_at by at most five minutes", field="expires_at"
        )
    return LoginProof(
        signed=signed,
        origin=origin,
        nonce=nonce,
        issued_at=issued_at,
        expires_at=expires_at,
        body_id=check_identifier(require(content, "body_id", str), "body_id"),
        officer_id=check_identifier(require(content, "officer_id", str), "officer_id"),
    )


def verify_login(
    raw: bytes, *, origin: str, now: int, registry: KeyRegistry, nonces: NonceBook
) -> LoginProof:
    """The proof in ``raw`` if this node, at ``origin``, accepts it at ``now`` (µs); raise
    :class:`LoginRefused` (or a decoding refusal) otherwise. Checks run in the order of
    docs/login.md §3; the nonce is used up only by a proof that passed every other check."""
    proof = parse_login(raw)
    if proof.origin != origin:
        raise LoginRefused(
            f"signed for {proof.origin!r}, not this node ({origin!r})",
            reason="wrong_origin",
            field="origin",
        )
    if not proof.issued_at <= now < proof.expires_at:
        raise LoginRefused(
            "the challenge is not valid now", reason="challenge_expired", field="expires_at"
        )
    key = registry.officer_key_at(
        proof.key_id, now, body_id=proof.body_id, officer_id=proof.officer_id
    )
    proof.signed.verify(key.public_key)
    if not nonces.consume(proof.nonce, now):
        raise LoginRefused(
            "the challenge was not issued here, or was answered already",
            reason="unknown_challenge",
            field="nonce",
        )
    return proof


def login_signing_input(raw: bytes) -> bytes:
    """What the officer's key signed for the proof ``raw`` (for the vectors and the pages'
    own tests): ``ctx || 00 || digest(content)``."""
    signed = open_signed(raw, context=LOGIN_CONTEXT)
    return signing_input(LOGIN_CONTEXT, signed.suite, signed.content_bytes)


__all__ = [
    "LOGIN_CONTEXT",
    "LOGIN_FIELDS",
    "MAX_LIFETIME",
    "MIN_NONCE_BYTES",
    "Challenge",
    "LoginProof",
    "LoginRefused",
    "NonceBook",
    "build_login",
    "login_signing_input",
    "parse_login",
    "verify_login",
]
