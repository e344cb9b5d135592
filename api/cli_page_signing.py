"""``tongban login sign`` and ``tongban case sign-draft``: an officer whose key cannot be in
the browser (SM2: WebCrypto has none) works in the pages and signs in a terminal.

The page shows a login challenge, or a step's draft content bytes it decoded and rendered;
the officer runs the command it shows, which decodes the same bytes again, says on standard
error what it signs, and prints the signed object (base64) for the officer to paste back.
Nothing here talks to a node: the page posts what is pasted, like every other client.

Exit codes (``api/cli_common.py``): 0 signed; 64 a bad flag or value (the challenge text, the
base64, the key file, an identifier); 1 content that is not something this key may sign (not
a canonical ``tongban/event/v1`` content, another key's or another suite's: ``tongban:
refused: REASON (field F): ...``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import sys
from pathlib import Path
from typing import Any

from adapters.keyfiles import read_key
from api.cli_common import guarded, iso_time
from ledger.envelope import (
    ID_PATTERN,
    check_signer,
    parse_event_content,
    sign_event_content,
)
from ledger.errors import MalformedEncoding
from ledger.login import Challenge, build_login
from ledger.workflow.fields import check_body


def _text_argument(value: str, flag: str) -> str:
    """``value``, or standard input when it is ``-`` (a long paste need not be quoted)."""
    text = sys.stdin.read() if value == "-" else value
    if not text.strip():
        raise ValueError(f"{flag} is empty")
    return text


def _identifier(value: str, flag: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise ValueError(f"{flag} {value!r} is not an identifier (letters, digits, . _ : -)")
    return value


def _login_sign(args: argparse.Namespace) -> int:
    body_id = _identifier(args.body_id, "--body-id")
    officer_id = _identifier(args.officer_id, "--officer-id")
    try:
        challenge = Challenge.from_text(_text_argument(args.challenge, "--challenge"))
    except MalformedEncoding as error:  # a mistyped flag value, not a refusal
        raise ValueError(f"--challenge: {error.detail} (part {error.field})") from None
    signer = read_key(Path(args.key))
    proof = build_login(challenge, signer, body_id=body_id, officer_id=officer_id)
    print(
        f"tongban: login to {challenge.origin} as {officer_id} of {body_id}, key "
        f"{signer.key_id} ({signer.suite}); the challenge is valid until "
        f"{iso_time(challenge.expires_at)}. Paste the proof only into a page at "
        f"{challenge.origin} (your browser's address bar shows it)",
        file=sys.stderr,
    )
    print(base64.b64encode(proof).decode())
    return 0


def _shown(value: Any) -> str:
    """A decoded value for a terminal: bytes in hex, lists one after another."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return "; ".join(_shown(item) for item in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_shown(item)}" for key, item in value.items())
    return str(value)


def _sign_draft(args: argparse.Namespace) -> int:
    text = "".join(_text_argument(args.content, "--content").split())
    try:
        content = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("--content is not base64 (the page shows the draft's bytes so)") from None
    envelope = parse_event_content(content)
    # The workflow's field table too, as the draft route checks it: only a step's fields.
    check_body(envelope.type, envelope.body)
    signer = read_key(Path(args.key))
    check_signer(envelope, signer)
    lines = [
        f"tongban: signing step {envelope.type} of case {envelope.case_id}, "
        f"seq {envelope.seq}, ledger {envelope.ledger}",
        f"  officer {envelope.officer_id} of {envelope.body_id}, key {envelope.key_id} "
        f"({envelope.signed.suite.name}), time {iso_time(envelope.time)}",
        *(f"  {name}: {_shown(envelope.body[name])}" for name in sorted(envelope.body)),
        f"  prev {envelope.prev.hex()}",
    ]
    print("\n".join(lines), file=sys.stderr)
    signed = sign_event_content(content, signer)
    print(base64.b64encode(signed.raw).decode())
    return 0


def _key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key",
        default=os.environ.get("TONGBAN_KEY_FILE"),
        required="TONGBAN_KEY_FILE" not in os.environ,
        help="the officer's key file, SM2 or Ed25519 (TONGBAN_KEY_FILE); a passphrase-sealed "
        "one is opened with TONGBAN_KEY_PASSPHRASE or asked for",
    )


def add_page_signing_commands(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    case: argparse._SubParsersAction,  # type: ignore[type-arg]
) -> None:
    """``login sign`` (a group of its own) and ``case sign-draft`` (in the ``case`` group)."""
    login = commands.add_parser(
        "login", help="log in to a node's pages with a key the browser cannot hold"
    ).add_subparsers(dest="login_command", required=True)
    sign = login.add_parser(
        "sign",
        help="sign the login challenge the login page shows (国密密钥（命令行签名）): "
        "prints the proof to paste back",
    )
    _key_option(sign)
    sign.add_argument("--body-id", required=True, help="the officer's body")
    sign.add_argument("--officer-id", required=True, help="the officer")
    sign.add_argument(
        "--challenge",
        required=True,
        help="the challenge text the page shows (TBL1/...), or - to read it from standard input",
    )
    sign.set_defaults(handler=guarded(_login_sign))

    draft = case.add_parser(
        "sign-draft",
        help="sign the step the case page drafted: shows what it signs, prints the signed "
        "step to paste back",
    )
    _key_option(draft)
    draft.add_argument(
        "--content",
        required=True,
        help="the draft's content bytes in base64, as the page shows them, or - to read them "
        "from standard input",
    )
    draft.set_defaults(handler=guarded(_sign_draft))
